"""Capture every frame on a lab interface, as a wiretap on the simulated internet would.

    capture.py --interface br0 --out FILE --seconds S --max-bytes N

Run inside a lab namespace (the internet's, for its bridge). A raw AF_PACKET
socket for every protocol (ETH_P_ALL), with the interface in promiscuous mode:
a bridge passes the frames it forwards between its ports up to its own
interface only then. Each frame is written to FILE as a 4-byte big-endian
length and the frame's bytes. Prints "ready" once the socket listens, and
ends after S seconds, after N bytes of frames, or on SIGTERM/SIGINT,
whichever comes first; FILE is flushed as it goes.

The test imports this module for `read_frames` and `udp_datagrams`, which
read such a file back.
"""

from __future__ import annotations

import argparse
import select
import signal
import socket
import struct
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ETH_P_ALL = 0x0003
ETH_P_IP = 0x0800
SOL_PACKET = 263
PACKET_ADD_MEMBERSHIP = 1
PACKET_MR_PROMISC = 1
_LENGTH = struct.Struct("!I")


@dataclass(frozen=True)
class Udp:
    """One UDP datagram seen in a frame."""

    source: tuple[str, int]
    destination: tuple[str, int]
    payload: bytes


def read_frames(path: Path) -> list[bytes]:
    """Every frame of a capture file, in the order seen (a cut-off last one is left out)."""
    data = Path(path).read_bytes()
    frames, offset = [], 0
    while offset + _LENGTH.size <= len(data):
        (length,) = _LENGTH.unpack_from(data, offset)
        offset += _LENGTH.size
        if offset + length > len(data):
            break
        frames.append(data[offset : offset + length])
        offset += length
    return frames


def udp_datagrams(frames: list[bytes]) -> list[Udp]:
    """The UDP datagrams in Ethernet frames carrying unfragmented IPv4."""
    found = []
    for frame in frames:
        if len(frame) < 14 + 20 or struct.unpack_from("!H", frame, 12)[0] != ETH_P_IP:
            continue
        ip = frame[14:]
        header = (ip[0] & 0x0F) * 4
        total = struct.unpack_from("!H", ip, 2)[0]
        fragmented = struct.unpack_from("!H", ip, 6)[0] & 0x3FFF  # MF flag or an offset
        if ip[9] != socket.IPPROTO_UDP or fragmented or len(ip) < header + 8:
            continue
        source, destination = socket.inet_ntoa(ip[12:16]), socket.inet_ntoa(ip[16:20])
        sport, dport, length = struct.unpack_from("!HHH", ip, header)
        payload = ip[header + 8 : min(header + length, total)]
        found.append(Udp((source, sport), (destination, dport), payload))
    return found


def capture(interface: str, out: Path, seconds: float, max_bytes: int) -> None:
    stop = False

    def request_stop(*_):
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    sock.bind((interface, 0))
    membership = struct.pack("iHH8s", socket.if_nametoindex(interface), PACKET_MR_PROMISC, 0, b"")
    sock.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, membership)
    written = 0
    deadline = time.monotonic() + seconds
    with sock, open(out, "wb") as file:
        print("ready", flush=True)
        while not stop and written < max_bytes and (left := deadline - time.monotonic()) > 0:
            try:
                readable, _, _ = select.select([sock], [], [], min(left, 0.2))
            except InterruptedError:
                continue
            if not readable:
                continue
            frame = sock.recv(65535)
            file.write(_LENGTH.pack(len(frame)) + frame)
            file.flush()
            written += _LENGTH.size + len(frame)
    print(f"captured {written} bytes", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--interface", default="br0")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--max-bytes", type=int, default=64 * 1024 * 1024)
    args = parser.parse_args()
    capture(args.interface, args.out, args.seconds, args.max_bytes)
    sys.exit(0)


if __name__ == "__main__":
    main()
