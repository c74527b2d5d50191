"""Which offers and answers a node takes: pure checks, no sockets, no event loop."""

from collections import Counter
from dataclasses import replace

import pytest

from p2ptui.net import ConfigError, Identity, KnownPeers
from p2ptui.net.admission import MAX_SIGNAL_LIFETIME, Admission, OfferLimiter, OfferRates
from p2ptui.net.signalling.messages import sign

from .test_signalling_contract import make_offer

KEY_A, KEY_M = "aa" * 32, "bb" * 32


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


# --- Offer rates: token buckets with plain numbers ---------------------------------


def test_one_sender_gets_its_burst_then_its_rate():
    limiter = OfferLimiter(OfferRates(per_sender=0.5, per_sender_burst=5, overall=100, overall_burst=100))
    assert [limiter.allow("mallory", KEY_M, False, 0.0) is None for _ in range(7)] == [True] * 5 + [False] * 2
    assert limiter.allow("mallory", KEY_M, False, 1.0) is not None
    assert limiter.allow("mallory", KEY_M, False, 2.0) is None  # one every 2 s
    assert limiter.allow("alice", KEY_A, False, 2.0) is None  # another sender is not held up


def test_a_forger_in_a_good_peers_name_spends_only_its_own_bucket():
    limiter = OfferLimiter(OfferRates(per_sender_burst=2))
    for _ in range(10):
        limiter.allow("alice", KEY_M, False, 0.0)
    assert limiter.allow("alice", KEY_A, True, 0.0) is None


def test_many_fresh_names_fill_the_overall_bucket_but_never_lock_out_a_known_peer():
    limiter = OfferLimiter(OfferRates(overall=2.0, overall_burst=20))
    taken = sum(limiter.allow(f"stranger{n}", KEY_M, False, 0.0) is None for n in range(300))
    assert taken == 20
    assert limiter.allow("stranger999", KEY_M, False, 0.0) == "offers over the overall rate limit"
    assert limiter.allow("alice", KEY_A, True, 0.0) is None
    assert limiter.allow("stranger1000", KEY_M, False, 1.0) is None  # two a second come back


def test_rates_out_of_bounds_are_the_users_mistake():
    with pytest.raises(ConfigError, match="per_sender"):
        OfferRates(per_sender=-1).check()
