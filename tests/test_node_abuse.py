"""Strangers trying to turn a node into a weapon, on trio's fake network (issue #15).

Whole nodes through their public API, an attacker holding as many names as it
likes (names cost nothing), and a victim elsewhere on the internet: every
datagram the node sends is counted on the fake network.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import replace

import pytest
import trio

from p2ptui.net import Identity, NodeConfig, PeerStatus, SendLimits, events, open_node
from p2ptui.net.signalling.messages import Offer, sign

from .fakeinternet import STUN_SERVER, STUN_SERVER_2, Internet, start_internet
from .fakesignal import Hub, HubClient

pytestmark = pytest.mark.trio

BOB_IP, BOB_PUBLIC, BOB_LAN = "10.0.2.2", "198.51.100.2", "10.0.2.0/24"
ATTACKER_IP = "198.51.100.66"
VICTIM_IP = "203.0.113.66"


@pytest.fixture
async def internet(nursery):
    net = await start_internet(nursery)
    net.nat(BOB_PUBLIC, BOB_LAN, seed=4)  # a cone: the side that probes random ports
    return net


def bob_node(hub: Hub, **kwargs):
    identity = Identity.generate()
    config = NodeConfig(
        "bob", bind=(BOB_IP, 0), stun_servers=(STUN_SERVER, STUN_SERVER_2), local_networks=(BOB_LAN,), **kwargs
    )
    return open_node(config, identity, signalling=hub.client("bob", identity))


class UnseenClient(HubClient):
    """A client of a service that cannot say where it saw the sender (Firestore)."""

    @property
    def seen_ip(self) -> str:
        return ""


def stranger(hub: Hub, name: str, address: tuple[str, int], *, seen: bool = True) -> tuple[HubClient, Identity]:
    """One of the attacker's names, online at address (what presence tells)."""
    identity = Identity.generate()
    client = (HubClient if seen else UnseenClient)(hub, name, identity)
    client.address = address
    hub.online[name] = client
    return client, identity


def offer(name: str, identity: Identity, ip: str, candidates, nat: str = "symmetric") -> Offer:
    return sign(
        Offer(
            id=uuid.uuid4().hex,
            sender=name,
            sender_key=identity.public_key,
            receiver="bob",
            sender_ip=ip,
            receiver_ip="",
            port=candidates[0][1],
            tag=uuid.uuid4().hex[:16],
            candidates=tuple(candidates),
            expires=time.time() + 30,
            nat=nat,
        ),
        identity,
    )


def sent_to(internet: Internet, ip: str) -> int:
    return sum(count for (source, destination), count in internet.flows.items() if destination[0] == ip)


async def ready(node) -> None:
    with trio.fail_after(60):
        async for event in node.events:
            if isinstance(event, events.Ready):
                return


async def test_fresh_names_cannot_aim_spraying_at_an_ip_the_server_did_not_see_them_at(internet, autojump_clock):
    hub = Hub()
    async with bob_node(hub) as bob:
        await ready(bob)
        for n in range(5):
            client, identity = stranger(hub, f"mallory{n}", (ATTACKER_IP, 4000 + n))
            await client.send_offer(offer(f"mallory{n}", identity, VICTIM_IP, [(VICTIM_IP, 5000 + n)]))
        await trio.sleep(12)
        # Only the punch toward each named address, within its first-contact allowance.
        assert sent_to(internet, VICTIM_IP) <= 5 * SendLimits().first_contact
        assert bob.counters()["spraying toward an IP the sender was not seen at"] >= 5


async def test_without_a_seen_ip_spraying_stays_within_the_global_budget(internet, autojump_clock):
    hub = Hub(presence_addresses=True)  # Firestore: no seen_ip, addresses in presence
    async with bob_node(hub) as bob:
        await ready(bob)
        began = trio.current_time()
        for n in range(5):
            # Firestore: presence is the stranger's own word, so it would "confirm" the
            # victim's IP; but a stranger is never watched, so no presence comes.
            client, identity = stranger(hub, f"mallory{n}", (VICTIM_IP, 5000 + n), seen=False)
            for _ in range(2):  # the second once bob could have had the presence that "confirms" it
                await client.send_offer(offer(f"mallory{n}", identity, VICTIM_IP, [(VICTIM_IP, 5000 + n)]))
                await trio.sleep(0.5)
        await trio.sleep(12)
        limits = SendLimits()
        elapsed = trio.current_time() - began
        # Five names once sent ~5,200 datagrams to ~4,900 ports: now only their punches.
        assert sent_to(internet, VICTIM_IP) <= limits.unvalidated_burst + limits.unvalidated_rate * elapsed
        assert sent_to(internet, VICTIM_IP) <= 5 * (limits.first_contact + limits.first_contact_refill * elapsed)
        assert bob.counters()["spraying toward an IP the sender was not seen at"] == 10


