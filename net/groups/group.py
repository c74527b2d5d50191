"""One group as this node holds it: its log, its messages' heads, its clock, its counters.

What arrives for the group is judged here, free of the network: a change
joins the log (membership.py decides what it does), a message is kept if its
author signed it and was a member at its Lamport time, and a summary from
another member says what to send it. Storing is the caller's GroupStore.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace

from .codec import Change, GroupMessage, Summary, encode_changes, encode_messages, log_digest
from .membership import Member, Membership
from .order import Clock
from .store import GroupRow, GroupStore
from .sync import Heads

#: A Lamport time further ahead of ours than this is a member jamming the clock: refused.
MAX_CLOCK_JUMP = 1 << 40


@dataclass(frozen=True)
class Snapshot:
    """The members before something changed: what changed is told from the difference."""

    members: dict[bytes, Member]
    state: str


class Group:
    """One group: the row that names it here, its membership, what we hold of its messages."""

    def __init__(self, row: GroupRow, store: GroupStore) -> None:
        self.row = row
        self._store = store
        self.membership = Membership(row.id)
        self.heads = Heads()
        self.clock = Clock()
        #: Refused or ignored messages and records, by reason (the log's are membership's).
        self.rejected: Counter[str] = Counter()
        #: Our messages (seq -> id) sent in this run that not every member holds yet.
        self.pending: dict[int, str] = {}
        #: How far each member holds our messages, from its summaries.
        self._held: dict[bytes, int] = {}

    @classmethod
    def load(cls, row: GroupRow, store: GroupStore) -> Group:
        group = cls(row, store)
        group.membership.add_all(store.changes(row.id), trusted=True)
        for author, seq, lamport in store.seqs(row.id):
            group.heads.add(author, seq)
            group.clock.seen(lamport)
        group.clock.seen(group.membership.clock)
        return group

    def reload_heads(self) -> None:
        """The heads as the store has them (after a write that was rolled back)."""
        self.heads = Heads()
        for author, seq, _ in self._store.seqs(self.id):
            self.heads.add(author, seq)

    @property
    def id(self) -> bytes:
        return self.row.id

    @property
    def member(self) -> bool:
        """We are in it (not only invited, not gone)."""
        return self.row.state == "member"

    def set_state(self, state: str) -> None:
        self.row = replace(self.row, state=state)
        self._store.put_group(self.row)

    def counters(self) -> Counter[str]:
        return self.rejected + self.membership.rejected

    def snapshot(self) -> Snapshot:
        return Snapshot(dict(self.membership.members), self.row.state)

    # --- What arrives ---------------------------------------------------------------

    def take_change(self, change: Change, *, ours: bool = False) -> bool:
        """A change for the log: stored and folded in if new and genuine. Whether it was."""
        return bool(self.take_changes([change], ours=ours))

    def take_changes(self, changes: list[Change], *, ours: bool = False) -> list[Change]:
        """Changes for the log, folded in once: those stored (new and genuine)."""
        if not ours:
            jammers = [c for c in changes if c.lamport > self.clock.value + MAX_CLOCK_JUMP]
            self.rejected["change from far in the future"] += len(jammers)
            changes = [c for c in changes if c not in jammers]
        entered = self.membership.add_all(changes, trusted=ours)
        for taken in entered:
            self._store.put_change(taken)
            self.clock.seen(taken.lamport)
        return entered

    def take_message(self, message: GroupMessage, *, ours: bool = False) -> bool:
        """A message: stored if its author signed it and was a member then. Whether it is new."""
        reason = None if ours else self._refusal(message)
        if reason is not None:
            self.rejected[reason] += 1
            return False
        if self.heads.has(message.author, message.seq) or not self._store.put_message(message):
            self.rejected["duplicate message"] += 1
            return False
        self.heads.add(message.author, message.seq)
        self.clock.seen(message.lamport)
        return True

    def _refusal(self, message: GroupMessage) -> str | None:
        if message.seq < 1:
            return "message with a bad sequence number"
        if message.lamport > self.clock.value + MAX_CLOCK_JUMP:
            return "message from far in the future"
        if not self.membership.member_at(message.author, message.lamport):
            return "message from a non-member"
        if not message.genuine():
            return "message not signed by its author"
        return None

    # --- Reconciliation -------------------------------------------------------------

    def summary(self, *, reply: bool = False, receipt: bool = False) -> Summary:
        changes = self.membership.changes()
        return Summary(self.id, reply, len(changes), log_digest(changes), self.heads.summary(), receipt)

    def delivered(self, member: bytes, summary: Summary, our_key: bytes) -> list[str]:
        """A member's summary says how far it holds our messages: the ids now held by every
        current member (each told once)."""
        held = dict(summary.heads).get(our_key, 0)
        self._held[member] = max(self._held.get(member, 0), held)
        others = [key for key in self.membership.members if key != our_key]
        everywhere = min((self._held.get(key, 0) for key in others), default=0)
        done = sorted(seq for seq in self.pending if seq <= everywhere)
        return [self.pending.pop(seq) for seq in done]

    def answer(self, summary: Summary) -> list[bytes]:
        """What the member who sent summary lacks, as records: the log first (so
        the messages' authors are members there when they arrive), then the messages."""
        records: list[bytes] = []
        changes = self.membership.changes()
        if summary.digest != log_digest(changes):
            records.extend(encode_changes(self.id, changes))
        theirs = dict(summary.heads)
        for author, after in self.heads.lacks(theirs):
            records.extend(encode_messages(self.id, self._store.after(self.id, author, after)))
        return records
