"""The secure channel's key schedule for one conversation, free of I/O.

Over the first open path the two sides run a Noise IK handshake
(`secure.py`); the side with the lower key initiates, whoever offered. The
initiator sends message 1 again, backing off, until message 2 arrives, and
runs a fresh handshake every `rekey_after` seconds for forward secrecy within
a conversation. Three sets of keys may be alive at once:

- current: what we seal with;
- previous: the keys before a rekey, for datagrams still in flight;
- next: a responder's new keys, until the initiator's first datagram under
  them confirms the handshake (then they become current).

An initiation can overtake the offer or answer that carries the peer's key;
it is kept (one) until the key arrives, rather than dropped.

This part returns handshake packets for the Session to send; it never
chooses a path.
"""

from __future__ import annotations

import enum
from collections import Counter
from dataclasses import dataclass

from . import noise, secure, wire
from .address import Route
from .state import State

#: Initiation retransmissions back off at most 2**5 times.
_MAX_INIT_BACKOFF = 5
#: The first handshake's message 1 goes again at least this often until its
#: deadline: with no keys yet the conversation waits on it, and on a lossy
#: path a back-off to rto_max would leave one or two tries in the whole window.
FIRST_INIT_RESEND_MAX = 0.5


class Keyed(enum.Enum):
    """What an initiation from the peer did to our keys."""

    FIRST = "first"
    """The conversation's first keys: the channel is secure now."""
    REKEY = "rekey"
    """New keys, kept as next until the initiator uses them."""
    REPEAT = "repeat"
    """Our answer was lost: the same answer again, no new keys."""


@dataclass(frozen=True, slots=True)
class Reply:
    """Send `packet` back where the initiation came from."""

    packet: wire.HandshakeResp
    keyed: Keyed


class Timer(enum.Enum):
    """What a timeout asks of the Session."""

    NOTHING = "nothing"
    SEND_INITIATION = "send initiation"
    """Message 1 again (unanswered), or a rekey's new message 1."""
    HANDSHAKE_FAILED = "handshake failed"
    """A path opened but the handshake did not complete in time."""


