"""The server's limits and name store, with plain numbers for time; the line buffer."""

import os
import sqlite3
import stat

import pytest

from p2ptui.net import EnvironmentFailure
from p2ptui.net.signalling.limits import (
    RESERVED_DESCRIPTORS,
    Connections,
    DeliveredOffers,
    Rate,
    address_key,
    connection_cap,
    keyed_buckets,
)
from p2ptui.net.ratelimit import TokenBucket
from p2ptui.net.signalling.names import DAY, NameStore
from p2ptui.net.signalling.protocol import MAX_LINE, LineBuffer


def test_a_token_bucket_allows_its_burst_then_its_rate():
    bucket = TokenBucket(rate=2, burst=3, now=0.0)
    assert [bucket.take(0.0) for _ in range(4)] == [True, True, True, False]
    assert bucket.take(0.5) and not bucket.take(0.5)  # half a second: one token
    assert [bucket.take(100.0) for _ in range(4)] == [True, True, True, False]  # never more than the burst


def test_a_token_bucket_ignores_a_clock_that_goes_back():
    bucket = TokenBucket(rate=1, burst=1, now=10.0)
    assert bucket.take(10.0)
    assert not bucket.take(5.0) and not bucket.take(10.0)


def test_keyed_buckets_are_separate_and_bounded():
    buckets = keyed_buckets(Rate(1, 0.001), capacity=100)
    assert buckets.take("alice", 0.0) and not buckets.take("alice", 0.0)
    assert buckets.take("bob", 0.0)  # bob's bucket is his own
    for n in range(1000):
        buckets.take(f"stranger{n}", 1.0)
    assert len(buckets) <= 100


def test_keyed_buckets_forget_full_buckets_first():
    buckets = keyed_buckets(Rate(1, 1.0), capacity=4)
    buckets.take("spent", 0.0)  # empty now, and recently used
    for n in range(4):
        buckets.take(f"other{n}", 0.0)
    # At time 0.0 nothing has refilled; the oldest, "spent", had to go.
    assert buckets.take("spent", 0.0)


def test_a_delivered_offer_is_answerable_once_until_it_expires():
    offers = DeliveredOffers(max_life=60.0, skew=30.0)
    offers.add("a", "alice", expires=60.0, now=50.0)  # answerable to 90: 30 s for the clocks
    offers.add("b", "bob", expires=1e12, now=50.0)  # a sender's far future is held to max_life
    offers.add("c", "carol", expires=60.0, now=50.0)
    assert offers.take("a", 89.0) == "alice" and offers.take("a", 89.0) is None
    assert offers.take("c", 90.0) is None
    assert offers.take("b", 110.0) is None


def test_delivered_offers_are_bounded_and_the_expired_go_first():
    offers = DeliveredOffers(capacity=3, max_life=10.0)
    for n in range(5):
        offers.add(str(n), "alice", expires=1e12, now=0.0)
    assert len(offers) == 3 and offers.take("0", 1.0) is None and offers.take("4", 1.0) == "alice"
    offers.add("late", "bob", expires=1e12, now=20.0)  # the others expired at 10
    assert len(offers) == 1


