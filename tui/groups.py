"""Groups as the UI knows them: who is in each, whether we are, where a message goes. Pure.

A group's conversation is keyed `#NAME` (peer names cannot start with `#`),
so the sidebar, the unread counts, Alt+N and the switcher treat it as any
conversation; `Conversation.group` holds what only a group has.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from p2ptui.net import PeerStatus, events

if TYPE_CHECKING:
    from .model import Conversation, Line

MARK = "#"
#: Why we are not in a group any more (`GroupState.gone`).
LEFT, REMOVED, NOT_MEMBER = "you left", "you were removed", "you are not a member any more"
#: What our own messages show as their author in a group.
YOU = "you"


def is_group(name: str | None) -> bool:
    return name is not None and name.startswith(MARK)


def key_of(group: str) -> str:
    """The conversation of the group named `group`."""
    return MARK + group


def name_of(key: str) -> str:
    """The group's name (as the core knows it) from its conversation's key."""
    return key[len(MARK):] if is_group(key) else key


@dataclass
class GroupState:
    """What the UI knows of one group; the members' path states come from the core."""

    members: tuple[events.Member, ...] = ()
    """Once the core described the group (GroupChanged, or F3's answer)."""
    names: tuple[str, ...] = ()
    """The members' names as first told (an invitation, GroupJoined), before `members`."""
    admin: bool = False
    """We are one of its admins."""
    rejected: tuple[tuple[str, int], ...] = ()
    invited_by: str = ""
    """An invitation from this peer waits for /join."""
    gone: str = ""
    """"" while we are a member; else why we are not: "you left", "you were removed"."""
    me: str = ""
    """Our own name among the members (not counted as connected)."""

    @property
    def member_names(self) -> list[str]:
        return [member.name for member in self.members] if self.members else list(self.names)

    @property
    def count(self) -> int:
        return len(self.member_names)

    @property
    def connected(self) -> int:
        """Members with a path to us now."""
        return sum(1 for member in self.members if member.status == PeerStatus.CONNECTED and member.name != self.me)

    @property
    def joined(self) -> bool:
        return not self.invited_by and not self.gone

    def is_admin(self, name: str) -> bool:
        return any(member.name == name and member.admin for member in self.members)

    def described(self, info: events.GroupInfo, me: str) -> None:
        """The core's word on the group: members, admins, path states, counters."""
        self.me = me
        self.members, self.names = info.members, tuple(member.name for member in info.members)
        self.admin, self.rejected = info.admin, info.rejected
        if me not in self.names and not self.invited_by:  # A group we left, listed after a restart.
            self.gone = self.gone or NOT_MEMBER

    def peer_changed(self, peer: str, status: PeerStatus) -> bool:
        """A member's path state changed; returns whether it is one of ours."""
        found = False
        members = []
        for member in self.members:
            if member.name == peer and member.status != status:
                member, found = replace(member, status=status), True
            members.append(member)
        self.members = tuple(members)
        return found

    def joined_now(self, members: tuple[str, ...]) -> None:
        self.invited_by, self.gone = "", ""
        if not self.members:
            self.names = members

    def member_joined(self, peer: str) -> None:
        if peer not in self.member_names:
            self.names = (*self.member_names, peer)
            self.members += (events.Member(peer, "", False, PeerStatus.OFFLINE),) if self.members else ()

    def member_left(self, peer: str) -> None:
        self.names = tuple(name for name in self.member_names if name != peer)
        self.members = tuple(member for member in self.members if member.name != peer)


def group_status(conversation: Conversation) -> PeerStatus:
    """A conversation's state for a glyph: a group's is connected while a member is."""
    state = conversation.group
    if state is None:
        return conversation.status
    return PeerStatus.CONNECTED if state.connected else PeerStatus.OFFLINE


def describe_group(state: GroupState) -> str:
    """The group in words, for the log's title and the palette."""
    if state.invited_by:
        return f"{state.invited_by} invited you: /join to join, or leave it be"
    if state.gone:
        return f"{state.gone}: nothing more is sent or received here"
    count = state.count
    words = f"{count} member{'s' if count != 1 else ''}"
    if state.members:
        words += f", {state.connected} connected"
    return words + (", you are an admin" if state.admin else "")


def position_for(lines: list[Line], order: tuple[int, str]) -> int:
    """Where a group message with `order` goes among `lines`: after every message not after it.

    Lines about the group (joins, leaves) stay where they are; stored lines
    without an order came first; our own messages not yet placed are passed
    over (they move when the core says where they stand). Scans from the end:
    a message in order costs nothing, a late one as far back as it goes.
    """
    from .model import LineKind

    index = len(lines)
    for at in range(len(lines) - 1, -1, -1):
        line = lines[at]
        if line.kind is not LineKind.MESSAGE or (line.own and not line.order):
            continue
        if line.order and line.order > order:
            index = at
            continue
        break
    return index
