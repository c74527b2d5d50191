"""Nodes on trio's fake network, in virtual time (MockClock, autojump).

The middle layer of the tests: real Nodes, whole, through their public API,
on an internet of NATs, a STUN server and a TURN server that lives in memory
(tests/fakeinternet.py), with signalling in memory too (tests/fakesignal.py).
Seconds of protocol time take milliseconds, and every run is the same.
"""

from __future__ import annotations

import pytest
import trio
import trio.testing

from p2ptui.net import (
    ConfigError,
    EnvironmentFailure,
    Identity,
    LocalProtocolError,
    NodeConfig,
    PeerStatus,
    SprayConfig,
    events,
    open_node,
)

from .fakeinternet import (
    STUN_SERVER,
    STUN_SERVER_2,
    TURN,
    TURN_RELAYED,
    TurnRelay,
    start_internet,
)
from .fakesignal import Hub

pytestmark = pytest.mark.trio

ALICE_IP, BOB_IP = "10.0.1.2", "10.0.2.2"
ALICE_PUBLIC, BOB_PUBLIC = "198.51.100.1", "198.51.100.2"


@pytest.fixture
async def internet(nursery):
    return await start_internet(nursery)


def node(hub: Hub, name: str, ip: str, port: int = 0, identity: Identity | None = None, **kwargs):
    identity = identity or Identity.generate()
    config = NodeConfig(name, bind=(ip, port), stun_servers=(STUN_SERVER, STUN_SERVER_2), **kwargs)
    return open_node(config, identity, signalling=hub.client(name, identity))


async def next_event(node, kind, predicate=lambda e: True, timeout=120):
    with trio.fail_after(timeout):
        async for event in node.events:
            if isinstance(event, kind) and predicate(event):
                return event


def connected(event):
    return event.status == PeerStatus.CONNECTED


async def test_two_nodes_behind_cone_nats_punch_through_and_talk(internet, autojump_clock):
    internet.nat(ALICE_PUBLIC, "10.0.1.0/24")
    internet.nat(BOB_PUBLIC, "10.0.2.0/24")
    hub = Hub()
    async with node(hub, "alice", ALICE_IP) as a, node(hub, "bob", BOB_IP) as b:
        ready = await next_event(a, events.Ready)
        assert ready.address[0] == ALICE_PUBLIC and ready.nat == "cone"
        sent = a.send("bob", "hello through two NATs")
        with trio.fail_after(60):
            await a.wait_status("bob", PeerStatus.CONNECTED)
        assert a.status("bob") == PeerStatus.CONNECTED
        received = await next_event(b, events.MessageReceived)
        assert (received.peer, received.id, received.text) == ("alice", sent, "hello through two NATs")
        up = await next_event(a, events.PeerChanged, connected)
        assert up.path == "direct" and up.network == "internet" and up.remote[0] == BOB_PUBLIC
        assert (await next_event(a, events.MessageDelivered)).id == sent
        details = a.details("bob")
        assert details.path == events.PathKind.DIRECT and details.remote == up.remote
        assert details.encryption and details.rtt is not None and details.unacknowledged == 0


async def test_symmetric_against_symmetric_talks_through_the_relay(internet, nursery, autojump_clock):
    relay = TurnRelay()
    await nursery.start(relay.run)
    internet.nat(ALICE_PUBLIC, "10.0.1.0/24", symmetric=True, seed=1)
    internet.nat(BOB_PUBLIC, "10.0.2.0/24", symmetric=True, seed=2)
    hub = Hub()
    async with node(hub, "alice", ALICE_IP, turn_servers=(TURN,)) as a, node(hub, "bob", BOB_IP) as b:
        assert (await next_event(a, events.Ready)).nat == "symmetric"
        a.send("bob", "through the relay")
        assert (await next_event(b, events.MessageReceived)).text == "through the relay"
        up = await next_event(a, events.PeerChanged, connected)
        assert up.path == "relay"
        b.send("alice", "and back")
        assert (await next_event(a, events.MessageReceived)).text == "and back"
        details = a.details("bob")
        assert details.path == events.PathKind.OUR_RELAY and details.relay == f"turn {TURN.host}:{TURN.port}"
        assert details.relays[0].relayed == TURN_RELAYED
        assert relay.relayed >= 4


