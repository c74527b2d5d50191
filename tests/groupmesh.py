"""Nodes' `Groups` engines joined by in-memory pairwise channels, no network at all.

Each ordered pair of nodes has a FIFO queue (a session's control stream is
reliable and ordered); `deliver` takes records off the queues in an order a
seeded random generator picks, so different interleavings of the pairs are
tried. A node that is offline neither sends nor receives: its queues are
emptied (what was in flight is lost, as when a session ends), and when it
comes back every pair with an online member "connects" (both sides run
`connected`), as the node does on a session's Connected.
"""

from __future__ import annotations

import random
from collections import Counter, deque

from p2ptui.net import Identity, PeerStatus
from p2ptui.net.groups import Groups, GroupStore


class Mesh:
    def __init__(self, names, seed=0, directory=None):
        self.random = random.Random(seed)
        self.identities = {name: Identity.generate() for name in names}
        self.online = set(names)
        self.queues: dict[tuple[str, str], deque[bytes]] = {}
        self.events: dict[str, list] = {name: [] for name in names}
        self.dropped: dict[str, Counter] = {name: Counter() for name in names}
        self.directory = directory
        self.nodes = {name: self._start(name) for name in names}

    def _start(self, name):
        store = GroupStore(None if self.directory is None else self.directory / name)
        status = lambda peer, me=name: PeerStatus.CONNECTED if {me, peer} <= self.online else PeerStatus.OFFLINE  # noqa: E731
        return Groups(self.identities[name], name, store, self.dropped[name], status)

    def key(self, name):
        return self.identities[name].public_key

    def flush(self, name):
        """Move what node name has to send onto the queues; keep its events."""
        events, sends = self.nodes[name].take()
        self.events[name].extend(events)
        for send in sends:
            assert send.key.hex() == self.key(send.peer), "a record for a member under another key"
            if name in self.online and send.peer in self.online:
                self.queues.setdefault((name, send.peer), deque()).append(send.payload)

    def deliver(self, limit=1_000_000):
        """Deliver until nothing is left, in a random interleaving of the pairs."""
        for name in self.nodes:
            self.flush(name)
        for _ in range(limit):
            ready = [pair for pair, queue in self.queues.items() if queue]
            if not ready:
                return
            sender, receiver = self.random.choice(ready)
            payload = self.queues[(sender, receiver)].popleft()
            self.nodes[receiver].received(sender, self.key(sender), payload)
            self.flush(receiver)
        raise AssertionError("the records never settled")

    def stop(self, name):
        self.online.discard(name)
        for pair in self.queues:
            if name in pair:
                self.queues[pair].clear()

    def restart(self, name):
        """Back online (from its store, when the mesh has a directory), and connected to every online peer."""
        if self.directory is not None:
            self.nodes[name].store.close()
            self.nodes[name] = self._start(name)
        self.online.add(name)
        for other in self.online - {name}:
            self.connect(name, other)

    def connect(self, a, b):
        self.nodes[a].connected(b, self.key(b))
        self.nodes[b].connected(a, self.key(a))
        self.flush(a)
        self.flush(b)

    def of(self, name, kind):
        return [e for e in self.events[name] if isinstance(e, kind)]

    def log(self, name, group):
        """What name holds of group: its log's hashes and its messages in order."""
        node = self.nodes[name]
        held = node.group(group)
        history = node.history(group, limit=1_000_000)
        return (
            sorted(c.hash for c in held.membership.changes()),
            [(m.peer, m.id, m.text) for m in history.messages],
            node.orders(group, limit=1_000_000),
        )
