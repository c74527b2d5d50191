"""The peer-to-peer datagram format: bytes in, typed records out, no I/O.

Every datagram starts with a three-byte header; the first byte is in
0xC0-0xFF so a datagram can never be mistaken for STUN (0x00-0x03) or TURN
ChannelData (0x40-0x4F) arriving on the same socket (RFC 7983, RFC 9443).

Tags: each side of a conversation picks a random 8-byte tag and tells the
other through signalling. Every datagram names the receiver's tag (so it can
be routed to the right conversation, and so a stranger who never saw the
offer cannot inject into it) and the sender's tag.

Two layers. The outer packets travel in the clear: probes that punch holes
(they carry nothing but tags and a random id), the two Noise handshake
messages, and `Transport`, which carries one AEAD-encrypted inner packet.
The inner packet (version 3: a packet number and frames, see frames.py:
probes on an open path, acks, stream data, flow control) only ever travels
encrypted, with the outer header as associated data, so nobody on the path
can read it, forge it, or move it to another conversation.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

from . import frames
from .errors import RemoteProtocolError

MAGIC = 0xD2
VERSION = 3

#: The most payload bytes one datagram carries, so no datagram is fragmented
#: by IP on any path with the IPv6 minimum MTU (1280) after headers.
MAX_DATAGRAM = 1200
TAG_SIZE = 8
MESSAGE_ID_SIZE = 8
#: The AEAD's authentication tag (ChaCha20-Poly1305).
AEAD_TAG_SIZE = 16


class Kind(enum.IntEnum):
    PROBE = 1
    """Is this path open? Sent to punch holes, and as keepalive on an open path."""
    PROBE_ACK = 2
    """Yes: echoes the probe's transaction id back to where the probe came from."""
    # 3 and 4 were version 2's cleartext-refused DATA and ACK.
    HANDSHAKE_INIT = 5
    """Noise IK message 1, from the initiator."""
    HANDSHAKE_RESP = 6
    """Noise IK message 2, from the responder."""
    TRANSPORT = 7
    """An encrypted inner packet: a packet number and frames (frames.py)."""


# Header: magic u8 | version u8 | kind u8
_HEADER = struct.Struct("!BBB")
# Every kind then names both tags: to_tag 8s | from_tag 8s
_TAGS = struct.Struct("!8s8s")
# PROBE, PROBE_ACK: txid 8s
_PROBE = struct.Struct("!8s")
# TRANSPORT: key_id u8 | counter u64 | then the ciphertext
_TRANSPORT = struct.Struct("!BQ")

_PREFIX = _HEADER.size + _TAGS.size
TRANSPORT_OVERHEAD = _PREFIX + _TRANSPORT.size + AEAD_TAG_SIZE

#: The most plaintext bytes (packet number and frames) one TRANSPORT carries.
MAX_INNER = MAX_DATAGRAM - TRANSPORT_OVERHEAD
#: The shortest and longest handshake messages we accept (Noise IK with
#: X25519, ChaChaPoly and an 8-byte payload is 104 and 64 bytes).
MIN_HANDSHAKE, MAX_HANDSHAKE = 32, 256


class WireError(RemoteProtocolError):
    """A datagram from the network did not parse. The only error parsing raises."""

    def __init__(self, message: str, counter: str = "malformed"):
        super().__init__(message)
        #: What to count it as: a few fixed words, where the message has details.
        self.counter = counter


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
class Frames:
    """The inner packet: what a TRANSPORT carries, once decrypted."""

    to_tag: bytes
    from_tag: bytes
    pn: int
    """The packet number: each packet sent under a session has its own, increasing."""
    frames: tuple[frames.Frame, ...]


@dataclass(frozen=True, slots=True)
class HandshakeInit:
    to_tag: bytes
    from_tag: bytes
    message: bytes


@dataclass(frozen=True, slots=True)
class HandshakeResp:
    to_tag: bytes
    from_tag: bytes
    message: bytes


@dataclass(frozen=True, slots=True)
class Transport:
    to_tag: bytes
    from_tag: bytes
    key_id: int
    counter: int
    ciphertext: bytes

    @property
    def associated_data(self) -> bytes:
        """What the AEAD authenticates besides the ciphertext: the whole header."""
        return transport_header(self.to_tag, self.from_tag, self.key_id, self.counter)


Packet = Probe | ProbeAck | HandshakeInit | HandshakeResp | Transport
#: What travels inside a Transport.
Inner = Frames


def is_ours(datagram: bytes) -> bool:
    """Whether a datagram claims to be ours (as opposed to STUN or anything else)."""
    return len(datagram) > 0 and datagram[0] == MAGIC


