"""A node's groups: what the user does with them, and what arrives for them.

`Groups` is free of the network: each call takes what happened (the user's
action, a record from a peer, a session that connected) and leaves behind
what to send (`sends`: records for named members, each with the key the
signed log gives it) and what to tell (`events`), for the node to carry out
(node_groups.py). What arrives is arrivals.py's (a mixin), the membership
rules membership.py's, one group's judgement group.py's, the disk store.py's.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable

from .. import events as ev
from ..errors import ConfigError, LocalProtocolError
from ..identity import Identity
from ..session import MessageTooLong
from ..signalling.messages import check_name
from ..trust import fingerprint
from .arrivals import Arrivals, Send, is_member
from .codec import (
    MAX_TEXT_BYTES,
    MESSAGE_ID_SIZE,
    Change,
    GroupMessage,
    Invite,
    Op,
    encode_changes,
    encode_invite,
    encode_messages,
    encode_summary,
    group_id_for,
)
from .group import Group, Snapshot
from .membership import MAX_MEMBERS
from .order import order
from .store import GroupRow, GroupStore


class Groups(Arrivals):
    """The groups of one node, by their name here and by id."""

    def __init__(
        self,
        identity: Identity,
        name: str,
        store: GroupStore,
        dropped: Counter[str],
        status: Callable[[str], ev.PeerStatus] = lambda name: ev.PeerStatus.OFFLINE,
    ) -> None:
        self._identity = identity
        self.key = bytes.fromhex(identity.public_key)
        self.name = name
        self.store = store
        self._dropped = dropped
        #: Our path's state to a peer, for the members' list.
        self.status = status
        self._by_id: dict[bytes, Group] = {}
        for row in store.groups():
            self._by_id[row.id] = Group.load(row, store)
        self.sends: list[Send] = []
        self.events: list[ev.NodeEvent] = []

    def take(self) -> tuple[list[ev.NodeEvent], list[Send]]:
        """What to tell and what to send since the last take."""
        events, sends = self.events, self.sends
        self.events, self.sends = [], []
        return events, sends

    # --- Looking up -----------------------------------------------------------------

    def names(self) -> list[str]:
        return [group.row.name for group in self._by_id.values() if group.row.state != "invited"]

    def group(self, name: str) -> Group:
        """The group called name here; ConfigError if there is none."""
        for group in self._by_id.values():
            if group.row.name == name:
                return group
        raise ConfigError(f"there is no group #{name}")

    def _joined(self, name: str) -> Group:
        group = self.group(name)
        if not group.member:
            raise ConfigError(f"you are not a member of #{name}")
        return group

    def reachable(self) -> dict[str, bytes]:
        """Every member of every group we are in but us: name -> key (sessions to keep)."""
        return {
            member.name: member.key
            for group in self._by_id.values()
            if group.member
            for member in group.membership.members.values()
            if member.key != self.key
        }

    def shares_group(self, name: str, key: bytes) -> bool:
        return any(group.member and is_member(group.membership, name, key) for group in self._by_id.values())

    def info(self, group: Group) -> ev.GroupInfo:
        members = tuple(
            ev.Member(
                m.name,
                fingerprint(m.key.hex()),
                m.admin,
                ev.PeerStatus.CONNECTED if m.key == self.key else self.status(m.name),
            )
            for m in sorted(group.membership.members.values(), key=lambda m: (m.since, m.key))
        )
        return ev.GroupInfo(
            group.row.name,
            group.id.hex(),
            members,
            group.membership.is_admin(self.key),
            tuple(sorted(group.counters().items())),
        )

    def history(self, name: str, limit: int = 500, before: str | None = None) -> ev.History:
        from ..store import StoredMessage

        group = self.group(name)
        rows = self.store.history(group.id, limit, before)
        names = group.membership.names
        messages = tuple(
            StoredMessage(names.get(author, fingerprint(author.hex())), i, author == self.key, text, at, True)
            for author, i, text, at, _, _ in rows
        )
        return ev.History(f"#{name}", messages, older=before is not None, complete=len(messages) < limit)

    def unshown(self, name: str) -> list[ev.MessageReceived]:
        """The group's messages from others never marked shown, as their events, in order."""
        group = self.group(name)
        return [
            ev.MessageReceived(
                group.membership.names.get(m.author, fingerprint(m.author.hex())),
                m.id.hex(),
                m.text,
                group=name,
                order=order(m.lamport, m.author),
            )
            for m in self.store.unshown(group.id, self.key)
        ]

    def orders(self, name: str, limit: int = 500, before: str | None = None) -> list[tuple[int, str]]:
        """The orders of `history`'s messages, in the same order."""
        return [(lamport, fp) for _, _, _, _, lamport, fp in self.store.history(self.group(name).id, limit, before)]

    # --- The user's actions ---------------------------------------------------------

    def create(self, name: str) -> str:
        """A new group called name, with us as creator and first admin; its id."""
        self._free_name(name)
        nonce = os.urandom(16)
        group_id = group_id_for(self.key, nonce)
        group = Group(GroupRow(group_id, name, "member", ""), self.store)
        self.store.put_group(group.row)
        self._by_id[group_id] = group
        before = group.snapshot()
        create = Change(group_id, Op.CREATE, self.key, 1, self.key, nonce, self.name).signed_by(self._identity)
        group.take_change(create, ours=True)
        self.events.append(ev.GroupJoined(name, (self.name,)))
        self._tell_changes(group, before)
        return group_id.hex()

    def invite(self, name: str, peer: str, key: str) -> None:
        """Add peer (whose pinned key is key) to the group, and invite it."""
        group = self._admin(name, "invite")
        check_name(peer)
        if peer == self.name or any(m.name == peer for m in group.membership.members.values()):
            raise ConfigError(f"{peer} is already a member of #{name}")
        if len(group.membership.members) >= MAX_MEMBERS:
            raise ConfigError(f"#{name} has {MAX_MEMBERS} members, the most a group may have")
        target = bytes.fromhex(key)
        self._change(group, Op.ADD, target, peer)
        invite = Invite(group.id, self.name, name, tuple(group.membership.changes()))
        self.sends.append(Send(peer, target, encode_invite(invite)))

    def join(self, name: str) -> None:
        """Accept the invitation to name: we are a member, and catch up from the others."""
        group = self.group(name)
        if group.row.state != "invited":
            raise ConfigError(f"there is no invitation to #{name}")
        if self.key not in group.membership.members:
            raise ConfigError(f"the invitation to #{name} no longer holds: you were removed")
        group.set_state("member")
        self.events.append(ev.GroupJoined(name, self._member_names(group)))
        # Who was added or left while the invitation waited was not told: the group as it is now.
        self.events.append(ev.GroupChanged(self.info(group)))
        self._ask_all(group)

    def ignore_invite(self, name: str) -> None:
        group = self.group(name)
        if group.row.state != "invited":
            raise ConfigError(f"there is no invitation to #{name}")
        if self.key in group.membership.members:
            # The invitation added us: leaving says so to the members (and forgets it).
            self._change(group, Op.LEAVE, self.key, "")
        else:
            self._forget_invite(group)

    def _forget_invite(self, group: Group) -> None:
        """An invitation ignored or void: forgotten, unless we were in the group before
        (then it is a group we left again, its history kept)."""
        if group.heads.summary():
            group.set_state("left")
            return
        self.store.drop_group(group.id)
        del self._by_id[group.id]

    def leave(self, name: str) -> None:
        group = self._joined(name)
        self._change(group, Op.LEAVE, self.key, "")

    def kick(self, name: str, peer: str) -> None:
        group = self._admin(name, "remove members from")
        target = self._member_key(group, peer)
        if target == group.membership.creator:
            raise ConfigError(f"{peer} created #{name}: the creator cannot be removed")
        self._change(group, Op.REMOVE, target, "")

    def make_admin(self, name: str, peer: str) -> None:
        group = self._admin(name, "make admins of")
        target = self._member_key(group, peer)
        if group.membership.is_admin(target):
            raise ConfigError(f"{peer} is an admin of #{name} already")
        self._change(group, Op.ADMIN, target, "")

    def send(self, name: str, text: str, message_id: str | None = None) -> str:
        """Our message to the group: stored, then sent to every member; its id."""
        group = self._joined(name)
        if not text:
            raise ConfigError("an empty message")
        if len(text.encode("utf-8")) > MAX_TEXT_BYTES:
            raise MessageTooLong(f"the message is over the group limit of {MAX_TEXT_BYTES} bytes")
        raw_id = os.urandom(MESSAGE_ID_SIZE) if message_id is None else _message_id(message_id)
        seq = group.heads.highest(self.key) + 1
        message = GroupMessage(group.id, self.key, seq, group.clock.tick(), raw_id, text).signed_by(self._identity)
        group.take_message(message, ours=True)
        group.pending[seq] = raw_id.hex()
        self.events.append(ev.GroupMessageSent(name, raw_id.hex(), order(message.lamport, self.key)))
        for record in encode_messages(group.id, [message]):
            self._to_members(group, record)
        return raw_id.hex()

    # --- Helpers --------------------------------------------------------------------

    def _change(self, group: Group, op: Op, target: bytes, name: str) -> None:
        """Our signed change: in our log, then to every member (and to whom it removes)."""
        before = group.snapshot()
        audience = [m for m in group.membership.members.values() if m.key != self.key]
        change = Change(group.id, op, self.key, group.clock.tick(), target, os.urandom(16), name)
        change = change.signed_by(self._identity)
        group.take_change(change, ours=True)
        if change.hash in group.membership.inert:
            raise LocalProtocolError(f"our own change did not hold: {group.membership.inert[change.hash]}")
        for record in encode_changes(group.id, [change]):
            for member in audience:
                self.sends.append(Send(member.name, member.key, record))
        self._tell_changes(group, before)

    def _tell_changes(self, group: Group, before: Snapshot) -> None:
        """Events for what a change of the log did: who joined and left, and the new state."""
        after = group.membership.members
        if after == before.members:
            return
        name = group.row.name
        if group.row.state == "invited":  # Nothing to tell until we join...
            if self.key not in after:
                self._forget_invite(group)  # ...and nothing to join: we were removed before we answered.
            return
        if self.key in before.members and self.key not in after and group.row.state == "member":
            group.set_state("left")
            kicked = group.membership.departed.get(self.key) == Op.REMOVE
            self.events.append(ev.MemberLeft(name, self.name, kicked))
        for key in after.keys() - before.members.keys():
            if key != self.key:
                self.events.append(ev.MemberJoined(name, after[key].name))
                if group.member and self.status(after[key].name) == ev.PeerStatus.CONNECTED:
                    # Perhaps it spoke to us before we knew it: an exchange now catches up both.
                    self.sends.append(Send(after[key].name, key, encode_summary(group.summary(reply=True))))
        for key in before.members.keys() - after.keys():
            if key != self.key:
                kicked = group.membership.departed.get(key) == Op.REMOVE
                self.events.append(ev.MemberLeft(name, before.members[key].name, kicked))
        self.events.append(ev.GroupChanged(self.info(group)))

    def _ask_all(self, group: Group) -> None:
        for member in group.membership.members.values():
            if member.key != self.key:
                self.sends.append(Send(member.name, member.key, encode_summary(group.summary(reply=True))))

    def _to_members(self, group: Group, record: bytes) -> None:
        for member in group.membership.members.values():
            if member.key != self.key:
                self.sends.append(Send(member.name, member.key, record))

    def _admin(self, name: str, what: str) -> Group:
        group = self._joined(name)
        if not group.membership.is_admin(self.key):
            raise ConfigError(f"only an admin of #{name} may {what} it")
        return group

    def _member_key(self, group: Group, peer: str) -> bytes:
        for member in group.membership.members.values():
            if member.name == peer:
                return member.key
        raise ConfigError(f"{peer} is not a member of #{group.row.name}")

    def _member_names(self, group: Group) -> tuple[str, ...]:
        return tuple(m.name for m in sorted(group.membership.members.values(), key=lambda m: (m.since, m.key)))

    def _free_name(self, name: str) -> None:
        check_name(name)
        if any(group.row.name == name for group in self._by_id.values()):
            raise ConfigError(f"there is a group #{name} already")

    def _unique_name(self, wanted: str) -> str:
        taken = {group.row.name for group in self._by_id.values()}
        if wanted not in taken:
            return wanted
        for n in range(2, 10_000):
            candidate = f"{wanted[:28]}-{n}"
            if candidate not in taken:
                return candidate
        raise LocalProtocolError("no free group name")  # Never: MAX_INVITES bounds the names.


def _message_id(text: str) -> bytes:
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raw = b""
    if len(raw) != MESSAGE_ID_SIZE:
        raise LocalProtocolError(f"a message id is {MESSAGE_ID_SIZE * 2} hex digits, not {text!r}")
    return raw
