"""Roaming on the fake internet, in virtual time: a NAT that maps us to a new
port, and a host that moves to another network, mid-conversation. Each
conversation must come back by itself within 10 s, both ways, with what was
in flight delivered exactly once (issue #16, point 1)."""

from __future__ import annotations

import pytest
import trio

from p2ptui.net import Identity, NodeConfig, PeerStatus, events, open_node

from .fakeinternet import STUN_SERVER, STUN_SERVER_2
from .fakesignal import Hub
from .test_node_fakenet import ALICE_IP, ALICE_PUBLIC, BOB_IP, BOB_PUBLIC, connected, internet, next_event

pytestmark = pytest.mark.trio

__all__ = ["internet"]  # the fixture, shared with test_node_fakenet

#: The issue's bound for a conversation to come back after a rebinding or a move.
RECOVERY = 10.0
ALICE_NEW_IP, ALICE_NEW_PUBLIC = "10.0.3.2", "198.51.100.3"


def node(hub: Hub, name: str, ip: str, local_addresses=None):
    """A node whose list of its own addresses the test controls."""
    identity = Identity.generate()
    config = NodeConfig(name, bind=(ip, 0), stun_servers=(STUN_SERVER, STUN_SERVER_2))
    return open_node(config, identity, signalling=hub.client(name, identity), local_addresses=local_addresses)


class Inbox:
    """Every message a node receives, counted by text, read in the background."""

    def __init__(self, node) -> None:
        self.node = node
        self.texts: list[str] = []
        self.moved_to: list[tuple[str, int]] = []
        self._changed = trio.Event()

    async def run(self) -> None:
        async for event in self.node.events:
            if isinstance(event, events.MessageReceived):
                self.texts.append(event.text)
            elif isinstance(event, events.PeerChanged) and connected(event) and event.remote:
                self.moved_to.append(event.remote)
            self._changed.set()
            self._changed = trio.Event()

    async def wait_for(self, text: str) -> None:
        while text not in self.texts:
            await self._changed.wait()

    async def wait_moved_to(self, ip: str) -> None:
        while not any(remote[0] == ip for remote in self.moved_to):
            await self._changed.wait()


async def talking(a, b, nursery):
    """alice and bob, connected and each heard once; their inboxes from then on."""
    a.send("bob", "before")
    assert (await next_event(b, events.MessageReceived)).text == "before"
    await next_event(a, events.PeerChanged, connected)
    with trio.fail_after(30):
        await b.wait_status("alice", PeerStatus.CONNECTED)
    inboxes = Inbox(a), Inbox(b)
    for inbox in inboxes:
        nursery.start_soon(inbox.run)
    return inboxes


async def both_ways_exactly_once(a, b, inbox_a, inbox_b):
    """Messages sent right after the change arrive within RECOVERY, then more
    both ways; nothing arrives twice, however long the resends went on."""
    a.send("bob", "in flight from alice")
    b.send("alice", "in flight from bob")
    with trio.fail_after(RECOVERY):
        await inbox_b.wait_for("in flight from alice")
        await inbox_a.wait_for("in flight from bob")
    a.send("bob", "after, from alice")
    b.send("alice", "after, from bob")
    with trio.fail_after(5):
        await inbox_b.wait_for("after, from alice")
        await inbox_a.wait_for("after, from bob")
    await trio.sleep(30)  # Virtual: any late copy of a resend would show by now.
    assert inbox_b.texts == ["in flight from alice", "after, from alice"]
    assert inbox_a.texts == ["in flight from bob", "after, from bob"]
    assert a.undelivered("bob") == [] and b.undelivered("alice") == []


