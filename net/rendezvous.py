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
from typing import TYPE_CHECKING

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

if TYPE_CHECKING:
    from .lan import Lan

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
        #: LAN discovery (lan.py), set by the node when it is on: a second way to
        #: find peers, and to offer and answer with no signalling.
        self.lan: Lan | None = None
        #: Where each LAN offer being taken came from: its answer goes back there.
        self._lan_sources: dict[str, tuple[str, int]] = {}
        self._registered = False
        #: What signalling's presence last said of each peer (the LAN may say more).
        self._presence_online: dict[str, bool] = {}
        #: Peers whose key was first pinned from the LAN, where anyone may claim a name.
        self.lan_first_contacts: set[str] = set()
        #: Peers whose last offer went over the LAN: with signalling up, the next goes
        #: through it (a Wi-Fi with client isolation passes mDNS, not our datagrams).
        self._offered_over_lan: set[str] = set()

    # --- The signalling task ---------------------------------------------------------

    async def handle_signalling(self) -> None:
        async for event in self.signalling.events:
            await self.signalling_event(event)

    async def signalling_event(self, event: SignallingEvent) -> None:
        match event:
            case Registered(name=name):
                assert self._discovery.public is not None
                self._registered = True
                if not self._ready:
                    self._ready = True
                    nat_type = self._discovery.nat.nat_type.value
                    await self._emit(ev.Ready(name, self.signalling.label, self._discovery.public, nat_type))
                await self._emit(ev.SignalStatus(True))
            case SignallingLost(reason=reason, fatal=fatal):
                self._registered = False
                if self.lan is not None and not fatal:
                    await self._lan_only(reason)
                    return
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
        self._presence_online[peer.name] = presence.online
        await self._peers.pump(peer)  # What the session already knows (a goodbye, say) comes first.
        await self._set_online(peer, presence.online or self._on_lan(peer.name))

    async def _set_online(self, peer: Peer, online: bool) -> None:
        back = online and not peer.online.value
        peer.online.value = online
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
        # Spared the overall rate: the pinned key, or a name the user opened with no key
        # pinned yet (whoever offers first is pinned anyway); never another key in a
        # chosen peer's name (a fresh key per offer would skip the overall rate).
        pinned = self._admission.known_peers.pinned(offer.sender)
        familiar = pinned == offer.sender_key or (pinned is None and known is not None and known.opened)
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
        if (lan_source := self._lan_sources.pop(offer.id, None)) is not None:
            await self._answer_over_lan(offer, peer, lan_source)
            return
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
            target = (record.sender_ip, record.port)
            self._sprayer.consider(peer, ours, record.nat, target, chosen=self._peers.chosen(peer))
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

    # --- LAN discovery: what lan.Lan.serve hands over, and offers with no signalling ----

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

    def _on_lan(self, name: str) -> bool:
        return self.lan is not None and name in self.lan.peers

    async def _lan_only(self, reason: str) -> None:
        """Signalling is unreachable, and the LAN is on: the node is ready all the same."""
        assert self.lan is not None
        if not self._ready:
            self._ready = True
            await self._emit(ev.Ready(self._name, self.signalling.label, self.lan.host_address()))
        await self._emit(ev.SignalStatus(False, f"signalling unreachable; LAN only: {reason}", lan_only=True))

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

    async def _answer_over_lan(self, offer: Offer, peer: Peer, to: tuple[str, int]) -> None:
        assert self.lan is not None
        expires = time.time() + self._timing.offer_ttl
        await self.lan.send(self.lan.answer(offer, peer.session.local_tag.hex(), to, expires), to)