@pytest.mark.parametrize(
    ("ip", "key"),
    [
        ("192.0.2.7", "192.0.2.7"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:bbbb::9", "2001:db8:1:2::/64"),  # the same /64: the same allowance
        ("::ffff:192.0.2.7", "192.0.2.7"),
        ("fe80::1%eth0", "fe80::/64"),
        ("not an ip", "not an ip"),
    ],
)
def test_an_address_counts_as_its_ip_or_its_ipv6_64(ip, key):
    assert address_key(ip) == key


def test_connections_are_capped_per_address_and_in_all():
    connections = Connections(total=3, per_address=2)
    assert connections.admit("192.0.2.1") and connections.admit("192.0.2.1")
    assert not connections.admit("192.0.2.1")
    assert connections.admit("2001:db8::1")
    assert not connections.admit("2001:db8::2")  # total reached (and the same /64 anyway)
    assert not connections.admit("192.0.2.9")
    connections.release("192.0.2.1")
    assert connections.admit("192.0.2.9") and len(connections) == 3


def test_the_connection_cap_stays_below_the_descriptor_limit():
    assert connection_cap(1024) == 1024 - RESERVED_DESCRIPTORS
    assert connection_cap(1024, configured=100) == 100
    assert connection_cap(1024, configured=5000) == 1024 - RESERVED_DESCRIPTORS
    assert connection_cap(10) == 1  # a silly limit still leaves one


def test_a_name_is_bound_to_its_first_key_until_it_lapses():
    store = NameStore(expiry=90 * DAY)
    assert store.owner("alice", 0.0) is None
    store.bind("alice", "k1", 0.0)
    assert store.owner("alice", 89 * DAY) == "k1"
    store.touch("alice", "k1", 89 * DAY)  # alice came back: 90 days from now
    assert store.owner("alice", 170 * DAY) == "k1"
    store.touch("alice", "k2", 170 * DAY)  # another key's visit renews nothing
    assert store.owner("alice", 179 * DAY) is None  # lapsed: free again
    store.bind("alice", "k2", 179 * DAY)
    assert store.owner("alice", 179 * DAY) == "k2"


def test_a_binding_is_rewritten_at_most_hourly():
    store = NameStore(expiry=10 * DAY)
    store.bind("alice", "k1", 0.0)
    store.touch("alice", "k1", 60.0)  # too soon to be worth a write
    assert store.owner("alice", 10 * DAY + 30) is None
    store.bind("bob", "k2", 0.0)
    store.touch("bob", "k2", 7200.0)
    assert store.owner("bob", 10 * DAY + 30) == "k2"


def test_lapsed_bindings_are_purged():
    store = NameStore(expiry=10.0)
    store.bind("old", "k1", 0.0)
    store.bind("new", "k2", 5.0)
    assert store.purge(12.0) == 1 and len(store) == 1


def test_bindings_persist_in_a_private_file(tmp_path):
    path = tmp_path / "server" / "names.sqlite3"
    store = NameStore(path)
    store.bind("alice", "k1", 100.0)
    store.close()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert NameStore(path).owner("alice", 200.0) == "k1"


def test_a_name_is_one_name_however_it_is_spelt():
    store = NameStore()
    store.bind("alice", "k1", 0.0)
    assert store.owner("Alice", 1.0) == "k1" and store.owner("ALICE", 1.0) == "k1"
    assert len(store) == 1


def test_an_old_file_with_look_alike_names_keeps_the_newest_owner(tmp_path):
    path = tmp_path / "names.sqlite3"
    old = sqlite3.connect(path)  # as files were written before names were casefolded
    old.execute("CREATE TABLE names (name TEXT PRIMARY KEY, key TEXT NOT NULL, last_seen REAL NOT NULL)")
    old.executemany(
        "INSERT INTO names VALUES (?, ?, ?)",
        [("alice", "k1", 100.0), ("Alice", "k2", 200.0), ("Bob", "k3", 100.0), ("bob", "k4", 50.0)],
    )
    old.commit()
    old.close()
    store = NameStore(path)
    assert store.owner("alice", 300.0) == "k2" and store.owner("ALICE", 300.0) == "k2"
    assert store.owner("bob", 300.0) == "k3"
    assert len(store) == 2


def test_a_broken_names_file_is_one_clear_error(tmp_path):
    path = tmp_path / "names.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(EnvironmentFailure, match="--names"):
        NameStore(path)


def test_every_line_stands_on_its_own():
    buffer = LineBuffer(max_line=10)
    assert buffer.feed(b"one\n\ntwo\nthr") == [b"one", b"two"]
    assert buffer.feed(b"ee\n") == [b"three"]
    # An overlong line in the middle is skipped; the lines around it are not.
    assert buffer.feed(b"a\n" + b"x" * 11 + b"\nb\n") == [b"a", b"b"]
    assert buffer.overlong == 1


def test_an_overlong_line_across_reads_is_skipped_without_being_kept():
    buffer = LineBuffer(max_line=MAX_LINE)
    assert buffer.feed(b"y" * (MAX_LINE + 1)) == []
    assert buffer.feed(b"y" * (MAX_LINE * 2)) == []  # still the same line, not kept
    assert buffer.feed(b"yyy\nnext\n") == [b"next"]
    assert buffer.overlong == 1
