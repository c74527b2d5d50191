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




#: The applications that speak over the control stream (send_control's app).
APP_FILES = 1
APP_GROUPS = 2
#: The largest control record (send_control raises MessageTooLong beyond).
MAX_CONTROL_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class ControlReceived:
    """One record of the peer's control stream, for the application numbered app."""

    app: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class StreamData:
    """Bytes of a bulk stream, in order, each once; the first of a stream the peer
    opened is how we learn of it. fin: the stream ends here."""

    stream_id: int
    data: bytes
    fin: bool


@dataclass(frozen=True, slots=True)
class StreamReset:
    """The peer reset the stream (or the session ended): nothing more comes or goes on it."""

    stream_id: int


Event = (
    Connected | PathLost | Failed | Pong | MessageReceived | MessageDelivered | PeerLeft | ControlReceived
    | StreamData | StreamReset
)  # fmt: skip
