"""`p2ptui pipe`'s groups: `--group NAME`, `--accept-invites`, the stdin commands and the events.

Stdin lines `/group NAME` (create), `/invite NAME PEER`, `/kick NAME PEER` and
`/leave NAME` are commands; with `--group NAME` every other line is a message
to that group (created at start if this node has no group of that name and
`--accept-invites` is not given; with it, the pipe waits for the invitation).
Events: `group-invited`, `group-joined` {group, members}, `member-joined` and
`member-left` {group, peer}, `message` with a `group` field (its `peer` is the
author, and an `order`: [Lamport time, author fingerprint], to sort the group
by), `sent` (with `order` too) and `delivered` with a `group` field
(delivered: every member holds it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import trio

from p2ptui.net import ConfigError, Node, P2PError, PeerStatus, describe, events

#: How long `/invite` waits for a peer whose key is not known yet to connect (and show it).
INVITE_WAIT = 60.0

COMMANDS = {"/group": 1, "/invite": 2, "/kick": 2, "/leave": 1}


def parse_command(line: str) -> tuple[str, list[str]] | None:
    """A groups command and its arguments, or None if the line is none of them.
    Raises ConfigError for one of them with the wrong number of arguments."""
    words = line.split()
    if not words or words[0] not in COMMANDS:
        return None
    if len(words) - 1 != COMMANDS[words[0]]:
        usage = {"/group": "/group NAME", "/invite": "/invite NAME PEER", "/kick": "/kick NAME PEER"}
        raise ConfigError(f"usage: {usage.get(words[0], '/leave NAME')}")
    return words[0], words[1:]


@dataclass
class PipeGroups:
    """The pipe's side of groups: no I/O but `emit` and the node."""

    node: Node
    emit: Callable[..., None]
    group: str | None = None
    """--group: where stdin lines go."""
    accept_invites: bool = False
    undelivered: set[str] = field(default_factory=set)
    shown: set[str] = field(default_factory=set)
    everything_delivered: trio.Event = field(default_factory=trio.Event)

    def start(self) -> None:
        """Create --group's group if this node has none of that name (and waits for no invitation)."""
        for info in self.node.groups():
            if info.group == self.group and self.node.name in {m.name for m in info.members}:
                # Joined in an earlier run: said again, as a start, with what it never showed.
                self.emit("group-joined", group=info.group, members=[m.name for m in info.members])
                for message in self.node.group_unshown(info.group):
                    self.event(message)
                return
        if self.group and not self.accept_invites:
            try:
                self.node.create_group(self.group)  # Its GroupJoined event says so.
            except ConfigError as exc:  # A group of that name we left: lines to it are refused.
                self.emit("error", message=f"{describe(exc)} (you are not in it: ask a member to invite you)")

    def command(self, line: str, nursery: trio.Nursery) -> bool:
        """Run line if it is a groups command (an error event if it fails); whether it was one."""
        try:
            parsed = parse_command(line)
            if parsed is None:
                return False
            name, args = parsed
            if name == "/group":
                self.node.create_group(args[0])
            elif name == "/invite":
                self._invite(args[0], args[1], nursery)
            elif name == "/kick":
                self.node.kick(args[0], args[1])
            else:
                self.node.leave(args[0])
        except P2PError as exc:
            self.emit("error", message=describe(exc))
        return True

    def _invite(self, group: str, peer: str, nursery: trio.Nursery) -> None:
        try:
            self.node.invite(group, peer)
        except ConfigError as exc:
            if "not known yet" not in str(exc):
                raise
            self.node.open(peer)  # Its key comes with its first offer or answer.
            nursery.start_soon(self._invite_when_known, group, peer)

    async def _invite_when_known(self, group: str, peer: str) -> None:
        with trio.move_on_after(INVITE_WAIT):
            await self.node.wait_status(peer, PeerStatus.CONNECTED)
        try:
            self.node.invite(group, peer)
        except P2PError as exc:
            self.emit("error", message=f"{peer} not invited to #{group}: {describe(exc)}")

    def send(self, text: str) -> None:
        assert self.group is not None
        try:
            message_id = self.node.send_group(self.group, text)
        except P2PError as exc:
            self.emit("error", message=f"not sent: {describe(exc)}")
            return
        self.undelivered.add(message_id)  # "sent" is said by its GroupMessageSent event, with its order.
        self.everything_delivered = trio.Event()

    def event(self, event: events.NodeEvent) -> bool:
        """Say a groups event (True), or leave it to the pipe (False)."""
        said = _said(event)
        if said is not None:
            if said[0] == "message" and said[1]["id"] in self.shown:
                return True  # Shown from the store at the start, and its event was still queued.
            self.emit(said[0], **said[1])
        if isinstance(event, events.MessageReceived) and event.group:
            self.shown.add(event.id)
            self.node.mark_group_shown(event.group, event.id)
        match event:
            case events.GroupInvited(group=group) if self.accept_invites:
                self.node.join(group)
            case events.MessageDelivered(peer=peer, id=message_id) if peer.startswith("#"):
                self.undelivered.discard(message_id)
                if not self.undelivered:
                    self.everything_delivered.set()
        return said is not None or isinstance(event, events.GroupChanged)


def _said(event: events.NodeEvent) -> tuple[str, dict[str, Any]] | None:
    """The JSON event a groups event makes, if any."""
    match event:
        case events.GroupInvited(group=group, id=group_id, inviter=inviter, members=members):
            return "group-invited", dict(group=group, id=group_id, inviter=inviter, members=list(members))
        case events.GroupJoined(group=group, members=members):
            return "group-joined", dict(group=group, members=list(members))
        case events.MemberJoined(group=group, peer=peer):
            return "member-joined", dict(group=group, peer=peer)
        case events.MemberLeft(group=group, peer=peer, kicked=kicked):
            return "member-left", dict(group=group, peer=peer, kicked=kicked)
        case events.MessageReceived(peer=peer, id=message_id, text=text, group=group, order=order) if group:
            return "message", dict(peer=peer, id=message_id, text=text, group=group, order=list(order))
        case events.GroupMessageSent(group=group, id=message_id, order=order):
            return "sent", dict(group=group, id=message_id, order=list(order))
        case events.MessageDelivered(peer=peer, id=message_id) if peer.startswith("#"):
            return "delivered", dict(group=peer[1:], id=message_id)
    return None
