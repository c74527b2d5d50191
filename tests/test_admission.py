"""Which offers and answers a node takes: pure checks, no sockets, no event loop."""

from collections import Counter
from dataclasses import replace

from p2ptui.net import Identity, KnownPeers
from p2ptui.net.admission import MAX_SIGNAL_LIFETIME, Admission
from p2ptui.net.signalling.messages import sign

from .test_signalling_contract import make_offer


def admission():
    dropped: Counter[str] = Counter()
    return Admission("bob", KnownPeers(None), dropped), dropped


def test_a_genuine_offer_is_taken_once():
    check, dropped = admission()
    offer = make_offer("alice", Identity.generate(), "bob")
    assert check.acceptable(offer, "offer")
    assert not check.acceptable(offer, "offer")
    assert dropped == Counter({"replayed offer": 1})


def test_forged_misaddressed_and_stale_offers_are_refused_by_reason():
    check, dropped = admission()
    alice = Identity.generate()
    offer = make_offer("alice", alice, "bob")
    assert not check.acceptable(replace(offer, port=1), "offer")  # altered after signing
    assert not check.acceptable(make_offer("alice", alice, "carol"), "offer")
    assert not check.acceptable(make_offer("bob", alice, "bob"), "offer")
    assert not check.acceptable(make_offer("alice", alice, "bob", expires_in=-1), "offer")
    assert not check.acceptable(make_offer("alice", alice, "bob", expires_in=MAX_SIGNAL_LIFETIME * 2), "offer")
    assert dropped == Counter(
        {
            "offer with a bad signature": 1,
            "offer for someone else": 1,
            "offer from ourselves": 1,
            "expired offer": 1,
            "offer valid for too long": 1,
        }
    )


def test_an_older_record_may_not_bring_back_an_old_tag():
    check, dropped = admission()
    alice = Identity.generate()
    newer = make_offer("alice", alice, "bob", expires_in=60)
    older = sign(replace(make_offer("alice", alice, "bob", expires_in=30), tag="77" * 8, nonce="", signature=""), alice)
    current_tag = bytes.fromhex(newer.tag)
    assert check.fresh(0.0, None, newer, "offer")
    assert not check.fresh(newer.expires, current_tag, older, "offer")
    # The same tag, older or not, changes nothing: taken.
    assert check.fresh(newer.expires, current_tag, replace(older, tag=newer.tag), "offer")
    assert dropped == Counter({"stale offer": 1})


def test_the_first_key_is_pinned_and_another_is_refused():
    check, dropped = admission()
    first, second = Identity.generate(), Identity.generate()
    assert check.trusted("alice", first.public_key)
    assert check.trusted("alice", first.public_key)
    assert not check.trusted("alice", second.public_key)
    assert dropped == Counter({"changed key": 1})
