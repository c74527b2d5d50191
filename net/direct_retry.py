"""The direct-retry policy, free of I/O: while the open path is one a direct
path could beat (a relayed one, or IPv4 where the peer has IPv6), when to try
the direct paths again, and how often the peer may ask us to (CALL_ME).

Split from paths.py (which grew past 400 lines): `paths.Paths` probes and
sends the CALL_ME; this part only keeps the times. A retry every
`direct_retry_interval` probes the direct paths and asks the peer to probe at
the same moment, so both NATs open toward each other at once.
"""

from __future__ import annotations

from .address import Route, remote_address
from .candidates import Candidates
from .sessionconfig import SessionConfig

#: However often the peer asks us to probe (CALL_ME), at most this often.
CALL_ME_MIN_INTERVAL = 1.0


class DirectRetry:
    """When the next direct retry is due, and when the peer last had us probe. Not thread-safe."""

    def __init__(self, config: SessionConfig) -> None:
        self._interval = config.direct_retry_interval
        #: When to try the direct paths again.
        self.at = 0.0
        self._last_call_me = float("-inf")
        #: On a direct IPv4 path with a better IPv6 candidate: seek it as from a relay.
        self.ipv6_better = False

    def path_changed(self, known: Candidates, path: Route | None) -> None:
        """Worked out when the path or the candidates change, not on every wakeup."""
        if path is None or known.is_relayed(path):
            self.ipv6_better = False
            return
        rank = known.rank(path)
        self.ipv6_better = any(":" in remote_address(c)[0] and known.rank(c) < rank for c in known.direct())

    def connected(self, now: float) -> None:
        """A path opened: the first retry is an interval away."""
        self.at = now + self._interval

    def due(self, now: float) -> bool:
        return now >= self.at

    def retried(self, now: float) -> None:
        """We probed the direct paths and sent a CALL_ME."""
        self.at = now + self._interval
        self._last_call_me = now

    def call_me_allowed(self, now: float) -> bool:
        """The peer asked us to probe: whether to (at most every CALL_ME_MIN_INTERVAL)."""
        if now - self._last_call_me < CALL_ME_MIN_INTERVAL:
            return False
        self._last_call_me = now
        return True
