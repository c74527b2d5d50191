"""The probes awaiting an answer, free of I/O: which path each went to and when.

An answer counts only if it answers a probe of ours and comes from where that
probe went (ICE's symmetric check). The table forgets probes too old to be
answered, so it stays small however long a session lives and however many
probes a spraying burst sends.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass

from .address import Route

#: The most probes awaiting an answer at once (spraying sends many).
MAX_PROBES = 16_384
#: The table is never pruned below this size.
_MIN_PRUNE_AT = 64


@dataclass(frozen=True, slots=True)
class Answer:
    """A probe of ours came back from where it went."""

    rtt: float
    ping: bool
    """The probe was a ping (the application wants a Pong)."""


class ProbeTable:
    def __init__(self, horizon: float, dropped: Counter[str] | None = None) -> None:
        #: How long a probe may wait for its answer before it is forgotten.
        self.horizon = horizon
        self.dropped: Counter[str] = Counter() if dropped is None else dropped
        self._probes: dict[bytes, tuple[Route, float]] = {}
        self._pings: set[bytes] = set()
        self._prune_at = _MIN_PRUNE_AT

    def __len__(self) -> int:
        return len(self._probes)

    def add(self, route: Route, now: float, *, ping: bool = False) -> bytes:
        """Record a probe sent to route now; its transaction id."""
        if len(self._probes) >= self._prune_at:
            self._prune(now)
        txid = os.urandom(8)
        self._probes[txid] = (route, now)
        if ping:
            self._pings.add(txid)
        return txid

    def answered(self, txid: bytes, source: Route, now: float) -> Answer | None:
        """An answer arrived from source: None (counted) unless it answers one of
        ours from where it went. Each probe is answered at most once."""
        probe = self._probes.get(txid)
        if probe is None:
            self.dropped["unknown probe"] += 1
            return None
        if probe[0] != source:
            # A copy from elsewhere (a relay that saw it, say) must not move us there.
            self.dropped["probe answer from elsewhere"] += 1
            return None
        del self._probes[txid]
        ping = txid in self._pings
        self._pings.discard(txid)
        return Answer(now - probe[1], ping)

    def clear(self) -> None:
        self._probes.clear()
        self._pings.clear()

    def _prune(self, now: float) -> None:
        # Forget probes too old to be answered (lost ones). Pruned again only once
        # the table has doubled, so a burst costs linear time, not quadratic; and
        # never past MAX_PROBES, the oldest going first.
        horizon = now - self.horizon
        kept = [(t, p) for t, p in self._probes.items() if p[1] >= horizon]
        self._probes = dict(kept[-MAX_PROBES:])
        self._pings &= self._probes.keys()
        self._prune_at = max(_MIN_PRUNE_AT, 2 * len(self._probes))
