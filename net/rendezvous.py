"""Rendezvous: how two peers agree to punch, through the signalling service.

Two tasks' worth of logic: the signalling task takes every event of the
signalling client (registration, presence, offers, answers, refusals), and a
connector per peer offers until a path works, with back-off. An offer or
answer is taken only if `Admission` passes it (genuine, fresh, unreplayed,
from the pinned key); taking one starts (or restarts) the peer's Session
toward the addresses it names, and spraying if the NAT types call for it.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial

import trio
import trio_util

from . import events as ev
from . import nat, secure
from . import session as sess
from .admission import Admission
from .candidates import Network, OwnNetworks, screen_untrusted
from .discovery import Discovery
from .errors import EnvironmentFailure
from .identity import Identity
from .interfaces import local_networks
from .peers import Peer, Peers
from .relays import Relays
from .signalling import (
    AnswerReceived,
    OfferReceived,
    OfferRefused,
    PresenceChanged,
    Registered,
    SignallingClient,
    SignallingEvent,
    SignallingLost,
    SignallingUnavailable,
)
from .signalling.messages import Answer, Offer, Presence, sign
from .spraying import Sprayer
from .state import State

log = logging.getLogger(__name__)

_SETTLED = (ev.PeerStatus.CONNECTED, ev.PeerStatus.FAILED, ev.PeerStatus.OFFLINE)
_BUSY = (ev.PeerStatus.CONNECTED, ev.PeerStatus.CONNECTING, ev.PeerStatus.KEY_CHANGED)


def _busy(peer: Peer, status: ev.PeerStatus) -> bool:
    """Whether the connector must not offer now: a path works or is being made, or
    the peer signed with a key we do not trust. A key only presence names (the
    service's word) never stops a conversation with the pinned peer."""
    if status == ev.PeerStatus.KEY_CHANGED and not peer.changed_key_signed.value:
        return peer.session.state in (sess.State.PROBING, sess.State.HANDSHAKE, sess.State.CONNECTED)
    return status in _BUSY


@dataclass(frozen=True)
class Timing:
    """How offers are paced (from NodeConfig)."""

    offer_ttl: float
    answer_wait: float
    """How long an offer waits for its answer and the punch it leads to."""
    retry_max: float


#: How long the list of our interfaces' networks is kept before it is read again.
NETWORKS_TTL = 30.0


class Rendezvous:
    """Offers, answers and presence for one node."""

    def __init__(
        self,
        identity: Identity,
        name: str,
        timing: Timing,
        signalling: SignallingClient,
        admission: Admission,
        parts: tuple[Peers, Discovery, Relays, Sprayer],
        open_peer: Callable[[str, bool], Peer],
        emit: Callable[[ev.NodeEvent], Awaitable[None]],
        networks: tuple[str, ...] | None = None,
        fresh_addresses: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._identity = identity
        #: Our networks as configured (tests on a fake network), else read from the system.
        self._networks = None if networks is None else tuple(ipaddress.ip_network(n) for n in networks)
        self._networks_read: tuple[float, tuple[Network, ...]] = (-math.inf, ())
        self._name = name
        self._timing = timing
        self.signalling = signalling
        self._admission = admission
        self._peers, self._discovery, self._relays, self._sprayer = parts
        self._open_peer = open_peer
        self._emit = emit
        #: After a lost path: wait (bounded) for our addresses to be learned again.
        self._fresh_addresses = fresh_addresses
        self._ready = False

    # --- The signalling task ---------------------------------------------------------

    async def handle_signalling(self) -> None:
        async for event in self.signalling.events:
            await self.signalling_event(event)

    async def signalling_event(self, event: SignallingEvent) -> None:
        match event:
            case Registered(name=name):
                assert self._discovery.public is not None
                if not self._ready:
                    self._ready = True
                    nat_type = self._discovery.nat.nat_type.value
                    await self._emit(ev.Ready(name, self.signalling.label, self._discovery.public, nat_type))
                await self._emit(ev.SignalStatus(True))
            case SignallingLost(reason=reason, fatal=fatal):
                await self._emit(ev.SignalStatus(False, reason, fatal))
            case PresenceChanged(presence=presence):
                await self._presence(presence)
            case OfferReceived(offer=offer, seen_ip=seen_ip):
                await self._offer_received(offer, seen_ip)
            case AnswerReceived(answer=answer, seen_ip=seen_ip):
                await self._answer_received(answer, seen_ip)
            case OfferRefused(ref=ref):
                for peer in self._peers:
                    if ref in peer.offers_sent and peer.awaiting_answer:
                        peer.awaiting_answer = False
                        peer.online.value = False
                        peer.reason = f"{peer.name} is offline"
                        await self._peers.update_status(peer)

    async def _presence(self, presence: Presence) -> None:
        peer = self._peers.get(presence.name)
        if peer is None:
            return
        pinned = self._admission.known_peers.pinned(peer.name)
        if presence.key and pinned:
            # Presence is the service's word, not signed by the peer: it may
            # warn (before anyone offers), and take a warning back; never pin.
            claimed = presence.key if presence.key not in (pinned, peer.accepted_key) else ""
            if claimed != peer.changed_key:
                peer.changed_key, peer.changed_key_signed.value = claimed, False
        peer.key = pinned or presence.key or peer.key
        peer.address = presence.address or peer.address
        peer.heard_of = True
        await self._peers.pump(peer)  # What the session already knows (a goodbye, say) comes first.
        back = presence.online and not peer.online.value
        peer.online.value = presence.online
        if back:
            peer.reason = ""  # Why it was gone ("bob quit") is history.
            await self._peers.renew(peer)  # After a goodbye, a new session to offer with.
        await self._peers.update_status(peer)

    async def _trusted(self, peer: Peer, key: str) -> bool:
        if not peer.opened and self._admission.known_peers.pinned(peer.name) is None:
            # A stranger the user has not answered: its key is held here, not written
            # to known_peers, until the user opens the conversation (Peers.opened).
            if peer.signed_key in ("", key):
                peer.key = peer.signed_key = key
                peer.changed_key, peer.changed_key_signed.value = "", False
                return True
            return await self._changed(peer, key)
        try:
            if key == peer.accepted_key:  # The user accepted it from presence; now it is signed.
                peer.accepted_key = ""
                self._admission.known_peers.pin(peer.name, key)
            trusted = self._admission.trusted(peer.name, key)
        except EnvironmentFailure as exc:  # A first key that could not be saved: pinned for this run.
            await self._emit(ev.Error(f"{exc}: {peer.name}'s key is remembered until you quit", peer.name))
            trusted = True
        if trusted:
            peer.key = peer.signed_key = key
            peer.changed_key, peer.changed_key_signed.value = "", False  # Signed by the pinned key: presence is void.
            return True
        return await self._changed(peer, key)

    async def _changed(self, peer: Peer, key: str) -> bool:
        """A signed record with a key other than the one we hold: nothing more until the user accepts it."""
        if not self._admission.known_peers.pinned(peer.name):
            self._admission.refused("changed key")  # Admission counts it for a pinned one.
        if peer.changed_key != key or not peer.changed_key_signed.value:
            peer.changed_key, peer.changed_key_signed.value = key, True
            await self._peers.update_status(peer)
        return False

    def _fresh(self, peer: Peer, record: Offer | Answer, kind: str) -> bool:
        if not self._admission.fresh(peer.newest_signal, peer.session.remote_tag, record, kind):
            return False
        peer.newest_signal = max(peer.newest_signal, record.expires)
        return True

    async def _offer_received(self, offer: Offer, seen_ip: str = "") -> None:
        if not self._admission.acceptable(offer, "offer"):
            return
        known = self._peers.get(offer.sender)
        familiar = self._admission.known_peers.pinned(offer.sender) == offer.sender_key or (
            known is not None and known.opened
        )
        if not self._admission.within_rate(offer, familiar, trio.current_time()):
            return
        incoming = known is None
        if incoming:
            await self._peers.make_room()
        peer = self._open_peer(offer.sender, incoming)
        peer.heard_of = True
        if not await self._trusted(peer, offer.sender_key) or not self._fresh(peer, offer, "offer"):
            return
        peer.online.value = True
        # The design notes' order: punch toward the offerer first, then answer.
        if not await self._start_session(peer, offer, seen_ip):
            return
        await self._peers.pump(peer)
        peer.wake()
        public = self._discovery.public
        assert public is not None
        answer = Answer(
            offer_id=offer.id,
            sender=self._name,
            sender_key=self._identity.public_key,
            receiver=offer.sender,
            sender_ip=public[0],
            port=public[1],
            tag=peer.session.local_tag.hex(),
            candidates=tuple(self._discovery.candidates()),
            expires=time.time() + self._timing.offer_ttl,
            relays=self._relays.relayed_addresses(),
            nat=self._discovery.nat.nat_type.value,
        )
        try:
            await self.signalling.send_answer(sign(answer, self._identity))
        except SignallingUnavailable as exc:
            log.info("could not answer %s: %s", offer.sender, exc)

    async def _answer_received(self, answer: Answer, seen_ip: str = "") -> None:
        peer = self._peers.get(answer.sender)
        if peer is None or answer.offer_id not in peer.offers_sent:
            self._admission.refused("unexpected answer")
            return
        if not self._admission.acceptable(answer, "answer") or not await self._trusted(peer, answer.sender_key):
            return
        if not self._fresh(peer, answer, "answer"):
            return
        peer.awaiting_answer = False
        if await self._start_session(peer, answer, seen_ip):
            peer.wake()

    async def _start_session(self, peer: Peer, record: Offer | Answer, seen_ip: str) -> bool:
        """Punch toward the addresses in a genuine offer or answer (and spray, if
        one side is behind a symmetric NAT and the other behind a cone). False
        if no session may start (we are leaving)."""
        peer.nat = record.nat
        if not await self._peers.renew(peer):
            return False
        ours = self._discovery.nat.nat_type.value
        if self._spray_target_confirmed(peer, record, seen_ip):
            self._sprayer.consider(peer, ours, record.nat, (record.sender_ip, record.port))
        own = self._own_networks()
        candidates, refused = screen_untrusted(list(record.candidates) or [(record.sender_ip, record.port)], own)
        relays, refused_relays = screen_untrusted(list(record.relays), own)
        for reason in refused + refused_relays:
            self._admission.refused(reason)
        peer.session.start(
            bytes.fromhex(record.tag),
            candidates,
            trio.current_time(),
            secure.noise_public_key(record.sender_key),
            remote_relays=relays,
            relay_now=nat.direct_unlikely(ours, record.nat),
        )
        return True

    def _own_networks(self) -> OwnNetworks:
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

    def _spray_target_confirmed(self, peer: Peer, record: Offer | Answer, seen_ip: str) -> bool:
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

    # --- A connector per peer ------------------------------------------------------

    async def connect(self, peer: Peer) -> None:
        """Offer until a path works; after a failure, wait (with back-off) and offer again."""
        try:
            await self.signalling.watch(peer.name)
        except SignallingUnavailable:
            pass  # Watches are renewed on every reconnect.
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
        offer = self._make_offer(peer)
        try:
            await self.signalling.send_offer(offer)
        except SignallingUnavailable as exc:
            peer.reason = str(exc)
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
