"""The built-in signalling server over real loopback sockets."""

import json
import socket
import struct

import pytest
import trio

from p2ptui.net import Identity, stun
from p2ptui.net.signalling import protocol, server
from p2ptui.net.signalling.limits import ServerLimits

from .test_signalling_messages import ANSWER, OFFER

pytestmark = pytest.mark.trio


@pytest.fixture
async def server_address(nursery):
    return await nursery.start(server.serve, "127.0.0.1", 0)


class RawClient:
    """Speaks the protocol by hand, to test the server, including misbehaviour."""

    def __init__(self, stream):
        self.stream = stream
        self.buffer = protocol.LineBuffer()
        self.ready = []

    @classmethod
    async def connect(cls, address, source="127.0.0.1"):
        return cls(await trio.open_tcp_stream(*address, local_address=source))

    async def send(self, **message):
        await self.stream.send_all(json.dumps(message).encode() + b"\n")

    async def receive(self):
        with trio.fail_after(5):
            while not self.ready:
                data = await self.stream.receive_some()
                if not data:
                    return None
                self.ready.extend(self.buffer.feed(data))
        return json.loads(self.ready.pop(0))

    async def register(self, name, identity, *, challenge=True):
        if challenge:
            self.nonce = bytes.fromhex((await self.receive())["nonce"])
        nonce = self.nonce
        signature = identity.sign(protocol.register_challenge(nonce, name)).hex()
        await self.send(op="register", name=name, key=identity.public_key, sig=signature, address="127.0.0.1:4000")
        return await self.receive()


async def test_register_and_presence(server_address):
    alice, bob = Identity.generate(), Identity.generate()
    a = await RawClient.connect(server_address)
    assert (await a.register("alice", alice))["op"] == "registered"
    await a.send(op="watch", name="bob")
    assert (await a.receive())["presence"]["online"] is False
    b = await RawClient.connect(server_address)
    await b.register("bob", bob)
    presence = (await a.receive())["presence"]
    # Online and the key, never where bob is (he even said so in register): that is for offers.
    assert presence == {"name": "bob", "online": True, "key": bob.public_key, "address": ""}
    await b.stream.aclose()
    assert (await a.receive())["presence"]["online"] is False


async def test_a_name_is_bound_to_the_first_key(server_address):
    first = await RawClient.connect(server_address)
    await first.register("alice", Identity.generate())
    thief = await RawClient.connect(server_address)
    reply = await thief.register("alice", Identity.generate())
    assert reply["op"] == "error" and reply["code"] == protocol.NAME_TAKEN
    assert "taken" in reply["message"]


async def test_a_bad_signature_is_refused(server_address):
    client = await RawClient.connect(server_address)
    await client.receive()  # the challenge
    owner = Identity.generate()
    await client.send(op="register", name="alice", key=owner.public_key, sig="00" * 64)
    reply = await client.receive()
    assert reply["code"] == protocol.BAD_REQUEST and "signature" in reply["message"]


async def test_offers_are_forwarded_and_forgeries_refused(server_address):
    alice, bob = Identity.generate(), Identity.generate()
    a = await RawClient.connect(server_address)
    await a.register("alice", alice)
    b = await RawClient.connect(server_address)
    await b.register("bob", bob)
    offer = {**OFFER.to_dict(), "sender_key": alice.public_key}
    await a.send(op="offer", offer=offer)
    forwarded = await b.receive()
    assert forwarded["op"] == "offer" and forwarded["offer"] == offer
    # The server stamps where it saw the sender, whatever the offer claims.
    assert forwarded["seen_ip"] == "127.0.0.1"
    # Bob claims to be alice: refused, and alice's registration is untouched.
    await b.send(op="offer", offer={**offer, "receiver": "alice", "sender_key": bob.public_key})
    assert (await b.receive())["code"] == protocol.BAD_REQUEST


async def test_an_answer_goes_through_only_for_an_offer_the_server_delivered(server_address):
    alice, bob = Identity.generate(), Identity.generate()
    a = await RawClient.connect(server_address)
    await a.register("alice", alice)
    b = await RawClient.connect(server_address)
    await b.register("bob", bob)
    answer = {**ANSWER.to_dict(), "sender_key": bob.public_key}
    await b.send(op="answer", answer=answer)  # alice offered nothing yet
    assert (await b.receive())["code"] == protocol.BAD_REQUEST
    await a.send(op="offer", offer={**OFFER.to_dict(), "sender_key": alice.public_key})
    assert (await b.receive())["op"] == "offer"
    await b.send(op="answer", answer=answer)
    forwarded = await a.receive()
    assert forwarded["op"] == "answer" and forwarded["answer"] == answer


