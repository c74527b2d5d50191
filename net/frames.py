"""The frames inside an encrypted packet (wire version 3): bytes in, typed records out, no I/O.

An encrypted packet's plaintext is a packet number and one or more frames,
QUIC-shaped (RFC 9000, 12.4 and 19), so that acks, chat messages, control
records and bulk stream data share one datagram:

    packet  = pn varint | frame...
    frame   = type varint | fields

Every integer is a QUIC variable-length integer (RFC 9000, 16): the top two
bits of the first byte give its length (1, 2, 4 or 8 bytes).

Stream ids name one direction's streams: STREAM, RESET_STREAM and
STREAM_DATA_BLOCKED name a stream the frame's SENDER opened; MAX_STREAM_DATA
and STOP_SENDING name a stream its RECEIVER opened (they talk back to a
sender). Stream 0 is the chat and 1 the control records, one each way.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import RemoteProtocolError

#: The largest value a varint holds.
VARINT_MAX = (1 << 62) - 1
TXID_SIZE = 8
#: The most ack ranges one ACK frame carries (older ones are left out: acks repeat).
MAX_ACK_RANGES = 32


class FrameError(RemoteProtocolError):
    """A packet's frames did not parse (wire.py turns it into a WireError)."""


class FrameType(enum.IntEnum):
    PING = 0x01
    """Nothing but "acknowledge me" (a loss probe)."""
    ACK = 0x02
    """These packet numbers arrived: largest, ack delay, ranges."""
    RESET_STREAM = 0x04
    """The sender abandons its stream at this final size."""
    STOP_SENDING = 0x05
    """The receiver of a stream wants no more of it."""
    STREAM = 0x08
    """Bytes of a stream at an offset; STREAM | FIN ends the stream after them."""
    STREAM_FIN = 0x09
    MAX_DATA = 0x10
    """The connection's flow-control limit for bulk streams, in bytes."""
    MAX_STREAM_DATA = 0x11
    """One stream's flow-control limit, in bytes."""
    DATA_BLOCKED = 0x14
    STREAM_DATA_BLOCKED = 0x15
    """The sender would send more on this stream but the limit stops it."""
    DELIVERED = 0x20
    """The receiver's application kept the chat stream up to this offset (it is stored)."""
    PROBE = 0x30
    """Is this path open? Carries a transaction id."""
    PROBE_ACK = 0x31
    """Yes: the probe's transaction id, back to where the probe came from."""
    CALL_ME = 0x32
    """Probe my direct addresses now, as I probe yours (sent over a relayed path)."""
    GOODBYE = 0x33
    """I am leaving this conversation: stop probing me."""


@dataclass(frozen=True, slots=True)
class Ping:
    pass


@dataclass(frozen=True, slots=True)
class Ack:
    ranges: tuple[tuple[int, int], ...]
    """Packet numbers that arrived, as inclusive (first, last), highest first, disjoint."""
    delay: int = 0
    """Microseconds between the largest's arrival and this ACK's sending."""


@dataclass(frozen=True, slots=True)
class ResetStream:
    stream_id: int
    final_size: int


@dataclass(frozen=True, slots=True)
class StopSending:
    stream_id: int


@dataclass(frozen=True, slots=True)
class Stream:
    stream_id: int
    offset: int
    data: bytes
    fin: bool = False


@dataclass(frozen=True, slots=True)
class MaxData:
    limit: int


@dataclass(frozen=True, slots=True)
class MaxStreamData:
    stream_id: int
    limit: int


@dataclass(frozen=True, slots=True)
class DataBlocked:
    limit: int


@dataclass(frozen=True, slots=True)
class StreamDataBlocked:
    stream_id: int
    limit: int


@dataclass(frozen=True, slots=True)
class Delivered:
    offset: int


@dataclass(frozen=True, slots=True)
class Probe:
    txid: bytes


@dataclass(frozen=True, slots=True)
class ProbeAck:
    txid: bytes


@dataclass(frozen=True, slots=True)
class CallMe:
    pass


@dataclass(frozen=True, slots=True)
class Goodbye:
    pass


Frame = (
    Ping | Ack | ResetStream | StopSending | Stream | MaxData | MaxStreamData | DataBlocked
    | StreamDataBlocked | Delivered | Probe | ProbeAck | CallMe | Goodbye
)  # fmt: skip

