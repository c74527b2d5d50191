"""Loss detection and round-trip estimation, RFC 9002 sections 5 and 6, free of I/O.

Every packet has its own number; an ACK names the numbers that arrived.
A packet is lost once a packet sent 3 numbers later is acknowledged (the
packet threshold) or once it is 9/8 of a round trip older than one that was
(the time threshold). When nothing is acknowledged for a probe timeout
(PTO: srtt + 4 rttvar + the peer's ack delay, doubling each time it fires),
the owner sends one or two probe packets; PTO never declares anything lost by
itself. What a lost packet carried is the owner's to send again, in new
packets with fresh numbers: `Recovery` only says which packets are done.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .congestion import NewReno
from .frames import Frame

K_PACKET_THRESHOLD = 3
K_TIME_THRESHOLD = 9 / 8
K_GRANULARITY = 0.001
K_PERSISTENT_CONGESTION_THRESHOLD = 3
#: We acknowledge as soon as the driver collects datagrams: at most this late.
MAX_ACK_DELAY = 0.005
#: The PTO back-off's exponent cap: a peer that never answers must not overflow a float.
MAX_PTO_BACKOFF = 16


@dataclass(slots=True)
class SentPacket:
    pn: int
    sent_at: float
    size: int
    ack_eliciting: bool
    frames: list[Frame] = field(default_factory=list)
    """What the packet carried that must arrive (the owner sends it again if lost)."""


class RttEstimator:
    """RFC 9002, 5: min_rtt, smoothed_rtt and rttvar from ack samples."""

    def __init__(self, initial: float) -> None:
        self.initial = initial
        self.latest: float | None = None
        self.min_rtt: float | None = None
        self.smoothed = initial
        self.rttvar = initial / 2
        self.has_sample = False

    def sample(self, latest: float, ack_delay: float = 0.0) -> None:
        latest = max(latest, 0.0)
        self.latest = latest
        if not self.has_sample:
            self.has_sample = True
            self.min_rtt, self.smoothed, self.rttvar = latest, latest, latest / 2
            return
        assert self.min_rtt is not None
        self.min_rtt = min(self.min_rtt, latest)
        adjusted = latest
        # RFC 9002, 5.3: take out the peer's ack delay, never below min_rtt.
        if latest >= self.min_rtt + min(ack_delay, MAX_ACK_DELAY):
            adjusted = latest - min(ack_delay, MAX_ACK_DELAY)
        self.rttvar = 0.75 * self.rttvar + 0.25 * abs(self.smoothed - adjusted)
        self.smoothed = 0.875 * self.smoothed + 0.125 * adjusted

    def pto(self) -> float:
        return self.smoothed + max(4 * self.rttvar, K_GRANULARITY) + MAX_ACK_DELAY


class Recovery:
    """The packets in flight, which of them an ACK settles, and the loss timer."""

    def __init__(self, initial_rtt: float, max_pto: float, cc: NewReno | None = None) -> None:
        self.rtt = RttEstimator(initial_rtt)
        self.cc = cc or NewReno()
        self.max_pto = max_pto
        self.sent: dict[int, SentPacket] = {}  # By number, in the order sent.
        self.largest_acked: int | None = None
        self.pto_count = 0
        self._loss_time: float | None = None
        self._last_ack_eliciting: float | None = None
        self._largest_acked_sent_at = -1.0
        self._first_sample_at: float | None = None

    @property
    def ack_eliciting_in_flight(self) -> bool:
        return any(p.ack_eliciting for p in self.sent.values())

    def on_sent(self, packet: SentPacket) -> None:
        if not packet.ack_eliciting:
            return  # ACK-only packets are neither in flight nor retransmitted (RFC 9002, 2).
        self.sent[packet.pn] = packet
        self.cc.on_sent(packet.size)
        self._last_ack_eliciting = packet.sent_at

    def on_ack(
        self, ranges: tuple[tuple[int, int], ...], ack_delay: float, now: float
    ) -> tuple[list[SentPacket], list[SentPacket]]:
        """(newly acknowledged, newly lost) packets, each in the order sent."""
        largest = ranges[0][1]
        lowest = ranges[-1][0]
        acked = []
        for pn in list(self.sent):
            if pn > largest:
                break
            if pn >= lowest and any(low <= pn <= high for low, high in ranges):
                acked.append(self.sent.pop(pn))
        if not acked:
            return [], []
        prior_acked_sent_at = self._largest_acked_sent_at
        if self.largest_acked is None or largest > self.largest_acked:
            self.largest_acked = largest
        newest = acked[-1]
        if newest.pn == largest:  # RFC 9002, 5.1: sample only when the largest is newly acked.
            self.rtt.sample(now - newest.sent_at, ack_delay)
            if self._first_sample_at is None:
                self._first_sample_at = now
        self._largest_acked_sent_at = max(self._largest_acked_sent_at, newest.sent_at)
        for packet in acked:
            self.cc.on_acked(packet.size, packet.sent_at)
        lost = self._detect_lost(now, prior_acked_sent_at)
        self.pto_count = 0
        return acked, lost

    def next_timeout(self) -> float | None:
        if self._loss_time is not None:
            return self._loss_time
        if self._last_ack_eliciting is None or not self.sent:
            return None
        return self._last_ack_eliciting + self.pto_period()

    def pto_period(self) -> float:
        return min(self.rtt.pto() * float(2 ** min(self.pto_count, MAX_PTO_BACKOFF)), self.max_pto)

    def on_timeout(self, now: float) -> tuple[list[SentPacket], bool]:
        """(lost packets, whether to send probe packets now: the PTO fired)."""
        if self._loss_time is not None and now >= self._loss_time:
            return self._detect_lost(now, self._largest_acked_sent_at), False
        deadline = self.next_timeout()
        if deadline is None or now < deadline:
            return [], False
        self.pto_count += 1
        self._last_ack_eliciting = now  # The probes restart the timer.
        return [], True

    def oldest_unacked(self, count: int) -> list[SentPacket]:
        return list(self.sent.values())[:count]

    def discard_all(self) -> list[SentPacket]:
        """Forget every packet in flight (a new path, a restarted peer): the owner
        sends what they carried again. No congestion signal: nothing was lost."""
        packets = list(self.sent.values())
        for packet in packets:
            self.cc.on_removed(packet.size)
        self.sent.clear()
        self._loss_time = None
        self.pto_count = 0
        return packets

    def _detect_lost(self, now: float, prior_acked_sent_at: float) -> list[SentPacket]:
        self._loss_time = None
        if self.largest_acked is None:
            return []
        rtt = self.rtt
        loss_delay = max(K_TIME_THRESHOLD * max(rtt.latest or rtt.smoothed, rtt.smoothed), K_GRANULARITY)
        lost = []
        for pn, packet in list(self.sent.items()):
            if pn > self.largest_acked:
                break
            at = packet.sent_at + loss_delay  # One expression, so the timer and this test agree.
            if at <= now or self.largest_acked >= pn + K_PACKET_THRESHOLD:
                lost.append(self.sent.pop(pn))
            else:
                self._loss_time = at if self._loss_time is None else min(self._loss_time, at)
        if lost:
            self.cc.on_lost([p.size for p in lost], lost[-1].sent_at, now)
            if self._persistent(lost, prior_acked_sent_at):
                self.cc.persistent_congestion()
        return lost

    def _persistent(self, lost: list[SentPacket], prior_acked_sent_at: float) -> bool:
        """RFC 9002, 7.6: lost packets spanning 3 PTOs with nothing acknowledged between
        (approximated: nothing acknowledged was sent after the first of them)."""
        if self._first_sample_at is None or len(lost) < 2:
            return False
        first, last = lost[0].sent_at, lost[-1].sent_at
        if first < self._first_sample_at:
            return False  # Only a span after the first RTT sample counts.
        duration = (self.rtt.smoothed + max(4 * self.rtt.rttvar, K_GRANULARITY) + MAX_ACK_DELAY)
        return last - first >= duration * K_PERSISTENT_CONGESTION_THRESHOLD and prior_acked_sent_at < first
