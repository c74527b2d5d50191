"""The built-in signalling server over real loopback sockets."""

import json
import socket
import struct

import pytest
import trio

from p2ptui.net import Identity, stun
from p2ptui.net.signalling import protocol, server

from .test_signalling_messages import OFFER

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
    async def connect(cls, address):
        return cls(await trio.open_tcp_stream(*address))

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

    async def register(self, name, identity):
        challenge = await self.receive()
        nonce = bytes.fromhex(challenge["nonce"])
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
    assert presence == {"name": "bob", "online": True, "key": bob.public_key, "address": "127.0.0.1:4000"}
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


async def test_an_offer_to_an_offline_peer_is_refused_with_its_id(server_address):
    alice = Identity.generate()
    a = await RawClient.connect(server_address)
    await a.register("alice", alice)
    await a.send(op="offer", offer={**OFFER.to_dict(), "sender_key": alice.public_key})
    reply = await a.receive()
    assert reply["code"] == protocol.PEER_OFFLINE and reply["ref"] == OFFER.id


async def test_bad_requests_get_errors_and_the_server_keeps_serving(server_address):
    a = await RawClient.connect(server_address)
    await a.receive()
    await a.send(op="watch", name="bob")
    assert (await a.receive())["code"] == protocol.NOT_REGISTERED
    await a.send(op="no-such-op")
    assert (await a.receive())["code"] == protocol.BAD_REQUEST
    await a.stream.send_all(b"this is not json\n")
    assert (await a.receive())["code"] == protocol.BAD_REQUEST
    assert await a.receive() is None  # broken framing: the server hangs up
    b = await RawClient.connect(server_address)
    assert (await b.register("bob", Identity.generate()))["op"] == "registered"


async def test_an_overlong_line_ends_only_that_connection(server_address):
    a = await RawClient.connect(server_address)
    await a.receive()
    await a.stream.send_all(b"x" * (protocol.MAX_LINE + 10))
    assert (await a.receive())["code"] == protocol.BAD_REQUEST
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


async def test_an_address_with_a_non_ascii_digit_is_a_bad_request(server_address):
    # Regression: "²".isdigit() is true, int("²") raised ValueError and stopped the server.
    client = await RawClient.connect(server_address)
    challenge = await client.receive()
    owner = Identity.generate()
    signature = owner.sign(protocol.register_challenge(bytes.fromhex(challenge["nonce"]), "alice")).hex()
    await client.send(op="register", name="alice", key=owner.public_key, sig=signature, address="1.2.3.4:\u00b2")
    assert (await client.receive())["code"] == protocol.BAD_REQUEST
    other = await RawClient.connect(server_address)
    assert (await other.register("bob", Identity.generate()))["op"] == "registered"


async def test_a_connection_that_never_registers_is_closed(nursery):
    address = await nursery.start(server.SignalServer(register_timeout=0.2).serve, "127.0.0.1", 0)
    idle = await RawClient.connect(address)
    assert (await idle.receive())["op"] == "challenge"
    assert await idle.receive() is None  # closed by the server
