"""The peers a node talks to: the table of them, and the flow of their sessions.

`Peers` is the table (by name) and what runs each one's Session (via
`driver.drive`): store what it delivered, send its datagrams, turn its events
into NodeEvents, and tell the status the application sees. One peer's state
and its status (`Peer`, `derive_status`, `path_kind`) are peer.py's; who the
user chose and the strangers kept meanwhile are strangers.py's (a mixin: it
works on this very table). All three names stay importable from here.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator

import trio

from . import events as ev
from . import nat, wire
from . import session as sess
from .address import Route, Via, remote_address
from .datagrams import Datagrams
from .driver import drive
from .keeping import Keeping
from .peer import Peer, derive_status, path_kind
from .peer_app import PeerApp
from .relays import Relays
from .store import MessageStore
from .strangers import MAX_STRANGERS, Strangers
from .trust import KnownPeers, Verification, fingerprint

__all__ = ["MAX_STRANGERS", "Peer", "Peers", "derive_status", "path_kind"]

log = logging.getLogger(__name__)


class Peers(Strangers):
    """The peers by name, and the pump between each one's Session and the world."""

    def __init__(
        self,
        config: sess.SessionConfig,
        static_key: bytes,
        store: MessageStore,
        known_peers: KnownPeers,
        datagrams: Datagrams,
        relays: Relays,
        emit: Callable[[ev.NodeEvent], Awaitable[None]],
    ) -> None:
        self._config = config
        self._static_key = static_key
        self._store = store
        self._known_peers = known_peers
        self._datagrams = datagrams
        self._relays = relays
        self._emit = emit
        self._by_name: dict[str, Peer] = {}
        self._pongs: dict[bytes, trio.MemorySendChannel[float]] = {}
        #: Whether an IP is on one of our own networks (set when LAN discovery is on).
        self.on_link: Callable[[str], bool] = lambda ip: False
        #: Our NAT type, for the reason a punch failed (set once discovered).
        self.our_nat = nat.NatType.UNKNOWN.value
        #: Called whenever a status is told: the sprayer closes sockets no path uses.
        self.on_status: Callable[[Peer], None] = lambda peer: None
        #: Called when a stranger is let go: the sprayer forgets it.
        self.on_forget: Callable[[Peer], None] = lambda peer: None
        #: We are leaving: no session starts, and no status is told any more.
        self.closing = False
        self._keeping = Keeping(store, datagrams.dropped)
        #: The applications on the channel (files, groups): told every session event, and
        #: asked once per pump to write to their streams.
        self.apps: list[PeerApp] = []
        self.max_strangers = MAX_STRANGERS
        #: Whether name is a member of one of our groups: never a stranger (net/node_groups.py).
        self.is_member: Callable[[str], bool] = lambda name: False

    def get(self, name: str) -> Peer | None:
        return self._by_name.get(name)

    def __iter__(self) -> Iterator[Peer]:
        return iter(list(self._by_name.values()))

    def add(self, name: str, *, incoming: bool = False) -> Peer:
        """A new peer (the caller starts its tasks)."""
        peer = Peer(name, self._new_session())
        peer.incoming = incoming
        self._by_name[name] = peer
        self._route_to(peer)
        return peer

    def accept_key(self, peer: Peer) -> None:
        """The user accepts peer.changed_key: pinned if the peer signed with it; if only
        presence named it, pinned once the peer signs with it, never before. Raises
        EnvironmentFailure if known_peers cannot be written (nothing changes then)."""
        if peer.changed_key_signed.value:
            self._known_peers.pin(peer.name, peer.changed_key)
            peer.key = peer.signed_key = peer.changed_key
            # The records it signed were refused meanwhile: offer again at once (the
            # connector wakes as for a lost path), not when a punch nobody can finish fails.
            peer.path_lost.value = True
        else:
            peer.accepted_key = peer.changed_key
        peer.changed_key, peer.changed_key_signed.value, peer.reason = "", False, ""
        peer.wake()

    async def renew(self, peer: Peer) -> bool:
        """Whether peer's session may start: after a goodbye, the next conversation
        is a new Session (a new tag and keys), carrying what the old one had not
        delivered. Never while we are leaving."""
        if self.closing:
            return False
        if peer.session.state != sess.State.CLOSED:
            return True
        await self.pump(peer)  # What the old one still holds (its last events) first.
        if self.closing or not peer.online.value:
            return False  # We began to leave, or the goodbye just told us the peer left.
        if peer.session.state != sess.State.CLOSED:
            return True  # Renewed meanwhile.
        old = peer.session
        del self._datagrams.sinks[old.local_tag]
        peer.dropped_before += old.dropped
        peer.session, peer.reason = self._new_session(), ""
        self._route_to(peer)
        now = trio.current_time()
        for message in self._store.outbox():
            if message.peer == peer.name:
                peer.session.send_message(bytes.fromhex(message.id), message.text, now)
        peer.wake()  # Its driver moves to the new session.
        return True

    async def close_all(self) -> None:
        """We are leaving: say goodbye to every peer, and wait until every copy is sent."""
        self.closing = True
        now = trio.current_time()
        for peer in self:
            peer.session.close(now)
        async with trio.open_nursery() as nursery:
            for peer in self:
                nursery.start_soon(self._farewell, peer, peer.session)

    async def _farewell(self, peer: Peer, session: sess.Session) -> None:
        # On the session's own timers, not the peer's doorbell (its driver waits on that).
        while True:
            await self.pump(peer)
            deadline = session.next_timeout()
            if deadline is None:
                return
            await trio.sleep_until(deadline)
            session.handle_timeout(trio.current_time())

    def _new_session(self) -> sess.Session:
        session = sess.Session(config=self._config, static_key=self._static_key)
        session.set_relays(self._relays.names(), trio.current_time())
        return session

    def _route_to(self, peer: Peer) -> None:
        session = peer.session

        def sink(packet: wire.Packet, source: Route) -> None:
            session.datagram_received(packet, source, trio.current_time())
            peer.wake()

        self._datagrams.sinks[session.local_tag] = sink

    def relays_changed(self) -> None:
        """An allocation came or went: every session learns."""
        names, now = self._relays.names(), trio.current_time()
        for peer in self:
            peer.session.set_relays(names, now)
            peer.wake()

    def counters(self) -> Iterator[tuple[str, int]]:
        for peer in self:
            yield from peer.dropped.items()

    async def ping(self, peer: Peer, timeout: float) -> float | None:
        """The round trip of one probe over peer's open path, or None if no answer came."""
        txid = peer.session.ping(trio.current_time())
        if txid is None:
            return None
        send, receive = trio.open_memory_channel[float](1)
        self._pongs[txid] = send
        peer.wake()
        try:
            with trio.move_on_after(timeout):
                return await receive.receive()
        finally:
            del self._pongs[txid]
        return None

    # --- Driving a peer's session ---------------------------------------------------

    async def drive(self, peer: Peer) -> None:
        """Run the peer's Session: its timers, its datagrams, its events; and the
        next one, when a goodbye ended it and `renew` made another."""
        while True:
            session = peer.session

            async def step() -> bool:
                await self.pump(peer)
                await self.update_status(peer)
                return peer.session is not session

            await drive(session, peer, step)

    async def pump(self, peer: Peer) -> None:
        """Store what the session delivered, then send its datagrams, then tell the application.

        In that order: an ack goes out only for a message already on disk.
        """
        async with peer.pump_lock:
            events, failure = self._keeping.keep(peer.name, peer.session, peer.session.events())
            told: list[ev.NodeEvent] = []
            for event in events:
                self._note(peer, event)  # Before any await: nobody sees half the news.
                for app in self.apps:
                    told += app.session_event(peer, event)
            for app in self.apps:
                told += app.pumped(peer)
            path = peer.session.path
            if path is not None and peer.session.state == sess.State.CONNECTED:
                # The handshake over this path authenticated the peer: the send budget
                # for strangers' addresses no longer applies to it.
                self._datagrams.budget.validate(path)
            chosen = self.chosen(peer)
            for data, route in peer.session.datagrams_to_send(trio.current_time()):
                await self._datagrams.send(data, route, chosen=chosen)
            if failure is not None:  # The first time storing fails (a full disk): said once.
                await self._emit(ev.Error(str(failure), peer.name))
            for event in events:
                await self._tell(peer, event)
                # Status first: a message must never arrive before "connected" does.
                await self.update_status(peer)
            if told and not events:
                await self.update_status(peer)
            for news in told:  # What the apps made of it, after the status.
                await self._emit(news)

    def _note(self, peer: Peer, event: sess.Event) -> None:
        """What an event of the session changes in what we know of the peer."""
        match event:
            case sess.Connected():
                peer.reason = ""
            case sess.PathLost(remote=remote):
                peer.reason = f"lost the path to {remote[0]}:{remote[1]}"
                peer.path_lost.value = True
                lost = peer.announced_path
                if isinstance(lost, Via) and lost.relayed or lost in peer.session.remote_relays:
                    self._relays.check()
            case sess.Failed(reason=reason, path_opened=path_opened):
                self._failed(peer, reason, path_opened)
            case sess.PeerLeft():
                peer.reason = f"{peer.name} quit"
                peer.online.value = False  # Until presence or an offer says otherwise.
            case sess.Pong(txid=txid, rtt=rtt):
                if (waiter := self._pongs.get(txid)) is not None:
                    waiter.send_nowait(rtt)  # Room for exactly this one answer.

    async def _tell(self, peer: Peer, event: sess.Event) -> None:
        """What the application hears of an event of the session (its status aside)."""
        match event:
            case sess.MessageReceived(message_id=message_id, text=text):
                await self._emit(ev.MessageReceived(peer.name, message_id.hex(), text))
            case sess.MessageDelivered(message_id=message_id):
                await self._emit(ev.MessageDelivered(peer.name, message_id.hex()))

    def _failed(self, peer: Peer, reason: str, path_opened: bool = False) -> None:
        if peer.session.relays or peer.session.remote_relays:
            self._relays.check()  # A relay that died silently fails punches too.
        if not peer.online.value:
            # It left (or presence says it is gone): the NAT is not to blame.
            peer.reason = peer.reason or f"{peer.name} is offline"
            return
        if path_opened:
            peer.reason = reason  # The NATs let the path open: loss, not their types, is to blame.
            return
        peer.reason = f"{reason}; our NAT: {self.our_nat}, theirs: {peer.nat}"
        if self._relays.by_name or peer.session.remote_relays:
            return
        if nat.direct_unlikely(self.our_nat, peer.nat):
            peer.reason += "; a relay is needed: configure a TURN server (--turn)"
        else:
            peer.reason += f"; {peer.name} may have left, or a firewall drops UDP"

    def network(self, ip: str) -> str:
        """Where a peer's address is (nat.network_of), and "lan" for any on our own networks."""
        where = nat.network_of(ip)
        return "lan" if where == "internet" and self.on_link(ip) else where

    def verification(self, peer: Peer) -> tuple[bool, bool]:
        """(verified, verification_lost) for the key the peer uses now."""
        state = self._known_peers.verification(peer.name)
        if peer.changed_key:  # A new key, not accepted yet: the verified one is not in use.
            return False, state != Verification.UNVERIFIED
        return state == Verification.VERIFIED, state == Verification.LOST

    async def update_status(self, peer: Peer) -> None:
        """The one place a peer's status changes; tells the application when it does."""
        if peer.session.has_events or self.closing:
            return  # The pump tells, once it has taken them in (a goodbye's reason, say).
        status = derive_status(peer)
        if status is None:
            return
        first = peer.incoming or not peer.announced
        path = peer.session.path
        moved = status == ev.PeerStatus.CONNECTED and path != peer.announced_path
        # The trust marks and the reason are news even when the status is not
        # ("offline" from presence, then "offline: bob quit" from the goodbye).
        news = (self.verification(peer), "" if status == ev.PeerStatus.CONNECTED else peer.reason)
        if status == peer.status.value and not first and not moved and news == peer.announced_news:
            return
        peer.announced_news = news
        trust = news[0]
        incoming, peer.incoming, peer.announced = peer.incoming, False, True
        peer.announced_path = path
        log.debug("peer %s: %s -> %s", peer.name, peer.status.value.value, status.value)
        peer.status.value = status
        peer.direct.value = status == ev.PeerStatus.CONNECTED and not peer.session.relayed
        self.on_status(peer)
        remote = remote_address(path) if status == ev.PeerStatus.CONNECTED and path else None
        await self._emit(
            ev.PeerChanged(
                peer.name,
                status,
                path=("relay" if peer.session.relayed else "direct") if remote else None,
                network=self.network(remote[0]) if remote else None,
                remote=remote,
                reason="" if remote else peer.reason,
                incoming=incoming,
                fingerprint=fingerprint(peer.key) if peer.key else "",
                new_fingerprint=fingerprint(peer.changed_key) if peer.changed_key else "",
                verified=trust[0],
                verification_lost=trust[1],
                member_only=peer.member_only,
            )
        )
