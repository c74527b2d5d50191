"""The signalling server's limits over real loopback sockets: pings, rates, names, floods."""

import logging

import pytest
import trio

from p2ptui.net import Identity
from p2ptui.net.node import make_signalling
from p2ptui.net.signalling import OfferReceived, Registered, SignallingLost, protocol, server, tcp
from p2ptui.net.signalling.limits import Rate, ServerLimits

from .test_server import RawClient
from .test_signalling_contract import make_offer, next_event, node_config
from .test_signalling_messages import OFFER

pytestmark = pytest.mark.trio

#: A rate that never refills within a test.
NO_REFILL = 1e-9


async def start(nursery, **limits):
    signal_server = server.SignalServer(limits=ServerLimits(**limits))
    address = await nursery.start(signal_server.serve, "127.0.0.1", 0)
    return signal_server, address


async def registered(address, name, identity=None, source="127.0.0.1"):
    identity = identity or Identity.generate()
    client = await RawClient.connect(address, source)
    assert (await client.register(name, identity))["op"] == "registered"
    return client, identity


def offer_from(identity, n=0, receiver="bob", sender="alice"):
    fields = {"id": f"{n:032x}", "sender": sender, "receiver": receiver, "sender_key": identity.public_key}
    return {**OFFER.to_dict(), **fields}


async def test_a_silent_registered_client_is_pinged_then_closed(nursery):
    _, address = await start(nursery, ping_interval=0.2, ping_timeout=0.2)
    silent, _ = await registered(address, "alice")
    assert await silent.receive() == {"op": "ping"}
    assert await silent.receive() is None  # it never answered: closed


async def test_a_client_that_answers_pings_stays(nursery):
    _, address = await start(nursery, ping_interval=0.1, ping_timeout=0.1)
    alive, _ = await registered(address, "alice")
    for _ in range(3):
        assert await alive.receive() == {"op": "ping"}
        await alive.send(op="pong")
    await alive.send(op="watch", name="bob")
    assert (await alive.receive())["op"] in ("presence", "ping")


async def test_the_real_client_answers_pings_and_still_gets_offers(nursery):
    _, (host, port) = await start(nursery, ping_interval=0.05, ping_timeout=0.05)
    url = f"tcp://{host}:{port}"
    bob = make_signalling(node_config("bob", url), Identity.generate())

    async def discover(servers):
        return ("127.0.0.1", 40000)

    await nursery.start(bob.run, discover)
    await next_event(bob.events, Registered)
    alice, alice_identity = await registered((host, port), "alice")
    # Many ping intervals pass: bob answers each, so nothing closes him.
    for _ in range(5):
        assert await alice.receive() == {"op": "ping"}
        await alice.send(op="pong")
    offer = make_offer("alice", alice_identity, "bob")
    await alice.send(op="offer", offer=offer.to_dict())
    event = await next_event(bob.events, (OfferReceived, SignallingLost))
    assert isinstance(event, OfferReceived) and event.offer == offer


async def test_offers_are_rate_limited_per_sender(nursery):
    signal_server, address = await start(nursery, offers_per_sender=Rate(3, NO_REFILL))
    alice, identity = await registered(address, "alice")
    bob, _ = await registered(address, "bob")
    for n in range(5):
        await alice.send(op="offer", offer=offer_from(identity, n))
    for n in range(3):
        assert (await bob.receive())["offer"]["id"] == f"{n:032x}"
    refusals = [await alice.receive() for _ in range(2)]
    assert [r["code"] for r in refusals] == [protocol.RATE_LIMITED] * 2
    assert [r["ref"] for r in refusals] == [f"{3:032x}", f"{4:032x}"]
    assert signal_server.dropped["offers over the sender's rate"] == 2


async def test_offers_are_rate_limited_per_target(nursery):
    signal_server, address = await start(nursery, offers_per_target=Rate(3, NO_REFILL))
    bob, _ = await registered(address, "bob")
    senders = [await registered(address, name) for name in ("alice", "carol")]
    for client, identity in senders:
        for n in range(2):
            await client.send(op="offer", offer=offer_from(identity, n, sender=client_name(client, senders)))
    received = [await bob.receive() for _ in range(3)]
    assert all(r["op"] == "offer" for r in received)
    assert (await senders[1][0].receive())["code"] == protocol.RATE_LIMITED
    assert signal_server.dropped["offers over the target's rate"] == 1


