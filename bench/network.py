"""The networking core on loopback: round trips, connection setup, throughput, scale.

Each measurement runs real nodes (encryption, reliability and the SQLite
store included) against a real built-in server, and its reference in the
same run: a raw trio UDP ping-pong, or aioice connecting two agents.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
import uuid
from functools import partial
from pathlib import Path

import trio

from p2ptui.net import Identity, NodeConfig, events, open_node
from p2ptui.net.signalling import server
from p2ptui.net.signalling.limits import Rate, ServerLimits

from .report import Report, Result, percentile

LOOPBACK = ("127.0.0.1", 0)
MANY = 1_000_000
UNLIMITED = ServerLimits(
    connections_per_ip=MANY,
    offers_per_sender=Rate(MANY, MANY),
    offers_per_target=Rate(MANY, MANY),
    new_names_per_key=MANY,
    new_names_per_ip=MANY,
)
#: A part that has not finished by then is stuck: fail the run, never hang CI.
PART_DEADLINE = 300


def _config(name: str, url: str, state: Path | None) -> NodeConfig:
    return NodeConfig(name, url, bind=LOOPBACK, state_dir=state, presence_interval=1.0)


async def _next(node, kind, predicate=lambda e: True):
    async for event in node.events:
        if isinstance(event, kind) and predicate(event):
            return event
    raise RuntimeError("the node stopped")


# --- The floor ------------------------------------------------------------------------


async def raw_udp_round_trips(count: int) -> list[float]:
    """A datagram there and back between two trio sockets: the least any round trip costs."""
    a = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
    b = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
    with a, b:
        await a.bind(LOOPBACK)
        await b.bind(LOOPBACK)

        async def echo():
            while True:
                data, source = await b.recvfrom(2048)
                await b.sendto(data, source)

        times = []
        async with trio.open_nursery() as nursery:
            nursery.start_soon(echo)
            payload = b"x" * 64
            for _ in range(count + 20):
                started = time.perf_counter()
                await a.sendto(payload, b.getsockname())
                await a.recvfrom(2048)
                times.append(time.perf_counter() - started)
            nursery.cancel_scope.cancel()
    return times[20:]


# --- Through the whole stack ------------------------------------------------------------


async def message_round_trips(url: str, state: Path, count: int) -> list[float]:
    """A message to the peer, whose application sends it straight back."""
    async with open_node(_config("rtt-a", url, state / "a"), Identity.generate()) as a, open_node(
        _config("rtt-b", url, state / "b"), Identity.generate()
    ) as b, trio.open_nursery() as nursery:

        async def echo():
            async for event in b.events:
                if isinstance(event, events.MessageReceived):
                    b.send(event.peer, event.text)

        nursery.start_soon(echo)
        times = []
        for n in range(count + 20):
            started = time.perf_counter()
            a.send("rtt-b", f"ping {n}")
            await _next(a, events.MessageReceived)
            times.append(time.perf_counter() - started)
        nursery.cancel_scope.cancel()
    return times[20:]  # The first ones include connecting.


async def connection_setups(url: str, state: Path, count: int) -> list[float]:
    """From the first offer (the first send to a peer) to that message's delivery."""
    times = []
    for _ in range(count):
        names = [f"s{uuid.uuid4().hex[:10]}" for _ in range(2)]
        async with open_node(_config(names[0], url, state / names[0]), Identity.generate()) as a, open_node(
            _config(names[1], url, state / names[1]), Identity.generate()
        ) as b:
            await _next(a, events.Ready)
            await _next(b, events.Ready)
            started = time.perf_counter()
            a.send(names[1], "hello")
            await _next(a, events.MessageDelivered)
            times.append(time.perf_counter() - started)
    return times


async def throughput(url: str, state: Path, count: int, burst: int = 1) -> float:
    """Acknowledged messages per second, one way, stored on both sides: handed over one
    `Node.send` each (burst 1), or `burst` at a time with `Node.send_many` (one
    transaction each), as `pipe` does with lines that arrive together."""
    # Names of their own per run: the server binds a name to the first key that takes it.
    names = ("tp-a", "tp-b") if burst == 1 else (f"tp{burst}-a", f"tp{burst}-b")
    async with open_node(_config(names[0], url, state / "a"), Identity.generate()) as a, open_node(
        _config(names[1], url, state / "b"), Identity.generate()
    ) as b, trio.open_nursery() as nursery:

        async def drain():
            async for _ in b.events:
                pass

        nursery.start_soon(drain)
        a.send(names[1], "warm up")
        await _next(a, events.MessageDelivered)
        text = "x" * 64
        started = time.perf_counter()
        if burst == 1:
            for _ in range(count):
                a.send(names[1], text)
        else:
            for start in range(0, count, burst):
                a.send_many(names[1], [text] * min(burst, count - start))
        delivered = 0
        async for event in a.events:
            if isinstance(event, events.MessageDelivered):
                delivered += 1
                if delivered == count:
                    break
        elapsed = time.perf_counter() - started
        nursery.cancel_scope.cancel()
    return count / elapsed


