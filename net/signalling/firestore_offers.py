"""Which offer documents to delete, and when: once expired, so nothing piles up.

Firestore keeps a document until someone deletes it. The offerer deletes an
offer once answered; an offer never answered (its receiver was away) or whose
offerer was gone before it could delete it would stay for ever without a TTL
policy. So each client remembers when every offer it saw expires (its own, and
those addressed to it) and deletes it then. Free of I/O: firestore.py asks
`expired()` at each presence refresh and does the deleting.
"""

from __future__ import annotations

from typing import Any

#: Offer documents remembered; past that (a flood of them), the TTL policy's job.
MAX_TRACKED_OFFERS = 1024


class ExpiringOffers:
    def __init__(self, limit: int = MAX_TRACKED_OFFERS) -> None:
        self._limit = limit
        #: Document id -> (when it expires, Unix time; the version seen, for the delete's precondition).
        self._offers: dict[str, tuple[float, Any]] = {}

    def __len__(self) -> int:
        return len(self._offers)

    def seen(self, doc_id: str, data: dict[str, Any] | None, update_time: Any) -> None:
        """A listener reported the document (data None: it was removed)."""
        expires = (data or {}).get("expires")
        if data is None or not isinstance(expires, int | float) or isinstance(expires, bool):
            self._offers.pop(doc_id, None)
        elif doc_id in self._offers or len(self._offers) < self._limit:
            self._offers[doc_id] = (float(expires), update_time)

    def forget(self, doc_id: str) -> None:
        """Deleted (or being deleted): not to be deleted again."""
        self._offers.pop(doc_id, None)

    def expired(self, now: float) -> list[tuple[str, Any]]:
        """The documents expired by now, with the version seen; forgotten as they are returned."""
        due = [(doc_id, version) for doc_id, (expires, version) in self._offers.items() if expires < now]
        for doc_id, _ in due:
            del self._offers[doc_id]
        return due
