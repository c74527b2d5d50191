"""What our Firestore documents hold, and the checks on what listeners hand
us, free of I/O (the data model is firestore.py's docstring).

Split from firestore.py (which grew past 400 lines): the client moves
documents between Firestore and trio; this module builds the documents it
writes, turns a listener's snapshot into `Change` records (on Firestore's
thread: plain reading, nothing shared), and checks an offer or answer
document against the rules. The checks raise only SignallingDataError; the
client counts the reason (`count_skip`) and goes on.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from .firestore_sdk import server_timestamp
from .messages import Answer, Offer, SignallingDataError

#: How many distinct reasons `skipped` counts; the rest are counted as "other".
MAX_SKIP_REASONS = 64


@dataclass(frozen=True)
class Change:
    """A document change from a listener, as handed over from Firestore's thread."""

    listener: str  # "offers-in", "offers-out" or "presence"
    kind: str  # "ADDED", "MODIFIED" or "REMOVED"
    doc_id: str
    data: dict[str, Any] | None
    update_time: Any


def changes(listener: str, doc_id: str, snapshots: Any, document_changes: Any) -> list[Change]:
    """What one on_snapshot call reports, as Change records."""
    if listener == "presence":
        # A document listener reports a missing document as no snapshot at all.
        return [
            Change(listener, "MODIFIED", s.id, s.to_dict() if s.exists else None, s.update_time) for s in snapshots
        ] or [Change(listener, "REMOVED", doc_id, None, None)]
    return [
        Change(listener, c.type.name, c.document.id, c.document.to_dict(), c.document.update_time)
        for c in document_changes
    ]


def offer_document(offer: Offer) -> dict[str, Any]:
    """The offers/{id} document that makes an offer."""
    return {
        **offer.to_dict(),
        "state": "open",
        "answer": None,
        "created": server_timestamp(),
        "expires_at": datetime.fromtimestamp(offer.expires, timezone.utc),
    }


def answer_update(answer: Answer) -> dict[str, Any]:
    """The fields that answer an offer document."""
    return {"state": "answered", "answer": answer.to_dict()}


def open_offer_untrusted(change: Change, our_name: str) -> Offer | None:
    """The offer an offers-in document holds, or None if it is answered already
    (a listener restart shows it again, and it is not replayed). Its expiry and
    its sender's key are the client's to check."""
    data = change.data or {}
    if data.get("state") != "open":
        return None
    offer = Offer.from_dict_untrusted(data)
    if offer.id != change.doc_id:
        raise SignallingDataError("offer id does not match its document")
    if offer.receiver != our_name:
        raise SignallingDataError("offer addressed to someone else")
    return offer


def answer_untrusted(change: Change, our_name: str) -> Answer | None:
    """The answer an offers-out document holds, or None if not answered yet."""
    data = change.data or {}
    if data.get("state") != "answered":
        return None
    answer = Answer.from_dict_untrusted(data.get("answer"))
    if answer.offer_id != change.doc_id or answer.receiver != our_name:
        raise SignallingDataError("answer does not belong to this offer")
    return answer


def count_skip(skipped: Counter[str], reason: str) -> None:
    """Count a document skipped for reason. Reasons quote what the document
    held: keep how many there are bounded."""
    reason = reason[:80]
    if reason not in skipped and len(skipped) >= MAX_SKIP_REASONS:
        reason = "other"
    skipped[reason] += 1


def describe(exc: BaseException) -> str:
    """An SDK exception in one line: its type and the first line of its text."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__
