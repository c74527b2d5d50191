"""Nodes over real loopback sockets, with a real built-in server (trio, no mocks)."""

import socket
import struct

import pytest
import trio

from p2ptui.net import ConfigError, Identity, NodeConfig, PeerStatus, events, open_node
from p2ptui.net.signalling import server

LOOPBACK = ("127.0.0.1", 0)

pytestmark = pytest.mark.trio


@pytest.fixture
async def signal_url(nursery):
    host, port = await nursery.start(server.serve, "127.0.0.1", 0)
    return f"tcp://{host}:{port}"


def config(name, url, **kwargs):
    return NodeConfig(name, url, bind=LOOPBACK, **kwargs)


async def next_event(node, kind, predicate=lambda e: True, timeout=10):
    with trio.fail_after(timeout):
        async for event in node.events:
            if isinstance(event, kind) and predicate(event):
                return event


async def test_two_nodes_connect_and_talk_both_ways(signal_url):
    async with open_node(config("alice", signal_url), Identity.generate()) as a, open_node(
        config("bob", signal_url), Identity.generate()
    ) as b:
        sent = a.send("bob", "hello bob")  # bob has never heard of alice yet
        received = await next_event(b, events.MessageReceived)
        assert (received.peer, received.id, received.text) == ("alice", sent, "hello bob")
        delivered = await next_event(a, events.MessageDelivered)
        assert delivered.id == sent
        assert b.status("alice") == PeerStatus.CONNECTED
        b.send("alice", "hello alice")
        assert (await next_event(a, events.MessageReceived)).text == "hello alice"


async def test_the_receiver_sees_an_incoming_conversation(signal_url):
    async with open_node(config("alice", signal_url), Identity.generate()) as a, open_node(
        config("bob", signal_url), Identity.generate()
    ) as b:
        a.open("bob")
        changed = await next_event(b, events.PeerChanged)
        assert changed.peer == "alice" and changed.incoming
        connected = await next_event(b, events.PeerChanged, lambda e: e.status == PeerStatus.CONNECTED)
        assert connected.path == "direct" and connected.remote == a.local_address


async def test_simultaneous_offers_make_one_conversation(signal_url):
    async with open_node(config("alice", signal_url), Identity.generate()) as a, open_node(
        config("bob", signal_url), Identity.generate()
    ) as b:
        a.open("bob")
        b.open("alice")
        for node, other in ((a, "bob"), (b, "alice")):
            await next_event(node, events.PeerChanged, lambda e: e.status == PeerStatus.CONNECTED)
            assert node.conversations() == [other]
        ids = [a.send("bob", f"a{i}") for i in range(20)]
        texts = [(await next_event(b, events.MessageReceived)).text for _ in ids]
        assert texts == [f"a{i}" for i in range(20)]


async def test_a_peer_that_comes_online_later_gets_the_queued_messages(signal_url):
    async with open_node(config("alice", signal_url), Identity.generate()) as a:
        a.send("bob", "are you there?")
        waiting = await next_event(a, events.PeerChanged)
        assert waiting.status == PeerStatus.OFFLINE
        async with open_node(config("bob", signal_url), Identity.generate()) as b:
            assert (await next_event(b, events.MessageReceived)).text == "are you there?"


async def test_the_server_is_embedded_when_nothing_answers():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"tcp://127.0.0.1:{port}"
    first = config("alice", url, embed_server=True)
    async with open_node(first, Identity.generate()) as a, open_node(
        config("bob", url, embed_server=True), Identity.generate()
    ) as b:
        assert (await next_event(a, events.Ready)).signal == url
        a.send("bob", "via an embedded server")
        assert (await next_event(b, events.MessageReceived)).text == "via an embedded server"


async def test_a_taken_name_is_a_fatal_signalling_error(signal_url):
    async with open_node(config("alice", signal_url), Identity.generate()):
        async with open_node(config("alice", signal_url), Identity.generate()) as thief:
            status = await next_event(thief, events.SignalStatus)
            assert status.fatal and "taken" in status.message


