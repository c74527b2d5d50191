"""A transfer taken up after one side was killed (no goodbye): only what is missing goes again.

Real nodes on trio's fake network in virtual time (as test_node_fakenet.py). The
survivor's session sees the peer come back with a new tag and starts its channel
over; the bytes that cross the network after the restart are counted at the
router and must be the missing part plus the channel's overhead, not the file
again (the NAT lab once saw a resumed receiver cost about twice what it lacked).
"""

from __future__ import annotations

import hashlib
import os

import pytest
import trio

from p2ptui.net import Identity, NodeConfig, events, open_node

from .fakeinternet import STUN_SERVER, STUN_SERVER_2, start_internet
from .fakesignal import Hub

pytestmark = pytest.mark.trio

ALICE_IP, BOB_IP = "10.0.1.2", "10.0.2.2"
SIZE = 8 << 20
#: Headers, acks, retransmissions of what a drop-free network never loses: a few per cent.
OVERHEAD = 1.08


@pytest.fixture
async def internet(nursery):
    internet = await start_internet(nursery)
    internet.nat("198.51.100.1", "10.0.1.0/24")
    internet.nat("198.51.100.2", "10.0.2.0/24")
    return internet


class Cut:
    """Which hosts are gone (killed), and the bytes each host sent that crossed the network."""

    def __init__(self, internet) -> None:
        self.gone: set[str] = set()
        self.sent = {ALICE_IP: 0, BOB_IP: 0}
        #: (host, bytes): that host dies the moment alice has sent that much (mid-transfer,
        #: however fast the fake network carries it).
        self.doom: tuple[str, int] | None = None
        self._source = ""
        internet.drop = self._drop
        internet.drop_payload = self._count

    def _drop(self, source, destination) -> bool:
        self._source = source[0]
        return source[0] in self.gone or destination[0] in self.gone

    def _count(self, payload: bytes) -> bool:
        if self._source in self.sent:
            self.sent[self._source] += len(payload)
        if self.doom is not None and self.sent[ALICE_IP] >= self.doom[1]:
            self.gone.add(self.doom[0])
            self.doom = None
            return True
        return False


def node(hub, name, ip, identity, tmp_path):
    config = NodeConfig(
        name,
        bind=(ip, 0),
        stun_servers=(STUN_SERVER, STUN_SERVER_2),
        state_dir=tmp_path / name,
        downloads=tmp_path / f"{name}-dl",
    )
    return open_node(config, identity, signalling=hub.client(name, identity))


async def next_event(node, kind, predicate=lambda e: True, timeout=300):
    with trio.fail_after(timeout):
        async for event in node.events:
            if isinstance(event, kind) and predicate(event):
                return event


async def killed(hub, cut: Cut, name: str, ip: str) -> None:
    """kill -9 once alice sent half the file: nothing more leaves the host or reaches it
    (its goodbye is lost), and signalling sees it drop."""
    cut.doom = (ip, cut.sent[ALICE_IP] + SIZE // 2)
    with trio.fail_after(300):
        while ip not in cut.gone:
            await trio.sleep(0.01)
    hub.online.pop(name, None)
    hub.announce(name)


async def test_a_receiver_killed_mid_transfer_costs_only_the_missing_part(internet, autojump_clock, tmp_path):
    data = os.urandom(SIZE)
    (tmp_path / "photo.bin").write_bytes(data)
    hub, cut = Hub(), Cut(internet)
    alice_id, bob_id = Identity.generate(), Identity.generate()
    async with node(hub, "alice", ALICE_IP, alice_id, tmp_path) as a:
        async with node(hub, "bob", BOB_IP, bob_id, tmp_path) as b:
            tid = a.send_file("bob", tmp_path / "photo.bin")
            await next_event(b, events.FileOffered)
            b.accept_file("alice", tid)
            await killed(hub, cut, "bob", BOB_IP)
        have = (tmp_path / "bob-dl" / "photo.bin.part").stat().st_size
        assert 0 < have < SIZE
        cut.gone.clear()
        before = cut.sent[ALICE_IP]
        async with node(hub, "bob", BOB_IP, bob_id, tmp_path) as b:
            received = await next_event(b, events.FileReceived)
            assert received.sha256 == hashlib.sha256(data).hexdigest()
            await next_event(a, events.FileSent)
        resent = cut.sent[ALICE_IP] - before
        assert SIZE - have <= resent < (SIZE - have) * OVERHEAD, (SIZE - have, resent)


async def test_a_sender_killed_mid_transfer_costs_only_the_missing_part(internet, autojump_clock, tmp_path):
    data = os.urandom(SIZE)
    (tmp_path / "photo.bin").write_bytes(data)
    hub, cut = Hub(), Cut(internet)
    alice_id, bob_id = Identity.generate(), Identity.generate()
    async with node(hub, "bob", BOB_IP, bob_id, tmp_path) as b:
        async with node(hub, "alice", ALICE_IP, alice_id, tmp_path) as a:
            tid = a.send_file("bob", tmp_path / "photo.bin")
            await next_event(b, events.FileOffered)
            b.accept_file("alice", tid)
            await killed(hub, cut, "alice", ALICE_IP)
        have = b.transfers("alice")[0].bytes
        assert 0 < have < SIZE
        cut.gone.clear()
        before = cut.sent[ALICE_IP]
        async with node(hub, "alice", ALICE_IP, alice_id, tmp_path) as a:
            received = await next_event(b, events.FileReceived)
            assert received.sha256 == hashlib.sha256(data).hexdigest()
            await next_event(a, events.FileSent)
        resent = cut.sent[ALICE_IP] - before
        assert SIZE - have <= resent < (SIZE - have) * OVERHEAD, (SIZE - have, resent)
