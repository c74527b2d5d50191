"""Congestion control and pacing, RFC 9002 sections 7 and 7.7, free of I/O.

`NewReno` decides how many bytes may be in flight: slow start doubles the
window each round trip, a loss halves it once per round trip (recovery), then
congestion avoidance grows it by one datagram per window; persistent
congestion (every packet lost over a long span) collapses it to the minimum.
`Pacer` spreads what the window allows over the round trip, so a window's
worth never leaves as one burst that overflows a router's queue.
"""

from __future__ import annotations

import math

#: RFC 9002, 7.2: the largest datagram we send, and the windows measured in it.
MAX_DATAGRAM_SIZE = 1200
INITIAL_WINDOW = min(10 * MAX_DATAGRAM_SIZE, max(2 * MAX_DATAGRAM_SIZE, 14720))
MINIMUM_WINDOW = 2 * MAX_DATAGRAM_SIZE
LOSS_REDUCTION_FACTOR = 0.5
#: RFC 9002, 7.7: pace at a multiple of cwnd/srtt, so the window still fills.
PACING_GAIN = 1.25


class NewReno:
    """The congestion window, in bytes, and the bytes in flight against it."""

    def __init__(self) -> None:
        self.cwnd = INITIAL_WINDOW
        self.ssthresh = math.inf
        self.bytes_in_flight = 0
        #: Packets sent before this time are in the recovery period (one reduction per round trip).
        self.recovery_start: float | None = None
        self._acked_bytes = 0  # Congestion avoidance's running count toward one more datagram.

    @property
    def in_slow_start(self) -> bool:
        return self.cwnd < self.ssthresh

    def room(self) -> int:
        return max(self.cwnd - self.bytes_in_flight, 0)

    def reset(self) -> None:
        """A new path (RFC 9000, 9.4): what we learned of the old one does not hold."""
        in_flight = self.bytes_in_flight
        self.__init__()  # type: ignore[misc]
        self.bytes_in_flight = in_flight

    def on_sent(self, size: int) -> None:
        self.bytes_in_flight += size

    def on_removed(self, size: int) -> None:
        """A packet is no longer in flight, with no congestion signal (discarded)."""
        self.bytes_in_flight = max(self.bytes_in_flight - size, 0)

    def on_acked(self, size: int, sent_at: float, *, app_limited: bool = False) -> None:
        self.on_removed(size)
        if self._in_recovery(sent_at) or app_limited:
            return  # RFC 9002, 7.3.2 and 7.8: no growth in recovery, nor while the application held back.
        if self.in_slow_start:
            self.cwnd += size
            return
        self._acked_bytes += size
        if self._acked_bytes >= self.cwnd:
            self._acked_bytes -= self.cwnd
            self.cwnd += MAX_DATAGRAM_SIZE

    def on_lost(self, sizes: list[int], largest_sent_at: float, now: float) -> None:
        for size in sizes:
            self.on_removed(size)
        self.congestion_event(largest_sent_at, now)

    def congestion_event(self, sent_at: float, now: float) -> None:
        if self._in_recovery(sent_at):
            return
        self.recovery_start = now
        self.ssthresh = max(int(self.cwnd * LOSS_REDUCTION_FACTOR), MINIMUM_WINDOW)
        self.cwnd = int(self.ssthresh)
        self._acked_bytes = 0

    def persistent_congestion(self) -> None:
        """RFC 9002, 7.6.2: the path went dark for a long span; start over from the minimum."""
        self.cwnd = MINIMUM_WINDOW
        self.recovery_start = None
        self._acked_bytes = 0

    def _in_recovery(self, sent_at: float) -> bool:
        return self.recovery_start is not None and sent_at <= self.recovery_start


class Pacer:
    """A token bucket filled at PACING_GAIN * cwnd / srtt, holding at most a burst."""

    def __init__(self, burst: int = INITIAL_WINDOW) -> None:
        self.burst = burst
        self.tokens = float(burst)
        self.rate = math.inf  # Bytes a second; unknown (no RTT yet) means no pacing.
        self._last = 0.0

    def update(self, cwnd: int, srtt: float | None, now: float) -> None:
        self._refill(now)
        self.rate = PACING_GAIN * cwnd / srtt if srtt else math.inf

    def allows(self, size: int, now: float) -> bool:
        self._refill(now)
        return self.rate == math.inf or self.tokens >= size

    def on_sent(self, size: int) -> None:
        self.tokens -= size

    def next_send_time(self, size: int) -> float:
        """When a packet of size may go (the last time we looked, if it may already)."""
        if self.tokens >= size or self.rate == math.inf:
            return self._last
        # At least a microsecond on: a float too small to move the clock would spin the driver.
        return self._last + max((size - self.tokens) / self.rate, 1e-6)

    def _refill(self, now: float) -> None:
        if now > self._last:
            if self.rate == math.inf:
                self.tokens = float(self.burst)
            else:
                self.tokens = min(self.tokens + (now - self._last) * self.rate, float(self.burst))
            self._last = now
