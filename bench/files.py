"""Files on loopback: throughput beside aioquic and TCP, and chat while a file moves.

p2ptui's figure goes through the whole stack: two nodes (as bench/network.py
runs them, one process, the built-in server), the offer and its acceptance,
reading and writing the files, the channel's encryption and congestion
control, and the receiver's SHA-256 check before the file gets its name. It is
timed from `send_file` to `FileReceived`. The references move the same bytes
through one stream with no file and no hash (bench/streams.py).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import trio

from p2ptui.net import Identity, NodeConfig, events, open_node
from p2ptui.net.signalling import server

from . import streams
from .network import LOOPBACK, UNLIMITED
from .report import Report, Result, percentile

MBIT = 1_000_000 / 8
#: A part that has not finished by then is stuck: fail the run, never hang CI.
DEADLINE = 600


def _config(name: str, url: str, state: Path) -> NodeConfig:
    return NodeConfig(name, url, bind=LOOPBACK, state_dir=state, presence_interval=1.0)


def _write_random(path: Path, size: int) -> tuple[bytes, str]:
    data = os.urandom(size)
    path.write_bytes(data)
    return data, hashlib.sha256(data).hexdigest()


class _Pair:
    """Two connected nodes, "fa" sending and "fb" accepting every offered file into
    downloads; every event of both goes to the handlers given."""

    def __init__(self, a, b, downloads: Path) -> None:
        self.a, self.b, self.downloads = a, b, downloads
        self.on_a: list[Callable[[object], None]] = []
        self.on_b: list[Callable[[object], None]] = []

    async def pump(self, node, handlers) -> None:
        async for event in node.events:
            if node is self.b and isinstance(event, events.FileOffered) and not event.outgoing:
                node.accept_file(event.peer, event.id, self.downloads)
            for handler in list(handlers):
                handler(event)

    async def connect(self) -> None:
        delivered = trio.Event()
        first = self.a.send("fb", "hello")
        watch = _when(events.MessageDelivered, lambda e: e.id == first, lambda e: delivered.set())
        self.on_a.append(watch)
        await delivered.wait()
        self.on_a.remove(watch)

    async def transfer(self, path: Path) -> events.FileReceived:
        """Send path and wait until the receiver has it whole and verified."""
        received: list[events.FileReceived] = []
        done = trio.Event()

        def got(event) -> None:
            received.append(event)
            done.set()

        watch = _when(events.FileReceived, lambda e: True, got)
        failed = _when(events.FileFailed, lambda e: True, lambda e: _raise(e))
        self.on_b += [watch, failed]
        self.on_a.append(failed)
        try:
            self.a.send_file("fb", path)
            await done.wait()
        finally:
            self.on_b.remove(watch)
            self.on_b.remove(failed)
            self.on_a.remove(failed)
        return received[0]


def _when(kind, predicate, then) -> Callable[[object], None]:
    def handler(event) -> None:
        if isinstance(event, kind) and predicate(event):
            then(event)

    return handler


def _raise(event) -> None:
    raise RuntimeError(f"the transfer failed: {event.reason}")


async def _with_pair(state: Path, body) -> object:
    """Run body(pair) with two connected nodes and a server of their own."""
    async with trio.open_nursery() as nursery:
        host, port = await nursery.start(partial(server.serve, "127.0.0.1", 0, limits=UNLIMITED))
        url = f"tcp://{host}:{port}"
        async with open_node(_config("fa", url, state / "a"), Identity.generate()) as a, open_node(
            _config("fb", url, state / "b"), Identity.generate()
        ) as b:
            pair = _Pair(a, b, state / "downloads")
            pair.downloads.mkdir(parents=True, exist_ok=True)
            nursery.start_soon(pair.pump, a, pair.on_a)
            nursery.start_soon(pair.pump, b, pair.on_b)
            await pair.connect()
            result = await body(pair)
        nursery.cancel_scope.cancel()
    return result


async def p2ptui_rate(state: Path, path: Path, digest: str) -> float:
    """Bytes a second of one file, offer to verified arrival."""

    async def body(pair: _Pair) -> float:
        started = time.perf_counter()
        received = await pair.transfer(path)
        elapsed = time.perf_counter() - started
        if received.sha256 != digest or _sha256(Path(received.path)) != digest:
            raise RuntimeError("the received file differs from the one sent")
        return received.size / elapsed

    return await _with_pair(state, body)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while block := file.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


async def chat_latencies(state: Path, path: Path, count: int) -> tuple[list[float], list[float]]:
    """Send to delivered, one message at a time: idle, then while files move at full
    speed (one after another, so a transfer is always running)."""

    async def measure(pair: _Pair) -> list[float]:
        times: list[float] = []
        for _ in range(count):
            delivered = trio.Event()
            started = time.perf_counter()
            sent = pair.a.send("fb", "x" * 64)
            watch = _when(events.MessageDelivered, lambda e: e.id == sent, lambda e: delivered.set())
            pair.on_a.append(watch)
            await delivered.wait()
            pair.on_a.remove(watch)
            times.append(time.perf_counter() - started)
            await trio.sleep(0.01)  # paced as a person types: what is measured is one message, not a flood
        return times

    async def body(pair: _Pair) -> tuple[list[float], list[float]]:
        idle = await measure(pair)
        moving = trio.Event()
        on = _when(events.FileProgress, lambda e: not e.outgoing and 0 < e.bytes < e.size, lambda e: moving.set())
        pair.on_b.append(on)
        async with trio.open_nursery() as nursery:

            async def files() -> None:
                while True:
                    await pair.transfer(path)

            nursery.start_soon(files)
            await moving.wait()
            busy = await measure(pair)
            nursery.cancel_scope.cancel()
        return idle, busy

    return await _with_pair(state, body)


async def run(report: Report, quick: bool) -> None:
    size = (8 if quick else 64) << 20
    with tempfile.TemporaryDirectory(prefix="p2ptui-bench-files-") as scratch, trio.fail_after(DEADLINE):
        state = Path(scratch)
        data, digest = _write_random(state / "file.bin", size)
        quic = await trio.to_thread.run_sync(streams.aioquic_rate, data)
        tcp = await streams.tcp_rate(data)
        del data
        ours = await p2ptui_rate(state / "rate", state / "file.bin", digest)
        label = f"{size >> 20} MB"
        report.add(Result("File throughput, loopback", ours / MBIT, "Mbit/s", "aioquic, one stream",
                          quic / MBIT, "at least 5x aioquic", ours >= 5 * quic,
                          note=f"{label}, offer to verified arrival"))
        report.add(Result("File throughput, loopback, beside TCP", ours / MBIT, "Mbit/s", "plain trio TCP",
                          tcp / MBIT, note=label))
        idle, busy = await chat_latencies(state / "chat", state / "file.bin", 20 if quick else 50)
        idle_p50, busy_p50 = percentile(idle, 0.5) * 1000, percentile(busy, 0.5) * 1000
        report.add(Result("Chat while a file moves: send to delivered p50", busy_p50, "ms",
                          "idle p50", idle_p50, "within 50 ms of idle", busy_p50 - idle_p50 <= 50,
                          note=f"{len(busy)} messages; p99 {percentile(busy, 0.99) * 1000:.1f} ms"))
