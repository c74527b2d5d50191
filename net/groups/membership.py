"""A group's membership: a log of signed changes, and the state every member folds from it.

Free of I/O. Every member holds the same set of changes (reconciliation sees
to it) and folds them the same way: sorted by (Lamport, author key, hash),
each checked against the state at its place. The creator (whose key the group
id is bound to) is the first admin; only an admin adds, removes or makes
admins; a member leaves by itself. A change that does not hold at its place
is kept (a later one may be what it waited for: an add by a member whose
promotion has not arrived yet) but changes nothing, and is counted. So two
members with the same changes have the same members, admins and names,
whatever order the changes reached them in.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from ..signalling.messages import valid_name
from .codec import Change, Op, group_id_for

#: Members a group may have at once: a full mesh of pairwise sessions (see the README).
MAX_MEMBERS = 64
#: Changes a group's log may hold; beyond that new ones are refused.
MAX_CHANGES = 4096
#: Changes by authors not (yet) known held aside until their add arrives; beyond that refused.
MAX_WAITING = 256


@dataclass(frozen=True)
class Member:
    key: bytes
    name: str
    admin: bool
    since: int
    """The Lamport time it was added (or created the group)."""


class Membership:
    """One group's log of changes and who its members are after them."""

    def __init__(self, group: bytes) -> None:
        self.group = group
        self._changes: dict[bytes, Change] = {}
        self.members: dict[bytes, Member] = {}
        self.creator: bytes | None = None
        #: Every name a key was added under, members past and present: the authors of history.
        self.names: dict[bytes, str] = {}
        #: Per key, the Lamport spans in which it was a member: (added, left or None).
        self._spans: dict[bytes, list[tuple[int, int | None]]] = {}
        #: Why each kept change that changes nothing does not hold, by its hash.
        self.inert: dict[bytes, str] = {}
        #: How each key that is no longer a member went: Op.LEAVE or Op.REMOVE.
        self.departed: dict[bytes, Op] = {}
        #: What was refused or ignored, by reason: shown in the group's details.
        self.rejected: Counter[str] = Counter()
        self.clock = 0
        """The highest Lamport time in the log."""
        #: Genuine changes by authors never added (yet): taken once their add arrives.
        self._waiting: dict[bytes, Change] = {}

    def __len__(self) -> int:
        return len(self._changes)

    def __contains__(self, change_hash: bytes) -> bool:
        return change_hash in self._changes

    def changes(self) -> list[Change]:
        """The log, in its order."""
        return sorted(self._changes.values(), key=lambda c: c.order)

    def add(self, change: Change, *, trusted: bool = False) -> list[Change]:
        """Take one change: see add_all."""
        return self.add_all([change], trusted=trusted)

    def add_all(self, changes: Iterable[Change], *, trusted: bool = False) -> list[Change]:
        """Take changes (folded once, however many: a whole log comes at once): those that
        entered the log, and any held aside that waited for them, in the order they entered.
        A bad, duplicate or useless one is counted by reason. trusted: checked before (our
        own store's, or our own)."""
        entered = []
        for change in changes:
            reason = self._refusal(change, trusted)
            if reason == "change by a non-member" and len(self._waiting) < MAX_WAITING:
                self._waiting[change.hash] = change  # Its add may be on its way.
            elif reason is not None:
                self.rejected[reason] += 1
            else:
                self._enter(change)
                entered.append(change)
        counted = [] if trusted else list(entered)
        while entered:
            self._fold()
            ready = [c for c in self._waiting.values() if c.author in self.names]
            for waiting in ready:
                del self._waiting[waiting.hash]
                self._enter(waiting)  # Its signature was checked when it came.
            entered += ready
            counted += ready
            if not ready:
                break
        for change in counted:
            if (why := self.inert.get(change.hash)) is not None:
                self.rejected[why] += 1
        return entered

    def _enter(self, change: Change) -> None:
        self._changes[change.hash] = change
        self.clock = max(self.clock, change.lamport)

    def _refusal(self, change: Change, trusted: bool) -> str | None:
        if change.group != self.group:
            return "change for another group"
        if change.hash in self._changes or change.hash in self._waiting:
            return "duplicate change"
        if len(self._changes) >= MAX_CHANGES:
            return "log over its limit"
        if not trusted and not change.genuine():
            return "change with a bad signature"
        if change.op != Op.CREATE and change.author not in self.names and self.creator is not None:
            # Never a member: nobody would forward it (or it waits for its add: then
            # reconciliation brings it again, after the add).
            return "change by a non-member"
        return None

    def member_at(self, key: bytes, lamport: int) -> bool:
        """Whether key was a member at Lamport time lamport (after its add, before it left)."""
        return any(start < lamport and (end is None or lamport < end) for start, end in self._spans.get(key, ()))

    def is_admin(self, key: bytes) -> bool:
        member = self.members.get(key)
        return member is not None and member.admin

    def _fold(self) -> None:
        members: dict[bytes, Member] = {}
        spans: dict[bytes, list[tuple[int, int | None]]] = {}
        inert: dict[bytes, str] = {}
        departed: dict[bytes, Op] = {}
        self.creator = None
        for change in self.changes():
            reason = self._check(change, members)
            if reason is not None:
                inert[change.hash] = reason
                continue
            _apply(change, members, spans)
            if change.op == Op.CREATE:
                self.creator = change.author
            if change.op in (Op.CREATE, Op.ADD):
                self.names[change.target] = change.name
                departed.pop(change.target, None)
            elif change.op in (Op.LEAVE, Op.REMOVE):
                departed[change.author if change.op == Op.LEAVE else change.target] = change.op
        self.members, self._spans, self.inert, self.departed = members, spans, inert, departed

    def _check(self, change: Change, members: dict[bytes, Member]) -> str | None:
        """Why change does not hold against members (the state at its place), or None."""
        if self.creator is None:
            return self._check_creation(change)
        if change.op == Op.CREATE:
            return "second creation"
        if change.op == Op.LEAVE:
            return None if change.author in members else "leave by a non-member"
        author = members.get(change.author)
        if author is None or not author.admin:
            return "change not signed by an admin"
        return self._check_admins_change(change, members)

    def _check_creation(self, change: Change) -> str | None:
        if change.op != Op.CREATE:
            return "change before the group's creation"
        if change.target != change.author or group_id_for(change.author, change.nonce) != self.group:
            return "creation by someone else than the group's creator"
        return None if valid_name(change.name) else "bad member name"

    def _check_admins_change(self, change: Change, members: dict[bytes, Member]) -> str | None:
        if change.op == Op.ADD:
            if change.target in members:
                return "add of a member"
            if not valid_name(change.name) or any(m.name == change.name for m in members.values()):
                return "bad member name"
            if len(members) >= MAX_MEMBERS:
                return "group over the member limit"
            return None
        if change.target not in members:
            return "change about a non-member"
        if change.op == Op.REMOVE and change.target == self.creator:
            return "removal of the creator"
        if change.op == Op.ADMIN and members[change.target].admin:
            return "admin of an admin"
        return None


def _apply(change: Change, members: dict[bytes, Member], spans: dict[bytes, list[tuple[int, int | None]]]) -> None:
    if change.op in (Op.CREATE, Op.ADD):
        members[change.target] = Member(change.target, change.name, change.op == Op.CREATE, change.lamport)
        spans.setdefault(change.target, []).append((change.lamport, None))
        return
    if change.op == Op.ADMIN:
        old = members[change.target]
        members[change.target] = Member(old.key, old.name, True, old.since)
        return
    gone = change.author if change.op == Op.LEAVE else change.target
    del members[gone]
    start, _ = spans[gone][-1]
    spans[gone][-1] = (start, change.lamport)
    if members and not any(m.admin for m in members.values()):
        # Nobody may add or remove any more: the longest-standing member is admin now.
        first = min(members.values(), key=lambda m: (m.since, m.key))
        members[first.key] = Member(first.key, first.name, True, first.since)
