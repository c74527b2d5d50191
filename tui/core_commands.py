"""What the UI asks of the core: one frozen record per command, crossing to the
trio thread (tui/core_thread.py) on a memory channel."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class OpenPeer:
    peer: str


@dataclass(frozen=True)
class SendText:
    peer: str
    text: str
    id: str


@dataclass(frozen=True)
class AcceptKey:
    """The user trusts the peer's new key: the one with this fingerprint, which they saw."""

    peer: str
    fingerprint: str | None = None


@dataclass(frozen=True)
class ShowDetails:
    peer: str


@dataclass(frozen=True)
class ShowSafetyNumber:
    """/verify: the safety number of us and the peer, to compare."""

    peer: str


@dataclass(frozen=True)
class MarkVerified:
    """The user compared this safety number with the peer's, and they match."""

    peer: str
    number: str


@dataclass(frozen=True)
class LoadOlder:
    """The reader scrolled to the top: the stored messages before this one."""

    peer: str
    before: str


@dataclass(frozen=True)
class SendFile:
    """/send PATH: offer the file to the peer."""

    peer: str
    path: str


@dataclass(frozen=True)
class AcceptFile:
    """Accept the peer's offer, into the downloads directory."""

    peer: str
    id: str


@dataclass(frozen=True)
class DeclineFile:
    peer: str
    id: str


@dataclass(frozen=True)
class CancelFile:
    """Stop a transfer, either way."""

    peer: str
    id: str


@dataclass(frozen=True)
class CreateGroup:
    name: str


@dataclass(frozen=True)
class Invite:
    group: str
    peer: str


@dataclass(frozen=True)
class JoinGroup:
    """Accept the invitation to this group."""

    group: str


@dataclass(frozen=True)
class IgnoreInvite:
    """Decline the invitation to this group (not in contract.md's list: an addition)."""

    group: str


@dataclass(frozen=True)
class LeaveGroup:
    group: str


@dataclass(frozen=True)
class Kick:
    group: str
    peer: str


@dataclass(frozen=True)
class MakeAdmin:
    group: str
    peer: str


@dataclass(frozen=True)
class SendGroupText:
    group: str
    text: str
    id: str


@dataclass(frozen=True)
class ShowGroup:
    """F3 on a group: its members, admins, their path states, what it refused."""

    group: str


GroupCommand = (
    CreateGroup | Invite | JoinGroup | IgnoreInvite | LeaveGroup | Kick | MakeAdmin | SendGroupText | ShowGroup
)
Command = (
    OpenPeer | SendText | AcceptKey | ShowDetails | ShowSafetyNumber | MarkVerified | LoadOlder
    | SendFile | AcceptFile | DeclineFile | CancelFile | GroupCommand
)


def conversation_of(command: Command) -> str:
    """The conversation a command belongs to (a group's is `#NAME`): where its errors are told."""
    match command:
        case CreateGroup(name=name):
            return "#" + name
        case Invite(group=group) | JoinGroup(group=group) | IgnoreInvite(group=group) | LeaveGroup(group=group) | \
                Kick(group=group) | MakeAdmin(group=group) | SendGroupText(group=group) | ShowGroup(group=group):
            return "#" + group
        case _:
            return command.peer
