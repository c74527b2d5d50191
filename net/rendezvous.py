"""Rendezvous: how two peers agree to punch, through the signalling service or the LAN.

Two tasks' worth of logic: the signalling task takes every event of the
signalling client (intake.py: registration, presence, offers, answers,
refusals, admitted by admission.py), and a connector per peer (here) offers
until a path works, with back-off. The LAN's entry points and the way each
offer goes are lan_rendezvous.py's; which addresses are worth a punch or a
spray, screening.py's. `Rendezvous` is one class in three layers (Intake, then
LanRendezvous, then the connector), each a file with one job: they all read
and update the same peers and the same record of what signalling said.
"""

from __future__ import annotations

from functools import partial

import trio
import trio_util

from . import events as ev
from . import session as sess
from .intake import Timing
from .lan_rendezvous import LanRendezvous
from .peers import Peer
from .screening import NETWORKS_TTL
from .signalling import SignallingUnavailable
from .state import State

__all__ = ["NETWORKS_TTL", "Rendezvous", "Timing"]

_SETTLED = (ev.PeerStatus.CONNECTED, ev.PeerStatus.FAILED, ev.PeerStatus.OFFLINE)
_BUSY = (ev.PeerStatus.CONNECTED, ev.PeerStatus.CONNECTING, ev.PeerStatus.KEY_CHANGED)


def _busy(peer: Peer, status: ev.PeerStatus) -> bool:
    """Whether the connector must not offer now: a path works or is being made, or
    the peer signed with a key we do not trust. A key only presence names (the
    service's word) never stops a conversation with the pinned peer."""
    if status == ev.PeerStatus.KEY_CHANGED and not peer.changed_key_signed.value:
        return peer.session.state in (sess.State.PROBING, sess.State.HANDSHAKE, sess.State.CONNECTED)
    return status in _BUSY


class Rendezvous(LanRendezvous):
    """Offers, answers and presence for one node: the intake, the LAN, and a connector per peer."""

    # --- A connector per peer ------------------------------------------------------

    async def watch(self, peer: Peer) -> None:
        """Ask signalling for peer's presence, now and on change: only once the user chose
        it. A stranger offered, so it is online; watching every name anyone makes up
        would hold one watch each for nothing (the built-in server refuses more than
        1,024 a client, and then a peer the user opens never shows online)."""
        try:
            await self.signalling.watch(peer.name)
        except SignallingUnavailable:
            pass  # Watches are renewed on every reconnect.

    def forget(self, peer: Peer) -> None:
        """A stranger is let go: nothing of it is kept here."""
        self._presence_online.pop(peer.name, None)
        self._offered_over_lan.discard(peer.name)
        self.lan_first_contacts.discard(peer.name)

    async def connect(self, peer: Peer) -> None:
        """Offer until a path works; after a failure, wait (with back-off) and offer again."""
        if self._peers.chosen(peer):
            await self.watch(peer)  # A stranger is watched once the user opens it (Node.open).
        if self.lan is not None and (seen := self.lan.peers.get(peer.name)) is not None:
            await self.lan_presence(seen.name, seen.key)  # Seen on the LAN before we asked.
        pause = 1.0
        while True:
            await peer.online.wait_value(True)
            # A punch in progress (from the peer's own offer) gets to finish first,
            # unless the open path was lost: then the peer may have new addresses
            # (a NAT rebinding), so ask through signalling while probing the old ones.
            await trio_util.wait_any(
                partial(peer.status.wait_value, lambda s: not _busy(peer, s)),
                partial(peer.path_lost.wait_value, True),
            )
            lost, peer.path_lost.value = peer.path_lost.value, False
            if not peer.online.value:
                continue
            if lost and peer.session.state != State.CONNECTED and self._fresh_addresses is not None:
                # Our NAT may have mapped us anew, or we moved: offer what STUN sees now.
                await self._fresh_addresses()
                peer.path_lost.value = False  # What that round found is in this offer.
            relays = self._relays.changed.value
            if await self._attempt(peer):
                pause = 1.0
                continue
            if peer.path_lost.value:
                continue  # Our addresses changed meanwhile: offer the new ones at once.
            if self._relays.changed.value != relays:
                continue  # A relay came or went meanwhile: offer again at once, with it.
            await self._peers.update_status(peer)
            with trio.move_on_after(pause):
                # The peer coming back online (after a restart), or a relay
                # allocated, is worth trying at once.
                await trio_util.wait_any(peer.online.wait_transition, self._relays.changed.wait_transition)
            pause = min(pause * 2, self._timing.retry_max)

    async def _attempt(self, peer: Peer) -> bool:
        """One offer, and the punch it leads to. True if a path opened."""
        if not await self._peers.renew(peer):  # The offer names the session's tag: a live one.
            return False
        offer = await self._send_offer(peer)
        if offer is None:
            return False
        peer.offers_sent = (peer.offers_sent + [offer.id])[-8:]
        peer.awaiting_answer = True
        await self._peers.update_status(peer)
        try:
            with trio.move_on_after(self._timing.answer_wait):
                await trio_util.wait_any(
                    partial(peer.status.wait_value, lambda s: s in _SETTLED),
                    self._relays.changed.wait_transition,
                    partial(peer.changed_key_signed.wait_value, True),  # The answer's key is not trusted.
                    partial(peer.path_lost.wait_value, True),  # Stale now: we moved.
                )
        finally:
            if peer.awaiting_answer:
                peer.awaiting_answer = False
                peer.reason = peer.reason or f"{peer.name} did not answer the offer"
        return peer.status.value == ev.PeerStatus.CONNECTED or peer.session.state == sess.State.CONNECTED
