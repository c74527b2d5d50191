"""What a node is told to be: its settings, and the signalling client they name."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from . import session as sess
from . import spray
from .address import ANY_ADDRESS, Address
from .admission import OfferRates
from .identity import Identity
from .sendbudget import SendLimits
from .signalling import DEFAULT_SIGNAL_URL, SignallingClient, parse_signal_url
from .turn_server import TurnServer

__all__ = ["NodeConfig", "make_signalling"]


@dataclass(frozen=True)
class NodeConfig:
    name: str
    signal: str = DEFAULT_SIGNAL_URL
    embed_server: bool = False
    """Start the built-in server in this process if nothing answers at `signal`."""
    bind: Address = (ANY_ADDRESS, 0)
    """Where the chat socket listens; port 0 is any free port. ANY_ADDRESS: every
    address of both families (IPv4 only where the host has no IPv6)."""
    session: sess.SessionConfig = field(default_factory=sess.SessionConfig)
    offer_ttl: float = 30.0
    answer_timeout: float = 10.0
    """How long an offer waits for its answer before the attempt counts as failed."""
    retry_max: float = 30.0
    firebase_credentials: str | None = None
    """A service-account JSON for firestore:// (else GOOGLE_APPLICATION_CREDENTIALS;
    none needed with FIRESTORE_EMULATOR_HOST)."""
    presence_interval: float = 30.0
    """How often a Firestore client refreshes its presence document."""
    stun_servers: tuple[Address, ...] = ()
    """STUN servers to ask besides the ones the signalling backend offers."""
    state_dir: Path | None = None
    """Where history, the outbox and peers' pinned keys are kept; None keeps them in memory."""
    turn_servers: tuple[TurnServer, ...] = ()
    """TURN relays to allocate on: the path of last resort, when no direct one works."""
    lan: bool = False
    """Find peers on the LAN by mDNS and connect with no signalling (lan.py). Off
    here, so a library user or a test never multicasts unasked; the app turns it
    on by default (`lan` in config.toml). Never on a loopback `bind`."""
    spray: spray.SprayConfig = field(default_factory=spray.SprayConfig)
    """How far to go crossing a symmetric NAT against a cone one."""
    portmap: bool = True
    """Ask the router for a port mapping (PCP, NAT-PMP, UPnP-IGD) and offer it.
    Never for a socket bound to loopback."""
    send_limits: SendLimits = field(default_factory=SendLimits)
    """What may go toward addresses no peer has proved are its own (net/sendbudget.py)."""
    offer_rates: OfferRates = field(default_factory=OfferRates)
    """How many offers are taken, per sender and from strangers overall (net/admission.py)."""
    max_strangers: int = 64
    """Peers kept who offered and whom the user never answered; the oldest go first."""
    local_networks: tuple[str, ...] | None = None
    """The networks a peer's private candidates must be on (CIDR); None reads our interfaces'."""
    downloads: Path | None = None
    """Where accepted files are saved by default; None: the platform's downloads directory."""
    max_file_size: int = 64 * 2**30
    """A file offered larger than this (bytes) is declined, with the reason, on both sides."""


def make_signalling(config: NodeConfig, identity: Identity) -> SignallingClient:
    """The client for config.signal. Raises ConfigError for a bad URL."""
    url = parse_signal_url(config.signal)
    if url.scheme == "tcp":
        from .signalling.tcp import TcpSignalling

        return TcpSignalling(url, config.name, identity, embed_server=config.embed_server)
    from .signalling.firestore import FirestoreSignalling

    return FirestoreSignalling(
        url,
        config.name,
        identity,
        credentials_file=config.firebase_credentials,
        presence_interval=config.presence_interval,
    )
