"""The Session's foundation, free of I/O: its parts, the views of them, its
state and every change of it, and the handshake's steps.

Split from session.py (which grew past 400 lines) along one seam: this module
is how the session reacts (a path works, so the handshake starts; keys come,
so it is CONNECTED; the path is lost, so it probes again; the peer restarted),
and `session.Session` is the surface the driver, the application and the
network call (timers, messages, datagrams), each call routed to what is here.
The parts themselves (`paths`, `keyschedule`, `channel`, `outbox`,
`farewell`) make every decision about paths, keys and delivery.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from dataclasses import dataclass, field

from . import noise, wire
from .address import Address, Route, remote_address
from .channel import Channel
from .farewell import Farewell
from .frames import NOT_ACK_ELICITING
from .keyschedule import Keyed, KeySchedule
from .outbox import Outbox
from .paths import Paths
from .session_events import Connected, Event, Failed, PathLost, PeerLeft, Pong
from .sessionconfig import SessionConfig
from .state import Machine, State

log = logging.getLogger("p2ptui.net.session")


@dataclass
class SessionMachine:
    """The parts of one peer's session, its state and its transitions. Not
    thread-safe; `session.Session` is the class to use."""

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
        # The initial RTT makes the first probe timeout rto_initial (RFC 9002, 6.2.2: srtt + 4 * srtt/2).
        self.channel = Channel(initial_rtt=config.rto_initial / 3, max_pto=rto_max, dropped=self.dropped)
        self.channel.events = self._events  # One list, so the order of what happened holds.
        self.outbox = Outbox(self.local_tag, self.keys, self.channel.next_pn)
        self.paths = Paths(config, self.outbox.from_paths, self.dropped)
        #: Probe packets the loss timer asked for, sent with the next datagrams.
        self._probes = 0
        #: The latest time we were given: datagrams_to_send's, when the driver gives none.
        self._now = 0.0
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
        return self.channel.recovery.rtt.latest

    @property
    def unacknowledged(self) -> int:
        """Messages handed to send_message that the peer has not acknowledged yet."""
        return self.channel.unacknowledged

    @property
    def relayed(self) -> bool:
        """Whether the open path (if any) goes through a relay, ours or the peer's."""
        return self.paths.relayed

    @property
    def secure(self) -> bool:
        """Whether the handshake has given us keys (the path may be open or not)."""
        return self.keys.secure

    # --- The state and its transitions ----------------------------------------------

    @property
    def state(self) -> State:
        return self._machine.state

    def _set_state(self, new: State) -> None:
        """The one place the state changes; LocalProtocolError (state unchanged) if illegal.
        The parts are told, so each runs the timers of the new state."""
        if not self._machine.change(new):
            return
        self.paths.state = self.keys.state = new
        self.channel.sending = False  # Until _connected resumes it.
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
        self.channel.sending = True
        self.channel.path_changed()

    def _peer_restarted(self) -> None:
        """The peer came back with a new tag: a new instance with no memory of us.

        Only a new instance may bring a new tag: the node refuses offers and
        answers older than the newest it has taken from the peer, so a delayed
        or replayed one cannot make this side renumber alone.
        """
        log.debug("session %s: peer restarted", self.local_tag.hex())
        self.channel.restart()
        self.paths.forget_probes()
        self.keys.reset()
        self._set_state(State.IDLE)

    def _probe_received(self, txid: bytes, source: Route, now: float, *, authenticated: bool) -> None:
        # Answer in kind: a peer probing in the clear has no keys to read an answer with.
        self.outbox.probe_ack(txid, source, cleartext=not authenticated)
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
        self.channel.recovery.rtt.sample(answer.rtt)
        if answer.ping:
            self._events.append(Pong(txid, answer.rtt))
        if answer.moved and self.state == State.CONNECTED:
            self._events.append(Connected(remote_address(source), answer.rtt))
            self.channel.path_changed()
        self._path_works(source, now)

    # --- The handshake ------------------------------------------------------------

    def _initiate(self, now: float) -> None:
        self.keys.initiate(now)
        self._send_initiation(now)

    def _send_initiation(self, now: float) -> None:
        route = self.path or (self.candidates[0] if self.candidates else None)
        if route is not None:
            self.outbox.handshake(self.keys.initiation_packet(now, self.channel.recovery.rtt.pto()), route)

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

    def _transmit(self, now: float) -> None:
        """Send what the channel packs, on the open path (acks even while not connected)."""
        path = self.path
        if path is None or not self.secure or self.remote_tag is None:
            return
        probes, self._probes = self._probes, 0
        for pn, frames in self.channel.packets(now, probe=probes):
            self.outbox.frames(pn, frames, path)
            if self.channel.sending and not all(isinstance(f, NOT_ACK_ELICITING) for f in frames):
                self.paths.expect_answer(now)

    def _peer_left(self) -> None:
        self.channel.end_streams()
        self._set_state(State.CLOSED)
        self._events.append(PeerLeft())

    def _send_goodbye(self, now: float) -> None:
        route = self.farewell.due(now)
        if route is not None:
            self.outbox.goodbye(route)
