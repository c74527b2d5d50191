"""Safety numbers: the same on both sides, different for any other key, stable."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from p2ptui.net.safety import combine, format_safety_number, groups, half, safety_number

ALICE = "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c"  # Ed25519, seed 01 * 32
BOB = "8139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b394"  # Ed25519, seed 02 * 32
# Computed once with this code and pinned: a change to the algorithm would
# make every user's numbers disagree with their peers' older versions.
ALICE_AND_BOB = "075362714455560201043650082844788061801066304434201883017403"


def test_libsignal_published_vector():
    # libsignal-protocol-c tests/test_fingerprint.c: Curve25519 keys with their
    # 0x05 type byte, phone numbers as identifiers, 5,200 iterations.
    alice = bytes.fromhex("0506863bc66d02b40d27b8d49ca7c09e9239236f9d7d25d6fcca5ce13c7064d868")
    bob = bytes.fromhex("05f781b6fb32fed9ba1cf2de978d4d5da28dc34046ae814402b5c0dbd96fda907b")
    number = combine(half(alice, b"+14152222222"), half(bob, b"+14153333333"))
    assert number == "300354477692869396892869876765458257569162576843440918079131"


def test_known_answer_for_two_ed25519_keys():
    assert safety_number("alice", ALICE, "bob", BOB) == ALICE_AND_BOB


def test_both_sides_compute_the_same_number():
    assert safety_number("alice", ALICE, "bob", BOB) == safety_number("bob", BOB, "alice", ALICE)


def test_another_key_or_another_name_gives_another_number():
    mallory = "ab" * 32
    assert safety_number("alice", ALICE, "bob", mallory) != ALICE_AND_BOB
    assert safety_number("alice", mallory, "bob", BOB) != ALICE_AND_BOB
    assert safety_number("alice", ALICE, "bobby", BOB) != ALICE_AND_BOB
    # Swapping whose key is whose is a different pairing, too.
    assert safety_number("alice", BOB, "bob", ALICE) != ALICE_AND_BOB


@settings(max_examples=25, deadline=None)
@given(st.binary(min_size=32, max_size=32), st.binary(min_size=32, max_size=32))
def test_symmetric_and_sixty_digits_for_any_keys(one, other):
    number = safety_number("alice", one.hex(), "bob", other.hex())
    assert number == safety_number("bob", other.hex(), "alice", one.hex())
    assert len(number) == 60 and number.isdigit()


def test_shown_as_twelve_groups_of_five():
    assert groups(ALICE_AND_BOB)[:2] == ["07536", "27144"] and len(groups(ALICE_AND_BOB)) == 12
    assert format_safety_number(ALICE_AND_BOB).split() == groups(ALICE_AND_BOB)
    grid = format_safety_number(ALICE_AND_BOB, per_line=4).splitlines()
    assert grid == ["07536 27144 55560 20104", "36500 82844 78806 18010", "66304 43420 18830 17403"]
    assert groups(format_safety_number(ALICE_AND_BOB)) == groups(ALICE_AND_BOB)  # spaces are fine


@pytest.mark.parametrize("bad", ["", "12345", "x" * 60, "1" * 61, "١" * 60])
def test_not_a_safety_number(bad):
    with pytest.raises(ValueError):
        groups(bad)


@pytest.mark.parametrize("key", ["", "ab" * 31, "ab" * 33, "zz" * 32])
def test_a_malformed_key_is_refused(key):
    with pytest.raises(ValueError):
        safety_number("alice", ALICE, "bob", key)