async def test_a_relayed_path_moves_to_direct_and_says_so(internet, nursery, autojump_clock):
    relay = TurnRelay()
    await nursery.start(relay.run)
    internet.nat(ALICE_PUBLIC, "10.0.1.0/24")
    internet.nat(BOB_PUBLIC, "10.0.2.0/24")
    # Direct datagrams between the two are lost; the relay still works.
    blocked = True
    direct = {(ALICE_IP, BOB_PUBLIC), (BOB_IP, ALICE_PUBLIC)}
    internet.drop = lambda source, destination: blocked and (source[0], destination[0]) in direct
    hub = Hub()
    async with node(hub, "alice", ALICE_IP, turn_servers=(TURN,)) as a, node(hub, "bob", BOB_IP) as b:
        a.send("bob", "relayed first")
        assert (await next_event(b, events.MessageReceived)).text == "relayed first"
        assert (await next_event(a, events.PeerChanged, connected)).path == "relay"
        blocked = False
        moved = await next_event(a, events.PeerChanged, connected, timeout=600)
        assert moved.path == "direct" and moved.remote[0] == BOB_PUBLIC
        assert a.details("bob").path == events.PathKind.DIRECT
        a.send("bob", "direct now")
        assert (await next_event(b, events.MessageReceived)).text == "direct now"


async def test_a_nat_rebinding_mid_conversation_moves_the_path(internet, autojump_clock):
    internet.nat(ALICE_PUBLIC, "10.0.1.0/24", port_restricted=False)
    bob_nat = internet.nat(BOB_PUBLIC, "10.0.2.0/24", seed=7)
    hub = Hub()
    async with node(hub, "alice", ALICE_IP) as a, node(hub, "bob", BOB_IP) as b:
        a.send("bob", "before")
        assert (await next_event(b, events.MessageReceived)).text == "before"
        first = await next_event(a, events.PeerChanged, connected)
        bob_nat.rebind()  # bob's datagrams leave from a new port from now on
        b.send("alice", "after the rebinding")
        assert (await next_event(a, events.MessageReceived)).text == "after the rebinding"
        moved = await next_event(a, events.PeerChanged, connected)
        assert moved.remote[0] == BOB_PUBLIC and moved.remote != first.remote
        a.send("bob", "still there?")
        assert (await next_event(b, events.MessageReceived)).text == "still there?"


async def test_offers_racing_make_one_conversation(internet, autojump_clock):
    internet.nat(ALICE_PUBLIC, "10.0.1.0/24")
    internet.nat(BOB_PUBLIC, "10.0.2.0/24")
    hub = Hub()
    async with node(hub, "alice", ALICE_IP) as a, node(hub, "bob", BOB_IP) as b:
        await next_event(a, events.Ready)
        await next_event(b, events.Ready)
        a.open("bob")
        b.open("alice")  # both offer at once
        for n in (a, b):
            await next_event(n, events.PeerChanged, connected)
        assert a.conversations() == ["bob"] and b.conversations() == ["alice"]
        ids = [a.send("bob", f"a{i}") for i in range(20)]
        texts = [(await next_event(b, events.MessageReceived)).text for _ in ids]
        assert texts == [f"a{i}" for i in range(20)]
        assert len({offer.id for offer in hub.offers}) >= 2


async def test_spraying_stays_within_its_bounds_and_closes_its_sockets(internet, autojump_clock):
    internet.nat(ALICE_PUBLIC, "10.0.1.0/24", symmetric=True, seed=3)
    internet.nat(BOB_PUBLIC, "10.0.2.0/24", seed=4)
    spray = SprayConfig(sockets=24, probes=40, rate=100.0, budget=3.0)
    hub = Hub()
    async with node(hub, "alice", ALICE_IP, spray=spray) as a, node(hub, "bob", BOB_IP, spray=spray) as b:
        assert (await next_event(a, events.Ready)).nat == "symmetric"
        assert (await next_event(b, events.Ready)).nat == "cone"
        a.open("bob")
        await next_event(a, events.PeerChanged, lambda e: e.status == PeerStatus.FAILED, timeout=600)
        await trio.sleep(spray.budget + 1)
        # The hard side: its chat socket, and at most `sockets` more, each used.
        alice_ports = {port for (ip, port) in internet.sent if ip == ALICE_IP}
        assert 1 + 1 <= len(alice_ports) <= 1 + spray.sockets
        # The easy side: at most `probes` random ports of alice's IP, beyond the candidates.
        probed = {d[1] for (s, d) in internet.flows if s[0] == BOB_IP and d[0] == ALICE_PUBLIC}
        assert spray.probes // 2 <= len(probed) <= spray.probes + 4
        # Every spraying socket is closed again: only the chat socket is bound.
        assert internet.bound(ALICE_IP) == 1


# --- Errors: whose fault, in one line ---------------------------------------------------


