"""What a Session tells its driver: plain frozen records, one per happening."""

from __future__ import annotations

from dataclasses import dataclass

from .address import Address


@dataclass(frozen=True, slots=True)
class Connected:
    remote: Address
    rtt: float


@dataclass(frozen=True, slots=True)
class PathLost:
    remote: Address


@dataclass(frozen=True, slots=True)
class Failed:
    reason: str
    path_opened: bool = False
    """A path opened but the handshake did not finish: loss, not a NAT, is to blame."""


@dataclass(frozen=True, slots=True)
class Pong:
    """The answer to ping(): the path's round-trip time."""

    txid: bytes
    rtt: float


@dataclass(frozen=True, slots=True)
class MessageReceived:
    message_id: bytes
    text: str


@dataclass(frozen=True, slots=True)
class MessageDelivered:
    message_id: bytes


@dataclass(frozen=True, slots=True)
class PeerLeft:
    """The peer said goodbye (it quit): the session is CLOSED. Messages not yet
    acknowledged stay with it; a new Session carries them to the peer's next instance."""


Event = Connected | PathLost | Failed | Pong | MessageReceived | MessageDelivered | PeerLeft
