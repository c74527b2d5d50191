"""Which offers and answers a node takes: genuine, fresh, unreplayed, and from a trusted key.

Signalling is a service we do not trust with anything but delivery: every
offer and answer is signed by its sender, expires, carries a nonce, and names
its receiver. A record that fails any test is dropped and counted by reason.
"""

from __future__ import annotations

import heapq
import time
from collections import Counter
from dataclasses import dataclass

from . import secure
from .errors import ConfigError
from .ratelimit import KeyedBuckets, TokenBucket
from .signalling.messages import Answer, Offer, signature_valid
from .trust import KnownPeers, Verdict

#: Offers and answers valid for longer than this are refused, which bounds
#: how long their nonces must be remembered...
MAX_SIGNAL_LIFETIME = 600.0
#: ...and beyond this many unexpired ones, more are refused until some expire.
MAX_NONCES = 100_000


#: Senders whose offer rates are remembered; past that the least recently
#: seen go (the overall bucket still bounds strangers together).
MAX_SENDERS = 4096

@dataclass(frozen=True)
class OfferRates:
    """How many offers a node takes; beyond that they are dropped and counted."""

    per_sender: float = 0.5
    """Offers a second from one sender (a name and key): a peer offers about once
    a second at most while it retries, and once a minute or less after that..."""
    per_sender_burst: int = 5
    """...with this many at once."""
    overall: float = 2.0
    """Offers a second from everyone but the peers we know (a pinned key, or a
    conversation the user opened), which this never holds up..."""
    overall_burst: int = 20
    """...with this many at once."""

    def check(self) -> OfferRates:
        """self, or ConfigError naming the number out of bounds."""
        for name, value in vars(self).items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1000:
                raise ConfigError(f"offer rate {name} must be between 0 and 1000, not {value!r}")
        return self


class OfferLimiter:
    """Token buckets for incoming offers, per sender and overall; free of I/O."""

    def __init__(self, rates: OfferRates | None = None, now: float = 0.0) -> None:
        self.rates = (rates or OfferRates()).check()
        self._senders = KeyedBuckets[tuple[str, str]](self.rates.per_sender, self.rates.per_sender_burst, MAX_SENDERS)
        self._overall = TokenBucket(self.rates.overall, self.rates.overall_burst, now)

    def allow(self, sender: str, key: str, known: bool, now: float) -> str | None:
        """None if the offer may be taken now, else the reason it may not.

        Per name and key together: a forger signing with its own key in a good
        peer's name spends only its own bucket. A known peer skips the overall
        bucket, so a flood from many fresh names cannot lock it out.
        """
        if not self._senders.take((sender, key), now):
            return "offers from one sender over the rate limit"
        if not known and not self._overall.take(now):
            return "offers over the overall rate limit"
        return None


class Admission:
    """The replay memory and the tests every offer and answer must pass."""

    def __init__(
        self, name: str, known_peers: KnownPeers, dropped: Counter[str], rates: OfferRates | None = None
    ) -> None:
        self._name = name
        self._limiter = OfferLimiter(rates)
        self.known_peers = known_peers
        self._dropped = dropped
        #: Nonces of the offers and answers seen, until they expire: replays are
        #: refused. The heap orders them by expiry, so forgetting costs little.
        self._nonces: set[str] = set()
        self._expiries: list[tuple[float, str]] = []

    def refused(self, reason: str) -> None:
        """Count a record refused for a reason found elsewhere."""
        self._dropped[reason] += 1

    def acceptable(self, record: Offer | Answer, kind: str) -> bool:
        """Whether an offer or answer is genuine, fresh, and addressed to us
        (its nonce is remembered if so)."""
        now = time.time()
        reason = self._refusal(record, kind, now)
        if reason is None:
            while self._expiries and self._expiries[0][0] < now:
                self._nonces.discard(heapq.heappop(self._expiries)[1])
            if len(self._nonces) >= MAX_NONCES:
                reason = f"{kind} beyond the nonce memory"
        if reason is not None:
            self._dropped[reason] += 1
            return False
        self._nonces.add(record.nonce)
        heapq.heappush(self._expiries, (record.expires, record.nonce))
        return True

    def _refusal(self, record: Offer | Answer, kind: str, now: float) -> str | None:
        if record.receiver != self._name:
            return f"{kind} for someone else"
        if record.sender == self._name:
            return f"{kind} from ourselves"
        if not signature_valid(record) or not _usable_key(record.sender_key):
            return f"{kind} with a bad signature"
        if record.expires < now:
            return f"expired {kind}"
        if record.expires > now + MAX_SIGNAL_LIFETIME:
            return f"{kind} valid for too long"
        if record.nonce in self._nonces:
            return f"replayed {kind}"
        return None

    def within_rate(self, offer: Offer, known: bool, now: float) -> bool:
        """Whether a genuine offer fits the offer rates (see OfferRates); counted if not."""
        reason = self._limiter.allow(offer.sender, offer.sender_key, known, now)
        if reason is not None:
            self._dropped[reason] += 1
        return reason is None

    def fresh(self, newest: float, remote_tag: bytes | None, record: Offer | Answer, kind: str) -> bool:
        """Whether record may change the peer's tag: not older than the newest taken.

        A tag other than the session's means a restarted peer; an older record
        with one (delayed by the service, or replayed) would make this side
        renumber alone while the peer carries on.
        """
        if record.expires < newest and bytes.fromhex(record.tag) != remote_tag:
            self._dropped[f"stale {kind}"] += 1
            return False
        return True

    def trusted(self, name: str, key: str) -> bool:
        """Whether key is the one pinned for name (a first key is pinned now)."""
        if self.known_peers.check(name, key) != Verdict.CHANGED:
            return True
        self._dropped["changed key"] += 1
        return False


def _usable_key(key: str) -> bool:
    try:
        secure.noise_public_key(key)
    except ValueError:
        return False
    return True
