"""The built-in signalling server under many registered clients, and under attack.

The server runs as its own process (`p2ptui signal-server`), so its memory
is its own; the clients are lightweight: raw trio streams speaking the line
protocol, each registered with its own key, as real clients are.

Under attack, one source (127.0.0.1) holds as many connections as the
server lets it and floods one user with offers, while real clients from
other loopback addresses register and deliver offers to that user.
"""

from __future__ import annotations

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


async def _register(port: int, name: str, identity: Identity, source: str = "127.0.0.1") -> Client:
    stream = await trio.open_tcp_stream("127.0.0.1", port, local_address=source)
    client = Client(stream, name, identity)
    challenge = await client.message()
    signature = identity.sign(protocol.register_challenge(bytes.fromhex(challenge["nonce"]), name))
    await stream.send_all(protocol.encode("register", name=name, key=identity.public_key, sig=signature.hex()))
    reply = await client.message()
    assert reply["op"] == "registered", reply
    return client


def _offer(offerer: Client, receiver: str) -> Offer:
    return sign(Offer(
        id=uuid.uuid4().hex, sender=offerer.name, sender_key=offerer.identity.public_key,
        receiver=receiver, sender_ip="127.0.0.1", receiver_ip="", port=40000, tag="11" * 8,
        candidates=(("127.0.0.1", 40000),), expires=time.time() + 30,
    ), offerer.identity)


def _start_server(port: int, *options: str) -> subprocess.Popen[str]:
    server = subprocess.Popen(
        [sys.executable, "-m", "p2ptui", "signal-server", "--port", str(port), "--names", ":memory:", *options],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    assert server.stdout is not None
    while "signalling server on" not in server.stdout.readline():
        if server.poll() is not None:
            raise RuntimeError("the signalling server did not start")
    return server


async def _offer_answer(offerer: Client, answerer: Client) -> float:
    offer = _offer(offerer, answerer.name)
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
    # Every client comes from 127.0.0.1 with one of 200 keys: lift the limits meant for attackers.
    many = str(clients * 2)
    server = _start_server(port, "--max-per-address", many, "--names-per-key", many, "--names-per-address", many)
    try:
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


class _Bob:
    """The user under attack: reads everything, counts the flood, marks real offers arrived."""

    def __init__(self, client: Client):
        self.client = client
        self.flood_received = 0
        self.arrived: dict[str, trio.Event] = {}

    async def read(self) -> None:
        while True:
            message = await self.client.message()
            if message.get("op") != "offer":
                continue
            if message["offer"]["sender"] == "mallory":
                self.flood_received += 1
            elif message["offer"]["id"] in self.arrived:
                self.arrived[message["offer"]["id"]].set()


async def _new_clients(port: int, bob: _Bob, first: int, count: int) -> tuple[list[float], list[float]]:
    """Seconds for each of count new clients to register, and for its offer to reach bob."""
    registering, delivering = [], []
    for n in range(first, first + count):
        identity = Identity.generate()
        with trio.fail_after(30):
            started = time.perf_counter()
            alice = await _register(port, f"alice{n}", identity, "127.0.0.3")
            registered = time.perf_counter()
            offer = _offer(alice, "bob")
            bob.arrived[offer.id] = trio.Event()
            await alice.stream.send_all(protocol.encode("offer", offer=offer.to_dict()))
            await bob.arrived[offer.id].wait()
            registering.append(registered - started)
            delivering.append(time.perf_counter() - registered)
            await alice.stream.aclose()
    return registering, delivering


async def under_attack(report: Report, quick: bool) -> None:
    """Real clients register and deliver offers while one source floods connections and offers."""
    port = _free_port()
    server = _start_server(port)
    attempts, flood_size, samples = (400, 20_000, 10) if quick else (2_000, 100_000, 40)
    held: list[trio.SocketStream] = []
    try:
        bob = _Bob(await _register(port, "bob", Identity.generate(), "127.0.0.2"))
        mallory = await _register(port, "mallory", Identity.generate(), "127.0.0.1")
        async with trio.open_nursery() as nursery:
            nursery.start_soon(bob.read)
            calm = await _new_clients(port, bob, 0, samples)
            refused = 0
            for _ in range(attempts):  # One source takes every connection it can.
                stream = await trio.open_tcp_stream("127.0.0.1", port)
                held.append(stream)
                first = await Client(stream, "", mallory.identity).message()
                refused += first.get("code") == protocol.SERVER_FULL

            async def flood() -> None:
                line = protocol.encode("offer", offer=_offer(mallory, "bob").to_dict())
                for _ in range(flood_size // 1000):  # mallory never reads her refusals
                    await mallory.stream.send_all(line * 1000)

            nursery.start_soon(flood)
            attacked = await _new_clients(port, bob, samples, samples)
            nursery.cancel_scope.cancel()
        note = (
            f"one source: {len(held) - refused} connections held, {refused} refused 'server full'; "
            f"{flood_size:,} offers flooded at bob, {bob.flood_received} reached him, bob stayed connected"
        )
        for index, what in enumerate(("a new client registers", "its offer reaches the flooded user")):
            report.add(Result(
                f"Server under attack: {what}, p50", percentile(attacked[index], 0.5) * 1000, "ms",
                reference="the same with no attack", reference_value=percentile(calm[index], 0.5) * 1000,
                note=f"p99 {percentile(attacked[index], 0.99) * 1000:.1f} ms; {samples} samples"
                + (f"; {note}" if index == 0 else ""),
            ))
    finally:
        for stream in held:
            await stream.aclose()
        server.terminate()
        server.wait(timeout=10)


async def run(report: Report, quick: bool) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the server inherits it
    await under_attack(report, quick)
    for clients in (1000, 10000):
        if clients + 100 > hard:
            report.skip(f"Server, {clients:,} clients", f"the open-files limit is {hard}")
            continue
        await measure(report, clients, 100 if quick else 1000)
