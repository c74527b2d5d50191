"""Nodes in a group, each able to stop and come back with its key and store (for tests)."""

import trio

from p2ptui.net import Identity, PeerStatus

#: Failsafe only: every wait ends on an event.
DEADLINE = 60


class Member:
    """A node that can stop and come back with the same key and store."""

    def __init__(self, name, opener):
        self.name, self.opener = name, opener
        self.identity = Identity.generate()
        self.node = None
        self.received: dict[str, list] = {}
        self._changed = trio.Event()
        self._stop = self._stopped = None

    async def start(self, nursery):
        self._stop, self._stopped = trio.Event(), trio.Event()
        await nursery.start(self._run)

    async def _run(self, task_status=trio.TASK_STATUS_IGNORED):
        async with self.opener(self.name, self.identity) as node:
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


async def form(nursery, opener, names):
    """Members called names, started by opener(name, identity); the first created #team
    and invited the others, who joined; every member knows every other."""
    members = [Member(name, opener) for name in names]
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


