"""The trio networking core: one UDP socket, one signalling client, a task per peer.

    open_node()
      ├─ signalling nursery: the backend's run() and the task handling its
      │  events (offers, answers, presence)
      ├─ the datagram receiver: parses and routes each datagram to a Session
    ├─ per TURN server: a task keeping an allocation (relayed paths go through it)
    ├─ per spraying attempt (one symmetric NAT against a cone): a task pacing
    │  probes or opening sockets, and a reader per socket (`spray.py`)
      └─ per peer: a driver (runs the Session's timers, sends what it
         returns, turns its events into NodeEvents) and a connector (sends
         offers until a path works, with back-off)

Protocol decisions live in `session.Session`; this module moves bytes and
waits, and keeps what must outlive the process: history and the outbox
(`store.py`) and the pinned keys of peers (`trust.py`). Per-peer state is a trio_util AsyncValue, so tasks wait on it
instead of polling.
"""

from __future__ import annotations

import heapq
import logging
import os
import socket
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import trio
import trio_util

from . import events as ev
from . import nat, safety, secure, spray, stun, turn, wire
from . import session as sess
from .address import Address, Route, Via, remote_address
from .errors import ConfigError
from .identity import Identity
from .signalling import (
    DEFAULT_SIGNAL_URL,
    AnswerReceived,
    OfferReceived,
    OfferRefused,
    PresenceChanged,
    Registered,
    SignallingClient,
    SignallingEvent,
    SignallingLost,
    SignallingUnavailable,
    check_name,
    parse_signal_url,
)
from .signalling.messages import Answer, Offer, format_address, sign, signature_valid
from .store import MessageStore
from .trust import KnownPeers, Verdict, Verification, fingerprint  # Verification: issue 14 block

log = logging.getLogger(__name__)


def _open_files_limit() -> int:
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (ImportError, OSError, ValueError):
        return 1024
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


