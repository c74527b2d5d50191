"""Saying goodbye, free of I/O: a few copies of one datagram, a few ms apart.

A GOODBYE is never answered (the sender is leaving), so it goes a bounded
number of times on the path in use, and loss of all copies costs only what
it cost before goodbyes existed: the peer notices the path is gone.
"""

from __future__ import annotations

from .address import Route


class Farewell:
    def __init__(self, copies: int = 3, interval: float = 0.005) -> None:
        self.copies, self.interval = max(copies, 0), interval
        self.route: Route | None = None
        self._left = 0
        self._at = 0.0

    def begin(self, route: Route, now: float) -> None:
        """Say goodbye on route, starting now."""
        self.route, self._left, self._at = route, self.copies, now

    def next_timeout(self) -> float | None:
        return self._at if self._left else None

    def due(self, now: float) -> Route | None:
        """Where to send a copy now, if one is due (at most one per call)."""
        if not self._left or now < self._at:
            return None
        self._left -= 1
        self._at = now + self.interval
        return self.route