#: Frames that do not ask for an ACK (RFC 9002, 2: not ack-eliciting). Path frames
#: have their own answers and timers (paths.py), so they are not ack-eliciting either.
NOT_ACK_ELICITING = (Ack, Probe, ProbeAck, CallMe, Goodbye)


# --- Varints ------------------------------------------------------------------------------


def varint_size(value: int) -> int:
    if value < 0x40:
        return 1
    if value < 0x4000:
        return 2
    if value < 0x4000_0000:
        return 4
    return 8


def encode_varint(value: int) -> bytes:
    if value < 0:
        raise ValueError(f"varint {value} is negative")
    if value < 0x40:
        return bytes((value,))
    if value < 0x4000:
        return (value | 0x4000).to_bytes(2, "big")
    if value < 0x4000_0000:
        return (value | 0x8000_0000).to_bytes(4, "big")
    if value <= VARINT_MAX:
        return (value | 0xC000_0000_0000_0000).to_bytes(8, "big")
    raise ValueError(f"varint {value} is too large")


class _Reader:
    """Reads varints and bytes from an untrusted buffer; FrameError past its end."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    @property
    def done(self) -> bool:
        return self.pos >= len(self.data)

    def varint(self) -> int:
        data, pos = self.data, self.pos
        if pos >= len(data):
            raise FrameError("truncated varint")
        first = data[pos]
        size = 1 << (first >> 6)
        if pos + size > len(data):
            raise FrameError("truncated varint")
        value = first & 0x3F
        for byte in data[pos + 1 : pos + size]:
            value = (value << 8) | byte
        self.pos = pos + size
        return value

    def take(self, size: int) -> bytes:
        if self.pos + size > len(self.data):
            raise FrameError("truncated frame")
        chunk = self.data[self.pos : self.pos + size]
        self.pos += size
        return chunk


# --- Encoding -------------------------------------------------------------------------------


def stream_overhead(stream_id: int, offset: int, length: int) -> int:
    """The bytes a STREAM frame adds to its data."""
    return 1 + varint_size(stream_id) + varint_size(offset) + varint_size(length)


def encode_frame(frame: Frame) -> bytes:
    """One frame's bytes. Raises ValueError for a frame we should never build."""
    encode = _ENCODERS.get(type(frame))
    if encode is None:
        raise ValueError(f"not a frame: {frame!r}")
    return encode(frame)


def _encode_stream(frame: Stream) -> bytes:
    v = encode_varint
    kind = FrameType.STREAM_FIN if frame.fin else FrameType.STREAM
    return b"".join((v(kind), v(frame.stream_id), v(frame.offset), v(len(frame.data)), frame.data))


def _encode_txid(frame: Probe | ProbeAck) -> bytes:
    if len(frame.txid) != TXID_SIZE:
        raise ValueError("a probe's txid is 8 bytes")
    return encode_varint(FrameType.PROBE if isinstance(frame, Probe) else FrameType.PROBE_ACK) + frame.txid


def _fields(kind: FrameType, *values: int) -> bytes:
    return encode_varint(kind) + b"".join(encode_varint(value) for value in values)


_ENCODERS: dict[type, Callable[[Any], bytes]] = {
    Stream: _encode_stream,
    Ack: lambda f: _encode_ack(f.ranges, f.delay),
    Ping: lambda f: _fields(FrameType.PING),
    ResetStream: lambda f: _fields(FrameType.RESET_STREAM, f.stream_id, f.final_size),
    StopSending: lambda f: _fields(FrameType.STOP_SENDING, f.stream_id),
    MaxData: lambda f: _fields(FrameType.MAX_DATA, f.limit),
    MaxStreamData: lambda f: _fields(FrameType.MAX_STREAM_DATA, f.stream_id, f.limit),
    DataBlocked: lambda f: _fields(FrameType.DATA_BLOCKED, f.limit),
    StreamDataBlocked: lambda f: _fields(FrameType.STREAM_DATA_BLOCKED, f.stream_id, f.limit),
    Delivered: lambda f: _fields(FrameType.DELIVERED, f.offset),
    Probe: _encode_txid,
    ProbeAck: _encode_txid,
    CallMe: lambda f: _fields(FrameType.CALL_ME),
    Goodbye: lambda f: _fields(FrameType.GOODBYE),
}