async def test_garbage_datagrams_are_counted_and_the_session_survives(signal_url):
    async with open_node(config("alice", signal_url), Identity.generate()) as a, open_node(
        config("bob", signal_url), Identity.generate()
    ) as b:
        a.send("bob", "first")
        await next_event(b, events.MessageReceived)
        attacker = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
        with attacker:
            for junk in (b"", b"\xd2\x01\x03" + b"\0" * 40, b"\xd2" * 1500, b"\x00\x01" + b"\0" * 30, b"hello"):
                await attacker.sendto(junk, b.local_address)
        a.send("bob", "second")
        assert (await next_event(b, events.MessageReceived)).text == "second"
        assert sum(b.counters().values()) >= 4
        assert b.status("alice") == PeerStatus.CONNECTED


async def test_bad_names_and_texts_are_refused_clearly(signal_url):
    async with open_node(config("alice", signal_url), Identity.generate()) as a:
        with pytest.raises(ValueError, match="invalid name"):
            a.send("not a name", "x")
        with pytest.raises(ValueError, match="your own name"):
            a.open("alice")
        with pytest.raises(ValueError, match="limit"):
            a.send("bob", "x" * 70_000)
        with pytest.raises(ValueError, match="empty"):
            a.send("bob", "")


async def test_a_server_that_hangs_up_after_registration_is_reconnected_to(nursery):
    # Regression: re-sending watches on a connection the server had just closed
    # raised SignallingUnavailable out of the client and ended the node.
    from p2ptui.net.signalling import Registered, SignallingLost, parse_signal_url
    from p2ptui.net.signalling.tcp import TcpSignalling

    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    connections = 0

    async def hang_up_after_registering(stream):
        nonlocal connections
        connections += 1
        await stream.send_all(b'{"op":"challenge","nonce":"00"}\n')
        await stream.receive_some(4096)
        await stream.send_all(b'{"op":"registered","name":"bob","observed_ip":"127.0.0.1"}\n')
        # Reset at once, as a crashing server would: the client's next write fails.
        stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        await stream.aclose()

    await nursery.start(trio.serve_listeners, hang_up_after_registering, listeners)
    client = TcpSignalling(parse_signal_url(f"tcp://127.0.0.1:{port}"), "bob", Identity.generate())
    for name in ("alice", "carol", "dave"):
        await client.watch(name)

    async def discover(stun_servers):
        return ("127.0.0.1", 1)

    nursery.start_soon(client.run, discover)
    with trio.fail_after(10):
        seen = []
        async for event in client.events:
            seen.append(type(event))
            if seen.count(Registered) >= 2:
                break
    assert SignallingLost in seen and connections >= 2


async def test_a_dead_turn_server_delays_the_start_a_little_and_chat_goes_on(signal_url):
    from p2ptui.net import TurnServer
    from p2ptui.net.node import RELAY_SETTLE_WAIT

    # A port nobody listens on: no TURN server answers there.
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    dead = TurnServer("127.0.0.1", probe.getsockname()[1], "dana", "secret")
    probe.close()
    started = trio.current_time()
    async with open_node(config("alice", signal_url, turn_servers=(dead,)), Identity.generate()) as a, open_node(
        config("bob", signal_url), Identity.generate()
    ) as b:
        await next_event(a, events.Ready)
        assert trio.current_time() - started < RELAY_SETTLE_WAIT + 2
        a.send("bob", "no relay needed on loopback")
        assert (await next_event(b, events.MessageReceived)).text == "no relay needed on loopback"
        (relay,) = a.details("bob").relays
        assert relay.name == f"turn 127.0.0.1:{dead.port}" and relay.relayed is None


async def test_an_unreachable_signalling_server_is_one_clear_line():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nobody listens there
    async with open_node(config("alice", f"tcp://127.0.0.1:{port}"), Identity.generate()) as a:
        status = await next_event(a, events.SignalStatus)
        assert not status.connected and not status.fatal
        assert status.message.startswith(f"cannot reach the signalling server at tcp://127.0.0.1:{port}: ")
        assert "\n" not in status.message and "Traceback" not in status.message


async def test_a_bad_signalling_url_is_the_users_mistake():
    with pytest.raises(ConfigError, match="bad signalling URL"):
        async with open_node(config("alice", "udp://nowhere"), Identity.generate()):
            pass
