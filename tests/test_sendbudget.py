"""The send budget and its token buckets, with plain numbers (no clock, no network)."""

import pytest

from p2ptui.net import ConfigError, SendLimits
from p2ptui.net.ratelimit import KeyedBuckets, TokenBucket
from p2ptui.net.sendbudget import MAX_ROUTES, SendBudget

VICTIM = ("192.0.2.7", 4000)
PEER = ("198.51.100.2", 5000)


def test_a_bucket_spends_its_burst_then_refills_at_its_rate():
    bucket = TokenBucket(rate=2.0, burst=3, now=0.0)
    assert [bucket.take(0.0) for _ in range(4)] == [True, True, True, False]
    assert not bucket.take(0.4)  # 0.8 of a token so far
    assert bucket.take(0.5)
    assert bucket.tokens(100.0) == 3  # never more than the burst


def test_buckets_by_key_are_independent_and_bounded():
    buckets = KeyedBuckets[str](rate=0.0, burst=1, capacity=2)
    assert buckets.take("a", 0.0) and not buckets.take("a", 0.0)
    assert buckets.take("b", 0.0)
    assert buckets.take("c", 0.0)  # "a" is forgotten: least recently used
    assert len(buckets) == 2


def test_before_anything_is_heard_only_the_first_contact_allowance_goes():
    budget = SendBudget(SendLimits(first_contact=16, first_contact_refill=0.0))
    sent = sum(budget.allow(VICTIM, 60, 0.0) for _ in range(1000))
    assert sent == 16


def test_once_heard_three_times_what_came_may_go():
    budget = SendBudget(SendLimits(first_contact=0))
    assert not budget.allow(PEER, 100, 0.0)
    budget.heard(PEER, 100)
    assert budget.allow(PEER, 300, 0.0)
    assert not budget.allow(PEER, 1, 0.0)
    budget.heard(PEER, 10)
    assert budget.allow(PEER, 30, 0.0) and not budget.allow(PEER, 1, 0.0)


def test_the_allowance_comes_back_slowly():
    budget = SendBudget(SendLimits(first_contact=2, first_contact_refill=0.5))
    assert budget.allow(VICTIM, 60, 0.0) and budget.allow(VICTIM, 60, 0.0)
    assert not budget.allow(VICTIM, 60, 1.0)
    assert budget.allow(VICTIM, 60, 2.0)


def test_a_validated_route_is_not_limited():
    budget = SendBudget(SendLimits(first_contact=0, unvalidated_burst=0, unvalidated_rate=0.0))
    assert not budget.allow(PEER, 1, 0.0)
    budget.validate(PEER)
    assert budget.validated(PEER)
    assert all(budget.allow(PEER, 1200, 0.0) for _ in range(10_000))


def test_the_global_bucket_bounds_all_unproven_routes_together():
    budget = SendBudget(SendLimits(first_contact=16, unvalidated_rate=25.0, unvalidated_burst=1500))
    # A port scan: one datagram to each of many fresh ports, each within its own allowance.
    sent = sum(budget.allow(("192.0.2.7", port), 60, 0.0) for port in range(1024, 11024))
    assert sent == 1500
    sent_later = sum(budget.allow(("192.0.2.7", port), 60, 60.0) for port in range(20000, 30000))
    assert sent_later == 1500  # 60 s at 25 a second, never more than the burst
    budget.validate(PEER)
    assert budget.allow(PEER, 60, 60.0)  # a peer's traffic is not held up by strangers'


def test_strangers_cannot_spend_what_the_peers_the_user_chose_send_before_proof():
    budget = SendBudget(SendLimits(first_contact=16, unvalidated_burst=100, chosen_burst=100))
    assert sum(budget.allow(("192.0.2.7", port), 60, 0.0) for port in range(1024, 2024)) == 100
    assert not budget.allow(PEER, 60, 0.0)  # a stranger at a new route: nothing left
    # A chosen peer's new route: its own bucket, and the first-contact rule still holds.
    assert sum(budget.allow(PEER, 60, 0.0, chosen=True) for _ in range(100)) == 16
    assert sum(budget.allow(("192.0.2.8", port), 60, 0.0, chosen=True) for port in range(1024, 2024)) == 100 - 16


@pytest.mark.parametrize("field", ["chosen_rate", "chosen_burst"])
def test_the_chosen_share_is_checked_as_the_others_are(field):
    with pytest.raises(ConfigError, match=field):
        SendLimits(**{field: -1}).check()


def test_a_flood_of_fresh_routes_does_not_grow_memory():
    budget = SendBudget()
    for port in range(3 * MAX_ROUTES):
        budget.heard(("192.0.2.7", port % 65536), 10)
        budget.validate(("203.0.113.9", port % 65536))
    assert len(budget) <= 2 * MAX_ROUTES


@pytest.mark.parametrize("field", ["amplification", "first_contact", "unvalidated_rate", "unvalidated_burst"])
def test_limits_out_of_bounds_are_the_users_mistake(field):
    with pytest.raises(ConfigError, match=field):
        SendLimits(**{field: -1}).check()
