"""The peer-to-peer datagram format: bytes in, typed records out, no I/O.

Every datagram starts with a three-byte header; the first byte is in
0xC0-0xFF so a datagram can never be mistaken for STUN (0x00-0x03) or TURN
ChannelData (0x40-0x4F) arriving on the same socket (RFC 7983, RFC 9443).

Tags: each side of a conversation picks a random 8-byte tag and tells the
other through signalling. Every datagram names the receiver's tag (so it can
be routed to the right conversation, and so a stranger who never saw the
offer cannot inject into it) and the sender's tag.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

MAGIC = 0xD2
VERSION = 1

#: The most payload bytes one datagram carries, so no datagram is fragmented
#: by IP on any path with the IPv6 minimum MTU (1280) after headers.
MAX_DATAGRAM = 1200
TAG_SIZE = 8
MESSAGE_ID_SIZE = 8


class Kind(enum.IntEnum):
    PROBE = 1
    """Is this path open? Sent to punch holes, and as keepalive on an open path."""
    PROBE_ACK = 2
    """Yes: echoes the probe's transaction id back to where the probe came from."""
    DATA = 3
    """One fragment of a chat message, with a sequence number."""
    ACK = 4
    """The DATA with this sequence number arrived."""


# Header: magic u8 | version u8 | kind u8
_HEADER = struct.Struct("!BBB")
# Every kind then names both tags: to_tag 8s | from_tag 8s
_TAGS = struct.Struct("!8s8s")
# PROBE, PROBE_ACK: txid 8s
_PROBE = struct.Struct("!8s")
# DATA: seq u32 | message_id 8s | flags u8 | then the fragment's bytes
_DATA = struct.Struct("!I8sB")
# ACK: seq u32
_ACK = struct.Struct("!I")

_PREFIX = _HEADER.size + _TAGS.size
FLAG_LAST_FRAGMENT = 0x01

#: The most message bytes one DATA datagram carries.
MAX_FRAGMENT = MAX_DATAGRAM - _PREFIX - _DATA.size


class WireError(ValueError):
    """A datagram from the network did not parse. The only error parsing raises."""


@dataclass(frozen=True, slots=True)
class Probe:
    to_tag: bytes
    from_tag: bytes
    txid: bytes


@dataclass(frozen=True, slots=True)
class ProbeAck:
    to_tag: bytes
    from_tag: bytes
    txid: bytes


@dataclass(frozen=True, slots=True)
class Data:
    to_tag: bytes
    from_tag: bytes
    seq: int
    message_id: bytes
    last_fragment: bool
    fragment: bytes


@dataclass(frozen=True, slots=True)
class Ack:
    to_tag: bytes
    from_tag: bytes
    seq: int


Packet = Probe | ProbeAck | Data | Ack


def is_ours(datagram: bytes) -> bool:
    """Whether a datagram claims to be ours (as opposed to STUN or anything else)."""
    return len(datagram) > 0 and datagram[0] == MAGIC


def encode(packet: Packet) -> bytes:
    """The bytes for one packet. Raises ValueError for a packet we should never build."""
    tags = _TAGS.pack(packet.to_tag, packet.from_tag)
    match packet:
        case Probe(txid=txid):
            return _HEADER.pack(MAGIC, VERSION, Kind.PROBE) + tags + _PROBE.pack(txid)
        case ProbeAck(txid=txid):
            return _HEADER.pack(MAGIC, VERSION, Kind.PROBE_ACK) + tags + _PROBE.pack(txid)
        case Data():
            if len(packet.fragment) > MAX_FRAGMENT:
                raise ValueError(f"fragment of {len(packet.fragment)} bytes is over {MAX_FRAGMENT}")
            flags = FLAG_LAST_FRAGMENT if packet.last_fragment else 0
            body = _DATA.pack(packet.seq, packet.message_id, flags)
            return _HEADER.pack(MAGIC, VERSION, Kind.DATA) + tags + body + packet.fragment
        case Ack(seq=seq):
            return _HEADER.pack(MAGIC, VERSION, Kind.ACK) + tags + _ACK.pack(seq)
    raise ValueError(f"not a packet: {packet!r}")


def parse_untrusted(datagram: bytes) -> Packet:
    """Parse a datagram from the network. Raises WireError, and nothing else, on bad input."""
    if len(datagram) > MAX_DATAGRAM:
        raise WireError(f"datagram of {len(datagram)} bytes is over {MAX_DATAGRAM}")
    if len(datagram) < _PREFIX:
        raise WireError(f"datagram of {len(datagram)} bytes is too short")
    magic, version, kind = _HEADER.unpack_from(datagram)
    if magic != MAGIC:
        raise WireError("not a p2ptui datagram")
    if version != VERSION:
        raise WireError(f"unknown version {version}")
    to_tag, from_tag = _TAGS.unpack_from(datagram, _HEADER.size)
    body = datagram[_PREFIX:]
    if kind in (Kind.PROBE, Kind.PROBE_ACK):
        if len(body) != _PROBE.size:
            raise WireError("probe of the wrong length")
        (txid,) = _PROBE.unpack(body)
        cls = Probe if kind == Kind.PROBE else ProbeAck
        return cls(to_tag, from_tag, txid)
    if kind == Kind.DATA:
        if len(body) < _DATA.size:
            raise WireError("data datagram too short")
        seq, message_id, flags = _DATA.unpack_from(body)
        if flags & ~FLAG_LAST_FRAGMENT:
            raise WireError(f"unknown flags {flags:#x}")
        fragment = body[_DATA.size :]
        return Data(to_tag, from_tag, seq, message_id, bool(flags & FLAG_LAST_FRAGMENT), fragment)
    if kind == Kind.ACK:
        if len(body) != _ACK.size:
            raise WireError("ack of the wrong length")
        (seq,) = _ACK.unpack(body)
        return Ack(to_tag, from_tag, seq)
    raise WireError(f"unknown kind {kind}")
