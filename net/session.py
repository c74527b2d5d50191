"""One conversation's connection to one peer, as a state machine free of I/O.

A `Session` is fed datagrams (already parsed) and the current time; it returns
datagrams to send, events for the application, and when it next wants to be
woken. The trio layer in `node.py` only moves bytes and sleeps; everything
that decides (the punching schedule, keepalives, retransmission, ordering,
fragmentation) lives here and is tested without sockets or an event loop.

The rules do not depend on which side offered: both sides probe every
candidate address of the other, and each side considers the path open when
a probe of its own comes back acknowledged from where it went (so the path
works both ways), or when the peer's data arrives on it (which the peer only
sends after its own probe came back).

Paths are ranked: this machine, the LAN, the internet, and relays last (a
`Via` through our TURN allocation, or the peer's relayed address). Relayed
paths join the punch after `relay_delay`, or at once when the NAT types rule
direct out; while the session runs over one, it tries the direct paths every
`direct_retry_interval` (asking the peer, with a CALL_ME, to do the same at
that moment) and moves to whichever better path answers. Reliability sits
above the path, so a move loses and repeats nothing.

Over the first open path the two run a Noise IK handshake (`secure.py`); the
side with the lower key initiates. Only then is the session CONNECTED, and
from then on everything (keepalives, data, acks) travels encrypted, with a
replay window; the initiator rekeys with a fresh handshake every
`rekey_after` seconds. Punching probes before the handshake carry no
content: two tags and a random id.

    IDLE ──start()──▶ PROBING ──probe acked──▶ HANDSHAKE ──keys──▶ CONNECTED
                        │  ▲                       │                  │
              deadline  │  └───────────────────────┼── unanswered for ┘
                        │                          │   path_timeout
                        ▼                          │
                      FAILED ◀────── deadline ─────┘
                        └──start() or a probe from the peer──▶ PROBING
"""

from __future__ import annotations

import bisect
import enum
import logging
import os
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from . import noise, secure, wire
from .address import Address, Route, Via, remote_address  # noqa: F401 (re-exported)
from .errors import ConfigError
from .nat import network_of

log = logging.getLogger(__name__)


#: The largest message, in UTF-8 bytes, one send carries.
MAX_MESSAGE_BYTES = 64 * 1024
#: The most probes awaiting an answer at once (spraying sends many).
MAX_PROBES = 16_384
#: The peer's relayed addresses remembered, current and past.
MAX_REMOTE_RELAYS = 16


class State(enum.Enum):
    IDLE = "idle"
    """The peer's addresses are not known yet."""
    PROBING = "probing"
    """Punching: probing every candidate address of the peer until one answers."""
    HANDSHAKE = "handshake"
    """A path works both ways; the secure handshake runs over it."""
    CONNECTED = "connected"
    """A path works both ways and is secured; messages flow."""
    FAILED = "failed"
    """No candidate answered before the deadline. Messages wait for the next attempt."""


class MessageTooLong(ConfigError):
    """The application asked to send more than MAX_MESSAGE_BYTES."""


@dataclass(frozen=True)
class SessionConfig:
    probe_interval: float = 0.05
    """First gap between probe rounds while punching; it doubles up to probe_interval_max."""
    probe_interval_max: float = 1.0
    punch_timeout: float = 10.0
    """How long to probe before giving up on every candidate."""
    keepalive_interval: float = 10.0
    """Probe an idle open path this often, so NAT mappings stay open."""
    path_timeout: float = 5.0
    """An open path that leaves a probe or data unanswered this long is lost."""
    suspect_probe_interval: float = 0.5
    """While something is unanswered, probe the path this often."""
    rto_initial: float = 0.5
    rto_min: float = 0.2
    rto_max: float = 8.0
    max_in_flight: int = 256
    """Unacknowledged DATA datagrams at once; the rest wait."""
    receive_window: int = 1024
    """How far ahead of the next expected sequence number we buffer."""
    max_candidates: int = 8
    rekey_after: float = secure.REKEY_AFTER_SECONDS
    """The initiator runs a fresh handshake this often, for forward secrecy within a session."""
    relay_delay: float = 2.0
    """How long punching tries direct paths alone before relayed ones join in
    (magic-wormhole's relay delay): a user never waits long, direct is preferred."""
    direct_retry_interval: float = 60.0
    """While the conversation runs over a relay, try the direct paths this often
    (as Tailscale does) and move to one that works."""


# --- Events -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Connected:
    remote: Address
    rtt: float


@dataclass(frozen=True, slots=True)
class PathLost:
    remote: Address


@dataclass(frozen=True, slots=True)
class Failed:
    reason: str


@dataclass(frozen=True, slots=True)
class Pong:
    """The answer to ping(): the path's round-trip time."""

    txid: bytes
    rtt: float


@dataclass(frozen=True, slots=True)
class MessageReceived:
    message_id: bytes
    text: str