async def test_loopback_and_foreign_lan_candidates_are_never_probed(internet, autojump_clock):
    hub = Hub()
    async with bob_node(hub) as bob:
        await ready(bob)
        client, identity = stranger(hub, "mallory", (ATTACKER_IP, 4000))
        named = [(ATTACKER_IP, 4000), ("127.0.0.1", 22), ("192.168.7.7", 80), ("10.0.2.99", 9), ("169.254.1.1", 9)]
        await client.send_offer(offer("mallory", identity, ATTACKER_IP, named, nat="cone"))
        await trio.sleep(12)
        for ip in ("127.0.0.1", "192.168.7.7", "169.254.1.1"):
            assert sent_to(internet, ip) == 0, ip
        assert sent_to(internet, "10.0.2.99") > 0  # on bob's own LAN: a fair candidate
        assert sent_to(internet, ATTACKER_IP) > 0
        counters = bob.counters()
        assert counters["loopback candidate"] == 1
        assert counters["private candidate not on our networks"] == 1
        assert counters["unusable candidate (unspecified, multicast, link-local)"] == 1


ALICE_IP, ALICE_PUBLIC = "10.0.1.2", "198.51.100.1"


def alice_node(hub: Hub, identity: Identity):
    config = NodeConfig("alice", bind=(ALICE_IP, 0), stun_servers=(STUN_SERVER, STUN_SERVER_2))
    return open_node(config, identity, signalling=hub.client("alice", identity))


async def received(node, text: str) -> None:
    with trio.fail_after(120):
        async for event in node.events:
            if isinstance(event, events.MessageReceived) and event.text == text:
                return


async def test_a_flood_of_offers_is_rate_limited_and_a_good_peer_still_gets_through(internet, autojump_clock):
    internet.nat(ALICE_PUBLIC, "10.0.1.0/24", seed=3)
    hub, alice = Hub(), Identity.generate()
    async with bob_node(hub) as bob:
        await ready(bob)
        async with alice_node(hub, alice) as a:
            a.send("bob", "before the flood")
            await received(bob, "before the flood")
        # One name floods; then many fresh names do.
        client, identity = stranger(hub, "mallory", (ATTACKER_IP, 4000))
        for _ in range(100):
            await client.send_offer(offer("mallory", identity, ATTACKER_IP, [(ATTACKER_IP, 4000)], nat="cone"))
        for n in range(100):
            client, identity = stranger(hub, f"fresh{n}", (ATTACKER_IP, 5000 + n))
            await client.send_offer(offer(f"fresh{n}", identity, ATTACKER_IP, [(ATTACKER_IP, 5000 + n)], nat="cone"))
        await trio.sleep(1)
        counters = bob.counters()
        assert counters["offers from one sender over the rate limit"] >= 100 - 5
        assert counters["offers over the overall rate limit"] >= 100 - 20
        # alice, whom bob knows, offers again (a restart) and is taken at once.
        async with alice_node(hub, alice) as a:
            a.send("bob", "during the flood")
            await received(bob, "during the flood")


def tasks() -> int:
    """Every task running now (trio's own introspection)."""

    def count(task: trio.lowlevel.Task) -> int:
        return 1 + sum(count(child) for nursery in task.child_nurseries for child in nursery.child_tasks)

    return count(trio.lowlevel.current_root_task())


