"""Groups between whole nodes behind NATs on trio's fake network, in virtual time."""

import pytest

from p2ptui.net import NodeConfig, open_node

from .fakeinternet import STUN_SERVER, STUN_SERVER_2, start_internet
from .fakesignal import Hub
from .groupnodes import form

pytestmark = pytest.mark.trio

HOSTS = {
    "alice": ("10.0.1.2", "198.51.100.1"),
    "bob": ("10.0.2.2", "198.51.100.2"),
    "carol": ("10.0.3.2", "198.51.100.3"),
}


@pytest.fixture
async def internet(nursery):
    net = await start_internet(nursery)
    for n, (ip, public) in enumerate(HOSTS.values()):
        net.nat(public, ip.rsplit(".", 1)[0] + ".0/24", seed=n)
    return net


def behind_nats(hub, directory):
    def opener(name, identity):
        config = NodeConfig(
            name, bind=(HOSTS[name][0], 0), stun_servers=(STUN_SERVER, STUN_SERVER_2), state_dir=directory / name
        )
        return open_node(config, identity, signalling=hub.client(name, identity))

    return opener


async def test_behind_three_nats_the_one_away_gets_everything_from_whoever_is_online(
    internet, nursery, autojump_clock, tmp_path
):
    alice, bob, carol = await form(nursery, behind_nats(Hub(), tmp_path), ["alice", "bob", "carol"])
    await carol.stop()
    for i in range(20):
        (alice if i % 2 else bob).node.send_group("team", f"while carol was away {i}")
    for member in (alice, bob):
        await member.wait_for(lambda m=member: len(m.texts()) == 20)
    await alice.stop()
    await carol.start(nursery)
    await carol.wait_for(lambda: len(carol.texts()) == 20)
    await alice.start(nursery)
    await alice.wait_for(lambda: len(alice.texts()) == 20)
    histories = [[(m.peer, m.id) for m in x.node.group_history("team").messages] for x in (alice, bob, carol)]
    assert histories[0] == histories[1] == histories[2]
    assert {author for author, _ in histories[0]} == {"alice", "bob"}
