"""What a node tells its application: the events on `Node.events`.

Plain frozen records, so they can cross a thread boundary (the TUI runs the
node in a worker thread) and be printed as JSON (`p2ptui pipe`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .address import Address
from .file_events import FileFailed, FileOffered, FileProgress, FileReceived, FileSent, Transfer
from .group_events import (
    GroupChanged,
    GroupInfo,
    GroupInvited,
    GroupJoined,
    GroupMessageSent,
    Member,
    MemberJoined,
    MemberLeft,
)

# Every event, the file and group ones too: the application reads them all from here.
__all__ = [
    "Details",
    "Error",
    "FileFailed",
    "FileOffered",
    "FileProgress",
    "FileReceived",
    "FileSent",
    "GroupChanged",
    "GroupInfo",
    "GroupInvited",
    "GroupJoined",
    "GroupMessageSent",
    "History",
    "Member",
    "MemberJoined",
    "MemberLeft",
    "MessageDelivered",
    "MessageReceived",
    "NodeEvent",
    "PathKind",
    "PeerChanged",
    "PeerForgotten",
    "PeerStatus",
    "Ready",
    "RelayInfo",
    "SafetyNumber",
    "SignalStatus",
    "Transfer",
]

if TYPE_CHECKING:  # Not imported for real: the TUI's first frame does without sqlite3.
    from .netreport import NetReport
    from .portmap import PortMapStatus
    from .store import StoredMessage


class PeerStatus(enum.Enum):
    OFFLINE = "offline"
    """Not registered with the signalling service."""
    ONLINE = "online"
    """Registered, no conversation path yet."""
    CONNECTING = "connecting"
    """An offer is out, or holes are being punched."""
    CONNECTED = "connected"
    """A path works, direct or relayed (see PeerChanged.path); messages flow."""
    FAILED = "failed"
    """The last attempt found no path; `reason` says why. It will be tried again."""
    KEY_CHANGED = "key-changed"
    """The peer's key is not the one pinned for it: nothing is sent until the
    user accepts the new key (`Node.accept_key`)."""


@dataclass(frozen=True)
class Ready:
    """Registered with the signalling service as `name`; `address` is our public one."""

    name: str
    signal: str
    address: Address
    nat: str = "unknown"
    """Our NAT type, a p2ptui.net.nat.NatType value."""


@dataclass(frozen=True)
class SignalStatus:
    """The signalling service was lost (connected=False) or regained."""

    connected: bool
    message: str = ""
    fatal: bool = False
    """Retrying cannot help, e.g. our name is bound to another key."""
    lan_only: bool = False
    """Signalling is unreachable, and LAN discovery is on: peers on the LAN still connect."""


@dataclass(frozen=True)
class PeerChanged:
    peer: str
    status: PeerStatus
    path: str | None = None
    """When connected: "direct", or "relay" when it runs through a TURN relay."""
    network: str | None = None
    """Where the remote address is when connected: "local", "lan" or "internet"."""
    remote: Address | None = None
    reason: str = ""
    incoming: bool = False
    """The peer started this conversation."""
    fingerprint: str = ""
    """The fingerprint of the peer's trusted key, once known."""
    new_fingerprint: str = ""
    """With KEY_CHANGED: the fingerprint of the key the peer now shows."""
    verified: bool = False
    """The user compared safety numbers for the key the peer uses (`Node.mark_verified`)."""
    verification_lost: bool = False
    """The user had verified this peer and its key has changed since (shown now,
    or accepted): warn loudly. It stays unverified until checked again."""
    member_only: bool = False
    """Connected only because it shares a group with us (the user never opened it):
    listed under the group, not among the conversations."""


@dataclass(frozen=True)
class MessageReceived:
    peer: str
    """The sender; in a group, the message's author."""
    id: str
    text: str
    group: str = ""
    """The group's name on this node ("" for a pairwise message)."""
    order: tuple[int, str] | tuple[()] = ()
    """In a group: (Lamport time, author fingerprint); every screen sorts the group by it."""


@dataclass(frozen=True)
class MessageDelivered:
    """The peer acknowledged the message with this id."""

    peer: str
    id: str


@dataclass(frozen=True)
class History:
    """The stored messages of a conversation, oldest first (`Node.history`)."""

    peer: str
    messages: tuple[StoredMessage, ...]
    older: bool = False
    """A page from before what was asked for already (scrolling back)."""
    complete: bool = False
    """Nothing older is stored."""


