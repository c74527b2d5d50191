"""LAN discovery in whole nodes, on trio's fake network in virtual time.

mDNS is a `lan.Link` in memory (`FakeLan`): every node on it sees every other
node's service, as zeroconf's browser would; the LAN signals go over trio's
fake network like any datagram. Signalling is either unreachable (the offline
LAN) or the in-memory hub.
"""

from __future__ import annotations

import ipaddress

import pytest
import trio

from p2ptui.net import Identity, KnownPeers, NodeConfig, PeerStatus, events, lan_codec, open_node
from p2ptui.net import lan as lanmod
from p2ptui.net.signalling import SignallingClient, SignallingEvent, SignallingLost

from .fakeinternet import Internet
from .fakesignal import Hub

pytestmark = pytest.mark.trio

ALICE_IP, BOB_IP, CAROL_IP = "10.0.1.2", "10.0.1.3", "10.0.1.4"
#: The router's side: wider than the nodes' own network (10.0.1.0/24), so a host
#: behind the same router can be off our network, as on a routed campus LAN.
BEHIND_THE_ROUTER = "10.0.0.0/16"


class FakeLan:
    """mDNS in memory: the services published on one LAN, and who browses it."""

    def __init__(self) -> None:
        self.services: dict[str, lanmod.ServiceFound] = {}
        self.browsers: list[lanmod.Link] = []

    def link(self, ip: str, *, works: bool = True) -> FakeLink:
        return FakeLink(self, ipaddress.ip_interface(f"{ip}/24"), works)

    def publish(self, found: lanmod.ServiceFound) -> None:
        self.services[found.instance] = found
        for browser in self.browsers:
            browser.found(found)


class FakeLink(lanmod.Link):
    def __init__(self, lan: FakeLan, interface, works: bool) -> None:
        self.lan, self.interface, self.works = lan, interface, works
        self.found = lambda item: None

    def interfaces(self):
        return [self.interface]

    async def run(self, service, found) -> None:
        if not self.works:
            return  # No multicast here.
        self.found = found
        ours = service()
        for other in list(self.lan.services.values()):
            found(other)
        self.lan.browsers.append(self)
        properties = {key.encode(): value.encode() for key, value in ours.properties.items()}
        self.lan.publish(lanmod.ServiceFound(ours.instance, properties))
        try:
            await trio.sleep_forever()
        finally:
            self.lan.browsers.remove(self)
            del self.lan.services[ours.instance]
            for browser in self.lan.browsers:
                browser.found(lanmod.ServiceLost(ours.instance))


