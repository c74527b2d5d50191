"""What arrives for a node's groups: records from members, and sessions that connect.

A mixin of `Groups` (engine.py), which holds the table of groups; split out
so that each file keeps one job: this one judges the network's input (free
of it: records in, `sends` and `events` out), engine.py the user's actions.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .. import events as ev
from ..errors import EnvironmentFailure
from ..trust import fingerprint
from .codec import (
    Change,
    GroupMessage,
    GroupWireError,
    Invite,
    Op,
    Summary,
    encode_invite,
    encode_summary,
    parse_untrusted,
)
from .group import Group, Snapshot
from .membership import Membership
from .order import order
from .store import GroupRow, GroupStore

#: Invitations kept waiting for an answer at once; more are refused and counted.
MAX_INVITES = 32


@dataclass(frozen=True)
class Send:
    """A record for one member, over the pairwise session with name (whose key must be key)."""

    peer: str
    key: bytes
    payload: bytes


class Arrivals:
    """The network's input to the groups (a mixin: the table is `Groups`')."""

    # What `Groups` holds.
    key: bytes
    name: str
    store: GroupStore
    _dropped: Counter[str]
    _by_id: dict[bytes, Group]
    sends: list[Send]
    events: list[ev.NodeEvent]

    if TYPE_CHECKING:  # Groups' (engine.py).

        def _tell_changes(self, group: Group, before: Snapshot) -> None: ...

        def _member_names(self, group: Group) -> tuple[str, ...]: ...

        def _unique_name(self, wanted: str) -> str: ...

    def connected(self, peer: str, key: str) -> None:
        """A session to peer is (again) up: summaries for every group we share. A member we
        added gets its invitation again first: the one sent may have been lost with a session
        that ended (the peer was away); one it holds already changes nothing there."""
        raw = _key(key)
        for group in self._by_id.values():
            if group.member and is_member(group.membership, peer, raw):
                if self._added(group, raw):
                    invite = Invite(group.id, self.name, group.row.name, tuple(group.membership.changes()))
                    self.sends.append(Send(peer, raw, encode_invite(invite)))
                self.sends.append(Send(peer, raw, encode_summary(group.summary(reply=False))))

    def _added(self, group: Group, member: bytes) -> bool:
        return any(c.op == Op.ADD and c.target == member and c.author == self.key for c in group.membership.changes())

    def received(self, peer: str, key: str, payload: bytes) -> None:
        """A groups record from peer, whose session proved key."""
        try:
            records = parse_untrusted(payload)
        except GroupWireError:
            self._dropped["groups record that did not parse"] += 1
            return
        raw = _key(key)
        if not records:
            return
        first = records[0]
        if isinstance(first, Invite):
            self._invited(peer, raw, first)
            return
        group = self._by_id.get(first.group)
        if group is None or group.row.state == "left":
            self._dropped["groups record for a group we are not in"] += 1
            return
        before = group.snapshot()
        if isinstance(first, Summary):
            self._summary(group, peer, raw, first)
        elif isinstance(first, Change):
            with self.store.batch():
                group.take_changes([r for r in records if isinstance(r, Change)])
        elif not is_member(group.membership, peer, raw):
            group.rejected["record from a non-member"] += 1
        else:
            self._messages(group, [r for r in records if isinstance(r, GroupMessage)])
            # A receipt: the authors learn who holds what (MessageDelivered), nothing comes back.
            self.sends.append(Send(peer, raw, encode_summary(group.summary(receipt=True))))
        self._tell_changes(group, before)

    def _messages(self, group: Group, messages: list[GroupMessage]) -> None:
        if not group.member:
            return
        try:
            with self.store.batch():  # One commit for a record's messages (a catch-up brings thousands).
                kept = [message for message in messages if group.take_message(message)]
        except EnvironmentFailure:
            group.reload_heads()  # Rolled back: what is on disk is what we hold (and summarise).
            raise
        for message in kept:
            author = group.membership.names.get(message.author, fingerprint(message.author.hex()))
            self.events.append(
                ev.MessageReceived(
                    author,
                    message.id.hex(),
                    message.text,
                    group=group.row.name,
                    order=order(message.lamport, message.author),
                )
            )

    def _summary(self, group: Group, peer: str, key: bytes, summary: Summary) -> None:
        if not group.member:
            return
        if not is_member(group.membership, peer, key):
            # Maybe a member whose add has not reached us: our summary makes it send the log.
            mine = group.summary(reply=False)
            if summary.reply or summary.digest != mine.digest:
                self.sends.append(Send(peer, key, encode_summary(mine)))
            group.rejected["summary from a non-member"] += 1
            return
        for message_id in group.delivered(key, summary, self.key):
            self.events.append(ev.MessageDelivered(f"#{group.row.name}", message_id))
        if summary.receipt:
            return
        for record in group.answer(summary):
            self.sends.append(Send(peer, key, record))
        if summary.reply:
            self.sends.append(Send(peer, key, encode_summary(group.summary(reply=False))))

    def _invited(self, peer: str, key: bytes, invite: Invite) -> None:
        known = self._by_id.get(invite.group)
        if known is not None and known.row.state != "left":
            before = known.snapshot()
            # Only what is new: an invitation sent again on reconnecting is no duplicate input.
            known.take_changes([change for change in invite.changes if change.hash not in known.membership])
            self._tell_changes(known, before)
            return
        if known is not None and all(change.hash in known.membership for change in invite.changes):
            # An invitation sent again on reconnecting, which we answered by leaving: void.
            self._dropped["invitation already answered"] += 1
            return
        log = Membership(invite.group)
        log.add_all(invite.changes)
        if self.key not in log.members or not is_member(log, peer, key):
            self._dropped["invitation that does not hold"] += 1
            return
        if sum(g.row.state == "invited" for g in self._by_id.values()) >= MAX_INVITES:
            self._dropped["invitations over the limit"] += 1
            return
        # A group we left keeps its name here, and what we hold of it.
        wanted = invite.name if _valid(invite.name) else "group"
        name = known.row.name if known is not None else self._unique_name(wanted)
        self.store.put_group(GroupRow(invite.group, name, "invited", peer))
        group = Group.load(GroupRow(invite.group, name, "invited", peer), self.store)
        group.take_changes(list(invite.changes))
        self._by_id[invite.group] = group
        self.events.append(ev.GroupInvited(name, invite.group.hex(), peer, self._member_names(group)))


def is_member(log: Membership, name: str, key: bytes) -> bool:
    member = log.members.get(key)
    return member is not None and member.name == name


def _key(key: str) -> bytes:
    try:
        return bytes.fromhex(key)
    except ValueError:
        return b""


def _valid(name: str) -> bool:
    from ..signalling.messages import valid_name

    return valid_name(name)
