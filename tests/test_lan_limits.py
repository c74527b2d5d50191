"""LAN discovery under a flood of announcements (issue #15 point 2, on the LAN).

A `Lan` on trio's fake network with the in-memory mDNS of test_node_lan: anyone
on a LAN may announce any name with a key of their own, as often as they like.
What the node keeps, the work each announcement costs, and the LAN signals
(real peers' offers) must stay bounded and unharmed.
"""

from __future__ import annotations

import ipaddress
import time
import uuid
from collections import Counter

import pytest
import trio
import trio.testing

from p2ptui.net import Identity, lan_codec
from p2ptui.net import lan as lanmod
from p2ptui.net.datagrams import Datagrams
from p2ptui.net.signalling.messages import Offer, sign

from .test_node_lan import ALICE_IP, BOB_IP, FakeLan, FakeLink, internet

pytestmark = pytest.mark.trio

__all__ = ["internet"]  # the fixture, shared with test_node_lan


class CountingLink(FakeLink):
    """The fake mDNS link, counting how often the interfaces are read (a system call)."""

    def __init__(self, lan: FakeLan, ip: str) -> None:
        super().__init__(lan, ipaddress.ip_interface(f"{ip}/24"), True)
        self.reads = 0

    def interfaces(self):
        self.reads += 1
        return super().interfaces()


def announcement(identity: Identity, name: str, ip: str = BOB_IP) -> lanmod.ServiceFound:
    properties = lan_codec.announce(identity, name, 4000, [ipaddress.ip_address(ip)], time.time())
    instance = f"{name}-{identity.public_key[:12]}"
    return lanmod.ServiceFound(instance, {k.encode(): v.encode() for k, v in properties.items()})


@pytest.fixture
async def alice_lan(internet, nursery):
    """alice's LAN discovery, running (nobody serves its queues: they fill)."""
    fake = FakeLan()
    link = CountingLink(fake, ALICE_IP)
    sock = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
    await sock.bind((ALICE_IP, 0))
    dropped: Counter[str] = Counter()
    lan = lanmod.Lan(Identity.generate(), "alice", Datagrams(sock, dropped), dropped, ALICE_IP, link)
    nursery.start_soon(lan.run)
    await trio.testing.wait_all_tasks_blocked()
    return fake, link, lan, dropped


async def paced(fake: FakeLan, items) -> None:
    """Publish each, within the announcement rate."""
    for item in items:
        fake.publish(item)
        await trio.sleep(1 / lanmod.ANNOUNCE_RATE)


async def test_one_key_announcing_thousands_of_names_keeps_a_handful(alice_lan, autojump_clock):
    fake, _, lan, _ = alice_lan
    mallory = Identity.generate()
    await paced(fake, (announcement(mallory, f"m{n}") for n in range(1000)))
    # It once left one peer a name (20,000 names: 10 MiB).
    assert list(lan.peers) == [f"m{n}" for n in range(1000 - lanmod.NAMES_PER_KEY, 1000)]


async def test_the_directory_is_capped_oldest_first_and_a_chosen_peer_stays(alice_lan, autojump_clock):
    fake, _, lan, _ = alice_lan
    lan.keep = lambda name: name == "bob"  # the user chose bob
    await paced(fake, [announcement(Identity.generate(), "bob")])
    count = lanmod.MAX_LAN_PEERS + 100
    await paced(fake, (announcement(Identity.generate(), f"s{n}") for n in range(count)))
    assert len(lan.peers) == lanmod.MAX_LAN_PEERS
    assert "bob" in lan.peers
    # The rest: the newest names; the oldest went first.
    assert list(lan.peers)[1:] == [f"s{n}" for n in range(count - lanmod.MAX_LAN_PEERS + 1, count)]


async def test_a_burst_of_announcements_is_checked_at_a_bounded_rate_and_the_interfaces_read_rarely(
    alice_lan, autojump_clock
):
    fake, link, lan, dropped = alice_lan
    reads = link.reads
    items = [announcement(Identity.generate(), f"s{n}") for n in range(400)]
    for item in items:  # All at once: no time for the bucket to refill.
        fake.publish(item)
    assert dropped["LAN announcement rate limit"] == 400 - lanmod.ANNOUNCE_BURST
    assert link.reads - reads <= 1  # Once per INTERFACES_TTL, not once per announcement.
    await trio.sleep(lanmod.INTERFACES_TTL)
    fake.publish(items[0])
    assert link.reads - reads <= 2


def lan_offer() -> bytes:
    bob = Identity.generate()
    offer = Offer(
        id=uuid.uuid4().hex,
        sender="bob",
        sender_key=bob.public_key,
        receiver="alice",
        sender_ip=BOB_IP,
        receiver_ip=ALICE_IP,
        port=4000,
        tag=uuid.uuid4().hex[:16],
        candidates=((BOB_IP, 4000),),
        expires=time.time() + 30,
    )
    return lan_codec.encode_signal(sign(offer, bob))


async def test_a_flood_of_announcements_never_drops_a_lan_offer(alice_lan, autojump_clock):
    fake, _, lan, dropped = alice_lan
    for n in range(200):  # Nobody takes them yet: their queue overflows.
        fake.publish(announcement(Identity.generate(), f"s{n}"))
    assert dropped["LAN event overflow"] > 0
    assert lan.signal_received(lan_offer(), (BOB_IP, 4000))
    signal = lan.signals.receive_nowait()
    assert signal.record.sender == "bob" and signal.source == (BOB_IP, 4000)