async def test_an_offer_to_an_offline_peer_is_refused_with_its_id(server_address):
    alice = Identity.generate()
    a = await RawClient.connect(server_address)
    await a.register("alice", alice)
    await a.send(op="offer", offer={**OFFER.to_dict(), "sender_key": alice.public_key})
    reply = await a.receive()
    assert reply["code"] == protocol.PEER_OFFLINE and reply["ref"] == OFFER.id


async def test_bad_requests_get_errors_and_the_server_keeps_serving(server_address):
    a = await RawClient.connect(server_address)
    a.nonce = bytes.fromhex((await a.receive())["nonce"])
    await a.send(op="watch", name="bob")
    assert (await a.receive())["code"] == protocol.NOT_REGISTERED
    await a.send(op="no-such-op")
    assert (await a.receive())["code"] == protocol.BAD_REQUEST
    await a.stream.send_all(b"this is not json\n")
    assert (await a.receive())["code"] == protocol.BAD_REQUEST
    # Each line stands on its own: the connection still registers.
    assert (await a.register("alice", Identity.generate(), challenge=False))["op"] == "registered"


async def test_a_bad_line_does_not_cost_the_good_lines_after_it_in_the_same_read(server_address):
    # Regression: the first bad line ended the loop over the lines of that read.
    a = await RawClient.connect(server_address)
    await a.register("alice", Identity.generate())
    await a.stream.send_all(b'not json\n{"op": "watch", "name": "bob"}\n')
    assert (await a.receive())["code"] == protocol.BAD_REQUEST
    assert (await a.receive())["presence"]["name"] == "bob"


async def test_an_overlong_line_is_skipped_and_the_lines_around_it_count(server_address):
    a = await RawClient.connect(server_address)
    await a.register("alice", Identity.generate())
    overlong = b"x" * (protocol.MAX_LINE + 10)
    await a.stream.send_all(b'{"op": "watch", "name": "bob"}\n' + overlong + b'\n{"op": "watch", "name": "carol"}\n')
    replies = [await a.receive() for _ in range(3)]
    assert sorted(r["presence"]["name"] for r in replies if r["op"] == "presence") == ["bob", "carol"]
    [error] = [r for r in replies if r["op"] == "error"]
    assert error["code"] == protocol.BAD_REQUEST and "too long" in error["message"]
    b = await RawClient.connect(server_address)
    assert (await b.register("bob", Identity.generate()))["op"] == "registered"


async def test_stun_binding_on_the_same_port(server_address):
    sock = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
    with sock:
        await sock.bind(("127.0.0.1", 0))
        await sock.sendto(b"garbage that is not STUN", server_address)
        txid, request = stun.binding_request()
        await sock.sendto(request, server_address)
        with trio.fail_after(5):
            data, _ = await sock.recvfrom(2048)
        response = stun.parse_untrusted(data)
        assert response == stun.BindingResponse(txid, sock.getsockname())


async def test_a_client_that_resets_its_connection_does_not_stop_the_server(server_address):
    # Regression: the reset's error escaped in an ExceptionGroup and ended the server.
    def connect_and_reset():
        with socket.create_connection(server_address) as raw:
            raw.recv(1000)
            raw.sendall(b'{"op": "watch"')  # unread data makes close() send a reset
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    await trio.to_thread.run_sync(connect_and_reset)
    client = await RawClient.connect(server_address)
    assert (await client.register("bob", Identity.generate()))["op"] == "registered"


async def test_a_connection_that_never_registers_is_closed(nursery):
    limits = ServerLimits(register_timeout=0.2)
    address = await nursery.start(server.SignalServer(limits=limits).serve, "127.0.0.1", 0)
    idle = await RawClient.connect(address)
    assert (await idle.receive())["op"] == "challenge"
    said = await idle.receive()
    assert said == {"op": "error", "code": protocol.REGISTER_TIMEOUT, "message": "register within 0.2 s"}
    assert await idle.receive() is None  # closed by the server
