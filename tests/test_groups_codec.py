"""The groups records as bytes: round trips, signatures, and bad input (only GroupWireError)."""

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from p2ptui.net import Identity
from p2ptui.net.groups.codec import (
    MAX_RECORD_BYTES,
    Change,
    GroupMessage,
    GroupWireError,
    Invite,
    Op,
    Summary,
    encode_changes,
    encode_invite,
    encode_messages,
    encode_summary,
    group_id_for,
    parse_untrusted,
)

ALICE = Identity.generate()
KEY = bytes.fromhex(ALICE.public_key)
GROUP = group_id_for(KEY, b"n" * 16)


def message(seq=1, text="hello", identity=ALICE):
    author = bytes.fromhex(identity.public_key)
    return GroupMessage(GROUP, author, seq, seq + 1, os.urandom(8), text).signed_by(identity)


def test_messages_round_trip_and_keep_their_signatures():
    sent = [message(1, "hello ünïcode"), message(2, "")]
    (record,) = encode_messages(GROUP, sent)
    assert parse_untrusted(record) == sent
    assert all(m.genuine() for m in parse_untrusted(record))


def test_a_changed_text_or_another_claimed_author_breaks_the_signature():
    original = message()
    bob = bytes.fromhex(Identity.generate().public_key)
    from dataclasses import replace

    assert not replace(original, text="goodbye").genuine()
    assert not replace(original, author=bob).genuine()
    assert not replace(original, seq=2).genuine()


def test_many_messages_split_into_records_under_the_control_limit():
    sent = [message(i, "x" * 1000) for i in range(1, 200)]
    records = list(encode_messages(GROUP, sent))
    assert len(records) > 1 and all(len(r) <= MAX_RECORD_BYTES for r in records)
    assert [m for r in records for m in parse_untrusted(r)] == sent


def test_changes_invites_and_summaries_round_trip():
    create = Change(GROUP, Op.CREATE, KEY, 1, KEY, b"n" * 16, "alice").signed_by(ALICE)
    assert create.genuine()
    (record,) = encode_changes(GROUP, [create])
    assert parse_untrusted(record) == [create]
    invite = Invite(GROUP, "alice", "friends", (create,))
    assert parse_untrusted(encode_invite(invite)) == [invite]
    summary = Summary(GROUP, True, 3, b"d" * 32, ((KEY, 7),))
    assert parse_untrusted(encode_summary(summary)) == [summary]


def test_only_the_creator_key_makes_the_group_id():
    other = bytes.fromhex(Identity.generate().public_key)
    assert group_id_for(other, b"n" * 16) != GROUP


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x01",
        bytes([2, 1]) + GROUP + b"\x00\x00",  # another version
        bytes([1, 9]) + GROUP,  # an unknown kind
        bytes([1, 1]) + GROUP + b"\x00\x01" + b"\x00" * 10,  # cut short
        bytes([1, 1]) + GROUP + b"\x00\x00" + b"extra",
        b"\x01" * (MAX_RECORD_BYTES + 1),
    ],
)
def test_bad_records_raise_only_group_wire_error(data):
    with pytest.raises(GroupWireError):
        parse_untrusted(data)


def test_a_text_that_is_not_utf8_is_a_wire_error():
    (record,) = encode_messages(GROUP, [message(text="ab")])
    at = record.index(b"ab")
    with pytest.raises(GroupWireError):
        parse_untrusted(record[:at] + b"\xff\xfe" + record[at + 2 :])


@given(st.binary(max_size=400))
def test_any_bytes_parse_or_raise_group_wire_error(data):
    try:
        parse_untrusted(data)
    except GroupWireError:
        pass


@given(st.integers(min_value=0, max_value=300), st.binary(min_size=1, max_size=1))
def test_any_truncation_or_flip_of_a_good_record_never_raises_anything_else(at, byte):
    (record,) = encode_messages(GROUP, [message(text="hello")])
    at = min(at, len(record) - 1)
    for mutated in (record[:at], record[:at] + byte + record[at + 1 :]):
        try:
            parse_untrusted(mutated)
        except GroupWireError:
            pass
