"""LAN discovery in the rendezvous: what lan.Lan.serve hands over, and which way an offer goes.

`LanRendezvous` adds to the intake (intake.py) the LAN's entry points (a peer
seen or gone, an offer or answer over the LAN) and the choice of the way each
offer of ours takes: over the LAN, or through signalling. The connector
(rendezvous.py) builds on this class.
"""

from __future__ import annotations

import time
import uuid

from .intake import Intake
from .peers import Peer
from .signalling import SignallingUnavailable
from .signalling.messages import Answer, Offer, sign


class LanRendezvous(Intake):
    """The intake, with the LAN's entry points and the way each offer goes."""

    # --- LAN discovery: what lan.Lan.serve hands over ----------------------------------

    async def lan_signal(self, record: Offer | Answer, source: tuple[str, int]) -> None:
        """An offer or answer over the LAN: taken as signalling's are; an offer's answer
        goes back over the LAN. A key first seen this way is marked: anyone on a LAN may
        claim a name."""
        first = self._admission.known_peers.pinned(record.sender) is None
        if isinstance(record, Offer):
            self._lan_sources[record.id] = source
            try:
                await self._offer_received(record)
            finally:
                self._lan_sources.pop(record.id, None)  # Refused: no answer.
        else:
            await self._answer_received(record)
        peer = self._peers.get(record.sender)
        if first and peer is not None and peer.key == record.sender_key and not peer.changed_key:
            self.lan_first_contacts.add(record.sender)

    async def lan_presence(self, name: str, key: str | None) -> None:
        """name announced itself on the LAN with key (signed by it), or left (None)."""
        peer = self._peers.get(name)
        if peer is None:
            return  # Nobody we talk to: as presence of a stranger.
        if key is not None:
            pinned = self._admission.known_peers.pinned(peer.name)
            # Signed by its key, but anyone on the LAN may claim a name: as presence,
            # a key other than the pinned one (or the one the user accepted) warns,
            # and nothing goes to it; never pins.
            if pinned:
                claimed = key if key not in (pinned, peer.accepted_key) else ""
                if claimed != peer.changed_key:
                    peer.changed_key, peer.changed_key_signed.value = claimed, False
            peer.key = pinned or key
            peer.heard_of = True
        await self._peers.pump(peer)
        await self._set_online(peer, self._on_lan(peer.name) or self._presence_online.get(peer.name, False))

    # --- Which way an offer goes: over the LAN, or through signalling ----------------

    async def _send_offer(self, peer: Peer) -> Offer | None:
        """An offer to peer: over the LAN if it is there, else through signalling; None
        (with the reason why) if it could not go. With both, they take turns: the LAN
        first (faster, and it needs no server), then signalling."""
        lan_peer = self.lan.peers.get(peer.name) if self.lan is not None else None
        if lan_peer is not None and not (self._registered and peer.name in self._offered_over_lan):
            assert self.lan is not None
            self._offered_over_lan.add(peer.name)
            expires = time.time() + self._timing.offer_ttl
            offer = self.lan.offer(peer.name, peer.session.local_tag.hex(), lan_peer.address, expires)
            await self.lan.send(offer, lan_peer.address)
            return offer
        self._offered_over_lan.discard(peer.name)
        if self.lan is not None and not self._registered:
            peer.reason = f"signalling unreachable, and {peer.name} is not on the LAN"
            return None
        offer = self._make_offer(peer)
        try:
            await self.signalling.send_offer(offer)
        except SignallingUnavailable as exc:
            peer.reason = str(exc)
            return None
        return offer

    def _make_offer(self, peer: Peer) -> Offer:
        public = self._discovery.public
        assert public is not None
        offer = Offer(
            id=uuid.uuid4().hex,
            sender=self._name,
            sender_key=self._identity.public_key,
            receiver=peer.name,
            sender_ip=public[0],
            receiver_ip=peer.address[0] if peer.address else "",
            port=public[1],
            tag=peer.session.local_tag.hex(),
            candidates=tuple(self._discovery.candidates()),
            expires=time.time() + self._timing.offer_ttl,
            relays=self._relays.relayed_addresses(),
            nat=self._discovery.nat.nat_type.value,
        )
        return sign(offer, self._identity)
