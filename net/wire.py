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
The inner packets (probes on an open path, data, acks) only ever travel
encrypted, with the outer header as associated data, so nobody on the path
can read them, forge them, or move them to another conversation.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

from .errors import RemoteProtocolError

MAGIC = 0xD2
VERSION = 2

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
    DATA = 3
    """One fragment of a chat message, with a sequence number."""
    ACK = 4
    """The DATA with these sequence numbers arrived; everything before `cumulative` is delivered."""
    HANDSHAKE_INIT = 5
    """Noise IK message 1, from the initiator."""
    HANDSHAKE_RESP = 6
    """Noise IK message 2, from the responder."""
    TRANSPORT = 7
    """An encrypted inner packet."""
    CALL_ME = 8
    """Probe my direct addresses now, as I probe yours: sent over a relayed path
    so both sides punch at once (Tailscale's "call me maybe"). Only encrypted."""


# Header: magic u8 | version u8 | kind u8
_HEADER = struct.Struct("!BBB")
# Every kind then names both tags: to_tag 8s | from_tag 8s
_TAGS = struct.Struct("!8s8s")
# PROBE, PROBE_ACK: txid 8s
_PROBE = struct.Struct("!8s")
# DATA: seq u32 | message_id 8s | flags u8 | then the fragment's bytes
_DATA = struct.Struct("!I8sB")
# ACK: cumulative u32 | count u8 | then count seqs, u32 each
_ACK = struct.Struct("!IB")
_SEQ = struct.Struct("!I")
#: The most sequence numbers one ACK names (one ACK answers a burst of DATA).
MAX_ACK_SEQS = 64
# TRANSPORT: key_id u8 | counter u64 | then the ciphertext
_TRANSPORT = struct.Struct("!BQ")

_PREFIX = _HEADER.size + _TAGS.size
TRANSPORT_OVERHEAD = _PREFIX + _TRANSPORT.size + AEAD_TAG_SIZE
FLAG_LAST_FRAGMENT = 0x01

#: The most message bytes one DATA packet carries, once encrypted in a TRANSPORT.
MAX_FRAGMENT = MAX_DATAGRAM - TRANSPORT_OVERHEAD - 1 - _DATA.size
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
    seqs: tuple[int, ...]
    """These DATA arrived (stop resending them)."""
    cumulative: int
    """Every sequence number below this one is delivered to the application."""


@dataclass(frozen=True, slots=True)
class CallMe:
    to_tag: bytes
    from_tag: bytes


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


Packet = Probe | ProbeAck | Data | Ack | HandshakeInit | HandshakeResp | Transport
#: What travels inside a Transport.
Inner = Probe | ProbeAck | Data | Ack | CallMe


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
        raise ValueError("data and acks only travel encrypted")
    inner = encode_inner(packet)
    return _HEADER.pack(MAGIC, VERSION, inner[0]) + _TAGS.pack(packet.to_tag, packet.from_tag) + inner[1:]


def encode_inner(packet: Inner) -> bytes:
    """An inner packet's kind and body, without header or tags: what gets encrypted."""
    match packet:
        case Probe(txid=txid):
            return bytes([Kind.PROBE]) + _PROBE.pack(txid)
        case ProbeAck(txid=txid):
            return bytes([Kind.PROBE_ACK]) + _PROBE.pack(txid)
        case Data():
            if len(packet.fragment) > MAX_FRAGMENT:
                raise ValueError(f"fragment of {len(packet.fragment)} bytes is over {MAX_FRAGMENT}")
            flags = FLAG_LAST_FRAGMENT if packet.last_fragment else 0
            return bytes([Kind.DATA]) + _DATA.pack(packet.seq, packet.message_id, flags) + packet.fragment
        case Ack(seqs=seqs, cumulative=cumulative):
            if len(seqs) > MAX_ACK_SEQS:
                raise ValueError(f"an ack of {len(seqs)} sequence numbers")
            return bytes([Kind.ACK]) + _ACK.pack(cumulative, len(seqs)) + b"".join(_SEQ.pack(s) for s in seqs)
        case CallMe():
            return bytes([Kind.CALL_ME])
    raise ValueError(f"not an inner packet: {packet!r}")


def parse_untrusted(datagram: bytes) -> Packet:
    """Parse a datagram from the network. Raises WireError, and nothing else, on bad input.

    Only probes travel in the clear: a cleartext DATA or ACK is refused here.
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
        probe = parse_inner_untrusted(to_tag, from_tag, bytes([kind]) + body)
        if not isinstance(probe, Probe | ProbeAck):  # Cannot be, with this first byte: for the checker.
            raise WireError("not a probe")
        return probe
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
    if kind in (Kind.DATA, Kind.ACK, Kind.CALL_ME):
        raise WireError("cleartext data", "cleartext data")
    raise WireError(f"unknown kind {kind}")


def parse_inner_untrusted(to_tag: bytes, from_tag: bytes, plaintext: bytes) -> Inner:
    """Parse a decrypted inner packet. Raises WireError, and nothing else, on bad input."""
    if not plaintext:
        raise WireError("empty inner packet")
    kind, body = plaintext[0], plaintext[1:]
    if kind in (Kind.PROBE, Kind.PROBE_ACK):
        if len(body) != _PROBE.size:
            raise WireError("probe of the wrong length")
        (txid,) = _PROBE.unpack(body)
        cls = Probe if kind == Kind.PROBE else ProbeAck
        return cls(to_tag, from_tag, txid)
    if kind == Kind.DATA:
        return _data_untrusted(to_tag, from_tag, body)
    if kind == Kind.ACK:
        return _ack_untrusted(to_tag, from_tag, body)
    if kind == Kind.CALL_ME:
        if body:
            raise WireError("call-me of the wrong length")
        return CallMe(to_tag, from_tag)
    raise WireError(f"unknown inner kind {kind}")


def _data_untrusted(to_tag: bytes, from_tag: bytes, body: bytes) -> Data:
    if len(body) < _DATA.size:
        raise WireError("data datagram too short")
    seq, message_id, flags = _DATA.unpack_from(body)
    if flags & ~FLAG_LAST_FRAGMENT:
        raise WireError(f"unknown flags {flags:#x}")
    fragment = body[_DATA.size :]
    if len(fragment) > MAX_FRAGMENT:
        raise WireError("fragment too long")
    return Data(to_tag, from_tag, seq, message_id, bool(flags & FLAG_LAST_FRAGMENT), fragment)


def _ack_untrusted(to_tag: bytes, from_tag: bytes, body: bytes) -> Ack:
    if len(body) < _ACK.size:
        raise WireError("ack of the wrong length")
    cumulative, count = _ACK.unpack_from(body)
    if count > MAX_ACK_SEQS or len(body) != _ACK.size + count * _SEQ.size:
        raise WireError("ack of the wrong length")
    seqs = tuple(s for (s,) in _SEQ.iter_unpack(body[_ACK.size :]))
    return Ack(to_tag, from_tag, seqs, cumulative)
