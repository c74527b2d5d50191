"""What the node tells of a conversation: its details, the safety number, the counters.

A mixin of `Node` (node.py): these read every part the node holds (peers,
discovery, relays, rendezvous, the port mapper) and change none, so they are
kept apart from the API that acts and from the task tree (node_tasks.py).
A mixin rather than a part of its own: the facts are the node's, and a part
would need every one of its parts handed over again.
"""

from __future__ import annotations

from collections import Counter

from . import events as ev
from . import safety, secure
from .address import Via, remote_address
from .discovery import Discovery
from .errors import ConfigError
from .identity import Identity
from .netreport import NetReport, ServerCheck
from .peers import Peer, Peers, path_kind
from .portmap import PortMapper, PortMapStatus
from .relays import Relays
from .rendezvous import Rendezvous
from .transfer.app import FilesApp
from .trust import KnownPeers, fingerprint


class NodeDetails:
    """The facts `Node` answers with (a mixin: the parts are `Node`'s)."""

    # What `Node` holds.
    name: str
    identity: Identity
    dropped: Counter[str]
    known_peers: KnownPeers
    _peers: Peers
    _discovery: Discovery
    _relays: Relays
    _rendezvous: Rendezvous
    _files: FilesApp
    _portmapper: PortMapper | None

    @property
    def portmap(self) -> PortMapStatus | None:
        """What the router's port mapping gave; None when port mapping is off."""
        return self._portmapper.status() if self._portmapper else None

    def details(self, name: str) -> ev.Details:
        """The path, keys and counters of the conversation with name. Raises ConfigError if there is none."""
        peer = self._conversation(name)
        session = peer.session
        kind = path_kind(session)
        verified, lost = self._peers.verification(peer)
        return ev.Details(
            peer=name,
            status=peer.status.value,
            reason=peer.reason,
            path=kind,
            network=self._peers.network(remote_address(session.path)[0]) if kind and session.path else None,
            remote=remote_address(session.path) if session.path else None,
            relay=session.path.local if isinstance(session.path, Via) and session.path.relayed else None,
            rtt=session.rtt,
            encryption=secure.PROTOCOL if session.secure else None,
            fingerprint=fingerprint(peer.key) if peer.key else "",
            new_fingerprint=fingerprint(peer.changed_key) if peer.changed_key else "",
            own_fingerprint=fingerprint(self.identity.public_key),
            public_address=self._discovery.public,
            nat=self._discovery.nat.nat_type.value,
            peer_nat=peer.nat,
            relays=self._relays.info(),
            first_contact_lan=name in self._rendezvous.lan_first_contacts,
            unacknowledged=session.unacknowledged,
            dropped=tuple(sorted(peer.dropped.items())),
            dropped_all=tuple(sorted(self.dropped.items())),
            verified=verified,
            verification_lost=lost,
            portmap=self.portmap,
            net_report=self._net_report(),
            transfers=tuple(self._files.transfers(name)),
        )

    def _net_report(self) -> NetReport | None:
        """What discovery and the port mapper learned, as nat-check reports it; None before STUN."""
        found = self._discovery
        if found.public is None:
            return None
        checks = tuple(ServerCheck(a.server, "stun", a.rtt, a.mapped) for a in found.answers)
        return NetReport(found.nat, None, self.portmap, checks, found.ipv6[0] if found.ipv6 else None)

    def safety_number(self, name: str) -> str:
        """The 60-digit safety number of our key and name's pinned key (net/safety.py):
        the number name's own app shows for us. Raises ConfigError if no key is pinned for name."""
        key = self.known_peers.pinned(name)
        peer = self._peers.get(name)
        if key is None and peer is not None:
            key = peer.signed_key or None  # A stranger's, signed, pinned once the user answers.
        if key is None:
            raise ConfigError(f"no key pinned for {name} yet: talk to them first")
        return safety.safety_number(self.name, self.identity.public_key, name, key)

    def counters(self) -> Counter[str]:
        """Everything dropped so far, by reason: by the node and by every session."""
        total = Counter(self.dropped)
        for why, count in self._peers.counters():
            total[why] += count
        total.update(self._relays.counters())
        total.update(self._files.dropped)
        return total

    def _conversation(self, name: str) -> Peer:
        peer = self._peers.get(name)
        if peer is None:
            raise ConfigError(f"no conversation with {name}")
        return peer
