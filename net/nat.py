"""What kind of NAT we are behind, from what STUN servers saw. Free of I/O.

Two STUN servers (or two ports of one) tell the mapping behaviour: the same
public address and port for both means endpoint-independent mapping (a
"cone" NAT, which hole punching crosses); different ones mean
endpoint-dependent mapping (a "symmetric" NAT). Filtering (full cone versus
restricted) cannot be told apart this way; p2ptui does not need to: it
punches from both sides whatever the filter.
"""

from __future__ import annotations

import enum
import ipaddress
from dataclasses import dataclass

from .address import Address


class NatType(enum.Enum):
    UNKNOWN = "unknown"
    """No STUN server answered."""
    OPEN = "open"
    """No NAT: the address STUN saw is our own."""
    CONE = "cone"
    """Endpoint-independent mapping: one public address:port for every destination."""
    SYMMETRIC = "symmetric"
    """Endpoint-dependent mapping: a new public port for each destination."""
    SINGLE = "single"
    """Only one STUN server answered: behind a NAT, mapping behaviour unknown."""


PLAIN_WORDS = {
    NatType.UNKNOWN: "unknown: no STUN server answered",
    NatType.OPEN: "no NAT: your address is public, peers can reach you directly",
    NatType.CONE: (
        "cone NAT (endpoint-independent mapping): hole punching works with "
        "every peer except one behind a symmetric NAT with a port-restricted one"
    ),
    NatType.SYMMETRIC: (
        "symmetric NAT (endpoint-dependent mapping): direct paths only to peers "
        "with no NAT, a full-cone or an address-restricted NAT; others need a relay"
    ),
    NatType.SINGLE: "behind a NAT; give a second STUN server to tell its mapping behaviour",
}


@dataclass(frozen=True)
class NatReport:
    nat_type: NatType
    public: Address | None
    """Our address as the first STUN server saw it."""
    mapped: tuple[Address, ...]
    """What each STUN server that answered saw."""

    @property
    def endpoint_independent(self) -> bool | None:
        if self.nat_type in (NatType.OPEN, NatType.CONE):
            return True
        if self.nat_type == NatType.SYMMETRIC:
            return False
        return None

    @property
    def words(self) -> str:
        return PLAIN_WORDS[self.nat_type]


def classify(local: Address, mapped: list[Address]) -> NatReport:
    """local: our socket's address; mapped: what each STUN server saw, in order."""
    if not mapped:
        return NatReport(NatType.UNKNOWN, None, ())
    public = mapped[0]
    if public == local:
        nat_type = NatType.OPEN
    elif len(mapped) < 2:
        nat_type = NatType.SINGLE
    elif all(address == public for address in mapped):
        nat_type = NatType.CONE
    else:
        nat_type = NatType.SYMMETRIC
    return NatReport(nat_type, public, tuple(mapped))


def direct_unlikely(ours: str, theirs: str) -> bool:
    """Whether two NAT types (NatType values) leave no direct path to punch.

    A symmetric NAT reaches the other side from a new port per destination, so
    the other side's filter must admit an unknown port: only no NAT, a
    full-cone or an address-restricted one do, and STUN cannot tell those from
    a port-restricted cone. So against symmetric, only "open" is worth waiting
    for; anything else goes to the relay at once (and tries direct alongside).
    """
    if NatType.SYMMETRIC.value not in (ours, theirs):
        return False
    other = theirs if ours == NatType.SYMMETRIC.value else ours
    return other != NatType.OPEN.value


_LAN_NETWORKS = [
    ipaddress.ip_network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "fc00::/7", "fe80::/10")
]


def network_of(ip: str) -> str:
    """Where a peer's address is: "local" (this machine), "lan" (a private network)
    or "internet". Not ipaddress's is_private, which counts documentation ranges too."""
    address = ipaddress.ip_address(ip)
    if address.is_loopback:
        return "local"
    if any(address in network for network in _LAN_NETWORKS):
        return "lan"
    return "internet"