@dataclass(frozen=True, slots=True)
class MessageDelivered:
    message_id: bytes


Event = Connected | PathLost | Failed | Pong | MessageReceived | MessageDelivered


# --- Paths ----------------------------------------------------------------------

#: The rank of a relayed path: behind every direct one.
_RELAYED = 3


@dataclass(slots=True)
class _OutFragment:
    seq: int
    message_id: bytes
    last: bool
    payload: bytes
    tries: int = 0
    sent_at: float = 0.0
    resend_at: float = 0.0
    later_acks: int = 0
    """Fragments sent after this one and acknowledged since it was last sent."""


@dataclass
class Session:
    """The connection to one peer. Not thread-safe; one task drives it."""

    local_tag: bytes = field(default_factory=lambda: os.urandom(wire.TAG_SIZE))
    config: SessionConfig = field(default_factory=SessionConfig)
    static_key: bytes = field(default_factory=lambda: noise.generate_keypair()[0], repr=False)
    """Our long-term X25519 private key (the identity key, converted)."""

    def __post_init__(self) -> None:
        self.state = State.IDLE
        self.remote_tag: bytes | None = None
        #: The peer's long-term X25519 public key, from its signed offer or answer.
        self.remote_static: bytes | None = None
        self.static_public = noise.public_key(self.static_key)
        self.candidates: list[Address] = []
        #: The peer's relayed addresses (its TURN allocations), the newest last: reaching
        #: those is relayed too. A few old ones are kept after the peer reallocates, so
        #: traffic from one is never mistaken for a direct path, nor relayed to.
        self.remote_relays: dict[Address, None] = {}
        #: Our own relays, by the name Via.local gives them; set by the node.
        self.relays: tuple[str, ...] = ()
        self.path: Route | None = None
        self.rtt: float | None = None
        #: Datagrams dropped, by reason. Bad input never raises; it is counted here.
        self.dropped: Counter[str] = Counter()

        self._out: list[tuple[bytes, Route]] = []
        self._events: list[Event] = []

        # Probing.
        self._probes: dict[bytes, tuple[Route, float]] = {}
        self._prune_probes_at = 64
        self._pings: set[bytes] = set()
        self._probe_deadline = 0.0
        self._next_probe_at = 0.0
        self._probe_gap = self.config.probe_interval
        #: When relayed paths join the punching, and whether they have yet.
        self._relay_at = 0.0
        self._relay_now = False
        self._relaying = False
        #: While on a relayed path: when to try the direct ones again.
        self._direct_retry_at = 0.0
        self._last_call_me = float("-inf")
        #: When we last sent something that wants an answer (a probe, data): acks
        #: do not count, or answering the peer would silence our own keepalives.
        self._last_request = 0.0
        self._last_probe = 0.0
        #: When we first sent something still unanswered on the open path.
        self._unanswered_since: float | None = None

        # The secure channel: current keys, the ones before a rekey (for
        # datagrams still in flight) and a responder's new ones, until the
        # initiator's first datagram under them confirms the handshake.
        self._keys: secure.Keys | None = None
        self._previous_keys: secure.Keys | None = None
        self._next_keys: secure.Keys | None = None
        self._initiation: secure.Initiation | None = None
        self._initiations = 0
        self._init_resend_at = 0.0
        self._init_tries = 0
        self._handshake_deadline = 0.0
        self._last_init_counter = 0
        self._last_response: tuple[bytes, bytes] | None = None
        #: An initiation that came before the peer's key did (its answer is on the way).
        self._early_initiation: tuple[bytes, Route] | None = None

        # Sending.
        self._next_seq = 0
        self._pending: deque[_OutFragment] = deque()
        self._in_flight: dict[int, _OutFragment] = {}
        #: Every fragment of each message not yet wholly acknowledged, in send order.
        self._unacknowledged: dict[bytes, list[_OutFragment]] = {}
        self._srtt: float | None = None
        self._rttvar = 0.0
        self._rto = self.config.rto_initial
        #: Timeouts in a row with nothing new acknowledged: the back-off exponent.
        self._backoff = 0

        # Receiving.
        #: Sequence numbers that arrived and are not acknowledged yet, by where they came from.
        self._to_ack: dict[Route, list[int]] = {}
        self._expected_seq = 0
        self._reorder: dict[int, wire.Data] = {}
        self._assembly: list[bytes] = []
        self._assembly_size = 0
        self._discarding = False

    # --- What the driver collects ---------------------------------------------

    def datagrams_to_send(self) -> list[tuple[bytes, Route]]:
        """What to send now. Acks wait for this: a burst of data gets one ack."""
        self._flush_acks()
        out, self._out = self._out, []
        return out

    def events(self) -> list[Event]:
        events, self._events = self._events, []
        return events

    def next_timeout(self) -> float | None:
        """When handle_timeout wants to be called next, or None if never."""
        if self.state == State.PROBING:
            times = [self._next_probe_at, self._probe_deadline]
            if not self._relaying and self._relay_paths_exist():
                times.append(self._relay_at)
            return min(times)
        times = []
        if self._initiation is not None:
            times.append(self._init_resend_at)
        if self.state == State.HANDSHAKE:
            times += [self._handshake_deadline, self._last_request + self.config.keepalive_interval]
        elif self.state == State.CONNECTED:
            times.append(self._last_request + self.config.keepalive_interval)
            if self._unanswered_since is not None:
                times.append(self._unanswered_since + self.config.path_timeout)
                times.append(self._next_suspect_probe())
            times.extend(f.resend_at for f in self._in_flight.values())
            if self._rekey_due_at() is not None:
                times.append(self._rekey_due_at())
            if self.relayed:
                times.append(self._direct_retry_at)
                if self._next_probe_at < self._probe_deadline:
                    times.append(self._next_probe_at)
        return min(times, default=None)

    @property
    def unacknowledged(self) -> int:
        """Messages handed to send_message that the peer has not acknowledged yet."""
        return len(self._unacknowledged)

    @property
    def relayed(self) -> bool:
        """Whether the open path (if any) goes through a relay, ours or the peer's."""
        return self._is_relayed(self.path)

    @property
    def secure(self) -> bool:
        """Whether the handshake has given us keys (the path may be open or not)."""
        return self._keys is not None

    # --- What the application does ----------------------------------------------

    def start(
        self,
        remote_tag: bytes,
        candidates: list[Address],
        now: float,
        remote_static: bytes | None = None,
        *,
        remote_relays: Sequence[Address] = (),
        relay_now: bool = False,
    ) -> None:
        """The peer's tag, addresses and key arrived through signalling: punch toward them.

        remote_relays: those of the candidates that are the peer's relays.
        relay_now: the NAT types say no direct path will work; relay at once.
        """
        if self.remote_tag is not None and remote_tag != self.remote_tag:
            self._peer_restarted()
        self.remote_tag = remote_tag
        if remote_static is not None:
            self.remote_static = remote_static
        for relay in remote_relays:
            self.remote_relays.pop(relay, None)
            self.remote_relays[relay] = None
        for old in list(self.remote_relays)[:-MAX_REMOTE_RELAYS]:
            del self.remote_relays[old]
        self._relay_now = relay_now
        self._add_candidates([*remote_relays, *candidates])
        if self._early_initiation is not None and self.remote_static is not None:
            message, source = self._early_initiation
            self._early_initiation = None
            self._initiation_received(message, source, now)
        if self.state == State.HANDSHAKE:
            if self._initiation is None and self._initiator():
                self._initiate(now)  # We were waiting for the peer's key.
        elif self.state != State.CONNECTED:
            self._begin_probing(now)
        else:
            # The peer offered or answered again, so it cannot reach us, though our
            # path looks open (its NAT lost the mapping, say). Probe every candidate:
            # that punches our NAT toward it again, and tests our own path.
            for candidate in self.candidates:
                self._send_probe(candidate, now)

    def set_relays(self, relays: tuple[str, ...], now: float) -> None:
        """Our relays changed (an allocation came or went): punch through the new ones."""
        added = [r for r in relays if r not in self.relays]
        self.relays = tuple(relays)
        if self.state == State.PROBING and self._relaying:
            for path in self._relay_paths():
                if isinstance(path, Via) and path.local in added:
                    self._send_probe(path, now)
        elif (
            isinstance(self.path, Via) and self.path.relayed and self.path.local not in relays
            and self.state == State.CONNECTED
        ):
            # The relay is gone, and the path with it: find another at once.
            self._lose_path(now)

    def probe(self, path: Route, now: float) -> None:
        """Probe one more path of the node's choosing (spraying across a symmetric
        NAT); if it answers, it is taken as any probed path is."""
        if self.remote_tag is None or self.state == State.IDLE:
            return
        self._send_probe(path, now, expect_answer=False)

    def ping(self, now: float) -> bytes | None:
        """Probe the open path now; a Pong with the returned id follows if it answers."""
        if self.state != State.CONNECTED or self.path is None:
            return None
        txid = self._send_probe(self.path, now)
        self._pings.add(txid)
        return txid

    def send_message(self, message_id: bytes, text: str, now: float) -> None:
        """Queue a message; it goes out now if connected, else when a path opens."""
        data = text.encode("utf-8")
        if len(data) > MAX_MESSAGE_BYTES:
            raise MessageTooLong(
                f"message is {len(data)} bytes; the limit is {MAX_MESSAGE_BYTES}"
            )
        chunks = [data[i : i + wire.MAX_FRAGMENT] for i in range(0, len(data), wire.MAX_FRAGMENT)]
        chunks = chunks or [b""]
        fragments = []
        for index, chunk in enumerate(chunks):
            last = index == len(chunks) - 1
            fragments.append(_OutFragment(self._next_seq, message_id, last, chunk))
            self._next_seq += 1
        self._pending.extend(fragments)
        self._unacknowledged[message_id] = fragments
        self._fill_window(now)

    # --- What the network does -----------------------------------------------------

    def datagram_received(self, packet: wire.Packet, source: Route, now: float) -> None:
        if packet.to_tag != self.local_tag:
            self.dropped["wrong tag"] += 1
            return
        if self.remote_tag is None and isinstance(packet, wire.Probe):
            # The peer knows our tag, so it saw our offer or answer: it may
            # punch before its own answer reaches us. Learn its tag from it.
            self.start(packet.from_tag, [remote_address(source)], now)
        if packet.from_tag != self.remote_tag:
            self.dropped["stale tag"] += 1
            return
        match packet:
            case wire.HandshakeInit(message=message):
                self._initiation_received(message, source, now)
            case wire.HandshakeResp(message=message):
                self._response_received(message, source, now)
            case wire.Transport():
                inner = self._open(packet)
                if inner is not None:
                    self._inner_received(inner, source, now, authenticated=True)
            case wire.ProbeAck() if self.secure:
                # We probe encrypted once we have keys; a cleartext answer is not the peer's.
                self.dropped["cleartext after the handshake"] += 1
            case wire.Probe() | wire.ProbeAck():
                self._inner_received(packet, source, now, authenticated=False)

    def handle_timeout(self, now: float) -> None:
        if self._initiation is not None and now >= self._init_resend_at:
            self._send_initiation(now)
        if self.state == State.PROBING:
            if now >= self._probe_deadline:
                tried = "direct or relayed" if self._relay_paths_exist() else "direct"
                self._fail(f"no answer from the peer on any {tried} path ({len(self.candidates)} candidate address(es))")
            elif not self._relaying and now >= self._relay_at and self._relay_paths_exist():
                self._relaying = True
                self._probe_round(now)
            elif now >= self._next_probe_at:
                self._probe_round(now)
        elif self.state == State.HANDSHAKE:
            assert self.path is not None
            if now >= self._handshake_deadline:
                self._fail("the path opened but the secure handshake did not complete")
            elif now >= self._last_request + self.config.keepalive_interval:
                self._send_probe(self.path, now)
        elif self.state == State.CONNECTED:
            assert self.path is not None and self._keys is not None
            since = self._unanswered_since
            if since is not None and now >= since + self.config.path_timeout:
                self._lose_path(now)
                return
            expired = [f for f in self._in_flight.values() if f.resend_at <= now]
            if expired:
                # Back off once per timeout, not once per fragment (RFC 6298, 5.5), to a
                # cap: a peer that never acknowledges must not overflow a float.
                self._backoff = min(self._backoff + 1, 16)
            for fragment in expired:
                self._transmit(fragment, now)
            if since is not None and now >= self._next_suspect_probe():
                self._send_probe(self.path, now)  # Something went unanswered: is the path still there?
            elif now >= self._last_request + self.config.keepalive_interval:
                self._send_probe(self.path, now)
            due = self._rekey_due_at()
            if due is not None and now >= due:
                self._initiate(now)
            if self.relayed and now >= self._direct_retry_at:
                self._try_direct(now)
            elif self.relayed and self._next_probe_at <= now:
                if now < self._probe_deadline:
                    # The relay answered first; the punch goes on until its deadline,
                    # and the conversation moves if a direct path answers.
                    self._probe_direct(now)
                    self._next_probe_at = now + self._probe_gap
                    self._probe_gap = min(self._probe_gap * 2, self.config.probe_interval_max)
                else:
                    self._next_probe_at = float("inf")  # The punch is over; the retries go on.

    # --- Internals -----------------------------------------------------------------

    def _set_state(self, new: State) -> None:
        if new != self.state:
            log.debug("session %s: %s -> %s", self.local_tag.hex(), self.state.value, new.value)
            self.state = new

    def _fail(self, reason: str) -> None:
        self._set_state(State.FAILED)
        self._initiation = None
        self._events.append(Failed(reason))

    def _add_candidates(self, candidates: list[Address]) -> None:
        """Add candidates as the newest: one already known moves up, so the oldest
        (a relay since reallocated, a mapping since changed) go first at the cap."""
        for candidate in candidates:
            if candidate in self.candidates:
                self.candidates.remove(candidate)
            self.candidates.append(candidate)
        del self.candidates[: max(0, len(self.candidates) - self.config.max_candidates)]

    def _rank(self, path: Route | None) -> int:
        """Which paths are preferred: this machine, then the LAN, then the internet, then relays."""
        if path is None:
            return _RELAYED + 1
        if self._is_relayed(path):
            return _RELAYED
        return {"local": 0, "lan": 1}.get(network_of(remote_address(path)[0]), 2)

    def _is_relayed(self, path: Route | None) -> bool:
        """Through our relay, or to the peer's (checked on every wakeup: no address parsing)."""
        return isinstance(path, Via) and path.relayed or path in self.remote_relays

    def _direct_paths(self) -> list[Route]:
        return [c for c in self.candidates if c not in self.remote_relays]

    def _probe_direct(self, now: float) -> None:
        """Probe every direct path, on the side: while on a relay, to find a better one."""
        for path in self._direct_paths():
            self._send_probe(path, now, expect_answer=False)

    def _relay_paths(self) -> list[Route]:
        """Straight to the peer's relays, and through ours to the peer's public addresses.

        Not through ours to a private address (it cannot be the peer's from
        there), nor to the peer's relay (reaching that straight works wherever
        relay-to-relay would): a relay that fails to send, to an address it
        cannot route or a port nobody listens on, may drop our whole
        allocation (coturn does).
        """
        theirs: list[Route] = [c for c in self.candidates if c in self.remote_relays]
        public = [c for c in self.candidates if network_of(c[0]) == "internet" and c not in self.remote_relays]
        return theirs + [Via(local, c) for local in self.relays for c in public]

    def _relay_paths_exist(self) -> bool:
        return bool(self.relays or self.remote_relays)

    def _begin_probing(self, now: float) -> None:
        if not self.candidates or self.remote_tag is None:
            return
        self._set_state(State.PROBING)
        self.path = None
        self._probe_deadline = now + self.config.punch_timeout
        self._next_probe_at = now
        self._probe_gap = self.config.probe_interval
        self._relay_at = now if self._relay_now else now + self.config.relay_delay
        self._relaying = self._relay_now
        self._probe_round(now)

    def _probe_round(self, now: float) -> None:
        paths = self._direct_paths() + (self._relay_paths() if self._relaying else [])
        for path in paths:
            self._send_probe(path, now)
        self._next_probe_at = now + self._probe_gap
        self._probe_gap = min(self._probe_gap * 2, self.config.probe_interval_max)

    def _lose_path(self, now: float) -> None:
        assert self.path is not None
        lost = self.path
        self._events.append(PathLost(remote_address(lost)))
        self._add_candidates([remote_address(lost)])
        self._begin_probing(now)

    def _try_direct(self, now: float) -> None:
        """On a relayed path: probe the direct ones, and ask the peer to do the same
        now, so both NATs open toward each other at once."""
        assert self.remote_tag is not None and self.path is not None
        self._direct_retry_at = now + self.config.direct_retry_interval
        self._last_call_me = now
        self._probe_direct(now)
        self._send(wire.CallMe(self.remote_tag, self.local_tag), self.path)

    def _next_suspect_probe(self) -> float:
        assert self._unanswered_since is not None
        return max(self._last_probe, self._unanswered_since) + self.config.suspect_probe_interval

    def _expect_answer(self, now: float) -> None:
        self._last_request = now
        if self.state == State.CONNECTED and self._unanswered_since is None:
            self._unanswered_since = now

    def _send_probe(self, address: Route, now: float, *, expect_answer: bool = True) -> bytes:
        assert self.remote_tag is not None
        if len(self._probes) >= self._prune_probes_at:
            # Forget probes too old to be answered (lost ones, in any state), so the
            # table stays small however long the session lives. Pruned again only once
            # it has doubled, so a burst (spraying) costs linear time, not quadratic;
            # and never past MAX_PROBES, the oldest going first.
            horizon = now - self.config.punch_timeout
            kept = [(t, p) for t, p in self._probes.items() if p[1] >= horizon]
            self._probes = dict(kept[-MAX_PROBES:])
            self._pings &= self._probes.keys()
            self._prune_probes_at = max(64, 2 * len(self._probes))
        txid = os.urandom(8)
        self._probes[txid] = (address, now)
        self._send(wire.Probe(self.remote_tag, self.local_tag, txid), address)
        if expect_answer:
            # Not for a try of a path we are not on: its silence says nothing of ours.
            self._last_probe = now
            self._expect_answer(now)
        return txid

    def _send(self, packet: wire.Inner, address: Route, *, cleartext: bool = False) -> None:
        """Send an inner packet: encrypted once we have keys. Only probes go in the clear."""
        if self._keys is not None and not cleartext:
            outer: wire.Packet = self._keys.seal(packet.to_tag, packet.from_tag, packet)
        else:
            assert isinstance(packet, wire.Probe | wire.ProbeAck), "data before the handshake"
            outer = packet
        self._out.append((wire.encode(outer), address))

    def _inner_received(self, packet: wire.Inner, source: Route, now: float, *, authenticated: bool) -> None:
        if (authenticated or not self.secure) and (self.state != State.CONNECTED or source == self.path):
            # Only what arrives on the path proves the path alive: if the peer's
            # NAT remapped it, our data to the old address goes nowhere.
            self._unanswered_since = None
        match packet:
            case wire.Probe(txid=txid):
                # Answer in kind: a peer probing in the clear has no keys to read an answer with.
                ack = wire.ProbeAck(packet.from_tag, self.local_tag, txid)
                self._send(ack, source, cleartext=not authenticated)
                # Once there are keys, only the peer (authenticated) may add an address
                # or restart probing: a stranger who saw the tags must not steer us.
                if self.state not in (State.CONNECTED, State.HANDSHAKE) and (authenticated or not self.secure):
                    self._add_candidates([remote_address(source)])
                    if self.state != State.PROBING:
                        self._begin_probing(now)
                    if isinstance(source, Via) or self._rank(source) == _RELAYED:
                        # A path we would not have probed by ourselves (one of the
                        # node's spraying sockets), or the peer on a relay already:
                        # probe it back now, and take it if it answers.
                        self._relaying = self._relaying or self._rank(source) == _RELAYED
                        self._send_probe(source, now)
                elif authenticated and self.state == State.CONNECTED and self._rank(source) < self._rank(self.path):
                    # The peer found a better path to us: probe back along it, and move
                    # once our probe comes back (the upgrade from a relay).
                    self._add_candidates([remote_address(source)])
                    self._send_probe(source, now, expect_answer=False)
            case wire.ProbeAck(txid=txid):
                probe = self._probes.get(txid)
                if probe is None:
                    self.dropped["unknown probe"] += 1
                    return
                if probe[0] != source:
                    # An answer proves the path only from where the probe went (ICE's
                    # symmetric check): a copy from elsewhere (a relay that saw it, say)
                    # must not move us there.
                    self.dropped["probe answer from elsewhere"] += 1
                    return
                del self._probes[txid]
                self._rtt_sample(now - probe[1])
                if txid in self._pings:
                    self._pings.discard(txid)
                    self._events.append(Pong(txid, now - probe[1]))
                if self.state in (State.CONNECTED, State.HANDSHAKE) and self._rank(source) < self._rank(self.path):
                    # A LAN pair over an internet one, a direct one over a relay: both
                    # ways work there too, so move. Reliability is above the path:
                    # what was in flight on the old one is acknowledged or sent again.
                    self.path = source
                    self._unanswered_since = None
                    if self.state == State.CONNECTED:
                        self._events.append(Connected(remote_address(source), now - probe[1]))
                self._path_works(source, now)
            case wire.Data():
                # The peer sends data only once its own probe came back: this path works.
                self._path_works(source, now)
                self._data_received(packet, source, now)
            case wire.Ack(seqs=seqs, cumulative=cumulative):
                self._path_works(source, now)
                self._ack_received(seqs, cumulative, now)
            case wire.CallMe():
                # Only inside a Transport (parsing refuses it in the clear), so it is the peer's.
                # At most once a second, however often it asks.
                if self.state == State.CONNECTED and now - self._last_call_me >= 1.0:
                    self._last_call_me = now
                    self._probe_direct(now)

    def _path_works(self, source: Route, now: float) -> None:
        if self.state in (State.CONNECTED, State.HANDSHAKE):
            return
        self.path = source
        self._unanswered_since = None
        if self._keys is not None:
            self._connected(now)
            return
        self._set_state(State.HANDSHAKE)
        self._handshake_deadline = now + self.config.punch_timeout
        if self._initiator():
            self._initiate(now)

    def _connected(self, now: float) -> None:
        assert self.path is not None
        self._set_state(State.CONNECTED)
        self._direct_retry_at = now + self.config.direct_retry_interval
        self._events.append(Connected(remote_address(self.path), self.rtt if self.rtt is not None else 0.0))
        # Whatever was in flight on the old path goes again on this one.
        for fragment in self._in_flight.values():
            fragment.resend_at = now
        self._fill_window(now)
        for fragment in self._in_flight.values():
            if fragment.resend_at <= now:
                self._transmit(fragment, now)

    # --- The handshake ------------------------------------------------------------

    def _rekey_due_at(self) -> float | None:
        """When the initiator runs a fresh handshake; None while it must not."""
        keys = self._keys
        if self._initiation is not None or keys is None or not self._initiator():
            return None
        if keys.received == 0:
            return None  # The responder has not switched to these keys yet: no rekey on a rekey.
        return keys.created + self.config.rekey_after

    def _initiator(self) -> bool:
        assert self.remote_tag is not None
        if self.remote_static is None:
            return False  # Nobody starts before knowing whom it talks to.
        return secure.is_initiator(self.static_public, self.local_tag, self.remote_static, self.remote_tag)

    def _initiate(self, now: float) -> None:
        assert self.remote_tag is not None and self.remote_static is not None
        self._initiations += 1
        self._initiation = secure.Initiation(
            self.static_key, self.remote_static, self.local_tag, self.remote_tag, self._initiations, now
        )
        self._init_tries = 0
        self._send_initiation(now)

    def _send_initiation(self, now: float) -> None:
        assert self._initiation is not None and self.remote_tag is not None
        address = self.path or (self.candidates[0] if self.candidates else None)
        if address is None:
            return
        init = wire.HandshakeInit(self.remote_tag, self.local_tag, self._initiation.message)
        self._out.append((wire.encode(init), address))
        backoff = max(self._rto, self.config.rto_min) * 2 ** min(self._init_tries, 5)
        self._init_resend_at = now + min(backoff, self.config.rto_max)
        self._init_tries += 1

    def _initiation_received(self, message: bytes, source: Route, now: float) -> None:
        assert self.remote_tag is not None
        if self.remote_static is None:
            # Its offer or answer is still on the way: keep it rather than make the
            # initiator wait a retransmission.
            self._early_initiation = (message, source)
            return
        if self._initiator():
            self.dropped["handshake from the wrong side"] += 1
            return
        if self._last_response is not None and self._last_response[0] == message:
            # Our answer was lost: the same answer again (a new one would be new keys).
            response = wire.HandshakeResp(self.remote_tag, self.local_tag, self._last_response[1])
            self._out.append((wire.encode(response), source))
            return
        try:
            answer = secure.respond(self.static_key, self.remote_static, self.local_tag, self.remote_tag, message, now)
        except secure.HandshakeError:
            self.dropped["bad handshake"] += 1
            return
        if answer.counter <= self._last_init_counter:
            self.dropped["replayed handshake"] += 1
            return
        self._last_init_counter = answer.counter
        self._last_response = (message, answer.message)
        self._out.append((wire.encode(wire.HandshakeResp(self.remote_tag, self.local_tag, answer.message)), source))
        if self._keys is not None:
            self._next_keys = answer.keys  # A rekey: switch once the initiator uses them.
            return
        self._keys = answer.keys
        if self.state == State.HANDSHAKE:
            self._connected(now)
        elif self.state == State.PROBING:
            self._probe_round(now)  # Encrypted now; the initiator's answers open the path.

    def _response_received(self, message: bytes, source: Route, now: float) -> None:
        if self._initiation is None:
            self.dropped["unexpected handshake"] += 1
            return
        try:
            keys = self._initiation.finish(message, now)
        except secure.HandshakeError:
            self.dropped["bad handshake"] += 1
            return
        self._initiation = None
        self._previous_keys, self._keys = self._keys, keys
        if self.state == State.HANDSHAKE:
            self._connected(now)
        if self.path is not None:
            # Confirms the keys to the responder, which switches to them on it.
            self._send_probe(self.path, now)

    def _open(self, packet: wire.Transport) -> wire.Inner | None:
        """Decrypt and parse a transport datagram; None (and counted) if it is not genuine."""
        for keys in (self._keys, self._next_keys, self._previous_keys):
            if keys is None or keys.key_id != packet.key_id:
                continue
            if not keys.window.check(packet.counter):
                self.dropped["replayed"] += 1
                return None
            try:
                plaintext = keys.open(packet)
            except noise.NoiseError:
                continue
            if keys is self._next_keys:
                self._previous_keys, self._keys, self._next_keys = self._keys, keys, None
            try:
                return wire.parse_inner_untrusted(packet.to_tag, packet.from_tag, plaintext)
            except wire.WireError:
                self.dropped["malformed inner packet"] += 1
                return None
        self.dropped["failed authentication"] += 1
        return None

    # --- Reliability -----------------------------------------------------------------

    def _peer_restarted(self) -> None:
        """The peer came back with a new tag: a new instance with no memory of us.

        Only a new instance may bring a new tag: the node refuses offers and
        answers older than the newest it has taken from the peer, so a delayed
        or replayed one cannot make this side renumber alone.
        """
        log.debug("session %s: peer restarted", self.local_tag.hex())
        # The new instance has none of a half-acknowledged message: send all of
        # every message not wholly acknowledged, in the order they were sent.
        self._in_flight.clear()
        self._pending.clear()
        for fragments in self._unacknowledged.values():
            for fragment in fragments:
                fragment.seq, fragment.tries = len(self._pending), 0
                self._pending.append(fragment)
        self._next_seq = len(self._pending)
        self._expected_seq = 0
        self._to_ack.clear()  # Those arrived from the old instance.
        self._reorder.clear()
        self._assembly.clear()
        self._assembly_size = 0
        self._discarding = False
        self._probes.clear()
        self._keys = self._previous_keys = self._next_keys = None
        self._initiation = None
        self._last_init_counter = 0
        self._last_response = None
        self._early_initiation = None
        self._set_state(State.IDLE)
        self.path = None

    def _fill_window(self, now: float) -> None:
        if self.state != State.CONNECTED:
            return
        while self._pending and len(self._in_flight) < self.config.max_in_flight:
            fragment = self._pending.popleft()
            self._in_flight[fragment.seq] = fragment
            self._transmit(fragment, now)

    def _transmit(self, fragment: _OutFragment, now: float) -> None:
        assert self.path is not None and self.remote_tag is not None
        packet = wire.Data(
            self.remote_tag,
            self.local_tag,
            fragment.seq,
            fragment.message_id,
            fragment.last,
            fragment.payload,
        )
        self._send(packet, self.path)
        self._expect_answer(now)
        fragment.tries += 1
        fragment.sent_at = now
        fragment.later_acks = 0
        fragment.resend_at = now + min(self._rto * 2**self._backoff, self.config.rto_max)

    def _rtt_sample(self, rtt: float) -> None:
        # RFC 6298, 2.2 and 2.3.
        self.rtt = rtt
        if self._srtt is None:
            self._srtt, self._rttvar = rtt, rtt / 2
        else:
            self._rttvar = 0.75 * self._rttvar + 0.25 * abs(self._srtt - rtt)
            self._srtt = 0.875 * self._srtt + 0.125 * rtt
        rto = self._srtt + 4 * self._rttvar
        self._rto = min(max(rto, self.config.rto_min), self.config.rto_max)

    def _ack_received(self, seqs: tuple[int, ...], cumulative: int, now: float) -> None:
        """seqs arrived (stop resending them); everything below cumulative is delivered."""
        newly = []
        for seq in seqs:
            fragment = self._in_flight.pop(seq, None)
            if fragment is None:
                continue
            newly.append(seq)
            if fragment.tries == 1:  # Karn's rule: only unambiguous samples.
                self._rtt_sample(now - fragment.sent_at)
        if newly:
            # The path delivers: whatever timed out before was loss, not a dead path,
            # so the timers need not stay backed off (RFC 6298, 5.7).
            self._backoff = 0
            self._fast_retransmit(sorted(newly), now)
        if cumulative > self._next_seq:
            self.dropped["ack beyond what was sent"] += 1
            return
        # A message counts as delivered only once the peer has handed it to its
        # application (and stored it): a fragment that merely arrived, out of
        # order, would be lost if the peer died before the gap filled.
        delivered = 0
        while self._unacknowledged:
            message_id, fragments = next(iter(self._unacknowledged.items()))
            if fragments[-1].seq >= cumulative:
                break
            del self._unacknowledged[message_id]
            for done in fragments:
                self._in_flight.pop(done.seq, None)
            self._events.append(MessageDelivered(message_id))
            delivered += 1
        if not newly and not delivered:
            self.dropped["duplicate ack"] += 1
        self._fill_window(now)

    def _fast_retransmit(self, acked: list[int], now: float) -> None:
        """Three later fragments acknowledged while an earlier one is not: it was lost,
        not late (RFC 5681's idea). Send it now rather than wait out a backed-off timer.
        acked: the sequence numbers this ack newly acknowledged, in order."""
        for seq, fragment in self._in_flight.items():  # In the order they were sent.
            if seq >= acked[-1]:
                break
            fragment.later_acks += len(acked) - bisect.bisect_right(acked, seq)
            if fragment.later_acks >= 3 and now - fragment.sent_at >= (self._srtt or 0.0):
                fragment.later_acks = 0
                self._transmit(fragment, now)

    def _data_received(self, packet: wire.Data, source: Route, now: float) -> None:
        seq = packet.seq
        if seq >= self._expected_seq + self.config.receive_window:
            self.dropped["beyond window"] += 1
            return  # Not acknowledged: the sender tries again later.
        if seq < self._expected_seq or seq in self._reorder:
            self.dropped["duplicate data"] += 1
        else:
            self._reorder[seq] = packet
            while self._expected_seq in self._reorder:
                self._deliver_fragment(self._reorder.pop(self._expected_seq))
                self._expected_seq += 1
        # Acknowledged when the driver collects what to send: after it has stored
        # what was delivered, and once for everything that arrived meanwhile.
        self._to_ack.setdefault(source, []).append(seq)

    def _flush_acks(self) -> None:
        if not self._to_ack or self.remote_tag is None or self._keys is None:
            return
        for address, seqs in self._to_ack.items():
            for start in range(0, len(seqs), wire.MAX_ACK_SEQS):
                chunk = tuple(seqs[start : start + wire.MAX_ACK_SEQS])
                self._send(wire.Ack(self.remote_tag, self.local_tag, chunk, self._expected_seq), address)
        self._to_ack.clear()

    def _deliver_fragment(self, packet: wire.Data) -> None:
        if not self._discarding:
            self._assembly.append(packet.fragment)
            self._assembly_size += len(packet.fragment)
            if self._assembly_size > MAX_MESSAGE_BYTES:
                self.dropped["oversize message"] += 1
                self._discarding = True
                self._assembly.clear()
        if packet.last_fragment:
            if not self._discarding:
                text = b"".join(self._assembly).decode("utf-8", errors="replace")
                self._events.append(MessageReceived(packet.message_id, text))
            self._assembly.clear()
            self._assembly_size = 0
            self._discarding = False