async def many_peers(url: str, state: Path, count: int) -> tuple[float, list[float]]:
    """One node opening `count` conversations at once: time until all are delivered."""
    async with open_node(_config("hub", url, state / "hub"), Identity.generate()) as hub:
        await _next(hub, events.Ready)
        async with trio.open_nursery() as nursery:
            peers = []
            for n in range(count):
                name = f"peer{n:03d}"

                async def run_peer(name=name, task_status=trio.TASK_STATUS_IGNORED):
                    async with open_node(_config(name, url, None), Identity.generate()) as node:
                        await _next(node, events.Ready)
                        task_status.started()
                        async for _ in node.events:
                            pass

                await nursery.start(run_peer)
                peers.append(name)
            started = time.perf_counter()
            sent = {hub.send(name, "hello"): time.perf_counter() for name in peers}
            times = []
            async for event in hub.events:
                if isinstance(event, events.MessageDelivered):
                    times.append(time.perf_counter() - sent.pop(event.id))
                    if not sent:
                        break
            total = time.perf_counter() - started
            nursery.cancel_scope.cancel()
    return total, times


# --- aioice, the reference for connection setup ---------------------------------------------


def aioice_connects(count: int) -> list[float]:
    """Two aioice agents on loopback: from exchanging candidates to the first datagram received."""
    import aioice
    import aioice.ice

    # Loopback only, like our own measurement (aioice leaves 127.0.0.1 out by default).
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]

    async def once() -> float:
        a = aioice.Connection(ice_controlling=True, use_ipv6=False)
        b = aioice.Connection(ice_controlling=False, use_ipv6=False)
        await asyncio.gather(a.gather_candidates(), b.gather_candidates())
        started = time.perf_counter()
        for local, remote in ((a, b), (b, a)):
            local.remote_username, local.remote_password = remote.local_username, remote.local_password
            for candidate in remote.local_candidates:
                await local.add_remote_candidate(candidate)
            await local.add_remote_candidate(None)
        await asyncio.gather(a.connect(), b.connect())
        await a.send(b"hello")
        await b.recv()
        elapsed = time.perf_counter() - started
        await a.close()
        await b.close()
        return elapsed

    async def all_of_them() -> list[float]:
        return [await once() for _ in range(count)]

    return asyncio.run(all_of_them())


# --- The suite -------------------------------------------------------------------------------


async def run(report: Report, quick: bool, firestore_host: str | None) -> None:
    rounds = 300 if quick else 3000
    with tempfile.TemporaryDirectory(prefix="p2ptui-bench-") as scratch:
        state = Path(scratch)
        async with trio.open_nursery() as nursery:
            # The server's abuse limits lifted: 201 nodes from one address, and a hub
            # offering 200 conversations at once, measure the core, not the limits
            # (at the defaults the hub's offers would go at one a second).
            host, port = await nursery.start(partial(server.serve, "127.0.0.1", 0, limits=UNLIMITED))
            url = f"tcp://{host}:{port}"

            floor = await raw_udp_round_trips(rounds)
            stack = await message_round_trips(url, state / "rtt", rounds)
            floor_p50, floor_p99 = percentile(floor, 0.5) * 1000, percentile(floor, 0.99) * 1000
            p50, p99 = percentile(stack, 0.5) * 1000, percentile(stack, 0.99) * 1000
            report.add(Result("Message round trip p50", p50, "ms", "raw trio UDP round trip p50", floor_p50,
                              "within 5x", p50 <= 5 * floor_p50))
            report.add(Result("Message round trip p99", p99, "ms", "raw trio UDP round trip p99", floor_p99,
                              "under 2 ms", p99 < 2.0))

            setups = 5 if quick else 20
            ice = aioice_connects(setups)
            ours = await connection_setups(url, state / "setup", setups)
            ice_p50, ours_p50 = percentile(ice, 0.5) * 1000, percentile(ours, 0.5) * 1000
            report.add(Result("Connection setup, built-in server, p50", ours_p50, "ms",
                              "aioice loopback connect p50", ice_p50, "no slower than aioice",
                              ours_p50 <= ice_p50))
            if firestore_host is None:
                report.skip("Connection setup, Firestore emulator", "no emulator (give --firestore)")
            else:
                os.environ["FIRESTORE_EMULATOR_HOST"] = firestore_host
                fs = await connection_setups("firestore://demo-p2ptui-bench", state / "fs", setups)
                fs_p50 = percentile(fs, 0.5) * 1000
                report.add(Result("Connection setup, Firestore emulator, p50", fs_p50, "ms",
                                  "aioice loopback connect p50", ice_p50))

            count = 5000 if quick else 50000
            rate = await throughput(url, state / "tp", count)
            report.add(Result("Throughput, one way, acknowledged", rate, "msg/s", goal="at least 20,000",
                              met=rate >= 20_000, note=f"{count:,} messages of 64 bytes"))
            rate = await throughput(url, state / "tp-burst", count, burst=100)
            report.add(Result("Throughput, one way, acknowledged, bursts of 100", rate, "msg/s",
                              goal="at least 20,000", met=rate >= 20_000,
                              note=f"{count:,} messages of 64 bytes, send_many: one transaction a burst"))

            peers = 200
            with trio.fail_after(PART_DEADLINE):
                total, times = await many_peers(url, state / "many", peers)
            report.add(Result(f"{peers} conversations at once: all delivered", total * 1000, "ms",
                              note=f"p99 per peer {percentile(times, 0.99) * 1000:.0f} ms"))
            nursery.cancel_scope.cancel()
