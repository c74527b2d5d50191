"""The groups protocol's records, as bytes: sent with `send_control(APP_GROUPS, ...)`.

Every record starts with one header, then its body::

    header   version u8 | kind u8 | group id 16
    MESSAGES count u16, then each: author 32 | seq u64 | lamport u64 | id 8 |
             text length u32 | text (UTF-8) | signature 64 (the author's Ed25519)
    CHANGES  count u16, then each: op u8 | author 32 | lamport u64 | target 32 |
             nonce 16 | name length u8 | name (ASCII) | signature 64
    INVITE   inviter length u8 | inviter | group name length u8 | group name |
             then a CHANGES body: the membership log as far as it fits
    SUMMARY  flags u8 (1: reply wanted, 2: a receipt) | change count u32 | log digest 32 | count u16, then each:
             author 32 | highest contiguous seq u64

A message and a change are signed by their author over a domain tag and every
field but the signature, so any member may forward them and none may change or
forge them. The invite and the summary are the forwarding member's own word,
authenticated by the pairwise session they travel on. Parsing is
`parse_untrusted`, which raises only GroupWireError.
"""

from __future__ import annotations

import enum
import hashlib
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from functools import cached_property

from ..errors import RemoteProtocolError
from ..identity import Identity, verify

VERSION = 1
ID_SIZE = 16
KEY_SIZE = 32
NONCE_SIZE = 16
MESSAGE_ID_SIZE = 8
SIGNATURE_SIZE = 64
#: A group message's text, in UTF-8 bytes: one record must stay under the control limit (64 KiB).
MAX_TEXT_BYTES = 60 * 1024
#: What one record may carry at most (the channel's MAX_CONTROL_BYTES).
MAX_RECORD_BYTES = 64 * 1024
#: Authors a summary may list (members come and go: more than MAX_MEMBERS over time).
MAX_SUMMARY_AUTHORS = 1024
MAX_NAME_BYTES = 64

_HEADER = struct.Struct(">BB16s")  # version | kind | group id
_COUNT = struct.Struct(">H")
_MESSAGE = struct.Struct(">32sQQ8sI")  # author | seq | lamport | id | text length
_CHANGE = struct.Struct(">B32sQ32s16sB")  # op | author | lamport | target | nonce | name length
_SUMMARY = struct.Struct(">BI32sH")  # flags | change count | log digest | author count
_REPLY, _RECEIPT = 1, 2
_HEAD = struct.Struct(">32sQ")  # author | highest contiguous seq

_MESSAGE_DOMAIN = b"p2ptui group message v1\x00"
_CHANGE_DOMAIN = b"p2ptui group change v1\x00"
_GROUP_ID_DOMAIN = b"p2ptui group id v1\x00"


class GroupWireError(RemoteProtocolError):
    """A groups record did not parse. The only error parsing raises."""


class Kind(enum.IntEnum):
    MESSAGES = 1
    CHANGES = 2
    INVITE = 3
    SUMMARY = 4


class Op(enum.IntEnum):
    """What a membership change does."""

    CREATE = 1
    """The group begins: its author is the creator and first admin (target: its key, name: its name)."""
    ADD = 2
    """An admin adds target, called name."""
    REMOVE = 3
    """An admin removes target."""
    ADMIN = 4
    """An admin makes target an admin."""
    LEAVE = 5
    """The author leaves."""


@dataclass(frozen=True)
class GroupMessage:
    group: bytes
    author: bytes
    seq: int
    lamport: int
    id: bytes
    text: str
    signature: bytes = b""

    def signed_part(self) -> bytes:
        text = self.text.encode("utf-8")
        return self.group + _MESSAGE.pack(self.author, self.seq, self.lamport, self.id, len(text)) + text

    def signed_by(self, identity: Identity) -> GroupMessage:
        return replace(self, signature=identity.sign(_MESSAGE_DOMAIN + self.signed_part()))

    def genuine(self) -> bool:
        """Whether the author signed exactly this."""
        return verify(self.author.hex(), _MESSAGE_DOMAIN + self.signed_part(), self.signature)