def transport_header(to_tag: bytes, from_tag: bytes, key_id: int, counter: int) -> bytes:
    return (
        _HEADER.pack(MAGIC, VERSION, Kind.TRANSPORT)
        + _TAGS.pack(to_tag, from_tag)
        + _TRANSPORT.pack(key_id, counter)
    )


def encode(packet: Packet) -> bytes:
    """The bytes for one packet. Raises ValueError for a packet we should never build."""
    if isinstance(packet, Transport):
        return packet.associated_data + packet.ciphertext
    if isinstance(packet, HandshakeInit | HandshakeResp):
        kind = Kind.HANDSHAKE_INIT if isinstance(packet, HandshakeInit) else Kind.HANDSHAKE_RESP
        if not MIN_HANDSHAKE <= len(packet.message) <= MAX_HANDSHAKE:
            raise ValueError(f"handshake message of {len(packet.message)} bytes")
        return _HEADER.pack(MAGIC, VERSION, kind) + _TAGS.pack(packet.to_tag, packet.from_tag) + packet.message
    if not isinstance(packet, Probe | ProbeAck):
        raise ValueError("frames only travel encrypted")
    kind = Kind.PROBE if isinstance(packet, Probe) else Kind.PROBE_ACK
    return _HEADER.pack(MAGIC, VERSION, kind) + _TAGS.pack(packet.to_tag, packet.from_tag) + _PROBE.pack(packet.txid)


def encode_inner(packet: Inner) -> bytes:
    """An inner packet's plaintext, without header or tags: what gets encrypted."""
    data = frames.encode_packet(packet.pn, packet.frames)
    if len(data) > MAX_INNER:
        raise ValueError(f"an inner packet of {len(data)} bytes is over {MAX_INNER}")
    return data


def parse_untrusted(datagram: bytes) -> Packet:
    """Parse a datagram from the network. Raises WireError, and nothing else, on bad input.

    Only probes travel in the clear.
    """
    if len(datagram) > MAX_DATAGRAM:
        raise WireError(f"datagram of {len(datagram)} bytes is over {MAX_DATAGRAM}", "too large")
    if len(datagram) < _PREFIX:
        raise WireError(f"datagram of {len(datagram)} bytes is too short")
    magic, version, kind = _HEADER.unpack_from(datagram)
    if magic != MAGIC:
        raise WireError("not a p2ptui datagram")
    if version != VERSION:
        raise WireError(f"unknown version {version}", "unknown version")
    to_tag, from_tag = _TAGS.unpack_from(datagram, _HEADER.size)
    body = datagram[_PREFIX:]
    if kind in (Kind.PROBE, Kind.PROBE_ACK):
        return _parse_probe_untrusted(kind, to_tag, from_tag, body)
    if kind in (Kind.HANDSHAKE_INIT, Kind.HANDSHAKE_RESP):
        if not MIN_HANDSHAKE <= len(body) <= MAX_HANDSHAKE:
            raise WireError(f"handshake message of {len(body)} bytes")
        cls = HandshakeInit if kind == Kind.HANDSHAKE_INIT else HandshakeResp
        return cls(to_tag, from_tag, body)
    if kind == Kind.TRANSPORT:
        if len(body) < _TRANSPORT.size + AEAD_TAG_SIZE:
            raise WireError("transport datagram too short")
        key_id, counter = _TRANSPORT.unpack_from(body)
        return Transport(to_tag, from_tag, key_id, counter, body[_TRANSPORT.size :])
    if kind in (3, 4, 8, 9):  # Version 2's inner kinds: never in the clear.
        raise WireError("cleartext data", "cleartext data")
    raise WireError(f"unknown kind {kind}")


def parse_inner_untrusted(to_tag: bytes, from_tag: bytes, plaintext: bytes) -> Inner:
    """Parse a decrypted inner packet. Raises WireError, and nothing else, on bad input."""
    try:
        pn, parsed = frames.parse_packet_untrusted(plaintext)
    except frames.FrameError as exc:
        raise WireError(str(exc)) from None
    return Frames(to_tag, from_tag, pn, parsed)


def _parse_probe_untrusted(kind: int, to_tag: bytes, from_tag: bytes, body: bytes) -> Probe | ProbeAck:
    if len(body) != _PROBE.size:
        raise WireError("probe of the wrong length")
    (txid,) = _PROBE.unpack(body)
    cls = Probe if kind == Kind.PROBE else ProbeAck
    return cls(to_tag, from_tag, txid)