class PathKind(enum.Enum):
    """How an open path runs."""

    DIRECT = "direct"
    """Straight between the two chat sockets."""
    SPRAYED = "sprayed"
    """Direct, from one of the sockets opened to cross a symmetric NAT."""
    OUR_RELAY = "our relay"
    """Through our allocation on a TURN server (`Details.relay` names it)."""
    THEIR_RELAY = "their relay"
    """To the peer's allocation on its TURN server."""


@dataclass(frozen=True)
class RelayInfo:
    """How one configured TURN server stands."""

    name: str
    """"turn HOST:PORT"."""
    relayed: Address | None
    """Our relayed address on it, when allocated."""
    reason: str = ""
    """Why there is no allocation (empty while the first attempt runs)."""


@dataclass(frozen=True)
class Details:
    """How the conversation with a peer stands (`Node.details`): typed facts,
    which the application turns into words."""

    peer: str
    status: PeerStatus
    reason: str = ""
    """Why the status is what it is (a failure, a lost path), if there is a why."""
    path: PathKind | None = None
    """None unless connected."""
    network: str | None = None
    """Where the remote address is when connected: "local", "lan" or "internet"."""
    remote: Address | None = None
    """The peer's address on the path (or the last one tried)."""
    relay: str | None = None
    """With PathKind.OUR_RELAY: which of our relays ("turn HOST:PORT")."""
    rtt: float | None = None
    """The smoothed round trip, in seconds."""
    encryption: str | None = None
    """The protocol name once keys are agreed, else None."""
    fingerprint: str = ""
    """The peer's trusted key's fingerprint, once seen."""
    new_fingerprint: str = ""
    """A changed key's fingerprint, waiting for the user (KEY_CHANGED)."""
    own_fingerprint: str = ""
    public_address: Address | None = None
    """Ours, as STUN saw it (or our host address without STUN)."""
    nat: str = "unknown"
    """Our NAT type (a NatType value)."""
    peer_nat: str = "unknown"
    """The peer's, from its latest offer or answer."""
    first_contact_lan: bool = False
    """The peer's key was first taken (this run) from an offer or answer on the LAN,
    where anyone may claim a name: worth a /verify."""
    relays: tuple[RelayInfo, ...] = ()
    """Every configured TURN server; empty when none is configured."""
    unacknowledged: int = 0
    """Messages sent and not yet acknowledged."""
    dropped: tuple[tuple[str, int], ...] = ()
    """What this conversation's session dropped, by reason."""
    dropped_all: tuple[tuple[str, int], ...] = ()
    """What the node dropped before any session (all peers), by reason."""
    verified: bool = False
    """As in PeerChanged."""
    verification_lost: bool = False
    """As in PeerChanged."""
    portmap: PortMapStatus | None = None
    """What the router's port mapping gave (None when port mapping is off)."""
    net_report: NetReport | None = None
    """Our network as the node learned it, in `p2ptui nat-check`'s terms: UDP, public
    addresses, NAT, port mapping, each STUN server's round trip (hairpinning is not
    measured: always None). None until the first STUN round ends."""
    transfers: tuple[Transfer, ...] = ()
    """This conversation's file transfers not finished, and offers waiting for an answer."""


@dataclass(frozen=True)
class Error:
    message: str
    peer: str | None = None
    message_id: str = ""
    """The message the core refused to send (a full disk), if that is what failed."""


@dataclass(frozen=True)
class SafetyNumber:
    """What the user compares with the peer to verify its key (`Node.safety_number`)."""

    peer: str
    number: str
    """60 digits."""
    verified: bool = False
    verification_lost: bool = False


@dataclass(frozen=True)
class PeerForgotten:
    """A stranger (someone who offered, whom the user never answered) was let go to
    make room for newer ones: a conversation the user never opened goes from the list.
    Its history stays; if it offers again, it comes back as new."""

    peer: str


NodeEvent = (
    Ready
    | SignalStatus
    | PeerChanged
    | PeerForgotten
    | MessageReceived
    | MessageDelivered
    | History
    | Details
    | SafetyNumber
    | Error
    | FileOffered
    | FileProgress
    | FileReceived
    | FileSent
    | FileFailed
    | GroupInfo
    | GroupInvited
    | GroupJoined
    | MemberJoined
    | MemberLeft
    | GroupChanged
    | GroupMessageSent
)