@dataclass(frozen=True)
class Change:
    group: bytes
    op: Op
    author: bytes
    lamport: int
    target: bytes
    nonce: bytes
    name: str = ""
    signature: bytes = b""

    def signed_part(self) -> bytes:
        name = self.name.encode("ascii")
        fields = _CHANGE.pack(self.op, self.author, self.lamport, self.target, self.nonce, len(name))
        return self.group + fields + name

    def signed_by(self, identity: Identity) -> Change:
        return replace(self, signature=identity.sign(_CHANGE_DOMAIN + self.signed_part()))

    def genuine(self) -> bool:
        return verify(self.author.hex(), _CHANGE_DOMAIN + self.signed_part(), self.signature)

    @cached_property  # Sorting the log asks for it often.
    def hash(self) -> bytes:
        """What identifies the change (a replay has the same)."""
        return hashlib.sha256(self.signed_part() + self.signature).digest()

    @property
    def order(self) -> tuple[int, bytes, bytes]:
        """Where the change stands in the log: every member sorts by this."""
        return (self.lamport, self.author, self.hash)


@dataclass(frozen=True)
class Invite:
    group: bytes
    inviter: str
    name: str
    """The group's name on the inviter's node (a suggestion: names are local)."""
    changes: tuple[Change, ...]


@dataclass(frozen=True)
class Summary:
    group: bytes
    reply: bool
    """The receiver should answer with its own summary (the first of an exchange)."""
    change_count: int
    digest: bytes
    heads: tuple[tuple[bytes, int], ...]
    """(author key, highest seq held with none missing below it)."""
    receipt: bool = False
    """Sent after taking messages, to tell their authors what we hold: nothing is sent back."""


Record = GroupMessage | Change | Invite | Summary


def group_id_for(creator: bytes, nonce: bytes) -> bytes:
    """A group's id: bound to its creator's key, so nobody else can sign its CREATE."""
    return hashlib.sha256(_GROUP_ID_DOMAIN + creator + nonce).digest()[:ID_SIZE]


def log_digest(changes: Iterable[Change]) -> bytes:
    """One hash of a set of changes, whatever order they came in."""
    digest = hashlib.sha256()
    for change_hash in sorted(change.hash for change in changes):
        digest.update(change_hash)
    return digest.digest()


# --- Encoding ------------------------------------------------------------------------


def _header(kind: Kind, group: bytes) -> bytes:
    return _HEADER.pack(VERSION, kind, group)


def _message_body(message: GroupMessage) -> bytes:
    return message.signed_part()[ID_SIZE:] + message.signature


def _change_body(change: Change) -> bytes:
    return change.signed_part()[ID_SIZE:] + change.signature


def _pack_list(bodies: list[bytes]) -> bytes:
    return _COUNT.pack(len(bodies)) + b"".join(bodies)


def _batches(group: bytes, kind: Kind, bodies: Iterable[bytes], room: int) -> Iterator[bytes]:
    """Records of as many bodies as fit in room bytes each, in order."""
    batch: list[bytes] = []
    size = 0
    for body in bodies:
        if batch and size + len(body) > room:
            yield _header(kind, group) + _pack_list(batch)
            batch, size = [], 0
        batch.append(body)
        size += len(body)
    if batch:
        yield _header(kind, group) + _pack_list(batch)


def encode_messages(group: bytes, messages: Iterable[GroupMessage]) -> Iterator[bytes]:
    """MESSAGES records, each under MAX_RECORD_BYTES."""
    room = MAX_RECORD_BYTES - _HEADER.size - _COUNT.size
    return _batches(group, Kind.MESSAGES, (_message_body(m) for m in messages), room)


def encode_changes(group: bytes, changes: Iterable[Change]) -> Iterator[bytes]:
    """CHANGES records, each under MAX_RECORD_BYTES."""
    room = MAX_RECORD_BYTES - _HEADER.size - _COUNT.size
    return _batches(group, Kind.CHANGES, (_change_body(c) for c in changes), room)


def encode_invite(invite: Invite) -> bytes:
    """An INVITE with as much of the log as fits (the rest comes by reconciliation)."""
    inviter, name = invite.inviter.encode("ascii"), invite.name.encode("ascii")
    head = _header(Kind.INVITE, invite.group) + bytes([len(inviter)]) + inviter + bytes([len(name)]) + name
    room = MAX_RECORD_BYTES - len(head) - _COUNT.size
    bodies, size = [], 0
    for change in sorted(invite.changes, key=lambda c: c.order):
        body = _change_body(change)
        if size + len(body) > room:
            break
        bodies.append(body)
        size += len(body)
    return head + _pack_list(bodies)


