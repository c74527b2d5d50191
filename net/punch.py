"""The punch's schedule, free of I/O: probing rounds further and further apart
until a deadline, and when relayed paths join them.

Split from paths.py (which grew past 400 lines): `paths.Paths` sends the
probes of a round; this part only keeps the times. Rounds start
`probe_interval` apart and double to `probe_interval_max`; the punch ends at
`punch_timeout`. Relayed paths join after `relay_delay`, or at once when the
NAT types rule direct out. The same rounds go on (direct paths only) after a
relay answered first, until the deadline.
"""

from __future__ import annotations

from .sessionconfig import SessionConfig


class PunchSchedule:
    """When the next round is due, when the punch ends, and whether relays are in. Not thread-safe."""

    def __init__(self, config: SessionConfig) -> None:
        self._config = config
        self.deadline = 0.0
        self.next_round = 0.0
        self._gap = config.probe_interval
        #: When relayed paths join the punching, and whether they have yet.
        self._relay_at = 0.0
        #: The NAT types say direct will not work: relays join at once.
        self.relay_now = False
        self.relaying = False

    def begin(self, now: float) -> None:
        self.deadline = now + self._config.punch_timeout
        self.next_round = now
        self._gap = self._config.probe_interval
        self._relay_at = now if self.relay_now else now + self._config.relay_delay
        self.relaying = self.relay_now

    def round_sent(self, now: float) -> None:
        """A round went out: the next one is due after a gap twice as long (to a cap)."""
        self.next_round = now + self._gap
        self._gap = min(self._gap * 2, self._config.probe_interval_max)

    def over(self, now: float) -> bool:
        return now >= self.deadline

    def round_due(self, now: float) -> bool:
        return now >= self.next_round

    def relays_due(self, now: float) -> bool:
        """Whether relayed paths should join now (the caller knows there are some)."""
        return not self.relaying and now >= self._relay_at

    def stop_rounds(self) -> None:
        """The punch is over; no more rounds (the direct retries go on elsewhere)."""
        self.next_round = float("inf")

    def next_timeout(self, any_relays: bool) -> float:
        """While punching: the next round, the deadline, or relays joining."""
        times = [self.next_round, self.deadline]
        if not self.relaying and any_relays:
            times.append(self._relay_at)
        return min(times)