def _encode_ack(ranges: tuple[tuple[int, int], ...], delay: int) -> bytes:
    if not ranges or len(ranges) > MAX_ACK_RANGES:
        raise ValueError(f"an ack of {len(ranges)} ranges")
    v = encode_varint
    first, largest = ranges[0]
    parts = [v(FrameType.ACK), v(largest), v(delay), v(len(ranges) - 1), v(largest - first)]
    smallest = first
    for low, high in ranges[1:]:
        if high >= smallest - 1 or low > high:
            raise ValueError("ack ranges must be disjoint, highest first")
        # RFC 9000, 19.3.1: gap is the unacknowledged run minus one.
        parts += [v(smallest - high - 2), v(high - low)]
        smallest = low
    return b"".join(parts)


def ack_size(ranges: tuple[tuple[int, int], ...]) -> int:
    return len(_encode_ack(ranges, 0)) + 7  # The delay's varint may grow to 8 bytes.


def encode_packet(pn: int, frames: list[Frame] | tuple[Frame, ...]) -> bytes:
    if not frames:
        raise ValueError("a packet carries at least one frame")
    return encode_varint(pn) + b"".join(encode_frame(f) for f in frames)


# --- Parsing ---------------------------------------------------------------------------------


def parse_packet_untrusted(plaintext: bytes) -> tuple[int, tuple[Frame, ...]]:
    """A decrypted packet's number and frames. Raises FrameError, and nothing else."""
    reader = _Reader(plaintext)
    pn = reader.varint()
    frames: list[Frame] = []
    while not reader.done:
        kind = reader.varint()
        parse = _PARSERS.get(kind)
        if parse is None:
            raise FrameError(f"unknown frame type {kind:#x}")
        frames.append(parse(kind, reader))
    if not frames:
        raise FrameError("a packet with no frames")
    return pn, tuple(frames)


def _parse_stream(kind: int, r: _Reader) -> Stream:
    sid, offset, length = r.varint(), r.varint(), r.varint()
    if offset + length > VARINT_MAX:
        raise FrameError("stream data beyond the largest offset")
    return Stream(sid, offset, r.take(length), kind == FrameType.STREAM_FIN)


def _parse_ack(kind: int, r: _Reader) -> Ack:
    largest, delay, count, first_range = r.varint(), r.varint(), r.varint(), r.varint()
    if count >= MAX_ACK_RANGES:
        raise FrameError("too many ack ranges")
    low = largest - first_range
    if low < 0:
        raise FrameError("ack range below zero")
    ranges = [(low, largest)]
    for _ in range(count):
        gap, length = r.varint(), r.varint()
        high = low - gap - 2
        low = high - length
        if low < 0:
            raise FrameError("ack range below zero")
        ranges.append((low, high))
    return Ack(tuple(ranges), delay)


def _parse_txid(kind: int, r: _Reader) -> Probe | ProbeAck:
    txid = r.take(TXID_SIZE)
    return Probe(txid) if kind == FrameType.PROBE else ProbeAck(txid)


_PARSERS: dict[int, Callable[[int, _Reader], Frame]] = {
    FrameType.PING: lambda k, r: Ping(),
    FrameType.ACK: _parse_ack,
    FrameType.RESET_STREAM: lambda k, r: ResetStream(r.varint(), r.varint()),
    FrameType.STOP_SENDING: lambda k, r: StopSending(r.varint()),
    FrameType.STREAM: _parse_stream,
    FrameType.STREAM_FIN: _parse_stream,
    FrameType.MAX_DATA: lambda k, r: MaxData(r.varint()),
    FrameType.MAX_STREAM_DATA: lambda k, r: MaxStreamData(r.varint(), r.varint()),
    FrameType.DATA_BLOCKED: lambda k, r: DataBlocked(r.varint()),
    FrameType.STREAM_DATA_BLOCKED: lambda k, r: StreamDataBlocked(r.varint(), r.varint()),
    FrameType.DELIVERED: lambda k, r: Delivered(r.varint()),
    FrameType.PROBE: _parse_txid,
    FrameType.PROBE_ACK: _parse_txid,
    FrameType.CALL_ME: lambda k, r: CallMe(),
    FrameType.GOODBYE: lambda k, r: Goodbye(),
}