async def test_three_hundred_one_offer_strangers_leave_bounded_state_and_no_pins(internet, nursery, autojump_clock):
    hub = Hub()
    cap = NodeConfig("bob").max_strangers
    async with bob_node(hub) as bob:
        await ready(bob)
        forgotten: list[str] = []

        async def follow():
            async for event in bob.events:
                if isinstance(event, events.PeerForgotten):
                    forgotten.append(event.peer)

        nursery.start_soon(follow)
        before = tasks()
        keys = {}
        for n in range(300):
            client, identity = stranger(hub, f"s{n}", (ATTACKER_IP, 4000 + n))
            keys[f"s{n}"] = identity.public_key
            await client.send_offer(offer(f"s{n}", identity, ATTACKER_IP, [(ATTACKER_IP, 4000 + n)], nat="cone"))
            await trio.sleep(0.5)  # within the overall offer rate: every one is taken
        await trio.sleep(1)
        kept = bob.conversations()
        assert len(kept) == cap and kept == [f"s{n}" for n in range(300 - cap, 300)]  # the oldest went first
        assert forgotten == [f"s{n}" for n in range(300 - cap)]
        # Each kept peer: a task holding it, its driver, its connector and the (at most
        # four) waits the connector runs at once (300 strangers made some 1,500 before).
        assert tasks() - before <= 7 * cap
        assert bob.counters()["offers over the overall rate limit"] == 0
        # No stranger's key is written down until the user answers; then the signed one is.
        assert all(bob.known_peers.pinned(name) is None for name in keys)
        bob.open("s299")
        assert bob.known_peers.pinned("s299") == keys["s299"]


async def test_a_stranger_the_user_answered_is_never_let_go(internet, nursery, autojump_clock):
    hub = Hub()
    async with bob_node(hub, max_strangers=2) as bob:
        await ready(bob)
        nursery.start_soon(drain, bob)
        for n in range(6):
            client, identity = stranger(hub, f"s{n}", (ATTACKER_IP, 4000 + n))
            await client.send_offer(offer(f"s{n}", identity, ATTACKER_IP, [(ATTACKER_IP, 4000 + n)], nat="cone"))
            await trio.sleep(0.5)
            if n == 0:
                bob.send("s0", "hello stranger")  # answered: no stranger any more
            if n == 1:
                bob.open("s1")
        assert bob.conversations() == ["s0", "s1", "s4", "s5"]


async def drain(node) -> None:
    async for _ in node.events:
        pass


class LyingHub(Hub):
    """A signalling service that names other keys in presence (it cannot sign offers)."""

    def __init__(self) -> None:
        super().__init__()
        self.lies: dict[str, str] = {}

    def presence(self, name: str):
        told = super().presence(name)
        return replace(told, key=self.lies[name]) if told.online and name in self.lies else told


async def test_presence_alone_neither_pins_a_key_nor_stops_a_conversation(internet, autojump_clock):
    internet.nat(ALICE_PUBLIC, "10.0.1.0/24", seed=3)
    hub, alice, bob = LyingHub(), Identity.generate(), Identity.generate()
    config = NodeConfig("bob", bind=(BOB_IP, 0), stun_servers=(STUN_SERVER, STUN_SERVER_2), local_networks=(BOB_LAN,))
    async with alice_node(hub, alice) as a:
        async with open_node(config, bob, signalling=hub.client("bob", bob)) as b:
            a.send("bob", "pin bob")
            await received(b, "pin bob")
        forged = Identity.generate().public_key
        hub.lies["bob"] = forged
        waiting = a.send("bob", "while presence lies")
        # bob is back (a new run that knows nothing of alice): only alice's offer can connect them.
        async with open_node(config, bob, signalling=hub.client("bob", bob)) as b:
            await received(b, "while presence lies")
            with trio.fail_after(60):
                async for event in a.events:
                    if isinstance(event, events.MessageDelivered) and event.id == waiting:
                        break
        assert a.known_peers.pinned("bob") == bob.public_key
        # The user accepts the key presence names: never pinned until bob signs with it (never).
        async with open_node(config, bob, signalling=hub.client("bob", bob)):
            with trio.fail_after(60):
                async for event in a.events:
                    if isinstance(event, events.PeerChanged) and event.status == PeerStatus.KEY_CHANGED:
                        break
            a.accept_key("bob")
            assert a.known_peers.pinned("bob") == bob.public_key