def client_name(client, senders):
    return ("alice", "carol")[[c for c, _ in senders].index(client)]


async def test_an_offer_flood_is_dropped_and_counted_and_never_cuts_off_the_target(nursery):
    # Regression: ~50,000 offers toward one user filled its outbox, and the
    # server cut the *receiver* off, eleven times in 15 s.
    signal_server, address = await start(nursery)
    bob, _ = await registered(address, "bob")
    mallory, mallory_identity = await registered(address, "mallory")
    flood = b"".join(
        protocol.encode("offer", offer=offer_from(mallory_identity, n, sender="mallory")) for n in range(5000)
    )
    await mallory.stream.send_all(flood)  # mallory never reads her refusals
    carol, carol_identity = await registered(address, "carol", source="127.0.0.2")
    with trio.fail_after(30):
        while signal_server.dropped["offers over the sender's rate"] < 4900:
            await trio.sleep(0.01)  # the flood is still being read; a failsafe bounds it
    await carol.send(op="offer", offer=offer_from(carol_identity, 1, sender="carol"))
    senders = []
    while True:  # bounded by the flood's burst and fail_after in receive()
        message = await bob.receive()
        assert message is not None, "bob was cut off"
        senders.append(message["offer"]["sender"])
        if senders[-1] == "carol":
            break
    assert senders.count("mallory") <= ServerLimits().offers_per_sender.burst + 5
    assert signal_server.dropped["offers over the sender's rate"] >= 4900


async def test_names_are_limited_per_key_and_per_address(nursery):
    signal_server, address = await start(
        nursery, new_names_per_key=2, new_names_per_ip=3
    )
    greedy = Identity.generate()
    for name in ("a1", "a2"):
        client, _ = await registered(address, name, greedy)
        await client.stream.aclose()
    third = await RawClient.connect(address)
    reply = await third.register("a3", greedy)
    assert reply["code"] == protocol.TOO_MANY_NAMES
    # A name it already holds is not a new one.
    again, _ = await registered(address, "a1", greedy)
    # Another key from the same address: one more name, then the address is spent.
    await registered(address, "b1")
    refused = await RawClient.connect(address)
    assert (await refused.register("b2", Identity.generate()))["code"] == protocol.TOO_MANY_NAMES
    # Another address is not.
    await registered(address, "c1", source="127.0.0.2")
    assert signal_server.dropped["new names over the limit"] == 2


async def test_the_client_reports_a_full_server_and_retries(nursery):
    _, (host, port) = await start(nursery, connections_per_ip=1)
    holder = await RawClient.connect((host, port))  # holds the only place for 127.0.0.1
    assert (await holder.receive())["op"] == "challenge"
    client = make_signalling(node_config("bob", f"tcp://{host}:{port}"), Identity.generate())

    async def discover(servers):
        return ("127.0.0.1", 40000)

    await nursery.start(client.run, discover)
    lost = await next_event(client.events, SignallingLost)
    assert "is full; try later" in lost.reason and not lost.fatal
    await holder.stream.aclose()


async def test_the_client_says_why_the_server_hung_up_when_it_registered_too_late(nursery):
    signal_server, (host, port) = await start(nursery, register_timeout=0.2)
    client = make_signalling(node_config("bob", f"tcp://{host}:{port}"), Identity.generate())

    async def slow_discover(servers):
        # Finding our address takes longer than the server waits for a registration.
        with trio.fail_after(10):
            while not signal_server.dropped["connections that never registered"]:
                await trio.sleep(0.01)
        return ("127.0.0.1", 40000)

    await nursery.start(client.run, slow_discover)
    lost = await next_event(client.events, SignallingLost)
    assert "hung up before we registered (register within 0.2 s)" in lost.reason and not lost.fatal


