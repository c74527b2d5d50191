"""The files protocol's wire format: control records and the stream header.

Control records travel with `Session.send_control(APP_FILES, ...)`, one
reliable, ordered record each. Every record starts with its kind and the
transfer's id (16 random bytes); what follows depends on the kind:

    kind (1) | transfer id (16) | ...
    OFFER    | size (8) | sha256 (32) | name (UTF-8, the rest, <= MAX_NAME_BYTES)
    ACCEPT   | have (8): bytes the receiver already has on disk; send from there
    DECLINE  | reason (UTF-8, the rest, <= MAX_REASON_BYTES)
    CANCEL   | reason
    STOP     | reason: this side cannot go on for now (a full disk); resumable
    DONE     | verified (1): 1 the whole file's SHA-256 matched, 0 it did not

Integers are big-endian and unsigned: offsets are 64-bit, so files past 4 GiB
work. A bulk stream carries one transfer: the header, then the file's bytes
from `offset` to the end:

    magic b"p2pf" (4) | transfer id (16) | offset (8)

Parsers of what the peer sent are `*_untrusted` and raise only
RemoteProtocolError.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

from ..errors import LocalProtocolError, RemoteProtocolError

ID_SIZE = 16
HASH_SIZE = 32
#: An offered name longer than this is refused (the receiver shortens what it keeps anyway).
MAX_NAME_BYTES = 1024
MAX_REASON_BYTES = 512
#: The largest size a record may claim: offsets and sizes fit a signed 64-bit off_t.
MAX_SIZE = 2**63 - 1

_HEAD = struct.Struct("!B16s")  # kind, transfer id
_OFFER = struct.Struct("!Q32s")  # size, sha256
_OFFSET = struct.Struct("!Q")  # ACCEPT's have
_DONE = struct.Struct("!B")  # verified
STREAM_MAGIC = b"p2pf"
STREAM_HEADER = struct.Struct("!4s16sQ")  # magic, transfer id, offset


class Kind(enum.IntEnum):
    OFFER = 1
    ACCEPT = 2
    DECLINE = 3
    CANCEL = 4
    STOP = 5
    DONE = 6


@dataclass(frozen=True)
class Offer:
    id: bytes
    size: int
    sha256: bytes
    name: str


@dataclass(frozen=True)
class Accept:
    id: bytes
    have: int


@dataclass(frozen=True)
class Decline:
    id: bytes
    reason: str = ""


@dataclass(frozen=True)
class Cancel:
    id: bytes
    reason: str = ""


@dataclass(frozen=True)
class Stop:
    """The sender of this record cannot go on for now (a full disk, an unreadable file)."""

    id: bytes
    reason: str = ""


@dataclass(frozen=True)
class Done:
    id: bytes
    verified: bool


Record = Offer | Accept | Decline | Cancel | Stop | Done

_REASONED: dict[Kind, type[Decline] | type[Cancel] | type[Stop]] = {
    Kind.DECLINE: Decline,
    Kind.CANCEL: Cancel,
    Kind.STOP: Stop,
}


def encode(record: Record) -> bytes:
    """The record's bytes. Raises LocalProtocolError for a record we must not send."""
    if len(record.id) != ID_SIZE:
        raise LocalProtocolError("a transfer id is 16 bytes")
    match record:
        case Offer(id=tid, size=size, sha256=digest, name=name):
            raw = name.encode("utf-8")
            if not 0 <= size <= MAX_SIZE or len(digest) != HASH_SIZE or len(raw) > MAX_NAME_BYTES:
                raise LocalProtocolError("a bad offer")
            return _HEAD.pack(Kind.OFFER, tid) + _OFFER.pack(size, digest) + raw
        case Accept(id=tid, have=have):
            if not 0 <= have <= MAX_SIZE:
                raise LocalProtocolError("a bad offset")
            return _HEAD.pack(Kind.ACCEPT, tid) + _OFFSET.pack(have)
        case Done(id=tid, verified=verified):
            return _HEAD.pack(Kind.DONE, tid) + _DONE.pack(int(verified))
        case Decline() | Cancel() | Stop():
            kind = next(k for k, cls in _REASONED.items() if isinstance(record, cls))
            reason = record.reason.encode("utf-8")[:MAX_REASON_BYTES].decode("utf-8", "ignore").encode("utf-8")
            return _HEAD.pack(kind, record.id) + reason
    raise LocalProtocolError(f"not a record: {record!r}")


def decode_untrusted(payload: bytes) -> Record:
    """The record in payload. Raises RemoteProtocolError for anything malformed."""
    if len(payload) < _HEAD.size:
        raise RemoteProtocolError("a files record too short")
    raw_kind, tid = _HEAD.unpack_from(payload)
    body = payload[_HEAD.size :]
    try:
        kind = Kind(raw_kind)
    except ValueError:
        raise RemoteProtocolError(f"an unknown files record kind {raw_kind}") from None
    if kind == Kind.OFFER:
        if len(body) < _OFFER.size:
            raise RemoteProtocolError("an offer too short")
        size, digest = _OFFER.unpack_from(body)
        name = _text(body[_OFFER.size :], MAX_NAME_BYTES, "name")
        if size > MAX_SIZE:
            raise RemoteProtocolError("an offer too large for any disk")
        return Offer(tid, size, digest, name)
    if kind == Kind.ACCEPT:
        if len(body) != _OFFSET.size:
            raise RemoteProtocolError("a malformed accept")
        (have,) = _OFFSET.unpack(body)
        if have > MAX_SIZE:
            raise RemoteProtocolError("an accept past any file's end")
        return Accept(tid, have)
    if kind == Kind.DONE:
        if len(body) != _DONE.size or body[0] > 1:
            raise RemoteProtocolError("a malformed done")
        return Done(tid, bool(body[0]))
    return _REASONED[kind](tid, _text(body, MAX_REASON_BYTES, "reason"))


def _text(raw: bytes, limit: int, what: str) -> str:
    if len(raw) > limit:
        raise RemoteProtocolError(f"a {what} over {limit} bytes")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise RemoteProtocolError(f"a {what} not in UTF-8") from None


def stream_header(transfer_id: bytes, offset: int) -> bytes:
    """What a transfer's stream begins with."""
    if len(transfer_id) != ID_SIZE or not 0 <= offset <= MAX_SIZE:
        raise LocalProtocolError("a bad stream header")
    return STREAM_HEADER.pack(STREAM_MAGIC, transfer_id, offset)


def parse_stream_header_untrusted(data: bytes) -> tuple[bytes, int]:
    """(transfer id, offset) from a stream's first STREAM_HEADER.size bytes."""
    if len(data) != STREAM_HEADER.size:
        raise RemoteProtocolError("a stream header of the wrong size")
    magic, tid, offset = STREAM_HEADER.unpack(data)
    if magic != STREAM_MAGIC or offset > MAX_SIZE:
        raise RemoteProtocolError("not a files stream")
    return tid, offset