def encode_summary(summary: Summary) -> bytes:
    heads = summary.heads[:MAX_SUMMARY_AUTHORS]
    flags = (_REPLY if summary.reply else 0) | (_RECEIPT if summary.receipt else 0)
    fields = _SUMMARY.pack(flags, summary.change_count, summary.digest, len(heads))
    return _header(Kind.SUMMARY, summary.group) + fields + b"".join(_HEAD.pack(a, s) for a, s in heads)


# --- Parsing -----------------------------------------------------------------------


class _Reader:
    def __init__(self, data: bytes) -> None:
        self._data = data
        self._at = 0

    def take(self, size: int) -> bytes:
        if size < 0 or self._at + size > len(self._data):
            raise GroupWireError("a groups record is cut short")
        chunk = self._data[self._at : self._at + size]
        self._at += size
        return chunk

    def unpack(self, layout: struct.Struct) -> tuple[object, ...]:
        return layout.unpack(self.take(layout.size))

    def text(self, size: int, encoding: str) -> str:
        try:
            return self.take(size).decode(encoding)
        except UnicodeDecodeError:
            raise GroupWireError(f"a groups record's text is not {encoding}") from None

    def end(self) -> None:
        if self._at != len(self._data):
            raise GroupWireError("a groups record has bytes past its end")


def parse_untrusted(data: bytes) -> list[Record]:
    """The records in one control payload (signatures NOT checked: that is the caller's,
    against the log). Raises only GroupWireError."""
    if len(data) > MAX_RECORD_BYTES:
        raise GroupWireError("a groups record over the size limit")
    reader = _Reader(data)
    version, kind, group = reader.unpack(_HEADER)
    if version != VERSION:
        raise GroupWireError(f"a groups record of another version ({version})")
    assert isinstance(group, bytes)
    records: list[Record]
    if kind == Kind.MESSAGES:
        records = [_message(reader, group) for _ in range(_count(reader))]
    elif kind == Kind.CHANGES:
        records = list(_changes(reader, group))
    elif kind == Kind.INVITE:
        inviter = _name(reader)
        name = _name(reader)
        records = [Invite(group, inviter, name, tuple(_changes(reader, group)))]
    elif kind == Kind.SUMMARY:
        records = [_summary(reader, group)]
    else:
        raise GroupWireError(f"a groups record of an unknown kind ({kind})")
    reader.end()
    return records


def _count(reader: _Reader) -> int:
    (count,) = reader.unpack(_COUNT)
    assert isinstance(count, int)
    return count


def _name(reader: _Reader) -> str:
    (size,) = reader.take(1)
    if size > MAX_NAME_BYTES:
        raise GroupWireError("a name in a groups record is too long")
    return reader.text(size, "ascii")


def _message(reader: _Reader, group: bytes) -> GroupMessage:
    author, seq, lamport, message_id, size = reader.unpack(_MESSAGE)
    assert isinstance(size, int)
    if size > MAX_TEXT_BYTES:
        raise GroupWireError("a group message over the size limit")
    text = reader.text(size, "utf-8")
    signature = reader.take(SIGNATURE_SIZE)
    return GroupMessage(group, author, seq, lamport, message_id, text, signature)  # type: ignore[arg-type]


def _changes(reader: _Reader, group: bytes) -> Iterator[Change]:
    for _ in range(_count(reader)):
        op, author, lamport, target, nonce, size = reader.unpack(_CHANGE)
        try:
            op = Op(int(op))  # type: ignore[call-overload]
        except ValueError:
            raise GroupWireError(f"a membership change of an unknown kind ({op})") from None
        assert isinstance(size, int)
        if size > MAX_NAME_BYTES:
            raise GroupWireError("a name in a groups record is too long")
        name = reader.text(size, "ascii")
        yield Change(group, op, author, lamport, target, nonce, name, reader.take(SIGNATURE_SIZE))  # type: ignore[arg-type]


def _summary(reader: _Reader, group: bytes) -> Summary:
    flags, count, digest, authors = reader.unpack(_SUMMARY)
    assert isinstance(flags, int)
    assert isinstance(authors, int)
    if authors > MAX_SUMMARY_AUTHORS:
        raise GroupWireError("a groups summary lists too many authors")
    heads = tuple(reader.unpack(_HEAD) for _ in range(authors))
    return Summary(group, bool(flags & _REPLY), count, digest, heads, bool(flags & _RECEIPT))  # type: ignore[arg-type]