async def test_the_client_gives_up_on_a_server_that_never_speaks(nursery, monkeypatch):
    monkeypatch.setattr(tcp, "HANDSHAKE_TIMEOUT", 0.2)
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    accepted = []

    async def accept_and_say_nothing():
        accepted.append(await listeners[0].accept())

    nursery.start_soon(accept_and_say_nothing)
    client = make_signalling(node_config("bob", f"tcp://127.0.0.1:{port}"), Identity.generate())

    async def discover(servers):
        return ("127.0.0.1", 40000)

    with trio.fail_after(10):
        await nursery.start(client.run, discover)  # the first attempt ends, it does not hang
    lost = await next_event(client.events, SignallingLost)
    assert "no challenge from the server within 0.2 s" in lost.reason and not lost.fatal


async def test_the_server_logs_what_it_dropped(nursery):
    logged = trio.Event()
    lines = []

    class Handler(logging.Handler):
        def emit(self, record):
            if "dropped so far" in record.getMessage():
                lines.append(record.getMessage())
                logged.set()

    handler = Handler()
    logging.getLogger(server.__name__).addHandler(handler)
    previous = logging.getLogger(server.__name__).level
    logging.getLogger(server.__name__).setLevel(logging.INFO)
    try:
        signal_server = server.SignalServer(stats_interval=0.05)
        address = await nursery.start(signal_server.serve, "127.0.0.1", 0)
        client = await RawClient.connect(address)
        await client.receive()
        await client.send(op="no-such-op")
        assert (await client.receive())["code"] == protocol.BAD_REQUEST
        with trio.fail_after(10):
            await logged.wait()
        assert "bad request: 1" in lines[0]
    finally:
        logging.getLogger(server.__name__).removeHandler(handler)
        logging.getLogger(server.__name__).setLevel(previous)


async def test_the_client_gives_up_on_a_server_that_stops_reading(nursery, monkeypatch):
    monkeypatch.setattr(tcp, "WRITE_TIMEOUT", 0.2)
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    held = []

    async def register_then_never_read():
        # A server that says the right things, then reads nothing more.
        stream = await listeners[0].accept()
        held.append(stream)
        await stream.send_all(protocol.encode("challenge", nonce="00" * 16))
        await stream.receive_some(65536)  # the registration; the last thing it reads
        await stream.send_all(protocol.encode("registered", name="alice", observed_ip="127.0.0.1"))

    nursery.start_soon(register_then_never_read)
    identity = Identity.generate()
    client = make_signalling(node_config("alice", f"tcp://127.0.0.1:{port}"), identity)

    async def discover(servers):
        return ("127.0.0.1", 40000)

    await nursery.start(client.run, discover)
    await next_event(client.events, Registered)
    offer = make_offer("alice", identity, "bob")
    with trio.fail_after(30):
        for _ in range(100_000):  # until the socket buffers are full; bounded all the same
            try:
                await client.send_offer(offer)
            except tcp.SignallingUnavailable as exc:
                assert "stopped reading" in str(exc)
                break
        else:
            raise AssertionError("every write went through")
    lost = await next_event(client.events, SignallingLost)
    assert "stopped reading" in lost.reason and not lost.fatal


async def test_a_client_that_reads_nothing_is_closed_once_its_socket_is_full(nursery):
    signal_server, address = await start(
        nursery, ping_interval=0.3, ping_timeout=0.3,
        offers_per_sender=Rate(1e9, 1e9), offers_per_target=Rate(1e9, 1e9),
    )
    deaf, _ = await registered(address, "bob")  # never reads again; keeps talking, so it is not idle

    async def keep_talking():
        while True:
            await deaf.send(op="pong")
            await trio.sleep(0.1)

    nursery.start_soon(keep_talking)
    watcher, _ = await registered(address, "carol")
    await watcher.send(op="watch", name="bob")
    assert (await watcher.receive())["presence"]["online"] is True
    alice, identity = await registered(address, "alice")
    flood = b"".join(protocol.encode("offer", offer=offer_from(identity, n)) for n in range(1000))
    with trio.fail_after(60):
        for _ in range(100):  # bounded: enough to fill any loopback socket's buffers many times over
            await alice.stream.send_all(flood)
            if signal_server.dropped["a client's queue was full"]:
                break
        while True:
            message = await watcher.receive()
            if message["op"] == "ping":
                await watcher.send(op="pong")
            elif message["op"] == "presence" and message["presence"]["online"] is False:
                break
    assert signal_server.dropped["clients that stopped reading closed"] == 1
