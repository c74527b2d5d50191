"""Plain TCP and UDP flows run inside lab namespaces, to measure a shaped path.

    flowtool.py tcp-sink --bind IP:PORT --seconds S
        Accepts one connection, reads it to its end, prints JSON
        {"bytes": N, "seconds": T} (T from the first byte to the last).
    flowtool.py tcp-send --to IP:PORT --bytes N --seconds S
        Sends N bytes and closes; prints {"bytes": N, "seconds": T}.
    flowtool.py udp-echo --bind IP:PORT --seconds S
        Sends every datagram back to where it came from.
    flowtool.py udp-rtt --to IP:PORT --count N --wait W --seconds S
        N probes, one at a time, each given W seconds for its answer;
        prints {"rtts": [seconds, ...], "lost": K}.

Every role prints "ready" first (once bound, for the servers) and ends after
S seconds at most; every sending loop is bounded in count.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import trio

CHUNK = 64 * 1024


def address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


async def tcp_sink(bind: tuple[str, int]) -> dict:
    listeners = await trio.open_tcp_listeners(bind[1], host=bind[0])
    print("ready", flush=True)
    stream = await listeners[0].accept()
    received, first = 0, None
    async with stream:
        while data := await stream.receive_some(CHUNK):
            first = first or time.perf_counter()
            received += len(data)
    return {"bytes": received, "seconds": time.perf_counter() - (first or time.perf_counter())}


async def tcp_send(to: tuple[str, int], size: int) -> dict:
    print("ready", flush=True)
    stream = await trio.open_tcp_stream(*to)
    block = b"\x5a" * CHUNK
    started = time.perf_counter()
    async with stream:
        sent = 0
        while sent < size:
            await stream.send_all(block[: size - sent])
            sent += min(CHUNK, size - sent)
    return {"bytes": size, "seconds": time.perf_counter() - started}


async def udp_echo(bind: tuple[str, int]) -> dict:
    sock = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
    await sock.bind(bind)
    print("ready", flush=True)
    echoed = 0
    while True:
        data, source = await sock.recvfrom(2048)
        await sock.sendto(data, source)
        echoed += 1


async def udp_rtt(to: tuple[str, int], count: int, wait: float) -> dict:
    sock = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
    await sock.bind(("0.0.0.0", 0))
    print("ready", flush=True)
    rtts, lost = [], 0
    for n in range(count):
        probe = f"probe {n}".encode()
        started = time.perf_counter()
        await sock.sendto(probe, to)
        with trio.move_on_after(wait):
            while (await sock.recvfrom(2048))[0] != probe:
                pass  # a late answer to an earlier probe
            rtts.append(time.perf_counter() - started)
            continue
        lost += 1
    return {"rtts": rtts, "lost": lost}


async def main_async(args: argparse.Namespace) -> dict | None:
    with trio.move_on_after(args.seconds):
        if args.role == "tcp-sink":
            return await tcp_sink(address(args.bind))
        if args.role == "tcp-send":
            return await tcp_send(address(args.to), args.bytes)
        if args.role == "udp-echo":
            return await udp_echo(address(args.bind))
        return await udp_rtt(address(args.to), args.count, args.wait)
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("role", choices=["tcp-sink", "tcp-send", "udp-echo", "udp-rtt"])
    parser.add_argument("--bind", default="0.0.0.0:9000")
    parser.add_argument("--to", default="")
    parser.add_argument("--bytes", type=int, default=0)
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--wait", type=float, default=1.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    result = trio.run(main_async, args)
    print(json.dumps(result if result is not None else {"timeout": args.seconds}), flush=True)
    return 0 if result is not None else 1


if __name__ == "__main__":
    sys.exit(main())
