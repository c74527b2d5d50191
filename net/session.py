"""One conversation's connection to one peer, as a state machine free of I/O.

A `Session` is fed datagrams (already parsed) and the current time; it returns
datagrams to send, events for the application, and when it next wants to be
woken. The trio layer only moves bytes and sleeps.

As wsproto's connection is over its layers, a Session is a thin owner of
three parts, each its own module, tested on its own:

- `paths.Paths`: candidates, probing, ranking, relays, keepalives, path loss;
- `keyschedule.KeySchedule`: the Noise IK handshake, rekeys, the keys alive;
- `reliability.Sender` and `Receiver`: fragments, RFC 6298 timers, fast
  retransmit, reordering, reassembly, acks.

The Session routes each datagram to the part it concerns, wraps what the
parts ask to send in wire packets (encrypted once there are keys), turns what
they report into events, and owns the state (`state.State`), changed in one
method against one table of legal transitions. Its next timer is the
earliest of its parts'.

The rules do not depend on which side offered: both probe, the side with the
lower key initiates the handshake, and only then is the session CONNECTED;
from then on everything travels encrypted. Punching probes before the
handshake carry no content: two tags and a random id.

`close()` says goodbye: an encrypted GOODBYE, sent a few times, and the
session is CLOSED for good. A peer's authenticated GOODBYE closes it too,
with a `PeerLeft` event.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from . import noise, wire
from .address import Address, Route, Via, remote_address
from .errors import LocalProtocolError
from .farewell import Farewell
from .keyschedule import Keyed, KeySchedule, Timer
from .outbox import Outbox
from .paths import MAX_PROBES, MAX_REMOTE_RELAYS, Paths
from .reliability import MAX_MESSAGE_BYTES, MessageTooLong, OutFragment, Receiver, Sender
from .session_events import Connected, Event, Failed, MessageDelivered, MessageReceived, PathLost, PeerLeft, Pong
from .sessionconfig import SessionConfig
from .state import TRANSITIONS, Machine, State

# What node.py, tests and tools import from here; the parts' names are re-exported.
__all__ = [
    "MAX_MESSAGE_BYTES", "MAX_PROBES", "MAX_REMOTE_RELAYS", "TRANSITIONS", "Address", "Connected", "Event",
    "Failed", "MessageDelivered", "MessageReceived", "MessageTooLong", "PathLost", "PeerLeft", "Pong", "Route",
    "Session", "SessionConfig", "State", "Via", "remote_address",
]  # fmt: skip

log = logging.getLogger(__name__)

#: Seconds between tries to hand over messages the owner could not store (a full disk).
STORE_RETRY = 5.0


@dataclass
class Session:
    """The connection to one peer. Not thread-safe; one task drives it.

    Longer than the parts (about 380 lines) because it is the whole surface the
    node and the TUI use (read-only views of the parts) and the routing between
    the parts; every decision about paths, keys or delivery lives in a part.
    """

    local_tag: bytes = field(default_factory=lambda: os.urandom(wire.TAG_SIZE))
    config: SessionConfig = field(default_factory=SessionConfig)
    static_key: bytes = field(default_factory=lambda: noise.generate_keypair()[0], repr=False)
    """Our long-term X25519 private key (the identity key, converted)."""

    def __post_init__(self) -> None:
        self._machine = Machine(self.local_tag.hex())
        #: Datagrams dropped, by reason, by the session and its parts. Bad input never
        #: raises; it is counted here.
        self.dropped: Counter[str] = Counter()
        self._events: list[Event] = []
        config = self.config
        rto_min, rto_max = config.rto_min, config.rto_max
        self.keys = KeySchedule(
            self.static_key, self.local_tag, rekey_after=config.rekey_after, rto_min=rto_min, rto_max=rto_max,
            dropped=self.dropped,
        )
        self.outbox = Outbox(self.local_tag, self.keys)
        self.paths = Paths(config, self.outbox.from_paths, self.dropped)
        self.sender = Sender(
            rto_initial=config.rto_initial, rto_min=rto_min, rto_max=rto_max, max_in_flight=config.max_in_flight,
            dropped=self.dropped,
        )
        self.receiver: Receiver[Route] = Receiver(config.receive_window, self.dropped)
        #: When messages the owner could not store are handed over again (see not_kept).
        self._hand_over_at: float | None = None
        self.farewell = Farewell(config.goodbye_copies, config.goodbye_interval)
        #: The peer sent message 1 again, and nothing under our keys since: it has not
        #: had our answer. It is there, so a punch that fails now fails for loss.
        self._peer_lacks_answer = False

    # --- What the parts know, for the node and the TUI --------------------------

    @property
    def static_public(self) -> bytes:
        return self.keys.static_public

    @property
    def remote_tag(self) -> bytes | None:
        return self.keys.remote_tag

    @property
    def remote_static(self) -> bytes | None:
        """The peer's long-term X25519 public key, from its signed offer or answer."""
        return self.keys.remote_static

    @property
    def candidates(self) -> list[Address]:
        return self.paths.known.addresses

    @property
    def remote_relays(self) -> dict[Address, None]:
        """The peer's relayed addresses (its TURN allocations), the newest last."""
        return self.paths.known.remote_relays

    @property
    def relays(self) -> tuple[str, ...]:
        """Our own relays, by the name Via.local gives them; set with set_relays."""
        return self.paths.known.relays

    @property
    def path(self) -> Route | None:
        return self.paths.path

    @property
    def rtt(self) -> float | None:
        """The latest round-trip sample, from a probe or data."""
        return self.sender.timer.rtt

    @property
    def unacknowledged(self) -> int:
        """Messages handed to send_message that the peer has not acknowledged yet."""
        return self.sender.unacknowledged

    @property
    def relayed(self) -> bool:
        """Whether the open path (if any) goes through a relay, ours or the peer's."""
        return self.paths.relayed

    @property
    def secure(self) -> bool:
        """Whether the handshake has given us keys (the path may be open or not)."""
        return self.keys.secure

    # --- What the driver collects ---------------------------------------------

    def datagrams_to_send(self) -> list[tuple[bytes, Route]]:
        """What to send now. Acks wait for this: a burst of data gets one ack."""
        if self.remote_tag is not None and self.secure:
            for route, seqs, cumulative in self.receiver.take_acks():
                self.outbox.ack(seqs, cumulative, route)
        return self.outbox.take()

    @property
    def has_events(self) -> bool:
        """Whether `events()` has something: what the owner has not been told yet."""
        return bool(self._events)

    def events(self) -> list[Event]:
        events, self._events = self._events, []
        return events

    def next_timeout(self) -> float | None:
        """When handle_timeout wants to be called next, or None if never: the earliest of the parts'."""
        parts = (self.paths, self.keys, self.sender, self.farewell)
        times = [part.next_timeout() for part in parts] + [self._hand_over_at]
        return min((t for t in times if t is not None), default=None)

    def handle_timeout(self, now: float) -> None:
        """Each part runs its own due timers; the session acts on what they report."""
        if self._hand_over_at is not None and now >= self._hand_over_at:
            self._hand_over_at = None
            self._events += [MessageReceived(i, text) for i, text in self.receiver.hand_over_again()]
        self._send_goodbye(now)
        if self.paths.timed_out(now):
            self._lose_path(now)
            return
        match self.keys.handle_timeout(now):
            case Timer.HANDSHAKE_FAILED:
                # A path opened, so no NAT is to blame: the handshake's datagrams were lost.
                self._fail(
                    f"the secure handshake with the peer did not finish within {self.config.punch_timeout:g} s, "
                    "though a path opened (packets may be lost)",
                    path_opened=True,
                )
            case Timer.SEND_INITIATION:
                self._send_initiation(now)
        self._transmit(self.sender.handle_timeout(now), now)
        reason = self.paths.handle_timeout(now)
        if reason is not None and self._peer_lacks_answer:
            reason = (
                "the secure handshake with the peer did not finish: its messages arrive, "
                "but our answers do not reach it (packets may be lost)"
            )
            self._fail(reason, path_opened=True)
        elif reason is not None:
            self._fail(reason)

    # --- What the application does ----------------------------------------------

    def not_kept(self, now: float) -> None:
        """The owner could not store the messages received since it last collected
        datagrams (a full disk): none is acknowledged, so the peer keeps them, and
        they come again as MessageReceived after STORE_RETRY seconds."""
        self.receiver.take_back()
        if self.state != State.CLOSED:
            self._hand_over_at = now + STORE_RETRY

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
        Raises LocalProtocolError once CLOSED: a new conversation is a new Session.
        """
        if self.state == State.CLOSED:
            raise LocalProtocolError("this session is closed: start a new one")
        if self.remote_tag is not None and remote_tag != self.remote_tag:
            self._peer_restarted()
        self.keys.remote_tag = remote_tag
        if remote_static is not None:
            self.keys.remote_static = remote_static
        self.paths.learn(candidates, remote_relays, relay_now)
        early = self.keys.take_early_initiation()
        if early is not None:
            self._initiation_received(early[0], early[1], now)
        if self.state == State.HANDSHAKE:
            if self.keys.initiation is None and self.keys.is_initiator():
                self._initiate(now)  # We were waiting for the peer's key.
        elif self.state != State.CONNECTED:
            self._begin_probing(now)
        else:
            # The peer offered or answered again, so it cannot reach us, though our
            # path looks open (its NAT lost the mapping, say). Probe every candidate:
            # that punches our NAT toward it again, and tests our own path.
            self.paths.probe_all(now)

    def set_relays(self, relays: tuple[str, ...], now: float) -> None:
        """Our relays changed (an allocation came or went): punch through the new ones."""
        if self.paths.set_relays(relays, now):
            self._lose_path(now)  # The relay is gone, and the path with it: find another at once.

    def moved(self, now: float) -> None:
        """Our own addresses changed (the node learned it): on an open path, probe
        every candidate now, so our new NAT mapping opens toward the peer while
        our new offer tells it where we are, and the open path is tested."""
        if self.state == State.CONNECTED:
            self.paths.probe_all(now)

    def probe(self, path: Route, now: float) -> None:
        """Probe one more path of the node's choosing (spraying across a symmetric
        NAT); if it answers, it is taken as any probed path is."""
        if self.remote_tag is None or self.state in (State.IDLE, State.CLOSED):
            return
        self.paths.send_probe(path, now, expect_answer=False)

    def ping(self, now: float) -> bytes | None:
        """Probe the open path now; a Pong with the returned id follows if it answers."""
        return self.paths.ping(now)

    def send_message(self, message_id: bytes, text: str, now: float) -> None:
        """Queue a message; it goes out now if connected, else when a path opens.
        Raises MessageTooLong over MAX_MESSAGE_BYTES."""
        self._transmit(self.sender.send(message_id, text.encode("utf-8"), now), now)

    def close(self, now: float) -> None:
        """We are leaving: tell the peer (a few encrypted GOODBYEs on the current path,
        if there are keys and a path) and stop everything else. Closing twice is harmless."""
        if self.state == State.CLOSED:
            return
        self._set_state(State.CLOSED)
        if self.secure and self.path is not None:
            self.farewell.begin(self.path, now)
            self._send_goodbye(now)

    # --- What the network does -----------------------------------------------------

    def datagram_received(self, packet: wire.Packet, source: Route, now: float) -> None:
        if packet.to_tag != self.local_tag:
            self.dropped["wrong tag"] += 1
            return
        if self.state == State.CLOSED:
            self.dropped["closed"] += 1
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
                inner = self.keys.open(packet)
                if inner is not None:
                    self._inner_received(inner, source, now, authenticated=True)
            case wire.ProbeAck() if self.secure:
                # We probe encrypted once we have keys; a cleartext answer is not the peer's.
                self.dropped["cleartext after the handshake"] += 1
            case wire.Probe() | wire.ProbeAck():
                self._inner_received(packet, source, now, authenticated=False)

    def _inner_received(self, packet: wire.Inner, source: Route, now: float, *, authenticated: bool) -> None:
        if authenticated or not self.secure:
            self.paths.heard_from(source)
        if authenticated:
            self._peer_lacks_answer = False
            self.paths.authenticated_from(source, now)
        match packet:
            case wire.Probe():
                self._probe_received(packet, source, now, authenticated=authenticated)
            case wire.ProbeAck(txid=txid):
                self._probe_answered(txid, source, now)
            case wire.Data():
                # The peer sends data only once its own probe came back: this path works.
                self._path_works(source, now)
                for message_id, text in self.receiver.data_received(packet, source):
                    self._events.append(MessageReceived(message_id, text))
            case wire.Ack(seqs=seqs, cumulative=cumulative):
                self._path_works(source, now)
                outcome = self.sender.ack_received(seqs, cumulative, now)
                self._events += [MessageDelivered(m) for m in outcome.delivered]
                self._transmit(outcome.transmit, now)
            case wire.CallMe():
                # Only inside a Transport (parsing refuses it in the clear), so it is the peer's.
                self.paths.call_me_received(now)
            case wire.Goodbye() if authenticated:
                self._set_state(State.CLOSED)
                self._events.append(PeerLeft())

    # --- Internals -----------------------------------------------------------------

    @property
    def state(self) -> State:
        return self._machine.state

    def _set_state(self, new: State) -> None:
        """The one place the state changes; LocalProtocolError (state unchanged) if illegal.
        The parts are told, so each runs the timers of the new state."""
        if not self._machine.change(new):
            return
        self.paths.state = self.keys.state = new
        self.sender.sending = False  # Until _connected resumes it.
        if new in (State.FAILED, State.CLOSED):
            self.keys.abandon()
        if new == State.CLOSED:  # Held messages stay unacknowledged: the peer's next session brings them.
            self._hand_over_at = None

    def _fail(self, reason: str, *, path_opened: bool = False) -> None:
        self._set_state(State.FAILED)
        self._events.append(Failed(reason, path_opened))

    def _begin_probing(self, now: float) -> None:
        if not self.candidates or self.remote_tag is None:
            return
        self._set_state(State.PROBING)
        self.paths.begin_punch(now)

    def _lose_path(self, now: float) -> None:
        lost = self.paths.lose()
        self._events.append(PathLost(remote_address(lost)))
        self._begin_probing(now)

    def _path_works(self, source: Route, now: float) -> None:
        if self.state in (State.CONNECTED, State.HANDSHAKE):
            return
        self.paths.opened(source)
        if self.secure:
            self._connected(now)
            return
        self._set_state(State.HANDSHAKE)
        self.keys.expect_handshake(now, self.config.punch_timeout)
        if self.keys.is_initiator():
            self._initiate(now)

    def _connected(self, now: float) -> None:
        assert self.path is not None
        self._set_state(State.CONNECTED)
        self.paths.connected(now)
        rtt = self.rtt if self.rtt is not None else 0.0
        self._events.append(Connected(remote_address(self.path), rtt))
        # Whatever was in flight on the old path goes again on this one.
        self._transmit(self.sender.resume(now), now)

    def _peer_restarted(self) -> None:
        """The peer came back with a new tag: a new instance with no memory of us.

        Only a new instance may bring a new tag: the node refuses offers and
        answers older than the newest it has taken from the peer, so a delayed
        or replayed one cannot make this side renumber alone.
        """
        log.debug("session %s: peer restarted", self.local_tag.hex())
        self.sender.restart()
        self.receiver.reset()
        self.paths.forget_probes()
        self.keys.reset()
        self._set_state(State.IDLE)

    def _probe_received(self, probe: wire.Probe, source: Route, now: float, *, authenticated: bool) -> None:
        # Answer in kind: a peer probing in the clear has no keys to read an answer with.
        self.outbox.probe_ack(probe.txid, source, cleartext=not authenticated)
        if authenticated and self.state in (State.PROBING, State.FAILED):
            # Under our keys, so the peer finished the handshake, whose answer went back
            # along the path this came on: the path works both ways. Take it now rather
            # than after a probe of ours comes back (under loss, that may miss the deadline).
            self._path_works(source, now)
            return
        # Once there are keys, only the peer (authenticated) may steer the paths.
        if self.paths.probe_received(source, now, trusted=authenticated or not self.secure):
            if self.state != State.PROBING:
                self._begin_probing(now)
            self.paths.probe_back(source, now)

    def _probe_answered(self, txid: bytes, source: Route, now: float) -> None:
        answer = self.paths.probe_answered(txid, source, now)
        if answer is None:
            return
        self.sender.timer.sample(answer.rtt)
        if answer.ping:
            self._events.append(Pong(txid, answer.rtt))
        if answer.moved and self.state == State.CONNECTED:
            self._events.append(Connected(remote_address(source), answer.rtt))
        self._path_works(source, now)

    # --- The handshake ------------------------------------------------------------

    def _initiate(self, now: float) -> None:
        self.keys.initiate(now)
        self._send_initiation(now)

    def _send_initiation(self, now: float) -> None:
        route = self.path or (self.candidates[0] if self.candidates else None)
        if route is not None:
            self.outbox.handshake(self.keys.initiation_packet(now, self.sender.timer.rto), route)

    def _initiation_received(self, message: bytes, source: Route, now: float) -> None:
        reply = self.keys.initiation_received(message, source, now)
        if reply is None:
            return
        self.outbox.handshake(reply.packet, source)
        if reply.keyed == Keyed.REPEAT:
            self._peer_lacks_answer = True
        if reply.keyed != Keyed.FIRST:
            return
        if self.state == State.HANDSHAKE:
            self._connected(now)
        elif self.state == State.PROBING:
            self.paths.probe_round(now)  # Encrypted now; the initiator's answers open the path.

    def _response_received(self, message: bytes, source: Route, now: float) -> None:
        if not self.keys.response_received(message, now):
            return
        if self.state == State.HANDSHAKE:
            self._connected(now)
        if self.path is not None:
            # Confirms the keys to the responder, which switches to them on it.
            self.paths.send_probe(self.path, now)

    # --- Sending ---------------------------------------------------------------------

    def _transmit(self, fragments: list[OutFragment], now: float) -> None:
        """Send what the sender hands over, on the open path."""
        for fragment in fragments:
            assert self.path is not None
            self.outbox.data(fragment, self.path)
            self.paths.expect_answer(now)

    def _send_goodbye(self, now: float) -> None:
        route = self.farewell.due(now)
        if route is not None:
            self.outbox.goodbye(route)
