"""Screening the addresses in an offer or answer: which are worth a punch, or a spray.

Decisions only, kept apart from the intake (intake.py) that acts on them:
candidates and relays are screened against our own networks (candidates.py);
the IP a record claims is sprayed at only if the sender was seen there.
"""

from __future__ import annotations

import ipaddress
import math

import trio

from . import nat
from .admission import Admission
from .candidates import Network, OwnNetworks
from .discovery import Discovery
from .interfaces import local_networks
from .peer import Peer
from .signalling.messages import Answer, Offer

#: How long the list of our interfaces' networks is kept before it is read again.
NETWORKS_TTL = 30.0


class Screening:
    """What the intake may trust of the addresses a record names."""

    def __init__(self, networks: tuple[str, ...] | None, discovery: Discovery, admission: Admission) -> None:
        #: Our networks as configured (tests on a fake network), else read from the system.
        self._networks = None if networks is None else tuple(ipaddress.ip_network(n) for n in networks)
        self._networks_read: tuple[float, tuple[Network, ...]] = (-math.inf, ())
        self._discovery = discovery
        self._admission = admission

    def own_networks(self) -> OwnNetworks:
        now = trio.current_time()
        if self._networks is not None:
            networks = self._networks
        elif now < self._networks_read[0] + NETWORKS_TTL:
            networks = self._networks_read[1]
        else:
            networks = tuple(local_networks())
            self._networks_read = (now, networks)
        host = self._discovery.host
        return OwnNetworks(networks, loopback=host is not None and nat.network_of(host[0]) == "local")

    def spray_target_confirmed(self, peer: Peer, record: Offer | Answer, seen_ip: str) -> bool:
        """Whether the IP a record claims is where the sender really is: spraying sends
        a thousand probes there, so a signature (names cost nothing) is not enough.

        The built-in server says where it saw the sender (seen_ip): the claim must
        match it. Firestore cannot say; the claim must then match the IP presence
        gave, which with Firestore is the peer's own word again: there the global
        spraying cap (spraying.py) is the bound.
        """
        if seen_ip:
            confirmed = record.sender_ip == seen_ip
        else:
            confirmed = peer.address is not None and peer.address[0] == record.sender_ip
        if not confirmed and nat.network_of(record.sender_ip) == "internet":
            self._admission.refused("spraying toward an IP the sender was not seen at")
        return confirmed
