"""The built-in signalling server under many registered clients.

The server runs as its own process (`p2ptui signal-server`), so its memory
is its own; the clients are lightweight: raw trio streams speaking the line
protocol, each registered with its own key, as real clients are.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
import uuid

import trio

from p2ptui.net import Identity
from p2ptui.net.signalling import protocol
from p2ptui.net.signalling.messages import Answer, Offer, sign

from .report import Report, Result, percentile


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Client:
    def __init__(self, stream: trio.SocketStream, name: str, identity: Identity):
        self.stream, self.name, self.identity = stream, name, identity
        self.buffer = protocol.LineBuffer()
        self.lines: list[bytes] = []

    async def message(self) -> dict:
        while not self.lines:
            data = await self.stream.receive_some(65536)
            if not data:
                raise RuntimeError("the server hung up")
            self.lines.extend(self.buffer.feed(data))
        return protocol.decode_untrusted(self.lines.pop(0))


async def _register(port: int, name: str, identity: Identity) -> Client:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    client = Client(stream, name, identity)
    challenge = await client.message()
    signature = identity.sign(protocol.register_challenge(bytes.fromhex(challenge["nonce"]), name))
    await stream.send_all(protocol.encode(
        "register", name=name, key=identity.public_key, sig=signature.hex(), address="127.0.0.1:40000"
    ))
    reply = await client.message()
    assert reply["op"] == "registered", reply
    return client


async def _offer_answer(offerer: Client, answerer: Client) -> float:
    offer = sign(Offer(
        id=uuid.uuid4().hex, sender=offerer.name, sender_key=offerer.identity.public_key,
        receiver=answerer.name, sender_ip="127.0.0.1", receiver_ip="", port=40000, tag="11" * 8,
        candidates=(("127.0.0.1", 40000),), expires=time.time() + 30,
    ), offerer.identity)
    started = time.perf_counter()
    await offerer.stream.send_all(protocol.encode("offer", offer=offer.to_dict()))
    received = await answerer.message()
    assert received["op"] == "offer"
    answer = sign(Answer(
        offer_id=offer.id, sender=answerer.name, sender_key=answerer.identity.public_key,
        receiver=offerer.name, sender_ip="127.0.0.1", port=40001, tag="22" * 8,
        candidates=(("127.0.0.1", 40001),), expires=time.time() + 30,
    ), answerer.identity)
    await answerer.stream.send_all(protocol.encode("answer", answer=answer.to_dict()))
    reply = await offerer.message()
    assert reply["op"] == "answer"
    return time.perf_counter() - started


async def measure(report: Report, clients: int, samples: int) -> None:
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "p2ptui", "signal-server", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        assert server.stdout is not None
        while "signalling server on" not in server.stdout.readline():
            pass
        idle = _rss_kib(server.pid)
        identities = [Identity.generate() for _ in range(min(clients, 200))]  # keys are slow to make; reuse
        connected: list[Client] = []
        limiter = trio.CapacityLimiter(200)

        async def one(n: int) -> None:
            async with limiter:
                connected.append(await _register(port, f"c{n:05d}", identities[n % len(identities)]))

        started = time.perf_counter()
        async with trio.open_nursery() as nursery:
            for n in range(clients):
                nursery.start_soon(one, n)
        registering = time.perf_counter() - started
        loaded = _rss_kib(server.pid)
        # Offers between clients whose names share a key are fine: the server
        # checks each sender's own registration.
        latencies = []
        for n in range(samples):
            offerer, answerer = connected[(2 * n) % len(connected)], connected[(2 * n + 1) % len(connected)]
            latencies.append(await _offer_answer(offerer, answerer))
        per_client = (loaded - idle) / clients
        report.add(Result(f"Server, {clients:,} clients: offer to answer p50", percentile(latencies, 0.5) * 1000, "ms",
                          note=f"p99 {percentile(latencies, 0.99) * 1000:.2f} ms; {clients / registering:,.0f} registrations/s"))
        report.add(Result(f"Server, {clients:,} clients: memory per client", per_client, "KiB",
                          note=f"{loaded / 1024:.0f} MiB in all"))
        for client in connected:
            await client.stream.aclose()
    finally:
        server.terminate()
        server.wait(timeout=10)


async def run(report: Report, quick: bool) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the server inherits it
    for clients in (1000, 10000):
        if clients + 100 > hard:
            report.skip(f"Server, {clients:,} clients", f"the open-files limit is {hard}")
            continue
        await measure(report, clients, 100 if quick else 1000)
