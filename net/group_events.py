"""What a node tells its application of groups (net/groups/, net/node_groups.py): part of
`events`, where NodeEvent names them; kept here so events.py stays one job a page."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .events import PeerStatus


@dataclass(frozen=True)
class Member:
    """One member of a group, as this node sees it."""

    name: str
    fingerprint: str
    admin: bool
    status: PeerStatus
    """The state of our path to it (CONNECTED for ourselves)."""


@dataclass(frozen=True)
class GroupInfo:
    """How a group stands (`Node.group_details`, `Node.groups`, `GroupChanged`)."""

    group: str
    """Its name on this node (shown as #NAME)."""
    id: str
    """Its id everywhere: 32 hex digits."""
    members: tuple[Member, ...]
    admin: bool
    """We are an admin."""
    rejected: tuple[tuple[str, int], ...] = ()
    """What of the group's input was refused or ignored, by reason."""


@dataclass(frozen=True)
class GroupInvited:
    """A member invited us: `Node.join(group)` or `Node.ignore_invite(group)`."""

    group: str
    id: str
    inviter: str
    members: tuple[str, ...]


@dataclass(frozen=True)
class GroupJoined:
    """We joined (or created) the group."""

    group: str
    members: tuple[str, ...]


@dataclass(frozen=True)
class MemberJoined:
    group: str
    peer: str


@dataclass(frozen=True)
class MemberLeft:
    """peer left or was removed (kicked); peer is our own name when it was us."""

    group: str
    peer: str
    kicked: bool = False


@dataclass(frozen=True)
class GroupChanged:
    """Members, admins or their path states changed."""

    info: GroupInfo


@dataclass(frozen=True)
class GroupMessageSent:
    """Our own group message, stored and sent: placed by its order like any other."""

    group: str
    id: str
    order: tuple[int, str]
