"""A node keeps what it learned of its network for the details (F3): on trio's fake
internet (tests/fakeinternet.py), in virtual time, as tests/test_node_fakenet.py."""

from __future__ import annotations

import pytest
import trio

from p2ptui.net import Identity, NodeConfig, PeerStatus, events, open_node, stun

from .fakeinternet import STUN_SERVER, STUN_SERVER_2, start_internet
from .fakesignal import Hub

pytestmark = pytest.mark.trio

ALICE_IP, ALICE_PUBLIC = "10.0.1.2", "198.51.100.1"
#: Nobody answers there.
DEAD_STUN = ("203.0.113.9", 3478)
#: The second server answers this much later (virtual seconds), so its round trip shows.
SLOW = 0.03


async def slow_stun_server(address, *, task_status=trio.TASK_STATUS_IGNORED):
    sock = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
    with sock:
        await sock.bind(address)
        task_status.started()
        while True:
            data, source = await sock.recvfrom(2048)
            request = stun.parse_untrusted(data)
            await trio.sleep(SLOW)
            await sock.sendto(stun.binding_response(request, source[:2]), source)


@pytest.fixture
async def internet(nursery):
    return await start_internet(nursery, second_stun=slow_stun_server)


def alice(**kwargs):
    identity = Identity.generate()
    config = NodeConfig("alice", bind=(ALICE_IP, 0), stun_servers=(STUN_SERVER, STUN_SERVER_2, DEAD_STUN), **kwargs)
    return open_node(config, identity, signalling=Hub().client("alice", identity))


async def ready(node) -> None:
    with trio.fail_after(60):
        async for event in node.events:
            if isinstance(event, events.Ready):
                return


async def test_the_details_carry_each_stun_servers_answer_and_round_trip(internet, autojump_clock):
    internet.nat(ALICE_PUBLIC, "10.0.1.0/24")
    async with alice(portmap=False) as a:
        await ready(a)
        a.open("bob")
        details = a.details("bob")
    assert details.status == PeerStatus.OFFLINE
    report = details.net_report
    assert report is not None
    assert report.udp and report.public_ipv4 == ALICE_PUBLIC and report.public_ipv6 is None
    assert report.nat.nat_type.value == "cone" and report.nat.public == details.public_address
    assert [(check.server, check.kind) for check in report.servers] == [
        (STUN_SERVER, "stun"), (STUN_SERVER_2, "stun"), (DEAD_STUN, "stun")]
    fast, slow, dead = report.servers
    assert fast.mapped == slow.mapped and fast.mapped[0] == ALICE_PUBLIC
    assert fast.rtt is not None and slow.rtt == pytest.approx(fast.rtt + SLOW)
    assert dead.mapped is None and dead.rtt is None
    assert report.hairpinning is None  # a node never measures it
    assert report.portmap is None  # port mapping is off


async def test_with_port_mapping_on_the_facts_carry_the_mappers_status(internet, autojump_clock):
    internet.nat(ALICE_PUBLIC, "10.0.1.0/24")
    async with alice() as a:
        await ready(a)
        a.open("bob")
        details = a.details("bob")
    assert details.net_report is not None and details.net_report.portmap is not None
    assert details.net_report.portmap == details.portmap


async def test_after_a_move_the_facts_are_the_new_networks(internet, autojump_clock):
    new_ip, new_public = "10.0.3.2", "198.51.100.3"
    internet.nat(ALICE_PUBLIC, "10.0.1.0/24")
    internet.nat(new_public, "10.0.3.0/24")  # the phone alice tethers to
    ips = [ALICE_IP]
    identity = Identity.generate()
    config = NodeConfig("alice", bind=(ALICE_IP, 0), stun_servers=(STUN_SERVER, STUN_SERVER_2), portmap=False)
    async with open_node(config, identity, signalling=Hub().client("alice", identity),
                         local_addresses=lambda: list(ips)) as a:
        await ready(a)
        a.open("bob")
        assert a.details("bob").net_report.public_ipv4 == ALICE_PUBLIC
        internet.move(ALICE_IP, new_ip)
        ips[0] = new_ip
        # The roamer polls the interfaces every 2 s, then asks STUN again. A lone node
        # says nothing when it has (no peer to offer to): look, in virtual time.
        with trio.fail_after(30):
            while a.details("bob").net_report.public_ipv4 != new_public:
                await trio.sleep(0.5)
        report = a.details("bob").net_report
        assert all(check.mapped[0] == new_public for check in report.servers)
        assert report.nat.public == a.public_address
