"""Groups on loopback: one message to every member of a 32-member group, and a catch-up.

Real nodes (encryption, reliability, SQLite) against a real built-in server,
all in one trio run. Reported, never failed on numbers.
"""

from __future__ import annotations

import tempfile
import time
from functools import partial
from pathlib import Path

import trio

from p2ptui.net import ConfigError, Identity, NodeConfig, PeerStatus, events, open_node
from p2ptui.net.signalling import server

from .network import PART_DEADLINE, UNLIMITED
from .report import Report, Result, percentile

LOOPBACK = ("127.0.0.1", 0)


class _Node:
    """A running node and what it heard, by kind; stops when asked, keeping its store."""

    def __init__(self, name: str, url: str, state: Path) -> None:
        self.name, self.url, self.state = name, url, state / name
        self.identity = Identity.generate()
        self.node = None
        self.arrived: dict[str, float] = {}
        self.invited = trio.Event()
        self.news = trio.Event()
        self._stop = trio.Event()
        self._stopped = trio.Event()

    async def start(self, nursery: trio.Nursery) -> None:
        self._stop, self._stopped = trio.Event(), trio.Event()
        await nursery.start(self._run)

    async def _run(self, task_status=trio.TASK_STATUS_IGNORED) -> None:
        config = NodeConfig(self.name, self.url, bind=LOOPBACK, state_dir=self.state, presence_interval=1.0)
        async with open_node(config, self.identity) as node:
            self.node = node
            async with trio.open_nursery() as inner:
                inner.start_soon(self._read, node)
                task_status.started()
                await self._stop.wait()
                inner.cancel_scope.cancel()
        self.node = None
        self._stopped.set()

    async def _read(self, node) -> None:
        async for event in node.events:
            if isinstance(event, events.MessageReceived) and event.group:
                self.arrived[event.id] = time.perf_counter()
            elif isinstance(event, events.GroupInvited):
                node.join(event.group)
            elif isinstance(event, events.GroupJoined):
                self.invited.set()
            self.news.set()
            self.news = trio.Event()

    async def stop(self) -> None:
        self._stop.set()
        await self._stopped.wait()


async def _form(nursery: trio.Nursery, url: str, state: Path, count: int, prefix: str) -> list[_Node]:
    # Names of their own per part: the server binds a name to the first key that takes it.
    nodes = [_Node(f"{prefix}{n:02d}", url, state) for n in range(count)]
    for node in nodes:
        await node.start(nursery)
    hub = nodes[0]
    assert hub.node is not None
    hub.node.create_group("bench")
    for node in nodes[1:]:
        hub.node.open(node.name)
    for node in nodes[1:]:
        await hub.node.wait_status(node.name, PeerStatus.CONNECTED)
        hub.node.invite("bench", node.name)
    for node in nodes[1:]:
        await node.invited.wait()
    # Every member knows every other (the log reached all), and their sessions are up.
    for node in nodes:
        assert node.node is not None
        for other in nodes:
            if other is not node:
                await _connected(node, other.name)
    return nodes


async def _connected(node: _Node, name: str) -> None:
    """Until node's session with name (made on demand, for the group) is connected."""
    assert node.node is not None
    while True:
        try:
            await node.node.wait_status(name, PeerStatus.CONNECTED)
            return
        except ConfigError:  # Not made yet: the log that names it is on its way.
            await node.news.wait()


async def fanout(url: str, state: Path, members: int, rounds: int) -> list[float]:
    """Seconds from send_group until the last member has the message, per message."""
    times = []
    async with trio.open_nursery() as nursery:
        nodes = await _form(nursery, url, state, members, "fan")
        author, others = nodes[0], nodes[1:]
        assert author.node is not None
        for n in range(rounds):
            started = time.perf_counter()
            message_id = author.node.send_group("bench", f"round {n}")
            for node in others:
                while message_id not in node.arrived:
                    await node.news.wait()
            times.append(max(node.arrived[message_id] for node in others) - started)
        for node in nodes:
            await node.stop()
    return times


async def catch_up(url: str, state: Path, count: int) -> float:
    """Seconds from a member's start until it holds the `count` messages it missed."""
    async with trio.open_nursery() as nursery:
        author, away = await _form(nursery, url, state, 2, "catch")
        await away.stop()
        assert author.node is not None
        for n in range(count):
            author.node.send_group("bench", f"missed {n}")
        started = time.perf_counter()
        await away.start(nursery)
        while len(away.arrived) < count:
            await away.news.wait()
        elapsed = time.perf_counter() - started
        for node in (author, away):
            await node.stop()
    return elapsed


async def run(report: Report, quick: bool) -> None:
    members, rounds, missed = 32, (20 if quick else 200), (1_000 if quick else 10_000)
    with tempfile.TemporaryDirectory(prefix="p2ptui-bench-groups-") as scratch:
        state = Path(scratch)
        async with trio.open_nursery() as nursery:
            host, port = await nursery.start(partial(server.serve, "127.0.0.1", 0, limits=UNLIMITED))
            url = f"tcp://{host}:{port}"
            with trio.fail_after(PART_DEADLINE):
                times = await fanout(url, state / "fanout", members, rounds)
            for share, label in ((0.5, "p50"), (0.99, "p99")):
                report.add(Result(f"Group of {members}: one message reaches all, {label}",
                                  percentile(times, share) * 1000, "ms", note=f"{rounds} messages"))
            with trio.fail_after(PART_DEADLINE):
                elapsed = await catch_up(url, state / "catchup", missed)
            report.add(Result(f"Group: a member who missed {missed:,} messages catches up", elapsed * 1000, "ms",
                              note=f"{missed / elapsed:,.0f} msg/s, from its start"))
            nursery.cancel_scope.cancel()