class KeySchedule:
    """The handshake, rekeys and the keys alive for one conversation."""

    def __init__(
        self,
        static_key: bytes,
        local_tag: bytes,
        *,
        rekey_after: float = secure.REKEY_AFTER_SECONDS,
        rto_min: float = 0.2,
        rto_max: float = 8.0,
        dropped: Counter[str] | None = None,
    ) -> None:
        self.static_key = static_key
        self.static_public = noise.public_key(static_key)
        self.local_tag = local_tag
        self.rekey_after = rekey_after
        self.rto_min, self.rto_max = rto_min, rto_max
        self.dropped: Counter[str] = Counter() if dropped is None else dropped
        #: The session's state, as the Session last told it.
        self.state = State.IDLE
        self.remote_tag: bytes | None = None
        #: The peer's long-term X25519 public key, from its signed offer or answer.
        self.remote_static: bytes | None = None
        self.current: secure.Keys | None = None
        self.previous: secure.Keys | None = None
        self.next: secure.Keys | None = None
        self.initiation: secure.Initiation | None = None
        self._initiations = 0
        self._init_resend_at = 0.0
        self._init_tries = 0
        self._handshake_deadline = 0.0
        self._last_init_counter = 0
        self._last_response: tuple[bytes, bytes] | None = None
        #: An initiation that came before the peer's key did (its answer is on the way).
        self._early: tuple[bytes, Route] | None = None

    @property
    def secure(self) -> bool:
        """Whether a handshake has given us keys."""
        return self.current is not None

    @property
    def holds_early_initiation(self) -> bool:
        return self._early is not None

    def is_initiator(self) -> bool:
        """Whether we start the handshake: both sides decide alike."""
        if self.remote_tag is None or self.remote_static is None:
            return False  # Nobody starts before knowing whom it talks to.
        return secure.is_initiator(self.static_public, self.local_tag, self.remote_static, self.remote_tag)

    def reset(self) -> None:
        """The peer restarted: none of its keys or handshakes count any more."""
        self.current = self.previous = self.next = None
        self.initiation = None
        self._last_init_counter = 0
        self._last_response = None
        self._early = None

    def abandon(self) -> None:
        """Stop the handshake under way (the session failed or closed)."""
        self.initiation = None

    # --- Timers -------------------------------------------------------------------------

    def expect_handshake(self, now: float, timeout: float) -> None:
        """A path opened: the handshake must complete within timeout."""
        self._handshake_deadline = now + timeout

    def rekey_due_at(self) -> float | None:
        """When the initiator runs a fresh handshake; None while it must not."""
        keys = self.current
        if self.state != State.CONNECTED or self.initiation is not None or keys is None:
            return None
        if not self.is_initiator() or keys.received == 0:
            return None  # The responder has not switched to these keys yet: no rekey on a rekey.
        return keys.created + self.rekey_after

    def next_timeout(self) -> float | None:
        times = []
        # While punching, the probe rounds wake the session often enough.
        if self.initiation is not None and self.state != State.PROBING:
            times.append(self._init_resend_at)
        if self.state == State.HANDSHAKE:
            times.append(self._handshake_deadline)
        if (due := self.rekey_due_at()) is not None:
            times.append(due)
        return min(times, default=None)

    def handle_timeout(self, now: float) -> Timer:
        if self.state == State.HANDSHAKE and now >= self._handshake_deadline:
            return Timer.HANDSHAKE_FAILED
        if self.initiation is not None and now >= self._init_resend_at:
            return Timer.SEND_INITIATION
        due = self.rekey_due_at()
        if due is not None and now >= due:
            self.initiate(now)
            return Timer.SEND_INITIATION
        return Timer.NOTHING

    # --- The handshake ----------------------------------------------------------------

    def initiate(self, now: float) -> None:
        """Start a handshake (the first, or a rekey); send initiation_packet() next."""
        assert self.remote_tag is not None and self.remote_static is not None
        self._initiations += 1
        self.initiation = secure.Initiation(
            self.static_key, self.remote_static, self.local_tag, self.remote_tag, self._initiations, now
        )
        self._init_tries = 0

    def initiation_packet(self, now: float, rto: float) -> wire.HandshakeInit:
        """Message 1, to send now; it goes again, backing off, until answered."""
        assert self.initiation is not None and self.remote_tag is not None
        backoff = max(rto, self.rto_min) * 2 ** min(self._init_tries, _MAX_INIT_BACKOFF)
        cap = self.rto_max if self.current is not None else min(self.rto_max, FIRST_INIT_RESEND_MAX)
        self._init_resend_at = now + min(backoff, cap)
        self._init_tries += 1
        return wire.HandshakeInit(self.remote_tag, self.local_tag, self.initiation.message)

    def take_early_initiation(self) -> tuple[bytes, Route] | None:
        """The initiation kept until the peer's key came, once that has come."""
        if self._early is None or self.remote_static is None:
            return None
        early, self._early = self._early, None
        return early

    def initiation_received(self, message: bytes, source: Route, now: float) -> Reply | None:
        """The peer's message 1: our answer to send back, or None (kept or dropped)."""
        assert self.remote_tag is not None
        if self.remote_static is None:
            # Its offer or answer is still on the way: keep it rather than make the
            # initiator wait a retransmission.
            self._early = (message, source)
            return None
        if self.is_initiator():
            self.dropped["handshake from the wrong side"] += 1
            return None
        if self._last_response is not None and self._last_response[0] == message:
            # Our answer was lost: the same answer again (a new one would be new keys).
            return Reply(wire.HandshakeResp(self.remote_tag, self.local_tag, self._last_response[1]), Keyed.REPEAT)
        try:
            answer = secure.respond(self.static_key, self.remote_static, self.local_tag, self.remote_tag, message, now)
        except secure.HandshakeError:
            self.dropped["bad handshake"] += 1
            return None
        if answer.counter <= self._last_init_counter:
            self.dropped["replayed handshake"] += 1
            return None
        self._last_init_counter = answer.counter
        self._last_response = (message, answer.message)
        reply = wire.HandshakeResp(self.remote_tag, self.local_tag, answer.message)
        if self.current is not None:
            self.next = answer.keys  # A rekey: switch once the initiator uses them.
            return Reply(reply, Keyed.REKEY)
        self.current = answer.keys
        return Reply(reply, Keyed.FIRST)

    def response_received(self, message: bytes, now: float) -> bool:
        """The peer's message 2: whether it completed our handshake (new current keys)."""
        if self.initiation is None:
            self.dropped["unexpected handshake"] += 1
            return False
        try:
            keys = self.initiation.finish(message, now)
        except secure.HandshakeError:
            self.dropped["bad handshake"] += 1
            return False
        self.initiation = None
        self.previous, self.current = self.current, keys
        return True

    # --- Sealing and opening --------------------------------------------------------------

    def seal(self, inner: wire.Inner) -> wire.Transport:
        """Encrypt an inner packet under the current keys."""
        assert self.current is not None
        return self.current.seal(inner.to_tag, inner.from_tag, inner)

    def open(self, packet: wire.Transport) -> wire.Inner | None:
        """Decrypt and parse a transport datagram; None (and counted) if it is not genuine."""
        for keys in (self.current, self.next, self.previous):
            if keys is None or keys.key_id != packet.key_id:
                continue
            if not keys.window.check(packet.counter):
                self.dropped["replayed"] += 1
                return None
            try:
                plaintext = keys.open(packet)
            except noise.NoiseError:
                continue
            if keys is self.next:
                self.previous, self.current, self.next = self.current, keys, None
            try:
                return wire.parse_inner_untrusted(packet.to_tag, packet.from_tag, plaintext)
            except wire.WireError:
                self.dropped["malformed inner packet"] += 1
                return None
        self.dropped["failed authentication"] += 1
        return None
