"""The peer's candidate addresses and our relays, ranked: which routes exist
to the peer and which are preferred. Pure data, no I/O, no timers.

Ranking: this machine, then the LAN, then the internet over IPv6 (no NAT
between, so nothing to expire or rebind), then over IPv4, then relays (a
`Via` through our TURN allocation, or the peer's relayed address).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from .address import Address, Route, Via, remote_address
from .nat import network_of

#: The peer's relayed addresses remembered, current and past.
MAX_REMOTE_RELAYS = 16
#: The rank of a relayed path: behind every direct one.
RELAYED = 4


class Candidates:
    def __init__(self, max_candidates: int = 8) -> None:
        self.max_candidates = max_candidates
        #: The peer's addresses, the newest last.
        self.addresses: list[Address] = []
        #: The peer's relayed addresses (its TURN allocations), the newest last: reaching
        #: those is relayed too. A few old ones are kept after the peer reallocates, so
        #: traffic from one is never mistaken for a direct path, nor relayed to.
        self.remote_relays: dict[Address, None] = {}
        #: Our own relays, by the name Via.local gives them.
        self.relays: tuple[str, ...] = ()

    def learn(self, addresses: Sequence[Address], remote_relays: Sequence[Address]) -> None:
        """The peer's addresses (and which are its relays) from its offer or answer."""
        for relay in remote_relays:
            self.remote_relays.pop(relay, None)
            self.remote_relays[relay] = None
        for old in list(self.remote_relays)[:-MAX_REMOTE_RELAYS]:
            del self.remote_relays[old]
        self.add([*remote_relays, *addresses])

    def add(self, addresses: Sequence[Address]) -> None:
        """Add addresses as the newest: one already known moves up, so the oldest
        (a relay since reallocated, a mapping since changed) go first at the cap."""
        for address in addresses:
            if address in self.addresses:
                self.addresses.remove(address)
            self.addresses.append(address)
        del self.addresses[: max(0, len(self.addresses) - self.max_candidates)]

    def rank(self, route: Route | None) -> int:
        """Lower is better: 0 this machine, 1 the LAN, 2 the internet over IPv6,
        3 over IPv4, RELAYED, then no route."""
        if route is None:
            return RELAYED + 1
        if self.is_relayed(route):
            return RELAYED
        ip = remote_address(route)[0]
        return {"local": 0, "lan": 1}.get(network_of(ip), 2 if ":" in ip else 3)

    def is_relayed(self, route: Route | None) -> bool:
        """Through our relay, or to the peer's (checked on every wakeup: no address parsing)."""
        return isinstance(route, Via) and route.relayed or route in self.remote_relays

    def direct(self) -> list[Route]:
        return [c for c in self.addresses if c not in self.remote_relays]

    def relayed_routes(self) -> list[Route]:
        """Straight to the peer's relays, and through ours to the peer's public addresses.

        Not through ours to a private address (it cannot be the peer's from
        there), nor to the peer's relay (reaching that straight works wherever
        relay-to-relay would), nor to an IPv6 address (our allocations are
        IPv4 ones): a relay that fails to send, to an address it cannot route
        or a port nobody listens on, may drop our whole allocation (coturn does).
        """
        theirs: list[Route] = [c for c in self.addresses if c in self.remote_relays]
        public = [
            c
            for c in self.addresses
            if network_of(c[0]) == "internet" and ":" not in c[0] and c not in self.remote_relays
        ]
        return theirs + [Via(local, c) for local in self.relays for c in public]

    def any_relays(self) -> bool:
        return bool(self.relays or self.remote_relays)


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class OwnNetworks:
    """The networks this machine is on, for judging the addresses a peer offers."""

    networks: tuple[Network, ...] = ()
    """Our interfaces' networks: a private address is a candidate only inside one."""
    loopback: bool = False
    """We listen on loopback only: the peer is on this machine, and so are its addresses."""


def screen_untrusted(addresses: Sequence[Address], own: OwnNetworks) -> tuple[list[Address], list[str]]:
    """The addresses of a peer's offer or answer that may be probed, and why each other one was not.

    A signed record can name any address, and a stranger's is signed too: never
    loopback (unless we too are only on loopback), unspecified, multicast or
    link-local; a private (RFC 1918, ULA) one only on one of our own networks.
    """
    kept, refused = [], []
    for address in addresses:
        reason = _refusal(address, own)
        if reason is None:
            kept.append(address)
        else:
            refused.append(reason)
    return kept, refused


def _refusal(address: Address, own: OwnNetworks) -> str | None:
    try:
        ip = ipaddress.ip_address(address[0])
    except ValueError:
        return "candidate not an IP address"
    if ip.is_loopback:
        return None if own.loopback else "loopback candidate"
    if ip.is_unspecified or ip.is_multicast or ip.is_link_local or ip.is_reserved:
        return "unusable candidate (unspecified, multicast, link-local)"
    if not 0 < address[1] < 65536:
        return "candidate port out of range"
    if network_of(address[0]) == "lan" and not any(ip in network for network in own.networks):
        return "private candidate not on our networks"
    return None
