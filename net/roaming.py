"""When to learn our own addresses again, and what to do with what is learned.
Free of I/O: fed events and the time, it says when to ask STUN, and whether
every peer must hear our new addresses.

Our public address (what STUN saw) is learned at start and put in every
offer. It goes stale when the NAT maps our socket to a new port (a mapping
that expired and was made again, a CGNAT) or when the machine moves to
another network (Wi-Fi to tethering, suspend and resume). Either shows as a
lost path or as a change of our interfaces' addresses; both ask for a new
round of STUN. A round that finds our candidates changed (or follows a change
of interfaces) tells every peer, through a new offer, where we are now.

    SETTLED ──path lost / addresses changed──▶ WANTED ──gap over──▶ LEARNING
       ▲                                         ▲                     │
       └───────────── finished ──────────────────┴── (wanted again, ◀──┘
                                                       or no answer: back off)

Rounds are at least `min_gap` apart, so a burst of lost paths (every peer's,
after one move) costs one round; a round in which no STUN server answered
(the network is not back yet) is retried with back-off, up to `max_gap`.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Sequence

from .address import Address
from .errors import LocalProtocolError

log = logging.getLogger(__name__)

#: Rounds of STUN at most this often.
MIN_GAP = 1.0
#: However long the network stays away, a retry at least this often.
MAX_GAP = 30.0


class Trigger(enum.Enum):
    """Why our addresses may have changed."""

    PATH_LOST = "a path was lost"
    """An open path went silent: our NAT may have mapped us anew."""
    ADDRESSES_CHANGED = "our interfaces' addresses changed"
    """The machine moved: tell every peer, whatever STUN says."""


class Phase(enum.Enum):
    SETTLED = "settled"
    """What we know of our addresses is the latest we could learn."""
    WANTED = "wanted"
    """Something happened: a round of STUN is due once the gap since the last is over."""
    LEARNING = "learning"
    """A round of STUN is under way."""


class Roaming:
    """The decisions of roaming for one node. Not thread-safe."""

    def __init__(self, min_gap: float = MIN_GAP, max_gap: float = MAX_GAP) -> None:
        self.min_gap, self.max_gap = min_gap, max_gap
        self.phase = Phase.SETTLED
        #: Rounds finished so far: a waiter for fresh addresses waits for this to grow.
        self.rounds = 0
        self._gap = min_gap
        self._last_start = float("-inf")
        #: The interfaces changed since the last round began: whatever STUN says, tell the peers.
        self._moved = False
        #: Something happened during the round under way: another round after it.
        self._again = False

    def _change(self, new: Phase) -> None:
        log.debug("roaming: %s -> %s", self.phase.value, new.value)
        self.phase = new

    def want(self, trigger: Trigger) -> None:
        """Something happened that may have changed our addresses."""
        if trigger == Trigger.ADDRESSES_CHANGED:
            self._moved = True
        if self.phase == Phase.LEARNING:
            self._again = True  # This round may have started before the change.
        elif self.phase == Phase.SETTLED:
            self._gap = self.min_gap
            self._change(Phase.WANTED)

    def next_timeout(self) -> float | None:
        """When the next round is due; None when none is wanted (or one is under way)."""
        if self.phase != Phase.WANTED:
            return None
        return self._last_start + self._gap

    def start(self, now: float) -> bool:
        """Whether to begin a round now (then call finished when it ends)."""
        due = self.next_timeout()
        if due is None or now < due:
            return False
        self._last_start = now
        self._again = False
        self._change(Phase.LEARNING)
        return True

    def finished(self, before: Sequence[Address], after: Sequence[Address], answered: bool) -> bool:
        """A round ended: our candidates before it and after, and whether any STUN server
        answered. Returns whether every peer must hear our new addresses."""
        if self.phase != Phase.LEARNING:
            raise LocalProtocolError("a round of STUN finished that was never started")
        self.rounds += 1
        moved = self._moved or list(before) != list(after)
        self._moved = False
        if not answered:
            # The network may not be back yet: again later, less and less often.
            self._gap = min(self._gap * 2, self.max_gap)
            self._change(Phase.WANTED)
        elif self._again:
            self._gap = self.min_gap
            self._change(Phase.WANTED)
        else:
            self._change(Phase.SETTLED)
        return moved
