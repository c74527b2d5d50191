"""The Firestore client's sans-I/O parts on their own (split from firestore.py):
the documents and their checks, and the watched peers' presence. No emulator."""

from collections import Counter

import pytest

from p2ptui.net import Identity
from p2ptui.net.signalling.firestore_presence import PresenceBook
from p2ptui.net.signalling.firestore_schema import (
    MAX_SKIP_REASONS,
    Change,
    answer_untrusted,
    answer_update,
    count_skip,
    describe,
    offer_document,
    open_offer_untrusted,
)
from p2ptui.net.signalling.messages import Answer, Offer, SignallingDataError, sign

IDENTITY = Identity.generate()
KEY = IDENTITY.public_key
OFFER = sign(
    Offer(
        id="0" * 32, sender="alice", sender_key=KEY, receiver="bob", sender_ip="203.0.113.5",
        receiver_ip="198.51.100.7", port=40000, tag="11" * 8, candidates=(("203.0.113.5", 40000),),
        expires=1_900_000_000.0,
    ),
    IDENTITY,
)  # fmt: skip
ANSWER = sign(
    Answer("0" * 32, "bob", KEY, "alice", "198.51.100.7", 41000, "22" * 8, (("::1", 5),), 1_900_000_000.0),
    IDENTITY,
)


def change(data, doc_id="0" * 32, listener="offers-in"):
    return Change(listener, "ADDED", doc_id, data, None)


def test_an_open_offer_document_gives_back_the_offer():
    document = offer_document(OFFER)
    assert document["state"] == "open" and document["answer"] is None
    assert document["expires_at"].timestamp() == OFFER.expires
    assert open_offer_untrusted(change(document), "bob") == OFFER


def test_offer_documents_that_break_the_rules_are_refused():
    document = offer_document(OFFER)
    assert open_offer_untrusted(change({**document, "state": "answered"}), "bob") is None
    with pytest.raises(SignallingDataError, match="does not match its document"):
        open_offer_untrusted(change(document, doc_id="1" * 32), "bob")
    with pytest.raises(SignallingDataError, match="someone else"):
        open_offer_untrusted(change(document), "carol")
    with pytest.raises(SignallingDataError):
        open_offer_untrusted(change({"state": "open", "id": 5}), "bob")


def test_an_answered_document_gives_back_the_answer_only_for_its_offer():
    document = {**offer_document(OFFER), **answer_update(ANSWER)}
    assert answer_untrusted(change(document, listener="offers-out"), "alice") == ANSWER
    assert answer_untrusted(change(offer_document(OFFER), listener="offers-out"), "alice") is None
    with pytest.raises(SignallingDataError, match="does not belong"):
        answer_untrusted(change(document, doc_id="1" * 32, listener="offers-out"), "alice")
    with pytest.raises(SignallingDataError, match="does not belong"):
        answer_untrusted(change(document, listener="offers-out"), "mallory")


def test_skip_reasons_are_bounded():
    skipped: Counter[str] = Counter()
    for i in range(MAX_SKIP_REASONS + 10):
        count_skip(skipped, f"reason {i} " + "x" * 200)
    assert len(skipped) == MAX_SKIP_REASONS + 1
    assert skipped["other"] == 10
    assert all(len(reason) <= 80 for reason in skipped)


def test_describe_is_one_short_line():
    assert describe(ValueError("first\nsecond")) == "ValueError: first"
    assert describe(TimeoutError()) == "TimeoutError"
    assert len(describe(RuntimeError("y" * 1000))) < 250


def test_presence_is_announced_when_it_changes_and_goes_stale_by_our_clock():
    skipped: list[str] = []
    book = PresenceBook(timeout=90.0, skip=skipped.append)
    book.arrived("alice", {"online": True, "key": KEY, "last_seen": 0}, now=0.0)
    assert book.change("alice", 1.0) is None  # Not watched.
    book.watching.add("alice")
    first = book.change("alice", 1.0)
    assert first is not None and first.online and first.key == KEY
    assert book.change("alice", 2.0) is None  # Nothing new.
    stale = book.change("alice", 90.0)
    assert stale is not None and not stale.online
    book.arrived("alice", {"online": True, "key": KEY}, now=100.0)
    assert book.change("alice", 100.0) == first
    book.removed("alice")
    gone = book.change("alice", 101.0)
    assert gone is not None and not gone.online and book.document("alice") is None
    assert skipped == []


def test_a_bad_presence_document_is_counted_and_shows_offline():
    skipped: list[str] = []
    book = PresenceBook(timeout=90.0, skip=skipped.append)
    book.watching.add("alice")
    book.arrived("alice", {"online": True, "key": "not hex"}, now=0.0)
    presence = book.change("alice", 0.0)
    assert presence is not None and not presence.online  # The first word on alice: offline.
    assert book.change("alice", 1.0) is None
    # Counted at each look (each refresh looks again), never raised.
    assert len(skipped) == 2 and all(reason.startswith("bad presence") for reason in skipped)
    assert book.names() == ["alice"]
