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

Two modules, split where the file passed 400 lines: `session_machine` holds
the parts, the views of them, the state and its transitions, and the
handshake's steps (how the session reacts); this one is the surface the
driver, the application and the network call (timers, messages, datagrams).

The rules do not depend on which side offered: both probe, the side with the
lower key initiates the handshake, and only then is the session CONNECTED;
from then on everything travels encrypted. Punching probes before the
handshake carry no content: two tags and a random id.

`close()` says goodbye: an encrypted GOODBYE, sent a few times, and the
session is CLOSED for good. A peer's authenticated GOODBYE closes it too,
with a `PeerLeft` event.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from . import wire
from .address import Address, Route, Via, remote_address
from .errors import LocalProtocolError
from .keyschedule import Timer
from .paths import MAX_PROBES, MAX_REMOTE_RELAYS
from .reliability import MAX_MESSAGE_BYTES, MessageTooLong
from .session_events import Connected, Event, Failed, MessageDelivered, MessageReceived, PathLost, PeerLeft, Pong
from .session_machine import SessionMachine
from .sessionconfig import SessionConfig
from .state import TRANSITIONS, State

# What node.py, tests and tools import from here; the parts' names are re-exported.
__all__ = [
    "MAX_MESSAGE_BYTES", "MAX_PROBES", "MAX_REMOTE_RELAYS", "TRANSITIONS", "Address", "Connected", "Event",
    "Failed", "MessageDelivered", "MessageReceived", "MessageTooLong", "PathLost", "PeerLeft", "Pong", "Route",
    "Session", "SessionConfig", "State", "Via", "remote_address",
]  # fmt: skip

#: Seconds between tries to hand over messages the owner could not store (a full disk).
STORE_RETRY = 5.0


@dataclass
class Session(SessionMachine):
    """The connection to one peer. Not thread-safe; one task drives it.

    The surface the node and the TUI use: what the driver collects, what the
    application does, what the network brings. The parts, their views and the
    state's transitions are SessionMachine's; every decision about paths, keys
    or delivery lives in a part.
    """

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
