"""Reliable, ordered messages over datagrams, free of I/O, paths and crypto.

A `Sender` cuts messages into numbered fragments, keeps at most
`max_in_flight` unacknowledged, and sends each again when its timer runs out
(RFC 6298: a smoothed round-trip time and its variance, Karn's rule, back-off
to a cap) or at once when three later fragments were acknowledged while it was
not (RFC 5681's fast retransmit). A message counts as delivered only once the
peer acknowledges everything up to its last fragment cumulatively: that is,
once the peer's application has it.

A `Receiver` takes fragments in any order, duplicates included, buffers up
to `window` ahead, reassembles each message and hands every one over exactly
once, in order. It acknowledges what arrived in batches, by where it came
from, when the driver collects what to send.

Neither builds a datagram: the Session wraps what they return in `wire.Data`
and `wire.Ack`, and sends it along the current path, encrypted.
"""

from __future__ import annotations

import bisect
from collections import Counter, deque
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from . import wire
from .errors import ConfigError

#: The largest message, in UTF-8 bytes, one send carries.
MAX_MESSAGE_BYTES = 64 * 1024
#: The back-off exponent's cap: a peer that never acknowledges must not overflow a float.
MAX_BACKOFF = 16

#: Where a fragment came from (a Route, for a Session); acks go back there.
Source = TypeVar("Source", bound=Hashable)


class MessageTooLong(ConfigError):
    """The application asked to send more than MAX_MESSAGE_BYTES."""


@dataclass(slots=True)
class OutFragment:
    """One fragment of an outgoing message, and its retransmission state."""

    seq: int
    message_id: bytes
    last: bool
    payload: bytes
    tries: int = 0
    sent_at: float = 0.0
    resend_at: float = 0.0
    later_acks: int = 0
    """Fragments sent after this one and acknowledged since it was last sent."""


@dataclass(frozen=True, slots=True)
class AckOutcome:
    transmit: list[OutFragment]
    """Fragments to send now (fast retransmits, and new ones the window now admits)."""
    delivered: list[bytes]
    """Message ids the peer now has, in the order they were sent."""


class RttEstimator:
    """RFC 6298's retransmission timeout, from round-trip samples."""

    def __init__(self, initial: float, minimum: float, maximum: float) -> None:
        self.minimum, self.maximum = minimum, maximum
        self.rto = initial
        self.srtt: float | None = None
        self.rttvar = 0.0
        #: The latest sample.
        self.rtt: float | None = None

    def sample(self, rtt: float) -> None:
        # RFC 6298, 2.2 and 2.3.
        self.rtt = rtt
        if self.srtt is None:
            self.srtt, self.rttvar = rtt, rtt / 2
        else:
            self.rttvar = 0.75 * self.rttvar + 0.25 * abs(self.srtt - rtt)
            self.srtt = 0.875 * self.srtt + 0.125 * rtt
        self.rto = min(max(self.srtt + 4 * self.rttvar, self.minimum), self.maximum)


