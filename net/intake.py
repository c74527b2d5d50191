"""The signalling intake: registration, presence, offers, answers, refusals.

`Intake` is the lower half of `Rendezvous` (rendezvous.py): it holds what the
node knows of the signalling service and takes every event of it. An offer or
answer is taken only if `Admission` passes it (genuine, fresh, unreplayed,
from the pinned key); taking one starts (or restarts) the peer's Session
toward the addresses screening.py lets through, and spraying if the NAT types
call for it. LAN discovery hands over the same records (lan_rendezvous.py).
The connector (rendezvous.py) builds on this class, since it waits on the
very peers this one updates.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import trio

from . import events as ev
from . import nat, secure, wire
from .admission import Admission
from .candidates import screen_untrusted
from .discovery import Discovery
from .errors import EnvironmentFailure
from .identity import Identity
from .peers import Peer, Peers
from .relays import Relays
from .screening import Screening
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

if TYPE_CHECKING:
    from .lan import Lan

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Timing:
    """How offers are paced (from NodeConfig)."""

    offer_ttl: float
    answer_wait: float
    """How long an offer waits for its answer and the punch it leads to."""
    retry_max: float


class Intake:
    """Offers, answers and presence for one node, as they come in."""

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
        self._name = name
        self._timing = timing
        self.signalling = signalling
        self._admission = admission
        self._peers, self._discovery, self._relays, self._sprayer = parts
        #: Which addresses in an offer or answer are worth a punch, or a spray.
        self._screening = Screening(networks, self._discovery, admission)
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
        if record.wire != wire.VERSION:
            await self._peers.other_version(peer, record.wire)
            return False
        if not await self._peers.renew(peer):
            return False
        ours = self._discovery.nat.nat_type.value
        if self._screening.spray_target_confirmed(peer, record, seen_ip):
            target = (record.sender_ip, record.port)
            self._sprayer.consider(peer, ours, record.nat, target, chosen=self._peers.chosen(peer))
        own = self._screening.own_networks()
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

    # --- The LAN, where taking an offer or answer meets it -------------------------

    def _on_lan(self, name: str) -> bool:
        return self.lan is not None and name in self.lan.peers

    async def _lan_only(self, reason: str) -> None:
        """Signalling is unreachable, and the LAN is on: the node is ready all the same."""
        assert self.lan is not None
        if not self._ready:
            self._ready = True
            await self._emit(ev.Ready(self._name, self.signalling.label, self.lan.host_address()))
        await self._emit(ev.SignalStatus(False, f"signalling unreachable; LAN only: {reason}", lan_only=True))

    async def _answer_over_lan(self, offer: Offer, peer: Peer, to: tuple[str, int]) -> None:
        assert self.lan is not None
        expires = time.time() + self._timing.offer_ttl
        await self.lan.send(self.lan.answer(offer, peer.session.local_tag.hex(), to, expires), to)
