"""Groups between real nodes over loopback sockets, with a real built-in server (trio, no mocks)."""

import pytest
import trio

from p2ptui.net import ConfigError, Identity, NodeConfig, PeerStatus, events, open_node
from p2ptui.net.signalling import server

LOOPBACK = ("127.0.0.1", 0)
#: Failsafe only: every wait below ends on an event.
DEADLINE = 60

pytestmark = pytest.mark.trio


@pytest.fixture
async def signal_url(nursery):
    host, port = await nursery.start(server.serve, "127.0.0.1", 0)
    return f"tcp://{host}:{port}"


class Member:
    """A node that can stop and come back with the same key and store."""

    def __init__(self, name, url, directory):
        self.name, self.url, self.directory = name, url, directory / name
        self.identity = Identity.generate()
        self.node = None
        self.received: dict[str, list] = {}
        self._changed = trio.Event()
        self._stop = self._stopped = None

    async def start(self, nursery):
        self._stop, self._stopped = trio.Event(), trio.Event()
        await nursery.start(self._run)

    async def _run(self, task_status=trio.TASK_STATUS_IGNORED):
        config = NodeConfig(self.name, self.url, bind=LOOPBACK, state_dir=self.directory, presence_interval=1.0)
        async with open_node(config, self.identity) as node:
            self.node = node
            async with trio.open_nursery() as inner:
                inner.start_soon(self._read, node)
                task_status.started()
                await self._stop.wait()
                inner.cancel_scope.cancel()
        self.node = None
        self._stopped.set()

    async def _read(self, node):
        async for event in node.events:
            self.received.setdefault(type(event).__name__, []).append(event)
            self._changed.set()
            self._changed = trio.Event()

    async def stop(self):
        self._stop.set()
        await self._stopped.wait()

    async def wait_for(self, predicate):
        with trio.fail_after(DEADLINE):
            while not predicate():
                await self._changed.wait()

    def texts(self, group="team"):
        return [m.text for m in self.node.group_history(group, limit=10_000).messages]


async def connect(a, b):
    """a and b connected, so each has the other's key pinned."""
    a.node.open(b.name)
    with trio.fail_after(DEADLINE):
        await a.node.wait_status(b.name, PeerStatus.CONNECTED)


async def form(nursery, url, tmp_path, names):
    members = [Member(name, url, tmp_path) for name in names]
    for member in members:
        await member.start(nursery)
    creator = members[0]
    creator.node.create_group("team")
    for member in members[1:]:
        await connect(creator, member)
        creator.node.invite("team", member.name)
        await member.wait_for(lambda m=member: "GroupInvited" in m.received)
        member.node.join("team")
    for member in members:
        await member.wait_for(lambda m=member: len(m.node.group_details("team").members) == len(names))
    return members


async def test_three_members_talk_and_one_offline_gets_everything_even_with_the_author_gone(
    nursery, signal_url, tmp_path
):
    alice, bob, carol = await form(nursery, signal_url, tmp_path, ["alice", "bob", "carol"])
    first = bob.node.send_group("team", "hello all")
    for member in (alice, carol):
        await member.wait_for(lambda m=member: any(e.id == first for e in m.received.get("MessageReceived", [])))
    received = [e for e in carol.received["MessageReceived"] if e.id == first][0]
    assert (received.peer, received.group, received.text) == ("bob", "team", "hello all")

    await carol.stop()
    for i in range(10):
        (alice if i % 2 else bob).node.send_group("team", f"while carol was away {i}")
    await alice.wait_for(lambda: len(alice.texts()) == 11)
    await bob.wait_for(lambda: len(bob.texts()) == 11)
    await alice.stop()  # half of them are alice's: carol must get them from bob

    await carol.start(nursery)
    await carol.wait_for(lambda: len(carol.texts()) == 11)
    await alice.start(nursery)
    late = alice.node.send_group("team", "back")
    for member in (alice, bob, carol):
        await member.wait_for(lambda m=member: len(m.texts()) == 12)
    histories = [[(m.peer, m.id, m.text) for m in x.node.group_history("team").messages] for x in (alice, bob, carol)]
    assert histories[0] == histories[1] == histories[2]
    assert histories[0][-1][1:] == (late, "back")


async def test_a_member_only_peer_is_no_conversation_and_a_kicked_one_is_told(nursery, signal_url, tmp_path):
    alice, bob, carol = await form(nursery, signal_url, tmp_path, ["alice", "bob", "carol"])
    # bob never opened carol: their session exists for the group only.
    await bob.wait_for(
        lambda: any(e.peer == "carol" and e.member_only for e in bob.received.get("PeerChanged", []))
    )
    alice.node.kick("team", "carol")
    await carol.wait_for(lambda: events.MemberLeft("team", "carol", True) in carol.received.get("MemberLeft", []))
    with pytest.raises(ConfigError):
        carol.node.send_group("team", "am I still in?")
    info = bob.node.group_details("team")
    await bob.wait_for(lambda: [m.name for m in bob.node.group_details("team").members] == ["alice", "bob"])
    assert not info.admin


async def test_members_are_never_let_go_as_strangers(nursery, signal_url, tmp_path):
    alice, bob, carol = await form(nursery, signal_url, tmp_path, ["alice", "bob", "carol"])
    await bob.stop()
    # bob comes back keeping one stranger at most, and strangers knock.
    config = NodeConfig("bob", signal_url, bind=LOOPBACK, state_dir=bob.directory, presence_interval=1.0,
                        max_strangers=1)
    async with open_node(config, bob.identity) as node:
        for n in range(3):
            async with open_node(NodeConfig(f"s{n}", signal_url, bind=LOOPBACK), Identity.generate()) as stranger:
                stranger.open("bob")
                with trio.fail_after(DEADLINE):
                    await stranger.wait_status("bob", PeerStatus.CONNECTED)
        # The strangers came and (all but one) went; the group's members stayed.
        assert {"alice", "carol"} <= set(node.conversations())
        assert len([name for name in node.conversations() if name.startswith("s")]) <= 1
        node.send_group("team", "still here")
        with trio.fail_after(DEADLINE):
            async for event in node.events:
                if isinstance(event, events.MessageDelivered) and event.peer == "#team":
                    break
