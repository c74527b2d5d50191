"""One conversation's connection to one peer, as a state machine free of I/O.

A `Session` is fed datagrams (already parsed) and the current time; it returns
datagrams to send, events for the application, and when it next wants to be
woken. The trio layer only moves bytes and sleeps.

As wsproto's connection is over its layers, a Session is a thin owner of
three parts, each its own module, tested on its own:

- `paths.Paths`: candidates, probing, ranking, relays, keepalives, path loss;
- `keyschedule.KeySchedule`: the Noise IK handshake, rekeys, the keys alive;
- `channel.Channel`: the streams (chat, control, bulk), packing frames into
  packets, acks, loss recovery, congestion control and pacing.

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

from . import frames as fr
from . import wire
from .address import Address, Route, Via, remote_address
from .errors import LocalProtocolError
from .keyschedule import Timer
from .paths import MAX_PROBES, MAX_REMOTE_RELAYS
from .records import MAX_MESSAGE_BYTES, MessageTooLong
from .session_events import (
    APP_FILES,
    APP_GROUPS,
    MAX_CONTROL_BYTES,
    Connected,
    ControlReceived,
    Event,
    Failed,
    MessageDelivered,
    MessageReceived,
    PathLost,
    PeerLeft,
    Pong,
    StreamData,
    StreamReset,
)  # fmt: skip
from .session_machine import SessionMachine
from .sessionconfig import SessionConfig
from .state import TRANSITIONS, State

# What node.py, tests and tools import from here; the parts' names are re-exported.
__all__ = [
    "APP_FILES", "APP_GROUPS", "MAX_CONTROL_BYTES", "MAX_MESSAGE_BYTES", "MAX_PROBES", "MAX_REMOTE_RELAYS",
    "TRANSITIONS", "Address", "Connected", "ControlReceived", "Event", "Failed", "MessageDelivered",
    "MessageReceived", "MessageTooLong", "PathLost", "PeerLeft", "Pong", "Route", "Session", "SessionConfig",
    "State", "StreamData", "StreamReset", "Via", "remote_address",
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

    def datagrams_to_send(self, now: float | None = None) -> list[tuple[bytes, Route]]:
        """What to send now. Acks wait for this: a burst of data gets one ack.

        Collecting means the owner kept what the events handed over (stored the
        messages, wrote the stream data): only now is that acknowledged to the peer.
        now: the time (the latest one given to the session, if None)."""
        now = self._now if now is None else max(self._now, now)
        self._now = now
        self.channel.commit()
        self._transmit(now)
        return self.outbox.take()

    @property
    def has_events(self) -> bool:
        """Whether `events()` has something: what the owner has not been told yet."""
        return bool(self._events)

    def events(self) -> list[Event]:
        events = list(self._events)
        self._events.clear()  # In place: the channel appends to this very list.
        return events

    def next_timeout(self) -> float | None:
        """When handle_timeout wants to be called next, or None if never: the earliest of the parts'."""
        parts = (self.paths, self.keys, self.channel, self.farewell)
        times = [part.next_timeout() for part in parts] + [self._hand_over_at]
        return min((t for t in times if t is not None), default=None)

    def handle_timeout(self, now: float) -> None:
        """Each part runs its own due timers; the session acts on what they report."""
        self._now = max(self._now, now)
        if self._hand_over_at is not None and now >= self._hand_over_at:
            self._hand_over_at = None
            self._events += self.channel.hand_over_again()
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
        self._probes = max(self._probes, self.channel.handle_timeout(now))
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
        self.channel.take_back()
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
        """Queue a chat message; it goes out with the next datagrams if connected,
        else when a path opens. Raises MessageTooLong over MAX_MESSAGE_BYTES."""
        self._now = max(self._now, now)
        self.channel.send_message(message_id, text.encode("utf-8"))

    def send_control(self, app: int, payload: bytes, now: float) -> None:
        """One reliable, ordered record on the control stream, for the application
        numbered app (APP_FILES, APP_GROUPS). Not kept past this session: lost if
        it ends first. Raises MessageTooLong over MAX_CONTROL_BYTES."""
        self._now = max(self._now, now)
        self.channel.send_control(app, payload)

    def open_stream(self, now: float) -> int:
        """A new outgoing bulk stream: reliable, ordered bytes, behind chat and control."""
        self._now = max(self._now, now)
        return self.channel.open_stream()

    def stream_room(self, stream_id: int) -> int:
        """How many bytes stream_write should be given now (0 when full)."""
        return self.channel.stream_room(stream_id)

    def stream_write(self, stream_id: int, data: bytes, now: float, *, fin: bool = False) -> None:
        """Bytes for our stream; fin: the last. LocalProtocolError for a stream we
        did not open, or after fin; nothing happens on a stream the peer reset."""
        self._now = max(self._now, now)
        self.channel.stream_write(stream_id, data, fin=fin)

    def stream_acked(self, stream_id: int) -> int:
        """How many bytes of our stream the peer has acknowledged (for progress)."""
        return self.channel.stream_acked(stream_id)

    def reset_stream(self, stream_id: int, now: float) -> None:
        """Stop a stream, ours or the peer's, both ways: the peer gets StreamReset."""
        self._now = max(self._now, now)
        self.channel.reset_stream(stream_id)

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
                    self._frames_received(inner, source, now)
            case wire.ProbeAck() if self.secure:
                # We probe encrypted once we have keys; a cleartext answer is not the peer's.
                self.dropped["cleartext after the handshake"] += 1
            case wire.Probe(txid=txid):
                self._heard_in_clear(source)
                self._probe_received(txid, source, now, authenticated=False)
            case wire.ProbeAck(txid=txid):
                self._heard_in_clear(source)
                self._probe_answered(txid, source, now)

    def _heard_in_clear(self, source: Route) -> None:
        if not self.secure:
            self.paths.heard_from(source)

    def _frames_received(self, packet: wire.Frames, source: Route, now: float) -> None:
        """An authenticated packet: the path frames steer the paths, the rest go to the channel."""
        self._now = max(self._now, now)
        self.paths.heard_from(source)
        self._peer_lacks_answer = False
        self.paths.authenticated_from(source, now)
        carries = False
        for frame in packet.frames:
            match frame:
                case fr.Probe(txid=txid):
                    self._probe_received(txid, source, now, authenticated=True)
                case fr.ProbeAck(txid=txid):
                    self._probe_answered(txid, source, now)
                case fr.CallMe():
                    self.paths.call_me_received(now)
                case fr.Goodbye():
                    if self.state != State.CLOSED:
                        self._peer_left()
                    return
                case _:
                    carries = True
        if carries and self.state != State.CLOSED:
            # The peer sends data and acks only once its own probe came back: this path works.
            self._path_works(source, now)
            self.channel.packet_received(packet.pn, packet.frames, now)