async def test_a_port_in_use_is_one_environment_failure(internet, autojump_clock):
    hub = Hub()
    async with node(hub, "alice", ALICE_IP, 5000):
        with pytest.raises(EnvironmentFailure) as caught:
            async with node(hub, "bob", ALICE_IP, 5000):
                pytest.fail("a second node listened on the same port")
    # One exception, not a group from a nursery: the one line a person reads.
    assert type(caught.value) is EnvironmentFailure
    assert str(caught.value).startswith(f"cannot listen on {ALICE_IP}:5000: the port is in use by another program")


async def test_the_users_mistakes_and_the_callers_are_told_apart(internet, autojump_clock):
    internet.nat(ALICE_PUBLIC, "10.0.1.0/24")
    hub = Hub()
    async with node(hub, "alice", ALICE_IP) as a:
        await next_event(a, events.Ready)
        with pytest.raises(ConfigError, match="your own name"):
            a.open("alice")
        with pytest.raises(ConfigError, match="invalid name"):
            a.send("not a name", "x")
        with pytest.raises(ConfigError, match="empty"):
            a.send("bob", "")
        with pytest.raises(ConfigError, match="limit"):
            a.send("bob", "x" * 70_000)
        with pytest.raises(ConfigError, match="no conversation with carol"):
            a.details("carol")
        with pytest.raises(ConfigError, match="has not changed"):
            a.accept_key("bob")
        # A message id is the caller's to make: a bad or reused one is a bug there.
        with pytest.raises(LocalProtocolError, match="16 hex digits"):
            a.send("bob", "x", message_id="xyz")
        a.send("bob", "once", message_id="00" * 8)
        with pytest.raises(LocalProtocolError, match="used before"):
            a.send("bob", "twice", message_id="00" * 8)
        assert [m.text for m in a.history("bob").messages] == ["once"]


async def test_spraying_crosses_a_symmetric_nat_against_a_cone(internet, autojump_clock):
    internet.nat(ALICE_PUBLIC, "10.0.1.0/24", symmetric=True, seed=5)
    internet.nat(BOB_PUBLIC, "10.0.2.0/24", seed=6)
    # 512 mappings against 4,096 probes among 64,512 ports: a miss is about 1 in 10^14.
    spray = SprayConfig(sockets=512, probes=4096, rate=2000.0, budget=30.0)
    hub = Hub()
    async with node(hub, "alice", ALICE_IP, spray=spray) as a, node(hub, "bob", BOB_IP, spray=spray) as b:
        a.send("bob", "across the symmetric NAT")
        assert (await next_event(b, events.MessageReceived)).text == "across the symmetric NAT"
        up = await next_event(a, events.PeerChanged, connected, timeout=600)
        assert up.path == "direct" and up.remote[0] == BOB_PUBLIC
        assert a.details("bob").path == events.PathKind.SPRAYED
        await trio.sleep(spray.budget)
        # The attempt is over: only the socket the path uses stays open beside the chat socket.
        assert internet.bound(ALICE_IP) == 2
        b.send("alice", "and back the same way")
        assert (await next_event(a, events.MessageReceived)).text == "and back the same way"


def offline(event):
    return event.status == PeerStatus.OFFLINE


async def test_a_peer_that_quits_says_goodbye_and_is_offline_at_once(internet, autojump_clock, tmp_path):
    internet.nat(ALICE_PUBLIC, "10.0.1.0/24")
    internet.nat(BOB_PUBLIC, "10.0.2.0/24")
    hub, bob = Hub(), Identity.generate()
    async with node(hub, "alice", ALICE_IP, state_dir=tmp_path / "alice") as a:
        async with node(hub, "bob", BOB_IP, identity=bob, state_dir=tmp_path / "bob") as b:
            a.send("bob", "hello")
            assert (await next_event(b, events.MessageReceived)).text == "hello"
            await next_event(a, events.PeerChanged, connected)
        left = trio.current_time()
        gone = await next_event(a, events.PeerChanged, offline, timeout=1)
        # The goodbye, not presence (which alone leaves a live path "connected"),
        # nor the path going silent (seconds later).
        assert gone.reason == "bob quit" and trio.current_time() - left < 0.1
        assert a.details("bob").reason == "bob quit"
        waiting = a.send("bob", "while you were away")
        # bob comes back: a new session (the old one said goodbye) carries what waited.
        async with node(hub, "bob", BOB_IP, identity=bob, state_dir=tmp_path / "bob") as b:
            received = await next_event(b, events.MessageReceived)
            assert (received.id, received.text) == (waiting, "while you were away")
            assert (await next_event(a, events.MessageDelivered)).id == waiting
            assert a.status("bob") == PeerStatus.CONNECTED


