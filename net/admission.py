"""Which offers and answers a node takes: genuine, fresh, unreplayed, and from a trusted key.

Signalling is a service we do not trust with anything but delivery: every
offer and answer is signed by its sender, expires, carries a nonce, and names
its receiver. A record that fails any test is dropped and counted by reason.
"""

from __future__ import annotations

import heapq
import time
from collections import Counter

from . import secure
from .signalling.messages import Answer, Offer, signature_valid
from .trust import KnownPeers, Verdict

#: Offers and answers valid for longer than this are refused, which bounds
#: how long their nonces must be remembered...
MAX_SIGNAL_LIFETIME = 600.0
#: ...and beyond this many unexpired ones, more are refused until some expire.
MAX_NONCES = 100_000


class Admission:
    """The replay memory and the tests every offer and answer must pass."""

    def __init__(self, name: str, known_peers: KnownPeers, dropped: Counter[str]) -> None:
        self._name = name
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
