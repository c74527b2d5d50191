"""Signalling: how peers find each other and exchange offers and answers.

A node talks to one `SignallingClient`; which backend is behind it (the
built-in server over TCP, or Firestore) the rest of the core cannot tell.
A client reports what happens as events on its `events` channel, which the
node's signalling nursery consumes.
"""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ..address import Address
from ..errors import ConfigError, EnvironmentFailure
from .messages import Answer, Offer, Presence, check_name

if TYPE_CHECKING:
    import trio

DEFAULT_PORT = 7878
DEFAULT_SIGNAL_URL = f"tcp://127.0.0.1:{DEFAULT_PORT}"

__all__ = [
    "DEFAULT_PORT",
    "DEFAULT_SIGNAL_URL",
    "AnswerReceived",
    "OfferReceived",
    "OfferRefused",
    "PresenceChanged",
    "Registered",
    "SignalUrl",
    "SignallingClient",
    "SignallingEvent",
    "SignallingLost",
    "SignallingUnavailable",
    "check_name",
    "parse_signal_url",
]


class SignallingUnavailable(EnvironmentFailure):
    """The signalling service cannot be reached right now."""


@dataclass(frozen=True)
class SignalUrl:
    scheme: str
    host: str = ""
    port: int = 0
    project: str = ""

    def __str__(self) -> str:
        if self.scheme == "tcp":
            host = f"[{self.host}]" if ":" in self.host else self.host  # tcp://[::1]:7878
            return f"tcp://{host}:{self.port}"
        return f"{self.scheme}://{self.project}"


def parse_signal_url(url: str) -> SignalUrl:
    """tcp://HOST:PORT (tcp://[IPv6]:PORT) or firestore://PROJECT_ID. Raises ConfigError saying what is wrong."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"bad signalling URL {url!r}: {exc}") from None
    if parts.scheme == "tcp":
        if not parts.hostname or port is None:
            raise ConfigError(f"bad signalling URL {url!r}: expected tcp://HOST:PORT")
        return SignalUrl("tcp", parts.hostname, port)
    if parts.scheme == "firestore":
        if not parts.netloc:
            raise ConfigError(f"bad signalling URL {url!r}: expected firestore://PROJECT_ID")
        return SignalUrl("firestore", project=parts.netloc)
    raise ConfigError(
        f"bad signalling URL {url!r}: expected tcp://HOST:PORT or firestore://PROJECT_ID"
    )


# --- Events -------------------------------------------------------------------------


@dataclass(frozen=True)
class Registered:
    """We are online under our name. observed_ip: our address as the service saw it."""

    name: str
    observed_ip: str


@dataclass(frozen=True)
class SignallingLost:
    """Not connected to the service. fatal: retrying cannot help (the name is taken)."""

    reason: str
    fatal: bool = False


@dataclass(frozen=True)
class OfferReceived:
    offer: Offer
    seen_ip: str = ""
    """The IP the service saw the sender at; "" when it cannot say (Firestore)."""


@dataclass(frozen=True)
class AnswerReceived:
    answer: Answer
    seen_ip: str = ""
    """The IP the service saw the sender at; "" when it cannot say (Firestore)."""


@dataclass(frozen=True)
class PresenceChanged:
    presence: Presence


@dataclass(frozen=True)
class OfferRefused:
    """The service could not deliver our offer or answer (the peer is offline)."""

    ref: str
    reason: str


SignallingEvent = (
    Registered | SignallingLost | OfferReceived | AnswerReceived | PresenceChanged | OfferRefused
)

#: Finds our public address; given the STUN servers the backend offers, if any.
DiscoverAddress = Callable[[list[Address]], Awaitable[Address]]


class SignallingClient(abc.ABC):
    """One node's connection to a signalling service."""

    #: Where the service is, for people to read.
    label: str
    #: What the client reports; consumed by the node.
    events: trio.MemoryReceiveChannel[SignallingEvent]

    @abc.abstractmethod
    async def run(self, discover: DiscoverAddress, *, task_status: trio.TaskStatus[None]) -> None:
        """Stay registered (reconnecting as needed) until cancelled or a fatal error.

        Calls task_status.started() once the first attempt has ended, either way:
        a Registered or a SignallingLost event says which.
        """

    @abc.abstractmethod
    async def watch(self, name: str) -> None:
        """Report the presence of name, now and whenever it changes."""

    @abc.abstractmethod
    async def send_offer(self, offer: Offer) -> None:
        """Deliver an offer to offer.receiver. Raises SignallingUnavailable."""

    @abc.abstractmethod
    async def send_answer(self, answer: Answer) -> None:
        """Deliver an answer to answer.receiver. Raises SignallingUnavailable."""

    def network_changed(self) -> None:  # noqa: B027 (optional, not abstract)
        """Our addresses changed (the machine moved): a connection made from the
        old ones may be dead without a word. By default nothing is done."""