async def test_a_peer_that_vanishes_is_offline_and_the_nat_is_not_blamed(internet, autojump_clock):
    internet.nat(ALICE_PUBLIC, "10.0.1.0/24")
    internet.nat(BOB_PUBLIC, "10.0.2.0/24")
    hub = Hub()
    vanished = False
    internet.drop = lambda source, destination: vanished and BOB_IP in (source[0], destination[0])
    async with node(hub, "alice", ALICE_IP) as a, node(hub, "bob", BOB_IP) as b:
        a.send("bob", "hello")
        assert (await next_event(b, events.MessageReceived)).text == "hello"
        await next_event(a, events.PeerChanged, connected)
        # kill -9: no goodbye; the signalling service sees the connection drop.
        vanished = True
        hub.online.pop("bob")
        hub.announce("bob")
        assert a.status("bob") == PeerStatus.CONNECTED  # Until the path says otherwise.
        gone = await next_event(a, events.PeerChanged, offline, timeout=30)
        assert gone.reason.startswith("lost the path to ")
        with trio.move_on_after(60):  # Well past the punch's deadline.
            await a.wait_status("bob", PeerStatus.FAILED)
        assert a.status("bob") == PeerStatus.OFFLINE
        assert "relay" not in a.details("bob").reason and "NAT" not in a.details("bob").reason


async def test_leaving_starts_nothing_new_even_while_the_peer_talks(internet, autojump_clock):
    internet.nat(ALICE_PUBLIC, "10.0.1.0/24")
    internet.nat(BOB_PUBLIC, "10.0.2.0/24")
    hub = Hub()
    async with node(hub, "bob", BOB_IP) as b:
        async with node(hub, "alice", ALICE_IP) as a:
            a.send("bob", "hello")
            await next_event(b, events.PeerChanged, connected)
            await next_event(b, events.MessageReceived)
            b.open("alice")  # bob answers: he watches her presence from now on
            await trio.testing.wait_all_tasks_blocked()
            offers = len(hub.offers)
            for n in range(20):  # bob talks as alice leaves
                b.send("alice", f"are you there? {n}")
        # alice offered nothing while leaving, and bob saw her go once, for good.
        assert len(hub.offers) == offers, [(o.sender, o.receiver) for o in hub.offers]
        gone = await next_event(b, events.PeerChanged, offline, timeout=1)
        assert gone.reason == "alice quit"
        with trio.move_on_after(30):
            told = await next_event(b, events.PeerChanged, timeout=30)
            pytest.fail(f"alice is gone, yet bob was told {told}")


async def test_a_peer_back_after_its_goodbye_is_never_failed(internet, autojump_clock, tmp_path):
    internet.nat(ALICE_PUBLIC, "10.0.1.0/24")
    internet.nat(BOB_PUBLIC, "10.0.2.0/24")
    hub, bob = Hub(), Identity.generate()
    async with node(hub, "alice", ALICE_IP) as a:
        async with node(hub, "bob", BOB_IP, identity=bob) as b:
            b.send("alice", "hello")
            await next_event(a, events.MessageReceived)
        await next_event(a, events.PeerChanged, offline)
        before = a.counters()
        async with node(hub, "bob", BOB_IP, identity=bob) as b:
            b.send("alice", "back")
            told = []
            while not told or told[-1].status != PeerStatus.CONNECTED:
                told.append(await next_event(a, events.PeerChanged))
            assert [e.status for e in told] in (
                [PeerStatus.ONLINE, PeerStatus.CONNECTING, PeerStatus.CONNECTED],
                [PeerStatus.CONNECTING, PeerStatus.CONNECTED],
            )
            assert all("quit" not in e.reason for e in told)
            assert (await next_event(a, events.MessageReceived)).text == "back"
            after = a.counters()  # The old session's counts are kept: counters never go back.
            assert all(after[why] >= count for why, count in before.items())


async def test_a_first_key_that_cannot_be_saved_is_an_error_not_a_crash(internet, autojump_clock, tmp_path):
    internet.nat(ALICE_PUBLIC, "10.0.1.0/24")
    internet.nat(BOB_PUBLIC, "10.0.2.0/24")
    hub = Hub()
    full = tmp_path / "alice"
    async with node(hub, "alice", ALICE_IP, state_dir=full) as a, node(hub, "bob", BOB_IP) as b:
        # known_peers cannot be written any more (here: a directory took its place).
        (full / "known_peers").unlink(missing_ok=True)
        (full / "known_peers").mkdir()
        try:
            a.open("bob")  # A stranger's key is pinned only once the user answers.
            b.send("alice", "hi")
            error = await next_event(a, events.Error)
            assert "bob's key is remembered until you quit" in error.message and error.peer == "bob"
            assert (await next_event(a, events.MessageReceived)).text == "hi"
        finally:
            (full / "known_peers").rmdir()