class Unreachable(SignallingClient):
    """A signalling server nobody can reach (the offline LAN)."""

    label = "tcp://10.0.1.1:7878"

    def __init__(self) -> None:
        self._send, self.events = trio.open_memory_channel[SignallingEvent](10)

    async def run(self, discover, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        self._send.send_nowait(SignallingLost(f"cannot reach the signalling server at {self.label}: refused"))
        task_status.started()
        await trio.sleep_forever()

    async def watch(self, name: str) -> None:
        pass

    async def send_offer(self, offer) -> None:
        raise AssertionError("nothing can be sent to an unreachable server")

    send_answer = send_offer


@pytest.fixture
async def internet():
    net = Internet()
    net.enable()
    net.nat("198.51.100.1", BEHIND_THE_ROUTER)
    return net


def node(lan: FakeLan, name: str, ip: str, *, identity=None, signalling=None, link=None, **config):
    identity = identity or Identity.generate()
    return open_node(
        NodeConfig(name, bind=(ip, 0), lan=True, local_networks=(BEHIND_THE_ROUTER,), **config),
        identity,
        signalling=signalling or Unreachable(),
        lan_link=link or lan.link(ip),
    )


async def next_event(node, kind, predicate=lambda e: True, timeout=60):
    with trio.fail_after(timeout):
        async for event in node.events:
            if isinstance(event, kind) and predicate(event):
                return event


def connected(event):
    return event.status == PeerStatus.CONNECTED


async def test_two_nodes_on_a_lan_with_no_server_connect_and_talk(internet, autojump_clock):
    lan = FakeLan()
    async with node(lan, "alice", ALICE_IP) as a, node(lan, "bob", BOB_IP) as b:
        ready = await next_event(a, events.Ready)
        assert ready.address[0] == ALICE_IP  # No STUN: our LAN address.
        status = await next_event(a, events.SignalStatus)
        assert status.lan_only and status.message.startswith("signalling unreachable; LAN only: cannot reach")
        a.open("bob")
        b.open("alice")
        up = await next_event(a, events.PeerChanged, connected, timeout=5)
        assert (up.path, up.network, up.remote[0]) == ("direct", "lan", BOB_IP)
        sent = a.send("bob", "next door")
        received = await next_event(b, events.MessageReceived)
        assert (received.peer, received.id, received.text) == ("alice", sent, "next door")
        # The first key came from the LAN, where anyone may claim a name: the details say so.
        assert a.details("bob").first_contact_lan and b.details("alice").first_contact_lan
        assert a.details("bob").fingerprint


async def test_one_side_opening_is_enough(internet, autojump_clock):
    lan = FakeLan()
    async with node(lan, "alice", ALICE_IP) as a, node(lan, "bob", BOB_IP) as b:
        a.send("bob", "are you there?")
        received = await next_event(b, events.MessageReceived)
        assert received.text == "are you there?"
        assert b.conversations() == ["alice"]


async def test_a_lan_peer_is_preferred_to_signalling_and_needs_no_offer_through_it(internet, autojump_clock):
    lan, hub = FakeLan(), Hub()
    alice, bob = Identity.generate(), Identity.generate()
    async with (
        node(lan, "alice", ALICE_IP, identity=alice, signalling=hub.client("alice", alice)) as a,
        node(lan, "bob", BOB_IP, identity=bob, signalling=hub.client("bob", bob)) as b,
    ):
        a.open("bob")
        b.open("alice")
        up = await next_event(a, events.PeerChanged, connected, timeout=5)
        assert up.network == "lan"
        assert hub.offers == [] and hub.answers == []


async def test_a_key_other_than_the_pinned_one_is_refused(internet, autojump_clock, tmp_path):
    lan = FakeLan()
    KnownPeers(tmp_path / "alice").pin("bob", Identity.generate().public_key)
    async with (
        node(lan, "alice", ALICE_IP, state_dir=tmp_path / "alice") as a,
        node(lan, "bob", BOB_IP) as b,
    ):
        a.open("bob")
        b.open("alice")
        changed = await next_event(a, events.PeerChanged, lambda e: e.status == PeerStatus.KEY_CHANGED)
        assert changed.new_fingerprint and changed.new_fingerprint != changed.fingerprint
        await trio.sleep(30)  # Offers go on meanwhile; none is taken.
        assert a.status("bob") == PeerStatus.KEY_CHANGED and b.status("alice") != PeerStatus.CONNECTED
        assert a.counters()["changed key"] >= 1


async def test_a_new_key_accepted_over_the_lan_stays_accepted_through_later_announcements(
    internet, autojump_clock, tmp_path
):
    lan = FakeLan()
    KnownPeers(tmp_path / "alice").pin("bob", Identity.generate().public_key)
    async with (
        node(lan, "alice", ALICE_IP, state_dir=tmp_path / "alice") as a,
        node(lan, "bob", BOB_IP) as b,
    ):
        a.open("bob")
        b.open("alice")
        await next_event(a, events.PeerChanged, lambda e: e.status == PeerStatus.KEY_CHANGED)
        a.accept_key("bob")
        await next_event(a, events.PeerChanged, connected, timeout=30)
        await trio.sleep(11 * 60)  # Bob re-announces every 5 minutes, signed by the same key.
        assert a.status("bob") == PeerStatus.CONNECTED


async def test_a_forged_announcement_and_a_stranger_s_lan_signal_are_dropped(internet, autojump_clock):
    lan = FakeLan()
    async with node(lan, "alice", ALICE_IP) as a:
        a.open("bob")
        forged = lan_codec.announce(Identity.generate(), "bob", 4000, [ipaddress.ip_address(BOB_IP)], 0)
        forged["time"] = str(int(trio.current_time()) + 10**9)  # Made to look fresh: the signature says no.
        lan.publish(lanmod.ServiceFound("bob-x", {k.encode(): v.encode() for k, v in forged.items()}))
        with trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM) as far:
            await far.bind(("10.0.2.9", 0))  # Off our network (10.0.1.0/24): not a LAN peer.
            await far.sendto(lan_codec.SIGNAL_PREFIX + b"{}", a.local_address)
            await trio.sleep(1)
        counters = a.counters()
        assert counters["announcement with a bad signature"] == 1
        assert counters["LAN signal from off our networks"] == 1
        assert a.status("bob") != PeerStatus.CONNECTED


async def test_a_peer_leaving_the_lan_goes_offline(internet, autojump_clock):
    lan = FakeLan()
    async with node(lan, "alice", ALICE_IP) as a:
        a.open("bob")
        async with node(lan, "bob", BOB_IP) as b:
            b.open("alice")
            await next_event(a, events.PeerChanged, connected)
        gone = await next_event(a, events.PeerChanged, lambda e: e.status == PeerStatus.OFFLINE)
        assert gone.peer == "bob"


async def test_without_multicast_the_node_still_works_through_signalling(internet, autojump_clock):
    lan, hub = FakeLan(), Hub()
    alice, bob = Identity.generate(), Identity.generate()
    async with (
        node(lan, "alice", ALICE_IP, identity=alice, signalling=hub.client("alice", alice),
             link=lan.link(ALICE_IP, works=False)) as a,
        node(lan, "bob", BOB_IP, identity=bob, signalling=hub.client("bob", bob),
             link=lan.link(BOB_IP, works=False)) as b,
    ):
        a.send("bob", "the old way")
        assert (await next_event(b, events.MessageReceived)).text == "the old way"
        assert hub.offers  # It went through signalling, as before.


async def test_a_flood_of_lan_signals_is_checked_at_a_bounded_rate(internet, autojump_clock):
    lan = FakeLan()
    async with node(lan, "alice", ALICE_IP) as a:
        with trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM) as neighbour:
            await neighbour.bind((CAROL_IP, 0))
            for _ in range(200):  # At once: no time for the bucket to refill.
                await neighbour.sendto(lan_codec.SIGNAL_PREFIX + b"[]", a.local_address)
            await trio.sleep(1)
        counters = a.counters()
        assert counters["malformed LAN signal"] == lanmod.SIGNAL_BURST
        assert counters["LAN signal rate limit"] == 200 - lanmod.SIGNAL_BURST


async def test_a_lan_of_public_addresses_is_still_the_lan(autojump_clock):
    Internet().enable()  # No NAT: a campus LAN on public addresses (a documentation range here).
    lan = FakeLan()
    async with node(lan, "alice", "192.0.2.2") as a, node(lan, "bob", "192.0.2.3") as b:
        a.open("bob")
        b.open("alice")
        up = await next_event(a, events.PeerChanged, connected, timeout=5)
        assert (up.network, up.remote[0]) == ("lan", "192.0.2.3")
        assert a.details("bob").network == "lan"
