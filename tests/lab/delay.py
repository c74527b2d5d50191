"""A fixed delay on a lab router, from user space: netem's job, which this kernel lacks.

    python delay.py --queue N --ms D --seconds S

Run inside a router's namespace after an iptables rule sends packets to
NFQUEUE N (`impair.add_inbound_delay` does both). Each queued packet is
accepted D milliseconds after it arrived, in arrival order, so a constant
delay never reorders. Prints "ready" once bound, and ends after S seconds (a
rule with --queue-bypass then lets packets straight through).

Why by hand: the kernel here has neither netem nor the fq/etf qdiscs that
honour a departure time a BPF program could set (so no EDT delay either), but
it has NFQUEUE. The netfilterqueue package needs a C build against
libnetfilter_queue; the protocol itself is four small netlink messages.
"""

from __future__ import annotations

import argparse
import collections
import select
import socket
import struct
import sys
import time

NETLINK_NETFILTER = 12
SOL_NETLINK = 270
NETLINK_NO_ENOBUFS = 5
NFNL_SUBSYS_QUEUE = 3
NFQNL_MSG_PACKET, NFQNL_MSG_VERDICT_BATCH, NFQNL_MSG_CONFIG = 0, 3, 2
NFQA_PACKET_HDR, NFQA_VERDICT_HDR = 1, 2
NFQA_CFG_CMD, NFQA_CFG_PARAMS, NFQA_CFG_QUEUE_MAXLEN = 1, 2, 3
NFQNL_CFG_CMD_BIND = 1
NFQNL_COPY_META = 1
NF_ACCEPT = 1
NLM_F_REQUEST = 1
NLMSG_ERROR = 2

# nlmsghdr: length, type, flags, sequence, port id (host order)
NLMSG = struct.Struct("=IHHII")
# nfgenmsg: family, version, resource id (the queue number, big-endian)
NFGEN = struct.Struct("=BBH")
# nlattr: length, type (host order)
NLATTR = struct.Struct("=HH")
# nfqnl_msg_packet_hdr: packet id (big-endian), hw protocol, hook
PACKET_HDR = struct.Struct("!IHB")
# nfqnl_msg_verdict_hdr: verdict, packet id (both big-endian)
VERDICT_HDR = struct.Struct("!II")
# nfqnl_msg_config_cmd: command, pad, protocol family (big-endian)
CONFIG_CMD = struct.Struct("!BxH")
# nfqnl_msg_config_params: copy range (big-endian), copy mode (packed, 5 bytes)
CONFIG_PARAMS = struct.Struct("!IB")


def _attribute(kind: int, payload: bytes) -> bytes:
    data = NLATTR.pack(NLATTR.size + len(payload), kind) + payload
    return data + b"\0" * (-len(data) % 4)


def _message(kind: int, queue: int, attributes: bytes, sequence: int) -> bytes:
    body = NFGEN.pack(socket.AF_UNSPEC, 0, socket.htons(queue)) + attributes
    return NLMSG.pack(NLMSG.size + len(body), (NFNL_SUBSYS_QUEUE << 8) | kind, NLM_F_REQUEST, sequence, 0) + body


def _packet_ids(datagram: bytes) -> list[int]:
    """The packet ids of every queued-packet message in one netlink read."""
    ids = []
    offset = 0
    while offset + NLMSG.size <= len(datagram):
        length, kind, _, _, _ = NLMSG.unpack_from(datagram, offset)
        if length < NLMSG.size or offset + length > len(datagram):
            break  # cut short: the rest cannot be read
        if kind == NLMSG_ERROR:
            (error,) = struct.unpack_from("=i", datagram, offset + NLMSG.size)
            if error:
                raise OSError(-error, "nfqueue refused a message")
        elif kind == (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET:
            at = offset + NLMSG.size + NFGEN.size
            while at + NLATTR.size <= offset + length:
                size, attribute = NLATTR.unpack_from(datagram, at)
                if size < NLATTR.size:
                    break
                if attribute & 0x7FFF == NFQA_PACKET_HDR and size >= NLATTR.size + PACKET_HDR.size:
                    ids.append(PACKET_HDR.unpack_from(datagram, at + NLATTR.size)[0])
                at += (size + 3) & ~3
        offset += (length + 3) & ~3
    return ids


def run(queue: int, delay: float, seconds: float) -> None:
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    sock.setsockopt(SOL_NETLINK, NETLINK_NO_ENOBUFS, 1)
    sock.bind((0, 0))
    sock.send(_message(NFQNL_MSG_CONFIG, queue, _attribute(NFQA_CFG_CMD, CONFIG_CMD.pack(NFQNL_CFG_CMD_BIND, 0)), 1))
    config = (
        _attribute(NFQA_CFG_PARAMS, CONFIG_PARAMS.pack(0, NFQNL_COPY_META))
        + _attribute(NFQA_CFG_QUEUE_MAXLEN, struct.pack("!I", 20_000))
    )
    sock.send(_message(NFQNL_MSG_CONFIG, queue, config, 2))
    print("ready", flush=True)
    held: collections.deque[tuple[float, int]] = collections.deque()
    end = time.monotonic() + seconds
    sequence = 3
    while (now := time.monotonic()) < end:
        timeout = max(0.0, min(end - now, held[0][0] - now if held else 1.0))
        if select.select([sock], [], [], timeout)[0]:
            arrived = time.monotonic()
            for packet_id in _packet_ids(sock.recv(1 << 16)):
                held.append((arrived + delay, packet_id))
        now = time.monotonic()
        last = None
        while held and held[0][0] <= now:
            last = held.popleft()[1]
        if last is not None:
            # One batch verdict accepts every packet up to this id: ids rise in arrival order.
            sock.send(_message(NFQNL_MSG_VERDICT_BATCH, queue, _attribute(
                NFQA_VERDICT_HDR, VERDICT_HDR.pack(NF_ACCEPT, last)), sequence))
            sequence += 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queue", type=int, required=True)
    parser.add_argument("--ms", type=float, required=True)
    parser.add_argument("--seconds", type=float, default=600.0)
    args = parser.parse_args()
    run(args.queue, args.ms / 1000, args.seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
