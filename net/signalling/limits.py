"""The signalling server's limits, free of I/O: token buckets, connection caps.

Everything here takes the current time as a number and never reads a
clock, so the tests drive it with plain numbers.
"""

from __future__ import annotations

import ipaddress
import resource
from collections import Counter, OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import TypeVar

from ..ratelimit import KeyedBuckets

K = TypeVar("K", bound=Hashable)

#: Descriptors kept free for what is not a client: listeners, the STUN
#: sockets, the names database, log files, and connections being refused.
RESERVED_DESCRIPTORS = 32


@dataclass(frozen=True)
class Rate:
    """A token bucket's shape: `burst` at once, then `per_second` on average."""

    burst: float
    per_second: float


@dataclass(frozen=True)
class ServerLimits:
    """What one client or one address may hold or do. The README lists the defaults."""

    connections: int = 0
    """Connections in all; 0: below the open-files limit (see `connection_cap`)."""
    connections_per_ip: int = 128
    """Connections from one address (an IPv6 /64 counts as one address): room
    for a household or an office behind one NAT, not for the whole server."""
    register_timeout: float = 10.0
    """A connection that has not registered by then is closed."""
    ping_interval: float = 60.0
    """A registered client silent this long is pinged..."""
    ping_timeout: float = 30.0
    """...and closed if it stays silent this much longer."""
    offers_per_sender: Rate = Rate(20, 1.0)
    """Offers one name may send. Its answers to offers it was sent are free:
    those offers' senders and its own target rate bound them."""
    offers_per_target: Rate = Rate(40, 4.0)
    """Offers and answers one name may receive from one address (an IPv6 /64):
    one address's many names share it; other addresses have their own."""
    new_names_per_key: int = 5
    """Names one key may newly bind: this many at once, then this many a day."""
    new_names_per_ip: int = 100
    """Names one address may newly bind: this many at once, then this many a day."""
    name_expiry_days: float = 90.0
    """A binding whose key has not registered the name for this long lapses."""


def per_day(count: float) -> Rate:
    """count at once, then count a day."""
    return Rate(count, count / 86400)


def keyed_buckets(rate: Rate, capacity: int = 100_000) -> KeyedBuckets[K]:
    """One token bucket of this shape per key, at most capacity keys."""
    return KeyedBuckets(rate.per_second, rate.burst, capacity)


class DeliveredOffers:
    """The offers forwarded to one client that it may still answer: id → the offer's sender.

    Such an answer does not count against the client's own offer rate: it is
    bounded by the offers others sent it, which their rates and its target
    rate limit. Each offer is answerable once, until it expires: its own
    expiry, `skew` seconds later as the clocks of sender, receiver and server
    differ, and never over `max_life` seconds from delivery.
    Bounded: past `capacity`, the oldest goes. The target rate (40, then 4 a
    second) lets at most 280 offers in within a minute, so the default
    capacity never pushes out one still live.
    """

    def __init__(self, capacity: int = 512, max_life: float = 60.0, skew: float = 30.0) -> None:
        self._capacity = capacity
        self._max_life = max_life
        self._skew = skew
        self._offers: OrderedDict[str, tuple[str, float]] = OrderedDict()

    def add(self, offer_id: str, sender: str, expires: float, now: float) -> None:
        self._offers.pop(offer_id, None)
        self._offers[offer_id] = (sender, min(expires + self._skew, now + self._max_life))
        # Roughly oldest first: what has expired at the front goes now, not at capacity.
        while self._offers and next(iter(self._offers.values()))[1] <= now:
            self._offers.popitem(last=False)
        while len(self._offers) > self._capacity:
            self._offers.popitem(last=False)

    def take(self, offer_id: str, now: float) -> str | None:
        """The sender of the live offer offer_id, which is answered now; None if there is none."""
        entry = self._offers.pop(offer_id, None)
        if entry is None or entry[1] <= now:
            return None
        return entry[0]

    def __len__(self) -> int:
        return len(self._offers)


def address_key(ip: str) -> str:
    """The unit a per-address limit counts: the IP, or for IPv6 its /64.

    One IPv6 host usually holds a whole /64, so counting single IPv6
    addresses would give it billions of allowances.
    """
    try:
        address = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


class Connections:
    """Counts open connections in all and per address, against their caps."""

    def __init__(self, total: int, per_address: int) -> None:
        self.total = total
        self.per_address = per_address
        self._open: Counter[str] = Counter()
        self._count = 0

    def admit(self, ip: str) -> bool:
        """Count a new connection from ip, unless a cap is reached (then False)."""
        key = address_key(ip)
        if self._count >= self.total or self._open[key] >= self.per_address:
            return False
        self._open[key] += 1
        self._count += 1
        return True

    def release(self, ip: str) -> None:
        key = address_key(ip)
        self._open[key] -= 1
        if self._open[key] <= 0:
            del self._open[key]
        self._count -= 1

    def __len__(self) -> int:
        return self._count


def descriptor_limit() -> int:
    """The soft open-files limit."""
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


def raise_descriptor_limit() -> int:
    """Raise the soft open-files limit to the hard one; the soft limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft == resource.RLIM_INFINITY:
        # An unlimited hard limit is not a number setrlimit takes as soft on every system.
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    else:
        target = hard
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass  # Keep the soft limit we have; the caps follow it.
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


def connection_cap(descriptor_limit: int, configured: int = 0) -> int:
    """Connections in all: what is configured, never more than the descriptors allow."""
    ceiling = max(1, descriptor_limit - RESERVED_DESCRIPTORS)
    return min(configured, ceiling) if configured > 0 else ceiling
