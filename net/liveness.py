"""Whether the open path still works, free of I/O: when we last asked the peer
something (a probe, data), and since when something has gone unanswered.

Split from paths.py (which grew past 400 lines): `paths.Paths` decides what to
probe and sends it; this part only keeps the times and says what is due. On an
open path: a keepalive probe every `keepalive_interval` (acks do not count as
traffic of ours: answering the peer must not silence our own keepalives),
probes every `suspect_probe_interval` while something goes unanswered, and
the path is lost once something stays unanswered for `path_timeout`.
"""

from __future__ import annotations

from .sessionconfig import SessionConfig


class Liveness:
    """The upkeep timers of one open path. Not thread-safe."""

    def __init__(self, config: SessionConfig) -> None:
        self._config = config
        #: When we last sent something that wants an answer (a probe, data).
        self._last_request = 0.0
        self._last_probe = 0.0
        #: When we first sent something still unanswered on the open path.
        self._unanswered_since: float | None = None

    def asked(self, now: float, *, connected: bool, probe: bool) -> None:
        """We sent something that wants an answer; connected: on the open path."""
        if probe:
            self._last_probe = now
        self._last_request = now
        if connected and self._unanswered_since is None:
            self._unanswered_since = now

    def answered(self) -> None:
        """Something of the peer's arrived on the path (or the path is a new one)."""
        self._unanswered_since = None

    @property
    def unanswered(self) -> bool:
        return self._unanswered_since is not None

    @property
    def keepalive_at(self) -> float:
        return self._last_request + self._config.keepalive_interval

    def lost(self, now: float) -> bool:
        """Whether something stayed unanswered for path_timeout."""
        since = self._unanswered_since
        return since is not None and now >= since + self._config.path_timeout

    def probe_due(self, now: float) -> bool:
        """Whether to probe the open path now: something went unanswered (is the
        path still there?), or it is time for a keepalive."""
        if self._unanswered_since is not None and now >= self._next_suspect_probe():
            return True
        return now >= self.keepalive_at

    def times(self) -> list[float]:
        """When the upkeep next wants to run: keepalive, and while something is
        unanswered, the next suspect probe and the loss."""
        times = [self.keepalive_at]
        if self._unanswered_since is not None:
            times.append(self._unanswered_since + self._config.path_timeout)
            times.append(self._next_suspect_probe())
        return times

    def _next_suspect_probe(self) -> float:
        assert self._unanswered_since is not None
        return max(self._last_probe, self._unanswered_since) + self._config.suspect_probe_interval