async def test_a_nat_that_maps_us_to_a_new_port_is_recovered_both_ways_within_10_s(internet, autojump_clock):
    # Port-restricted on both sides: neither lets in bob's new port until it is offered.
    internet.nat(ALICE_PUBLIC, "10.0.1.0/24", seed=3)
    bob_nat = internet.nat(BOB_PUBLIC, "10.0.2.0/24", seed=7)
    hub = Hub()
    async with node(hub, "alice", ALICE_IP) as a, node(hub, "bob", BOB_IP) as b, trio.open_nursery() as nursery:
        inbox_a, inbox_b = await talking(a, b, nursery)
        old_public = b.public_address
        bob_nat.rebind()  # bob's datagrams leave from another port from now on
        await both_ways_exactly_once(a, b, inbox_a, inbox_b)
        # bob learned its new mapping, and alice talks to it.
        assert b.public_address is not None and b.public_address != old_public
        assert a.details("bob").remote == b.public_address
        nursery.cancel_scope.cancel()


def two_networks_for_alice(internet):
    """Alice's home NAT, the phone she tethers to, and bob's NAT."""
    internet.nat(ALICE_PUBLIC, "10.0.1.0/24", seed=3)
    internet.nat(ALICE_NEW_PUBLIC, "10.0.3.0/24", seed=5)
    internet.nat(BOB_PUBLIC, "10.0.2.0/24", seed=7)


async def test_a_host_that_moves_to_another_network_is_recovered_both_ways_within_10_s(internet, autojump_clock):
    two_networks_for_alice(internet)
    hub = Hub()
    alice_ip = [ALICE_IP]
    async with (
        node(hub, "alice", ALICE_IP, local_addresses=lambda: list(alice_ip)) as a,
        node(hub, "bob", BOB_IP) as b,
        trio.open_nursery() as nursery,
    ):
        inbox_a, inbox_b = await talking(a, b, nursery)
        internet.move(ALICE_IP, ALICE_NEW_IP)
        alice_ip[0] = ALICE_NEW_IP
        await both_ways_exactly_once(a, b, inbox_a, inbox_b)
        assert a.public_address is not None and a.public_address[0] == ALICE_NEW_PUBLIC
        assert b.details("alice").remote == a.public_address
        nursery.cancel_scope.cancel()


async def test_an_idle_conversation_follows_a_host_that_moved_before_anyone_writes(internet, autojump_clock):
    two_networks_for_alice(internet)
    hub = Hub()
    alice_ip = [ALICE_IP]
    async with (
        node(hub, "alice", ALICE_IP, local_addresses=lambda: list(alice_ip)) as a,
        node(hub, "bob", BOB_IP) as b,
        trio.open_nursery() as nursery,
    ):
        _, inbox_b = await talking(a, b, nursery)
        internet.move(ALICE_IP, ALICE_NEW_IP)
        alice_ip[0] = ALICE_NEW_IP
        # Nothing is sent, so no path is lost yet (keepalives are 10 s apart): the
        # move itself, seen in the interfaces, has alice offer her new address.
        with trio.fail_after(5):
            await inbox_b.wait_moved_to(ALICE_NEW_PUBLIC)
        assert b.status("alice") == PeerStatus.CONNECTED
        nursery.cancel_scope.cancel()


async def test_a_new_link_local_address_is_not_a_move_but_a_new_routable_one_is(autojump_clock):
    import ipaddress

    from p2ptui.net.roamer import Roamer

    class Discovery:
        def candidates(self):
            return [("198.51.100.1", 4000)]

        async def relearn(self):
            return True

    addresses = [ipaddress.ip_address("10.0.1.2")]
    roamer = Roamer(Discovery(), lambda: list(addresses), poll_interval=2)
    changed = []
    roamer.on_network_changed = lambda: changed.append(list(addresses))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(roamer.run)
        await trio.sleep(1)
        addresses.append(ipaddress.ip_address("fe80::1"))  # a container's veth came up
        await trio.sleep(10)
        assert changed == []
        addresses.append(ipaddress.ip_address("10.0.2.7"))  # a real new network
        await trio.sleep(10)
        assert len(changed) == 1
        nursery.cancel_scope.cancel()