class Sender:
    """The sending half: fragments, the window, timers, acknowledgements."""

    def __init__(
        self,
        *,
        rto_initial: float = 0.5,
        rto_min: float = 0.2,
        rto_max: float = 8.0,
        max_in_flight: int = 256,
        fragment_size: int = wire.MAX_FRAGMENT,
        dropped: Counter[str] | None = None,
    ) -> None:
        self.max_in_flight = max_in_flight
        self.fragment_size = fragment_size
        self.timer = RttEstimator(rto_initial, rto_min, rto_max)
        self.dropped: Counter[str] = Counter() if dropped is None else dropped
        #: Whether fragments may go out (the session is connected); else they wait.
        self.sending = False
        self._next_seq = 0
        self._pending: deque[OutFragment] = deque()
        self._in_flight: dict[int, OutFragment] = {}
        #: Every fragment of each message not yet wholly acknowledged, in send order.
        self._unacknowledged: dict[bytes, list[OutFragment]] = {}
        #: Timeouts in a row with nothing new acknowledged: the back-off exponent.
        self._backoff = 0

    @property
    def unacknowledged(self) -> int:
        """Messages queued that the peer has not acknowledged yet."""
        return len(self._unacknowledged)

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    def send(self, message_id: bytes, data: bytes, now: float) -> list[OutFragment]:
        """Queue a message; returns what to transmit now (nothing unless sending)."""
        if len(data) > MAX_MESSAGE_BYTES:
            raise MessageTooLong(f"message is {len(data)} bytes; the limit is {MAX_MESSAGE_BYTES}")
        size = self.fragment_size
        chunks = [data[i : i + size] for i in range(0, len(data), size)] or [b""]
        fragments = []
        for index, chunk in enumerate(chunks):
            fragments.append(OutFragment(self._next_seq, message_id, index == len(chunks) - 1, chunk))
            self._next_seq += 1
        self._pending.extend(fragments)
        self._unacknowledged[message_id] = fragments
        return self._fill(now)

    def resume(self, now: float) -> list[OutFragment]:
        """A path opened (or moved): what is waiting, then all in flight, goes now."""
        self.sending = True
        for fragment in self._in_flight.values():
            fragment.resend_at = now
        out = self._fill(now)
        out += [self._sent(f, now) for f in self._in_flight.values() if f.resend_at <= now]
        return out

    def next_timeout(self) -> float | None:
        if not self.sending:
            return None
        return min((f.resend_at for f in self._in_flight.values()), default=None)

    def handle_timeout(self, now: float) -> list[OutFragment]:
        """The fragments whose timers ran out, to send again."""
        if not self.sending:
            return []
        expired = [f for f in self._in_flight.values() if f.resend_at <= now]
        if expired:
            # Back off once per timeout, not once per fragment (RFC 6298, 5.5).
            self._backoff = min(self._backoff + 1, MAX_BACKOFF)
        return [self._sent(f, now) for f in expired]

    def ack_received(self, seqs: tuple[int, ...], cumulative: int, now: float) -> AckOutcome:
        """seqs arrived (stop resending them); everything below cumulative is delivered."""
        newly = self._stop_resending(seqs, now)
        transmit: list[OutFragment] = []
        if newly:
            # The path delivers: whatever timed out before was loss, not a dead path,
            # so the timers need not stay backed off (RFC 6298, 5.7).
            self._backoff = 0
            transmit = self._fast_retransmit(newly, now)
        if cumulative > self._next_seq:
            self.dropped["ack beyond what was sent"] += 1
            return AckOutcome(transmit, [])
        delivered = self._delivered_below(cumulative)
        if not newly and not delivered:
            self.dropped["duplicate ack"] += 1
        return AckOutcome(transmit + self._fill(now), delivered)

    def restart(self) -> None:
        """The peer restarted with no memory of us: every message not wholly
        acknowledged goes again, all of it, renumbered from 0, in the order sent."""
        self._in_flight.clear()
        self._pending.clear()
        for fragments in self._unacknowledged.values():
            for fragment in fragments:
                fragment.seq, fragment.tries = len(self._pending), 0
                self._pending.append(fragment)
        self._next_seq = len(self._pending)

    # --- Internals -------------------------------------------------------------------

    def _fill(self, now: float) -> list[OutFragment]:
        out = []
        while self.sending and self._pending and len(self._in_flight) < self.max_in_flight:
            fragment = self._pending.popleft()
            self._in_flight[fragment.seq] = fragment
            out.append(self._sent(fragment, now))
        return out

    def _sent(self, fragment: OutFragment, now: float) -> OutFragment:
        """Mark the fragment sent now (the caller sends it) and start its timer."""
        fragment.tries += 1
        fragment.sent_at = now
        fragment.later_acks = 0
        fragment.resend_at = now + min(self.timer.rto * 2**self._backoff, self.timer.maximum)
        return fragment

    def _stop_resending(self, seqs: tuple[int, ...], now: float) -> list[int]:
        """Take the acknowledged fragments out of flight; the newly acknowledged seqs, sorted."""
        newly = []
        for seq in seqs:
            fragment = self._in_flight.pop(seq, None)
            if fragment is None:
                continue
            newly.append(seq)
            if fragment.tries == 1:  # Karn's rule: only unambiguous samples.
                self.timer.sample(now - fragment.sent_at)
        return sorted(newly)

    def _delivered_below(self, cumulative: int) -> list[bytes]:
        # A message counts as delivered only once the peer has handed it to its
        # application (and stored it): a fragment that merely arrived, out of
        # order, would be lost if the peer died before the gap filled.
        delivered = []
        while self._unacknowledged:
            message_id, fragments = next(iter(self._unacknowledged.items()))
            if fragments[-1].seq >= cumulative:
                break
            del self._unacknowledged[message_id]
            for done in fragments:
                self._in_flight.pop(done.seq, None)
            delivered.append(message_id)
        return delivered

    def _fast_retransmit(self, acked: list[int], now: float) -> list[OutFragment]:
        """Three later fragments acknowledged while an earlier one is not: it was lost,
        not late (RFC 5681's idea). Send it now rather than wait out a backed-off timer."""
        out = []
        for seq, fragment in self._in_flight.items():  # In the order they were sent.
            if seq >= acked[-1]:
                break
            fragment.later_acks += len(acked) - bisect.bisect_right(acked, seq)
            if fragment.later_acks >= 3 and now - fragment.sent_at >= (self.timer.srtt or 0.0):
                out.append(self._sent(fragment, now))
        return out


