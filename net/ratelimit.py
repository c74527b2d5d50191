"""Token buckets, free of I/O: the one rate limiter every part of p2ptui uses.

The node's send budget, its offer admission and spraying caps, the LAN's
announcement checks, the handshake limiter and the signalling server's limits
all spend tokens here. Every method takes the current time as a number and
never reads a clock, so tests drive them with plain numbers.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class TokenBucket:
    """`rate` tokens a second, at most `burst` saved; starts full."""

    __slots__ = ("rate", "burst", "_tokens", "_at")

    def __init__(self, rate: float, burst: float, now: float = 0.0) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = burst
        self._at = now

    def tokens(self, now: float) -> float:
        return min(self.burst, self._tokens + max(0.0, now - self._at) * self.rate)

    def take(self, now: float, count: float = 1.0) -> bool:
        """Spend count tokens if there are that many now."""
        tokens = self.tokens(now)
        self._at = max(self._at, now)  # A clock that steps back earns nothing.
        if tokens < count:
            self._tokens = tokens
            return False
        self._tokens = tokens - count
        return True

    def full(self, now: float) -> bool:
        """Whether the bucket would be full by now: forgetting it changes nothing."""
        return self.tokens(now) >= self.burst


class KeyedBuckets(Generic[K]):
    """One token bucket per key (a route, a sender, a target), at most `capacity` keys.

    A full bucket is the same as none, so past `capacity` the least recently
    used full buckets are forgotten first; if none is full, the least
    recently used goes anyway (that key starts afresh: the price of bounded
    memory, which whatever global bucket stands beside it bounds).
    """

    def __init__(self, rate: float, burst: float, capacity: int) -> None:
        self.rate, self.burst, self.capacity = rate, burst, capacity
        self._buckets: OrderedDict[K, TokenBucket] = OrderedDict()

    def take(self, key: K, now: float, count: float = 1.0) -> bool:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(self.rate, self.burst, now)
            self._trim(now)
        else:
            self._buckets.move_to_end(key)
        return bucket.take(now, count)

    def __len__(self) -> int:
        return len(self._buckets)

    def _trim(self, now: float) -> None:
        if len(self._buckets) <= self.capacity:
            return
        for key, bucket in list(self._buckets.items())[: len(self._buckets) // 4]:
            if bucket.full(now):
                del self._buckets[key]
        while len(self._buckets) > self.capacity:
            self._buckets.popitem(last=False)