EVENT_BUFFER = 1024
#: Datagrams taken off the socket per wakeup, when they are there already.
RECEIVE_BATCH = 64
# A documentation address (RFC 5737), only ever connect()ed to find our
# outgoing interface: no packet is sent to it.
_ANY_REMOTE = "192.0.2.1"
#: Offers and answers valid for longer than this are refused, which bounds
#: how long their nonces must be remembered...
MAX_SIGNAL_LIFETIME = 600.0
#: ...and beyond this many unexpired ones, more are refused until some expire.
MAX_NONCES = 100_000
#: How long the start waits for the first allocations, so early offers carry them.
RELAY_SETTLE_WAIT = 2.0
#: At most one spraying attempt per peer this often.
SPRAY_INTERVAL = 30.0
#: Spraying sockets open at once, all peers together: well below the usual limit
#: of 1,024 open files, so spraying can never starve the node of descriptors.
MAX_SPRAY_SOCKETS = min(1024, _open_files_limit() // 2)


@dataclass(frozen=True)
class NodeConfig:
    name: str
    signal: str = DEFAULT_SIGNAL_URL
    embed_server: bool = False
    """Start the built-in server in this process if nothing answers at `signal`."""
    bind: Address = ("0.0.0.0", 0)
    """Where the chat socket listens; port 0 is any free port."""
    session: sess.SessionConfig = field(default_factory=sess.SessionConfig)
    offer_ttl: float = 30.0
    answer_timeout: float = 10.0
    """How long an offer waits for its answer before the attempt counts as failed."""
    retry_max: float = 30.0
    firebase_credentials: str | None = None
    """A service-account JSON for firestore:// (else GOOGLE_APPLICATION_CREDENTIALS;
    none needed with FIRESTORE_EMULATOR_HOST)."""
    presence_interval: float = 30.0
    """How often a Firestore client refreshes its presence document."""
    stun_servers: tuple[Address, ...] = ()
    """STUN servers to ask besides the ones the signalling backend offers."""
    state_dir: Path | None = None
    """Where history, the outbox and peers' pinned keys are kept; None keeps them in memory."""
    turn_servers: tuple[turn.TurnServer, ...] = ()
    """TURN relays to allocate on: the path of last resort, when no direct one works."""
    spray: spray.SprayConfig = field(default_factory=spray.SprayConfig)
    """How far to go crossing a symmetric NAT against a cone one."""


class _Wakeable:
    """Something a task drives: it sleeps until its timer or a wake(), however many came."""

    def __init__(self) -> None:
        self._wakeup = trio.Event()

    def wake(self) -> None:
        self._wakeup.set()

    async def wait_wakeup(self) -> None:
        await self._wakeup.wait()
        self._wakeup = trio.Event()


class Peer(_Wakeable):
    """Everything the node knows about one peer."""

    def __init__(self, name: str, session: sess.Session):
        super().__init__()
        self.name = name
        self.session = session
        self.status = trio_util.AsyncValue(ev.PeerStatus.OFFLINE)
        self.online = trio_util.AsyncBool(False)
        #: The open path went silent: offer again at once, with fresh addresses.
        self.path_lost = trio_util.AsyncBool(False)
        self.key = ""
        #: A key other than the pinned one, seen in a signed offer, answer or
        #: presence: nothing goes to the peer until the user accepts it.
        self.changed_key = ""
        self.address: Address | None = None
        self.offers_sent: list[str] = []
        self.awaiting_answer = False
        self.reason = ""
        #: The peer started the conversation; told with the first status event.
        self.incoming = False
        self.announced = False
        self.announced_path: Address | None = None
        #: Whether presence (or an offer) has told us anything about the peer yet.
        self.heard_of = False
        #: The peer's NAT type, from its latest offer or answer.
        self.nat = "unknown"
        #: Connected over a direct path (not a relay): spraying stops here.
        self.direct = trio_util.AsyncBool(False)
        self.spraying = False
        self.sprayed_at = float("-inf")
        #: The sockets of a spraying attempt, by the name their Via paths give them;
        #: the one the path settles on stays open while the path uses it.
        self.spray_sockets: dict[str, trio.socket.SocketType] = {}
        #: The expiry of the newest offer or answer taken from the peer: an older
        #: one (delayed, or replayed) must not bring back an old tag.
        self.newest_signal = 0.0
        #: One pump at a time (the driver's, or the signalling task's on an offer),
        #: so events reach the application in the order the session made them.
        self.pump_lock = trio.Lock()
        #: (verified, verification_lost) as last told: a change is news even when the status is not.
        self.announced_trust = (False, False)


class Relay(_Wakeable):
    """One TURN server and our allocation on it, kept by `Node._keep_relay`."""

    #: Back-off between allocation attempts, so a dead server costs little.
    RETRY_MIN, RETRY_MAX = 1.0, 30.0

    def __init__(self, server: turn.TurnServer):
        super().__init__()
        self.server = server
        self.name = f"turn {server.host}:{server.port}"
        self.client = turn.TurnClient(server)
        #: The server's resolved address: datagrams from it are the client's.
        self.address: Address | None = None
        self.relayed: Address | None = None
        self.reason = ""
        #: The first allocation attempt ended, either way.
        self.settled = trio_util.AsyncBool(False)


def make_signalling(config: NodeConfig, identity: Identity) -> SignallingClient:
    url = parse_signal_url(config.signal)
    if url.scheme == "tcp":
        from .signalling.tcp import TcpSignalling

        return TcpSignalling(url, config.name, identity, embed_server=config.embed_server)
    from .signalling.firestore import FirestoreSignalling

    return FirestoreSignalling(
        url,
        config.name,
        identity,
        credentials_file=config.firebase_credentials,
        presence_interval=config.presence_interval,
    )


class Node:
    """A peer on the p2ptui network. Build one with `open_node`."""

    def __init__(self, config: NodeConfig, identity: Identity, signalling: SignallingClient):
        check_name(config.name)
        self.config = config
        self.name = config.name
        self.identity = identity
        self.signalling = signalling
        self.peers: dict[str, Peer] = {}
        self.public_address: Address | None = None
        self.nat = nat.NatReport(nat.NatType.UNKNOWN, None, ())
        self.host_address: Address | None = None
        #: Datagrams and signalling records dropped before reaching a session, by reason.
        self.dropped: Counter[str] = Counter()
        self.known_peers = KnownPeers(config.state_dir)
        self.store = MessageStore(config.state_dir)
        self._static_key = secure.noise_private_key(identity.signing_key)
        self._handshake_limit = secure.RateLimiter()
        #: Nonces of the offers and answers seen, until they expire: replays are
        #: refused. The heap orders them by expiry, so forgetting costs little.
        self._nonces: set[str] = set()
        self._nonce_expiries: list[tuple[float, str]] = []
        self._send_events, self.events = trio.open_memory_channel[ev.NodeEvent](EVENT_BUFFER)
        self._raw_socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._raw_socket.setblocking(False)
        self._socket = trio.socket.from_stdlib_socket(self._raw_socket)
        self._by_tag: dict[bytes, Peer] = {}
        self._stun = stun.StunClient(self._sendto)
        self.relays = {relay.name: relay for relay in map(Relay, dict.fromkeys(config.turn_servers))}
        self._relay_at: dict[Address, Relay] = {}
        self._spray_sockets: dict[str, trio.socket.SocketType] = {}
        #: Bumped whenever an allocation comes or goes: waiting connectors try again.
        self._relays_changed = trio_util.AsyncValue(0)
        self._pongs: dict[bytes, trio.MemorySendChannel[float]] = {}
        self._nursery: trio.Nursery | None = None
        self._ready = False

    # --- The application's API ------------------------------------------------------

    @property
    def local_address(self) -> Address:
        host, port = self._socket.getsockname()[:2]
        return host, port

    def open(self, name: str) -> Peer:
        """Start (or keep) a conversation with name: connect whenever it is online."""
        check_name(name)
        if name == self.name:
            raise ValueError("that is your own name")
        return self._peer(name)

    def send(self, name: str, text: str, *, message_id: str | None = None) -> str:
        """Queue a message for name; returns its id (message_id, if given: 16 hex digits).

        The message is stored in the outbox before this returns, and goes out as
        soon as a path to name is open, in this run or a later one. Raises
        ValueError for a bad name, an empty or too long text, or a malformed or
        reused message_id.
        """
        if not text:
            raise ValueError("an empty message")
        if len(text.encode("utf-8")) > sess.MAX_MESSAGE_BYTES:
            raise sess.MessageTooLong(f"the message is over the limit of {sess.MAX_MESSAGE_BYTES} bytes")
        if message_id is None:
            raw_id = os.urandom(wire.MESSAGE_ID_SIZE)
        else:
            raw_id = bytes.fromhex(message_id)
            if len(raw_id) != wire.MESSAGE_ID_SIZE:
                raise ValueError(f"a message id is {wire.MESSAGE_ID_SIZE * 2} hex digits")
        peer = self.open(name)
        if not self.store.queue(name, raw_id.hex(), text):
            raise ValueError(f"message id {raw_id.hex()} was used before")
        peer.session.send_message(raw_id, text, trio.current_time())
        peer.wake()
        return raw_id.hex()

    def accept_key(self, name: str, seen: str | None = None) -> None:
        """The user trusts name's new key: pin it, and connect again.

        seen: the fingerprint the user was shown; if the key changed again
        since, nothing is pinned. Raises ValueError if name's key has not
        changed, or not to the key seen.
        """
        peer = self.peers.get(name)
        if peer is None or not peer.changed_key:
            raise ValueError(f"{name}'s key has not changed")
        if seen is not None and seen != fingerprint(peer.changed_key):
            raise ValueError(f"{name}'s key changed again: look at the new fingerprint first")
        self.known_peers.pin(name, peer.changed_key)
        peer.key, peer.changed_key, peer.reason = peer.changed_key, "", ""
        peer.wake()

    def history(self, name: str, limit: int = 500, before: str | None = None) -> ev.History:
        """The last `limit` stored messages with name; with before (a message id),
        the `limit` stored before that one: the next page back."""
        messages = tuple(self.store.history(name, limit, before))
        return ev.History(name, messages, older=before is not None, complete=len(messages) < limit)

    def details(self, name: str) -> ev.Details:
        """The path, keys and counters of the conversation with name. Raises ValueError if there is none."""
        peer = self.peers.get(name)
        if peer is None:
            raise ValueError(f"no conversation with {name}")
        session = peer.session
        path = remote_address(session.path) if session.path else None
        items = [
            ("status", peer.status.value.value + (f": {peer.reason}" if peer.reason else "")),
            ("path", self._describe_path(peer) if path and session.state == sess.State.CONNECTED else "none"),
            ("remote address", f"{path[0]}:{path[1]}" if path else "-"),
            ("round trip", f"{session.rtt * 1000:.1f} ms" if session.rtt is not None else "-"),
            ("encryption", f"{secure.PROTOCOL}" if session.secure else "no keys yet"),
            ("their key", fingerprint(peer.key) if peer.key else "not seen yet"),
            ("your key", fingerprint(self.identity.public_key)),
            ("verified", self._VERIFIED_TEXT[self._verification(peer)]),
            ("your address", f"{self.public_address[0]}:{self.public_address[1]}" if self.public_address else "-"),
            ("your NAT", self.nat.nat_type.value),
            ("their NAT", peer.nat),
            ("your relays", ", ".join(
                f"{r.name} ({format_address(r.relayed)})" if r.relayed else f"{r.name} (none: {r.reason or 'allocating'})"
                for r in self.relays.values()
            ) or "none configured"),
            ("unacknowledged", str(session.unacknowledged)),
        ]
        if peer.changed_key:
            items.insert(6, ("their NEW key", fingerprint(peer.changed_key)))
        items += [(f"dropped: {why}", str(count)) for why, count in sorted(session.dropped.items())]
        items += [(f"dropped (all peers): {why}", str(count)) for why, count in sorted(self.dropped.items())]
        verified, lost = self._verification(peer)
        return ev.Details(name, tuple(items), verified=verified, verification_lost=lost)

    # --- Verification (issue 14, point 8): safety numbers and verified keys --------------
    # KnownPeers keeps the state; _update_status and details read it through _verification.

    #: The details line for (verified, verification_lost).
    _VERIFIED_TEXT = {
        (True, False): "yes: you compared safety numbers",
        (False, False): "no: compare safety numbers (/verify)",
        (False, True): "NO: the key changed after you verified it (/verify again)",
    }

    def safety_number(self, name: str) -> str:
        """The 60-digit safety number of our key and name's pinned key (net/safety.py):
        the number name's own app shows for us. Raises ConfigError if no key is pinned for name."""
        key = self.known_peers.pinned(name)
        if key is None:
            raise ConfigError(f"no key pinned for {name} yet: talk to them first")
        return safety.safety_number(self.name, self.identity.public_key, name, key)

    def mark_verified(self, name: str, seen: str | None = None) -> None:
        """The user compared the safety number with name's and they match: name's pinned
        key is verified, until it changes.

        seen: the number the user compared (spaces allowed); if name's key changed
        since, nothing is marked. Raises ConfigError if no key is pinned for name, if
        name shows a new key not yet accepted, or if seen is not the current number;
        EnvironmentFailure if known_peers cannot be written.
        """
        number, key = self.safety_number(name), self.known_peers.pinned(name)
        assert key is not None
        peer = self.peers.get(name)
        if peer is not None and peer.changed_key:
            raise ConfigError(f"{name} shows a new key: accept or refuse it before verifying")
        if seen is not None and "".join(seen.split()) != number:
            raise ConfigError(f"{name}'s key changed: compare the new safety number")
        self.known_peers.mark_verified(name, key)
        if peer is not None:
            peer.wake()  # _update_status tells the application.

    def _verification(self, peer: Peer) -> tuple[bool, bool]:
        """(verified, verification_lost) for the key the peer uses now."""
        state = self.known_peers.verification(peer.name)
        if peer.changed_key:  # A new key, not accepted yet: the verified one is not in use.
            return False, state != Verification.UNVERIFIED
        return state == Verification.VERIFIED, state == Verification.LOST

    # --- end of the verification block ----------------------------------------------------

    def _describe_path(self, peer: Peer) -> str:
        session = peer.session
        assert session.path is not None
        if isinstance(session.path, Via) and not session.path.relayed:
            return "direct, internet, through a port opened to cross the symmetric NAT"
        if isinstance(session.path, Via):
            return f"relayed through our {session.path.local}"
        if session.relayed:
            return "relayed through their TURN server"
        return f"direct, {nat.network_of(session.path[0])}"

    def counters(self) -> Counter[str]:
        """Everything dropped so far, by reason: by the node and by every session."""
        total = Counter(self.dropped)
        for peer in self.peers.values():
            total.update(peer.session.dropped)
        for relay in self.relays.values():
            total.update({f"relay: {why}": n for why, n in relay.client.dropped.items()})
        return total

    async def ping(self, name: str, timeout: float = 2.0) -> float | None:
        """One probe over the open path to name, answered by its core: the round trip
        in seconds, or None if no answer came in time. Raises ValueError if no path is open."""
        peer = self.peers.get(name)
        txid = peer.session.ping(trio.current_time()) if peer else None
        if peer is None or txid is None:
            raise ValueError(f"no open path to {name}")
        send, receive = trio.open_memory_channel[float](1)
        self._pongs[txid] = send
        peer.wake()
        try:
            with trio.move_on_after(timeout):
                return await receive.receive()
        finally:
            del self._pongs[txid]
        return None

    # --- Running ---------------------------------------------------------------------

    async def _run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        with self._socket:
            try:
                await self._socket.bind(self.config.bind)
            except OSError as exc:
                host, port = self.config.bind
                raise ValueError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                self._resume_outbox()
                nursery.start_soon(self._receive_datagrams)
                for relay in self.relays.values():
                    nursery.start_soon(self._keep_relay, relay)
                try:
                    async with trio.open_nursery() as signalling:
                        signalling.start_soon(self._handle_signalling)
                        await signalling.start(self.signalling.run, self._discover_address)
                        task_status.started()
                finally:
                    for sock in self._spray_sockets.values():
                        sock.close()

    async def _emit(self, event: ev.NodeEvent) -> None:
        await self._send_events.send(event)

    def _peer(self, name: str, *, incoming: bool = False) -> Peer:
        peer = self.peers.get(name)
        if peer is not None:
            return peer
        peer = Peer(name, sess.Session(config=self.config.session, static_key=self._static_key))
        peer.session.set_relays(self._relay_names(), trio.current_time())
        peer.incoming = incoming
        self.peers[name] = peer
        self._by_tag[peer.session.local_tag] = peer
        assert self._nursery is not None, "the node is not running"
        self._nursery.start_soon(self._drive, peer)
        self._nursery.start_soon(self._connect, peer)
        return peer

    def _resume_outbox(self) -> None:
        """What an earlier run could not deliver goes out again, in order."""
        now = trio.current_time()
        for message in self.store.outbox():
            peer = self._peer(message.peer)
            peer.session.send_message(bytes.fromhex(message.id), message.text, now)

    # --- Addresses -----------------------------------------------------------------------

    async def _discover_address(self, stun_servers: list[Address]) -> Address:
        """Our public address by STUN from the chat socket, else our local one.

        stun_servers: those the signalling backend offers; the configured ones
        are asked too, all at once. What they saw tells our NAT type.
        """
        servers = list(dict.fromkeys([*stun_servers, *self.config.stun_servers]))
        port = self.local_address[1]
        host_ip = self.config.bind[0]
        if host_ip == "0.0.0.0":
            # The address the default route leaves from (connect() sends nothing).
            route_to = servers[0][0] if servers else _ANY_REMOTE
            host_ip = await _route_source_ip(route_to) or "127.0.0.1"
        self.host_address = (host_ip, port)
        self.nat = nat.classify(self.host_address, await stun.ask_all(self._stun, servers))
        self.public_address = self.nat.public or self.host_address
        # The first offers carry our relayed addresses if there are any to have:
        # wait a little for the allocations begun meanwhile (a dead relay must not
        # hold up the start; one that answers later is offered then).
        with trio.move_on_after(RELAY_SETTLE_WAIT if self.relays else 0):
            for relay in self.relays.values():
                await relay.settled.wait_value(True)
        return self.public_address

    def _candidates(self) -> list[Address]:
        found = [self.public_address, self.host_address]
        return list(dict.fromkeys(a for a in found if a is not None and a[0] != "0.0.0.0"))

    def _relay_names(self) -> tuple[str, ...]:
        return tuple(name for name, relay in self.relays.items() if relay.relayed)

    def _relayed_candidates(self) -> tuple[Address, ...]:
        return tuple(relay.relayed for relay in self.relays.values() if relay.relayed)

    # --- Relays ----------------------------------------------------------------------------

    async def _keep_relay(self, relay: Relay) -> None:
        """Keep an allocation on relay's server: allocate, refresh, and after a
        failure or a loss, allocate again with back-off. Released on the way out."""
        try:
            await self._keep_relay_allocated(relay)
        finally:
            if relay.relayed is not None and relay.address is not None:
                relay.client.close(trio.current_time())
                with trio.move_on_after(1) as scope:
                    scope.shield = True
                    await self._flush_relay(relay)

    async def _keep_relay_allocated(self, relay: Relay) -> None:
        pause = Relay.RETRY_MIN
        while True:
            if relay.address is None:
                relay.address = await stun.resolve(relay.server.host, relay.server.port)
                if relay.address is not None:
                    self._relay_at[relay.address] = relay
                else:
                    relay.reason = f"cannot resolve {relay.server.host}"
            if relay.address is not None:
                relay.client.allocate(trio.current_time())
                if await self._drive_relay(relay):
                    pause = Relay.RETRY_MIN
                else:
                    # Never allocated: look the name up again next time (it may have moved).
                    self._relay_at.pop(relay.address, None)
                    relay.address = None
            relay.settled.value = True
            await trio.sleep(pause)
            pause = min(pause * 2, Relay.RETRY_MAX)

    async def _drive_relay(self, relay: Relay) -> bool:
        """Run relay's client until its allocation fails or is lost; True if it had one."""
        client, had = relay.client, False
        while True:
            now = trio.current_time()
            deadline = client.next_timeout()
            if deadline is not None and deadline <= now:
                client.handle_timeout(now)
            await self._flush_relay(relay)
            for event in client.events():
                match event:
                    case turn.Allocated(relayed=relayed):
                        log.info("relay %s: allocated %s", relay.name, relayed)
                        relay.relayed, relay.reason, had = relayed, "", True
                        relay.settled.value = True
                        self._relays_updated()
                    case turn.AllocationFailed(reason=reason) | turn.AllocationLost(reason=reason):
                        log.info("relay %s: %s", relay.name, reason)
                        relay.relayed, relay.reason = None, reason
                        self._relays_updated()
                        return had
                    case turn.Received(peer=source, data=data):
                        self._datagram_received(data, Via(relay.name, source))
            deadline = client.next_timeout()
            with trio.move_on_at(deadline if deadline is not None else float("inf")):
                await relay.wait_wakeup()

    async def _flush_relay(self, relay: Relay) -> None:
        assert relay.address is not None
        for data in relay.client.datagrams_to_send():
            await self._sendto(data, relay.address)

    def _check_relays(self) -> None:
        """A path was lost or a punch failed: if it was relayed, the relay itself may
        be gone (ours, or the peer's on the same server). Ask ours now rather than
        at the next refresh: one request each, however many paths fail."""
        for relay in self.relays.values():
            relay.client.refresh(trio.current_time())
            relay.wake()

    def _relays_updated(self) -> None:
        """An allocation came or went: every session learns, every waiting connector tries again."""
        names, now = self._relay_names(), trio.current_time()
        for peer in self.peers.values():
            peer.session.set_relays(names, now)
            peer.wake()
        self._relays_changed.value += 1

    # --- Datagrams -----------------------------------------------------------------------

    async def _sendto(self, data: bytes, address: Route) -> None:
        if isinstance(address, Via) and not address.relayed:
            sock = self._spray_sockets.get(address.local)
            if sock is None:
                self.dropped["spraying socket closed"] += 1
                return
            try:
                await sock.sendto(data, address.peer)
            except OSError as exc:
                self.dropped[f"send failed: {exc.strerror or exc}"] += 1
            return
        if isinstance(address, Via):
            relay = self.relays.get(address.local)
            if relay is None or relay.relayed is None:
                self.dropped["relay not allocated"] += 1
                return
            own = (relay.relayed[0], relay.address[0] if relay.address else "")
            if address.peer[0] in own or nat.network_of(address.peer[0]) != "internet":
                # To the server's own addresses (a stale relay of the peer's) or a
                # private one: it cannot help, and a send the relay fails can cost
                # us the whole allocation (coturn drops it).
                self.dropped["relay to a useless address"] += 1
                return
            relay.client.send(address.peer, data, trio.current_time())
            await self._flush_relay(relay)
            relay.wake()  # Its timers may have changed (a new permission, say).
            return
        try:
            await self._socket.sendto(data, address)
        except OSError as exc:
            # An unreachable candidate is normal while punching; never fatal.
            self.dropped[f"send failed: {exc.strerror or exc}"] += 1

    async def _receive_datagrams(self) -> None:
        while True:
            try:
                data, source = await self._socket.recvfrom(2048)
            except OSError:
                # ICMP errors from earlier sends surface here on some systems.
                self.dropped["receive error"] += 1
                continue
            self._datagram_received(data, source[:2])
            # Whatever else has arrived is taken now, without a trip through the
            # scheduler for each: the driver then handles the burst at once (one
            # store transaction, one ack).
            for _ in range(RECEIVE_BATCH - 1):
                try:
                    data, source = self._raw_socket.recvfrom(2048)
                except BlockingIOError:
                    break
                except OSError:
                    self.dropped["receive error"] += 1
                    continue
                self._datagram_received(data, source[:2])

    def _datagram_received(self, data: bytes, source: Route) -> None:
        relay = self._relay_at.get(source) if not isinstance(source, Via) else None
        if relay is not None and not self._stun_answer(data):
            relay.client.datagram_received(data, trio.current_time())
            relay.wake()
            return
        if wire.is_ours(data):
            try:
                packet = wire.parse_untrusted(data)
            except wire.WireError as exc:
                self.dropped[exc.counter] += 1
                return
            peer = self._by_tag.get(packet.to_tag)
            if peer is None:
                self.dropped["unknown tag"] += 1
                return
            # By address and port: many peers may share one public IP (a NAT).
            if isinstance(packet, wire.HandshakeInit | wire.HandshakeResp) and not self._handshake_limit.allow(
                source, packet.to_tag, trio.current_time()
            ):
                self.dropped["handshake rate limit"] += 1
                return
            peer.session.datagram_received(packet, source, trio.current_time())
            peer.wake()
        elif stun.looks_like_stun(data) and not isinstance(source, Via):
            try:
                message = stun.parse_untrusted(data)
            except stun.StunError:
                self.dropped["malformed STUN"] += 1
                return
            if not self._stun.response_received(message):
                self.dropped["unexpected STUN"] += 1
        else:
            self.dropped["unknown protocol"] += 1

    def _stun_answer(self, data: bytes) -> bool:
        """Whether data is the answer to one of our Binding requests (a TURN
        server may be one of our STUN servers too): if so, it is taken."""
        if not stun.looks_like_stun(data):
            return False
        try:
            message = stun.parse_untrusted(data)
        except stun.StunError:
            return False  # Some other STUN method: the TURN client's.
        return self._stun.response_received(message)

    # --- Per-peer tasks ------------------------------------------------------------------

    async def _drive(self, peer: Peer) -> None:
        """Run the peer's Session: its timers, its datagrams, its events."""
        session = peer.session
        while True:
            now = trio.current_time()
            deadline = session.next_timeout()
            if deadline is not None and deadline <= now:
                session.handle_timeout(now)
            await self._pump(peer)
            await self._update_status(peer)
            deadline = session.next_timeout()
            with trio.move_on_at(deadline if deadline is not None else float("inf")):
                await peer.wait_wakeup()

    async def _pump(self, peer: Peer) -> None:
        """Store what the session delivered, then send its datagrams, then tell the application.

        In that order: an ack goes out only for a message already on disk.
        """
        async with peer.pump_lock:
            events = self._store(peer, peer.session.events())
            for data, address in peer.session.datagrams_to_send():
                await self._sendto(data, address)
            for event in events:
                await self._session_event(peer, event)
                # Status first: a message must never arrive before "connected" does.
                await self._update_status(peer)

    def _store(self, peer: Peer, events: list[sess.Event]) -> list[sess.Event]:
        writes = sum(isinstance(e, sess.MessageReceived | sess.MessageDelivered) for e in events)
        if writes <= 1:
            return self._store_each(peer, events)
        with self.store.batch():  # One commit for all of them.
            return self._store_each(peer, events)

    def _store_each(self, peer: Peer, events: list[sess.Event]) -> list[sess.Event]:
        kept = []
        for event in events:
            match event:
                case sess.MessageReceived(message_id=message_id, text=text):
                    if not self.store.received(peer.name, message_id.hex(), text):
                        # The sender resends after a crash what it could not know arrived.
                        self.dropped["duplicate message"] += 1
                        continue
                case sess.MessageDelivered(message_id=message_id):
                    self.store.delivered(peer.name, message_id.hex())
            kept.append(event)
        return kept

    async def _session_event(self, peer: Peer, event: sess.Event) -> None:
        match event:
            case sess.Connected():
                peer.reason = ""
            case sess.PathLost(remote=remote):
                peer.reason = f"lost the path to {remote[0]}:{remote[1]}"
                peer.path_lost.value = True
                lost = peer.announced_path
                if isinstance(lost, Via) and lost.relayed or lost in peer.session.remote_relays:
                    self._check_relays()
            case sess.Failed(reason=reason):
                if peer.session.relays or peer.session.remote_relays:
                    self._check_relays()  # A relay that died silently fails punches too.
                peer.reason = f"{reason}; our NAT: {self.nat.nat_type.value}, theirs: {peer.nat}"
                if not self.relays and not peer.session.remote_relays:
                    peer.reason += "; a relay is needed: configure a TURN server (--turn)"
            case sess.Pong(txid=txid, rtt=rtt):
                if (waiter := self._pongs.get(txid)) is not None:
                    waiter.send_nowait(rtt)  # Room for exactly this one answer.
            case sess.MessageReceived(message_id=message_id, text=text):
                await self._emit(ev.MessageReceived(peer.name, message_id.hex(), text))
            case sess.MessageDelivered(message_id=message_id):
                await self._emit(ev.MessageDelivered(peer.name, message_id.hex()))

    async def _update_status(self, peer: Peer) -> None:
        """The one place a peer's status changes; tells the application when it does."""
        state = peer.session.state
        if not peer.heard_of and state == sess.State.IDLE and not peer.awaiting_answer:
            return  # Nothing to tell until presence answers.
        if peer.changed_key:
            status = ev.PeerStatus.KEY_CHANGED
        elif state == sess.State.CONNECTED:
            status = ev.PeerStatus.CONNECTED
        elif state in (sess.State.PROBING, sess.State.HANDSHAKE) or peer.awaiting_answer:
            status = ev.PeerStatus.CONNECTING
        elif not peer.online.value:
            status = ev.PeerStatus.OFFLINE
        elif state == sess.State.FAILED or peer.reason:
            status = ev.PeerStatus.FAILED
        else:
            status = ev.PeerStatus.ONLINE
        first = peer.incoming or not peer.announced
        path = peer.session.path
        moved = status == ev.PeerStatus.CONNECTED and path != peer.announced_path
        trust = self._verification(peer)
        if status == peer.status.value and not first and not moved and trust == peer.announced_trust:
            return
        peer.announced_trust = trust
        incoming, peer.incoming, peer.announced = peer.incoming, False, True
        peer.announced_path = path
        log.debug("peer %s: %s -> %s", peer.name, peer.status.value.value, status.value)
        peer.status.value = status
        peer.direct.value = status == ev.PeerStatus.CONNECTED and not peer.session.relayed
        if not peer.spraying:
            self._release_spray_sockets(peer)
        remote = remote_address(path) if status == ev.PeerStatus.CONNECTED and path else None
        await self._emit(
            ev.PeerChanged(
                peer.name,
                status,
                path=("relay" if peer.session.relayed else "direct") if remote else None,
                network=nat.network_of(remote[0]) if remote else None,
                remote=remote,
                reason="" if remote else peer.reason,
                incoming=incoming,
                fingerprint=fingerprint(peer.key) if peer.key else "",
                new_fingerprint=fingerprint(peer.changed_key) if peer.changed_key else "",
                verified=trust[0],
                verification_lost=trust[1],
            )
        )

    async def _connect(self, peer: Peer) -> None:
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
                partial(
                    peer.status.wait_value,
                    lambda s: s not in (ev.PeerStatus.CONNECTED, ev.PeerStatus.CONNECTING, ev.PeerStatus.KEY_CHANGED),
                ),
                partial(peer.path_lost.wait_value, True),
            )
            peer.path_lost.value = False
            if not peer.online.value:
                continue
            relays = self._relays_changed.value
            if await self._attempt(peer):
                pause = 1.0
                continue
            if self._relays_changed.value != relays:
                continue  # A relay came or went meanwhile: offer again at once, with it.
            await self._update_status(peer)
            with trio.move_on_after(pause):
                # The peer coming back online (after a restart), or a relay
                # allocated, is worth trying at once.
                await trio_util.wait_any(peer.online.wait_transition, self._relays_changed.wait_transition)
            pause = min(pause * 2, self.config.retry_max)

    async def _attempt(self, peer: Peer) -> bool:
        """One offer, and the punch it leads to. True if a path opened."""
        offer = self._make_offer(peer)
        try:
            await self.signalling.send_offer(offer)
        except SignallingUnavailable as exc:
            peer.reason = str(exc)
            return False
        peer.offers_sent = (peer.offers_sent + [offer.id])[-8:]
        peer.awaiting_answer = True
        await self._update_status(peer)
        try:
            with trio.move_on_after(self.config.answer_timeout + self.config.session.punch_timeout):
                await trio_util.wait_any(
                    partial(
                        peer.status.wait_value,
                        lambda s: s in (ev.PeerStatus.CONNECTED, ev.PeerStatus.FAILED, ev.PeerStatus.OFFLINE),
                    ),
                    self._relays_changed.wait_transition,
                )
        finally:
            if peer.awaiting_answer:
                peer.awaiting_answer = False
                peer.reason = peer.reason or f"{peer.name} did not answer the offer"
        return peer.status.value == ev.PeerStatus.CONNECTED

    def _make_offer(self, peer: Peer) -> Offer:
        assert self.public_address is not None
        offer = Offer(
            id=uuid.uuid4().hex,
            sender=self.name,
            sender_key=self.identity.public_key,
            receiver=peer.name,
            sender_ip=self.public_address[0],
            receiver_ip=peer.address[0] if peer.address else "",
            port=self.public_address[1],
            tag=peer.session.local_tag.hex(),
            candidates=tuple(self._candidates()),
            expires=time.time() + self.config.offer_ttl,
            relays=self._relayed_candidates(),
            nat=self.nat.nat_type.value,
        )
        return sign(offer, self.identity)

    # --- Signalling ------------------------------------------------------------------------

    async def _handle_signalling(self) -> None:
        async for event in self.signalling.events:
            await self._signalling_event(event)

    async def _signalling_event(self, event: SignallingEvent) -> None:
        match event:
            case Registered(name=name):
                assert self.public_address is not None
                if not self._ready:
                    self._ready = True
                    await self._emit(
                        ev.Ready(name, self.signalling.label, self.public_address, self.nat.nat_type.value)
                    )
                await self._emit(ev.SignalStatus(True))
            case SignallingLost(reason=reason, fatal=fatal):
                await self._emit(ev.SignalStatus(False, reason, fatal))
            case PresenceChanged(presence=presence):
                peer = self.peers.get(presence.name)
                if peer is None:
                    return
                pinned = self.known_peers.pinned(peer.name)
                if presence.key and pinned:
                    # Presence is the service's word, not signed by the peer: it may
                    # warn (before anyone offers), and take a warning back.
                    peer.changed_key = presence.key if presence.key != pinned else ""
                peer.key = pinned or presence.key or peer.key
                peer.address = presence.address or peer.address
                peer.online.value = presence.online
                peer.heard_of = True
                await self._update_status(peer)
            case OfferReceived(offer=offer):
                await self._offer_received(offer)
            case AnswerReceived(answer=answer):
                await self._answer_received(answer)
            case OfferRefused(ref=ref):
                for peer in self.peers.values():
                    if ref in peer.offers_sent and peer.awaiting_answer:
                        peer.awaiting_answer = False
                        peer.online.value = False
                        peer.reason = f"{peer.name} is offline"
                        await self._update_status(peer)

    def _acceptable(self, record: Offer | Answer, kind: str) -> bool:
        """Whether an offer or answer is genuine, fresh, and addressed to us."""
        now = time.time()
        if record.receiver != self.name:
            self.dropped[f"{kind} for someone else"] += 1
        elif record.sender == self.name:
            self.dropped[f"{kind} from ourselves"] += 1
        elif not signature_valid(record) or not _usable_key(record.sender_key):
            self.dropped[f"{kind} with a bad signature"] += 1
        elif record.expires < now:
            self.dropped[f"expired {kind}"] += 1
        elif record.expires > now + MAX_SIGNAL_LIFETIME:
            self.dropped[f"{kind} valid for too long"] += 1
        elif record.nonce in self._nonces:
            self.dropped[f"replayed {kind}"] += 1
        else:
            while self._nonce_expiries and self._nonce_expiries[0][0] < now:
                self._nonces.discard(heapq.heappop(self._nonce_expiries)[1])
            if len(self._nonces) >= MAX_NONCES:
                self.dropped[f"{kind} beyond the nonce memory"] += 1
                return False
            self._nonces.add(record.nonce)
            heapq.heappush(self._nonce_expiries, (record.expires, record.nonce))
            return True
        return False

    def _fresh(self, peer: Peer, record: Offer | Answer, kind: str) -> bool:
        """Whether record may change the peer's tag: not older than the newest taken.

        A tag other than the session's means a restarted peer; an older record
        with one (delayed by the service, or replayed) would make this side
        renumber alone while the peer carries on.
        """
        if record.expires < peer.newest_signal and bytes.fromhex(record.tag) != peer.session.remote_tag:
            self.dropped[f"stale {kind}"] += 1
            return False
        peer.newest_signal = max(peer.newest_signal, record.expires)
        return True

    async def _trusted(self, peer: Peer, key: str) -> bool:
        """Whether key is the one pinned for peer (a first key is pinned now)."""
        if self.known_peers.check(peer.name, key) != Verdict.CHANGED:
            peer.key = key
            peer.changed_key = ""  # Signed by the pinned key: whatever presence said is void.
            return True
        self.dropped["changed key"] += 1
        if peer.changed_key != key:
            peer.changed_key = key
            await self._update_status(peer)
        return False

    async def _offer_received(self, offer: Offer) -> None:
        if not self._acceptable(offer, "offer"):
            return
        incoming = offer.sender not in self.peers
        peer = self._peer(offer.sender, incoming=incoming)
        peer.heard_of = True
        if not await self._trusted(peer, offer.sender_key) or not self._fresh(peer, offer, "offer"):
            return
        peer.online.value = True
        # The design notes' order: punch toward the offerer first, then answer.
        self._start_session(peer, offer)
        await self._pump(peer)
        peer.wake()
        assert self.public_address is not None
        answer = Answer(
            offer_id=offer.id,
            sender=self.name,
            sender_key=self.identity.public_key,
            receiver=offer.sender,
            sender_ip=self.public_address[0],
            port=self.public_address[1],
            tag=peer.session.local_tag.hex(),
            candidates=tuple(self._candidates()),
            expires=time.time() + self.config.offer_ttl,
            relays=self._relayed_candidates(),
            nat=self.nat.nat_type.value,
        )
        try:
            await self.signalling.send_answer(sign(answer, self.identity))
        except SignallingUnavailable as exc:
            log.info("could not answer %s: %s", offer.sender, exc)

    async def _answer_received(self, answer: Answer) -> None:
        peer = self.peers.get(answer.sender)
        if peer is None or answer.offer_id not in peer.offers_sent:
            self.dropped["unexpected answer"] += 1
            return
        if not self._acceptable(answer, "answer") or not await self._trusted(peer, answer.sender_key):
            return
        if not self._fresh(peer, answer, "answer"):
            return
        peer.awaiting_answer = False
        self._start_session(peer, answer)
        peer.wake()

    def _start_session(self, peer: Peer, record: Offer | Answer) -> None:
        """Punch toward the addresses in a genuine offer or answer (and spray, if
        one side is behind a symmetric NAT and the other behind a cone)."""
        peer.nat = record.nat
        role = spray.role(self.nat.nat_type.value, record.nat)
        now = trio.current_time()
        if (
            role is not None
            and self.config.spray.enabled
            and not peer.spraying
            and not peer.direct.value
            # Only toward the internet (a signed record could name any address), and
            # one attempt per peer per SPRAY_INTERVAL, however many offers come.
            and nat.network_of(record.sender_ip) == "internet"
            and now >= peer.sprayed_at + SPRAY_INTERVAL
        ):
            assert self._nursery is not None
            peer.spraying, peer.sprayed_at = True, now
            self._nursery.start_soon(self._spray, peer, role, (record.sender_ip, record.port))
        peer.session.start(
            bytes.fromhex(record.tag),
            list(record.candidates) or [(record.sender_ip, record.port)],
            now,
            secure.noise_public_key(record.sender_key),
            remote_relays=list(record.relays),
            relay_now=nat.direct_unlikely(self.nat.nat_type.value, record.nat),
        )

    # --- Spraying -------------------------------------------------------------------------

    async def _spray(self, peer: Peer, role: spray.Role, target: Address) -> None:
        """One bounded spraying attempt toward target, the peer's public address from
        its signed offer or answer: until a direct path works or the budget is spent."""
        config = self.config.spray
        log.info("spraying to %s:%d as the %s side", *target, role.value)
        try:
            with trio.move_on_after(config.budget):
                if role == spray.Role.HARD:
                    await self._spray_sockets_toward(peer, target)
                else:
                    await self._spray_probes_at(peer, target[0])
                await peer.direct.wait_value(True)
        finally:
            peer.spraying = False
            self._release_spray_sockets(peer)
            log.info("spraying to %s:%d ended: %s", *target, "direct" if peer.direct.value else "no direct path")

    async def _pace(self, index: int) -> None:
        """Before the index-th socket or probe: `rate` a second, in a batch every 20 ms."""
        config = self.config.spray
        batch = max(1, round(config.rate / 50))
        if index and index % batch == 0:
            await trio.sleep(batch / config.rate)

    async def _spray_sockets_toward(self, peer: Peer, target: Address) -> None:
        """The hard side: a socket a mapping, each probing target once."""
        for index in range(self.config.spray.sockets):
            await self._pace(index)
            if peer.direct.value:
                return
            if len(self._spray_sockets) >= MAX_SPRAY_SOCKETS:
                log.info("spraying: %d sockets open already, no more", len(self._spray_sockets))
                return
            try:
                sock = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
            except OSError as exc:
                log.info("spraying: no more sockets: %s", exc)
                return
            try:
                await sock.bind((self.config.bind[0], 0))
            except BaseException as exc:  # Cancelled too: never leave it open.
                sock.close()
                if not isinstance(exc, OSError):
                    raise
                log.info("spraying: no more sockets: %s", exc)
                return
            name = f"spray {sock.getsockname()[1]}"
            peer.spray_sockets[name] = self._spray_sockets[name] = sock
            assert self._nursery is not None
            self._nursery.start_soon(self._read_spray_socket, sock, name)
            peer.session.probe(Via(name, target, relayed=False), trio.current_time())
            peer.wake()

    async def _spray_probes_at(self, peer: Peer, ip: str) -> None:
        """The easy side: once the hard side's mappings exist, probes at random ports of ip."""
        config = self.config.spray
        await trio.sleep(config.easy_delay)
        ports = spray.probe_ports(config.probes)
        for index, port in enumerate(ports):
            await self._pace(index)
            if peer.direct.value:
                return
            peer.session.probe((ip, port), trio.current_time())
            peer.wake()

    async def _read_spray_socket(self, sock: trio.socket.SocketType, name: str) -> None:
        """Until the socket is closed: everything on it goes to the sessions, from a Via."""
        while True:
            try:
                data, source = await sock.recvfrom(2048)
            except (trio.ClosedResourceError, OSError):
                if sock.fileno() == -1:
                    return  # Closed: the attempt is over, or the path moved on.
                self.dropped["receive error"] += 1
                continue
            self._datagram_received(data, Via(name, source[:2], relayed=False))

    def _release_spray_sockets(self, peer: Peer) -> None:
        """Close the spraying sockets the path does not use (all of them once it moves on)."""
        path = peer.session.path
        keep = path.local if isinstance(path, Via) and not path.relayed else None
        for name in [n for n in peer.spray_sockets if n != keep]:
            self._spray_sockets.pop(name, None)
            peer.spray_sockets.pop(name).close()


def _usable_key(key: str) -> bool:
    try:
        secure.noise_public_key(key)
    except ValueError:
        return False
    return True


async def _route_source_ip(destination: str) -> str | None:
    """The local IP the kernel would send from to reach destination (no packet is sent)."""
    probe = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
    with probe:
        try:
            await probe.connect((destination, 9))
        except (OSError, UnicodeError):
            return None
        return probe.getsockname()[0]


@asynccontextmanager
async def open_node(config: NodeConfig, identity: Identity) -> AsyncIterator[Node]:
    """A running node; leaving the block stops it and everything it started.

    Raises ValueError for a bad name or signalling URL, or an address it cannot listen on.
    """
    node = Node(config, identity, make_signalling(config, identity))
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(node._run)
            yield node
            nursery.cancel_scope.cancel()
    finally:
        node.store.close()