@dataclass
class Receiver(Generic[Source]):
    """The receiving half: reordering, reassembly, exactly-once delivery, batched acks."""

    window: int = 1024
    """How far ahead of the next expected sequence number to buffer."""
    dropped: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.expected = 0
        """The next sequence number to deliver: every one below has been (the cumulative ack)."""
        #: Sequence numbers that arrived and are not acknowledged yet, by where they came from.
        self._to_ack: dict[Source, list[int]] = {}
        self._reorder: dict[int, wire.Data] = {}
        self._assembly: list[bytes] = []
        self._assembly_size = 0
        self._discarding = False
        #: Fragments handed over since the last acks, and where reassembly stood
        #: then: what `take_back` restores when the owner could not keep them.
        self._handed: list[wire.Data] = []
        self._acked_state: tuple[int, list[bytes], int, bool] = (0, [], 0, False)
        #: Where the last fragment came from: a cumulative ack with no new seqs goes there.
        self._last_source: Source | None = None
        #: Taken back and not handed over again yet: buffer, deliver nothing.
        self.holding = False

    def data_received(self, packet: wire.Data, source: Source) -> list[tuple[bytes, str]]:
        """A fragment arrived: the messages it completes, (message id, text), in order."""
        seq = packet.seq
        if seq >= self.expected + self.window:
            self.dropped["beyond window"] += 1
            return []  # Not acknowledged: the sender tries again later.
        messages: list[tuple[bytes, str]] = []
        if seq < self.expected or seq in self._reorder:
            self.dropped["duplicate data"] += 1
        else:
            self._reorder[seq] = packet
            messages = self._deliver()
        # Acknowledged when the driver collects what to send: after it has stored
        # what was delivered, and once for everything that arrived meanwhile.
        self._to_ack.setdefault(source, []).append(seq)
        self._last_source = source
        return messages

    def take_acks(self) -> list[tuple[Source, tuple[int, ...], int]]:
        """The acks owed, as (where to, seqs, cumulative), each within one ACK's limit.

        Collecting them means the owner kept what was handed over since the
        last time: that is now acknowledged, and cannot be taken back.
        """
        acks = []
        for source, seqs in self._to_ack.items():
            for start in range(0, max(len(seqs), 1), wire.MAX_ACK_SEQS):
                acks.append((source, tuple(seqs[start : start + wire.MAX_ACK_SEQS]), self.expected))
        self._to_ack.clear()
        self._handed.clear()
        self._acked_state = (self.expected, list(self._assembly), self._assembly_size, self._discarding)
        return acks

    def take_back(self) -> None:
        """The owner could not keep the messages handed over since the last acks (its
        disk is full): they go back to waiting, as fragments that arrived out of
        order. The cumulative ack stays below them, so the sender keeps them too
        (and stops resending the fragments we hold); `hand_over_again` retries."""
        for packet in self._handed:
            self._reorder[packet.seq] = packet
        self._handed.clear()
        self.expected, assembly, self._assembly_size, self._discarding = self._acked_state
        self._assembly = list(assembly)
        self.holding = True

    def hand_over_again(self) -> list[tuple[bytes, str]]:
        """After `take_back`: the messages waiting, for the owner to try to keep again."""
        self.holding = False
        messages = self._deliver()
        if self._last_source is not None:  # The new cumulative ack, even with no new fragment.
            self._to_ack.setdefault(self._last_source, [])
        return messages

    def reset(self) -> None:
        """The peer restarted: it numbers from 0 again, and owes us nothing."""
        self.expected = 0
        self._to_ack.clear()
        self._reorder.clear()
        self._assembly.clear()
        self._assembly_size = 0
        self._discarding = False
        self._handed.clear()
        self._acked_state = (0, [], 0, False)
        self.holding = False

    def _deliver(self) -> list[tuple[bytes, str]]:
        messages: list[tuple[bytes, str]] = []
        while not self.holding and self.expected in self._reorder:
            packet = self._reorder.pop(self.expected)
            self._handed.append(packet)
            messages += self._assemble(packet)
            self.expected += 1
        return messages

    def _assemble(self, packet: wire.Data) -> list[tuple[bytes, str]]:
        if not self._discarding:
            self._assembly.append(packet.fragment)
            self._assembly_size += len(packet.fragment)
            if self._assembly_size > MAX_MESSAGE_BYTES:
                self.dropped["oversize message"] += 1
                self._discarding = True
                self._assembly.clear()
        if not packet.last_fragment:
            return []
        text = b"".join(self._assembly).decode("utf-8", errors="replace")
        done = [] if self._discarding else [(packet.message_id, text)]
        self._assembly.clear()
        self._assembly_size = 0
        self._discarding = False
        return done
