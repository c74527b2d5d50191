"""What a node tells its application: the events on `Node.events`.

Plain frozen records, so they can cross a thread boundary (the TUI runs the
node in a worker thread) and be printed as JSON (`p2ptui pipe`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from .store import StoredMessage

Address = tuple[str, int]


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


@dataclass(frozen=True)
class MessageReceived:
    peer: str
    id: str
    text: str


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


@dataclass(frozen=True)
class Details:
    """How the conversation with a peer stands, for people to read (`Node.details`)."""

    peer: str
    items: tuple[tuple[str, str], ...]
    verified: bool = False
    """As in PeerChanged."""
    verification_lost: bool = False
    """As in PeerChanged."""


@dataclass(frozen=True)
class Error:
    message: str
    peer: str | None = None


NodeEvent = Ready | SignalStatus | PeerChanged | MessageReceived | MessageDelivered | History | Details | Error
