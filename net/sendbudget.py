"""How much a node may send where it has not been heard, free of I/O.

A stranger's signed offer names addresses, and the node probes them: without a
bound, anyone could aim a node at a third party. QUIC's answer (RFC 9000 §8.1)
is the rule here: toward a route that has not proved it is a peer, send at most
`amplification` times the bytes received from it. Before anything is heard
(the first punch) each route gets a small allowance of datagrams, one punch's
worth, refilled slowly; and every datagram toward an unproven route also spends
a token of a global bucket: one all strangers share, and another for the peers
the user chose (pinned or opened), so a flood of strangers' offers can never
hold up a chosen peer's punch (a peer back from a new address, say).

A route is *validated* once an authenticated datagram came from it (the
session is connected over it): from then on it is not limited here. The node
feeds received bytes (`heard`), proof (`validate`) and asks before each send
(`allow`); the caller drops and counts what is refused.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

from .errors import ConfigError
from .ratelimit import KeyedBuckets, TokenBucket

K = TypeVar("K", bound=Hashable)

#: Routes remembered (unproven ones with their counts, proven ones apart): a
#: flood of fresh addresses pushes out the oldest, never grows memory. A route
#: forgotten starts over with a fresh allowance, which the global bucket bounds.
MAX_ROUTES = 4096


@dataclass(frozen=True)
class SendLimits:
    """What a node may send toward routes that have not proved they are a peer."""

    amplification: float = 3.0
    """Bytes sent per byte received from the route (RFC 9000 §8.1)."""
    first_contact: int = 16
    """Datagrams a route may get beyond that: one punch (probes 50 ms apart,
    doubling to 1 s, for 10 s: 15 rounds)..."""
    first_contact_refill: float = 0.5
    """...given back at this many a second, so a later offer may punch again."""
    unvalidated_rate: float = 25.0
    """Datagrams a second toward all strangers' unproven routes together (1,500 a minute)..."""
    unvalidated_burst: int = 1500
    """...and saved up at most: one spraying attempt (1,024 probes, or 256
    sockets) and the punches around it."""
    chosen_rate: float = 25.0
    """The same, apart, for the unproven routes of peers the user chose (pinned
    or opened): what strangers spend never holds these up..."""
    chosen_burst: int = 1500
    """...with this many saved up at most."""

    def check(self) -> SendLimits:
        """self, or ConfigError naming the number out of bounds."""
        for name, value, low, high in (
            ("amplification", self.amplification, 0.0, 10.0),
            ("first_contact", self.first_contact, 0, 64),
            ("first_contact_refill", self.first_contact_refill, 0.0, 10.0),
            ("unvalidated_rate", self.unvalidated_rate, 0.0, 1000.0),
            ("unvalidated_burst", self.unvalidated_burst, 0, 10_000),
            ("chosen_rate", self.chosen_rate, 0.0, 1000.0),
            ("chosen_burst", self.chosen_burst, 0, 10_000),
        ):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
                raise ConfigError(f"send limit {name} must be between {low:g} and {high:g}, not {value!r}")
        return self


@dataclass
class _Route:
    received: int = 0
    sent: int = 0


class SendBudget(Generic[K]):
    """Per route: bytes heard and sent, a first-contact allowance; and the global buckets."""

    def __init__(self, limits: SendLimits | None = None, now: float = 0.0) -> None:
        self.limits = (limits or SendLimits()).check()
        self._routes: OrderedDict[K, _Route] = OrderedDict()
        self._validated: OrderedDict[K, None] = OrderedDict()
        self._first_contact = KeyedBuckets[K](self.limits.first_contact_refill, self.limits.first_contact, MAX_ROUTES)
        self._strangers = TokenBucket(self.limits.unvalidated_rate, self.limits.unvalidated_burst, now)
        self._chosen = TokenBucket(self.limits.chosen_rate, self.limits.chosen_burst, now)

    def heard(self, route: K, size: int) -> None:
        """size bytes came from route (authenticated or not: QUIC counts them all)."""
        if route in self._validated:
            return
        self._route(route).received += size

    def validate(self, route: K) -> None:
        """An authenticated datagram came from route: it is a peer's."""
        self._routes.pop(route, None)
        self._validated[route] = None
        self._validated.move_to_end(route)
        while len(self._validated) > MAX_ROUTES:
            self._validated.popitem(last=False)

    def validated(self, route: K) -> bool:
        return route in self._validated

    def __len__(self) -> int:
        """Routes remembered, proven or not: at most 2 * MAX_ROUTES."""
        return len(self._routes) + len(self._validated)

    def allow(self, route: K, size: int, now: float, *, chosen: bool = False) -> bool:
        """Whether size bytes may go to route now; if so, they count as sent. chosen:
        for a peer the user chose (pinned or opened), which spends its own global bucket."""
        if route in self._validated:
            self._validated.move_to_end(route)
            return True
        bucket = self._chosen if chosen else self._strangers
        if bucket.tokens(now) < 1:
            return False
        state = self._route(route)
        within = state.sent + size <= self.limits.amplification * state.received
        if not within and not self._first_contact.take(route, now):
            return False
        bucket.take(now)
        state.sent += size
        return True

    def _route(self, route: K) -> _Route:
        state = self._routes.get(route)
        if state is None:
            state = self._routes[route] = _Route()
            while len(self._routes) > MAX_ROUTES:
                self._routes.popitem(last=False)
        else:
            self._routes.move_to_end(route)
        return state
