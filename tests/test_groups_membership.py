"""The membership log, free of I/O: the same changes fold to the same members, in any order."""

import itertools
import os
import random

import pytest

from p2ptui.net import Identity
from p2ptui.net.groups.codec import Change, Op, group_id_for
from p2ptui.net.groups.membership import MAX_MEMBERS, MAX_WAITING, Membership

PEOPLE = {name: Identity.generate() for name in ("alice", "bob", "carol", "dave")}


def key(name):
    return bytes.fromhex(PEOPLE[name].public_key)


NONCE = b"\x07" * 16
GROUP = group_id_for(key("alice"), NONCE)


def change(author, op, lamport, target=None, name="", identity=None):
    target = key(author) if target is None else target
    nonce = NONCE if op == Op.CREATE else os.urandom(16)
    return Change(GROUP, op, key(author), lamport, target, nonce, name).signed_by(identity or PEOPLE[author])


def created():
    log = Membership(GROUP)
    assert log.add(change("alice", Op.CREATE, 1, name="alice"))
    return log


def test_the_creator_is_the_first_admin_and_adds_members():
    log = created()
    assert log.add(change("alice", Op.ADD, 2, key("bob"), "bob"))
    assert set(log.members) == {key("alice"), key("bob")}
    assert log.is_admin(key("alice")) and not log.is_admin(key("bob"))
    assert log.names[key("bob")] == "bob"


def test_a_change_not_signed_by_an_admin_is_kept_but_changes_nothing_and_is_counted():
    log = created()
    log.add(change("alice", Op.ADD, 2, key("bob"), "bob"))
    assert log.add(change("bob", Op.ADD, 5, key("carol"), "carol"))
    assert key("carol") not in log.members
    assert log.rejected["change not signed by an admin"] == 1
    # Once bob is made admin before it (a lower Lamport time), the same change holds.
    log.add(change("alice", Op.ADMIN, 3, key("bob")))
    assert key("carol") in log.members


def test_a_replayed_change_is_ignored_and_counted():
    log = created()
    add = change("alice", Op.ADD, 2, key("bob"), "bob")
    log.add(add)
    log.add(change("alice", Op.REMOVE, 3, key("bob")))
    assert not log.add(add)
    assert log.rejected["duplicate change"] == 1
    assert key("bob") not in log.members


def test_a_forged_signature_or_a_stranger_is_refused():
    log = created()
    forged = change("alice", Op.ADD, 2, key("bob"), "bob", identity=PEOPLE["bob"])
    assert not log.add(forged)
    assert not log.add(change("dave", Op.ADD, 2, key("dave"), "dave"))  # held aside, in case its add comes
    assert log.rejected["change with a bad signature"] == 1
    assert set(log.members) == {key("alice")} and len(log) == 1


def test_a_flood_of_changes_by_strangers_is_bounded_and_counted():
    log = created()
    for lamport in range(2, 2 + MAX_WAITING + 10):
        log.add(change("dave", Op.LEAVE, lamport))
    assert log.rejected["change by a non-member"] == 10
    assert len(log) == 1


def test_only_the_creators_key_can_create_the_group():
    log = Membership(GROUP)
    log.add(change("bob", Op.CREATE, 0, name="bob"))
    assert log.creator is None and not log.members


def test_leave_removes_the_author_and_the_oldest_member_becomes_admin_when_none_is_left():
    log = created()
    log.add(change("alice", Op.ADD, 2, key("bob"), "bob"))
    log.add(change("alice", Op.ADD, 3, key("carol"), "carol"))
    log.add(change("alice", Op.LEAVE, 4))
    assert key("alice") not in log.members
    assert log.is_admin(key("bob")) and not log.is_admin(key("carol"))


def test_membership_at_a_lamport_time():
    log = created()
    log.add(change("alice", Op.ADD, 5, key("bob"), "bob"))
    log.add(change("alice", Op.REMOVE, 9, key("bob")))
    assert [log.member_at(key("bob"), t) for t in (5, 6, 8, 9)] == [False, True, True, False]


def test_a_group_over_the_member_limit_refuses_the_add():
    log = created()
    others = [Identity.generate() for _ in range(MAX_MEMBERS)]
    for i, other in enumerate(others):
        log.add(change("alice", Op.ADD, 2 + i, bytes.fromhex(other.public_key), f"m{i}"))
    assert len(log.members) == MAX_MEMBERS
    assert log.rejected["group over the member limit"] == 1


def test_any_order_of_arrival_folds_to_the_same_members():
    changes = [
        change("alice", Op.CREATE, 1, name="alice"),
        change("alice", Op.ADD, 2, key("bob"), "bob"),
        change("alice", Op.ADMIN, 3, key("bob")),
        change("bob", Op.ADD, 4, key("carol"), "carol"),
        change("alice", Op.ADD, 4, key("dave"), "dave"),
        change("bob", Op.REMOVE, 5, key("dave")),
        change("carol", Op.LEAVE, 6),
        change("carol", Op.ADD, 6, key("dave"), "dave"),  # not an admin
    ]
    outcomes = set()
    for seed in range(30):
        shuffled = changes[:]
        random.Random(seed).shuffle(shuffled)
        log = Membership(GROUP)
        for c in shuffled:
            log.add(c)
        outcomes.add((tuple(sorted(log.members.items())), tuple(sorted(log.inert))))
    assert len(outcomes) == 1
    ((members, _),) = outcomes
    assert {k for k, _ in members} == {key("alice"), key("bob")}


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_concurrent_adds_by_two_admins_agree(order):
    base = [change("alice", Op.CREATE, 1, name="alice"), change("alice", Op.ADD, 2, key("bob"), "bob"),
            change("alice", Op.ADMIN, 3, key("bob"))]
    concurrent = [change("alice", Op.ADD, 4, key("carol"), "carol"), change("bob", Op.ADD, 4, key("carol"), "carol"),
                  change("bob", Op.REMOVE, 4, key("alice"))]
    log = Membership(GROUP)
    for c in base + [concurrent[i] for i in order]:
        log.add(c)
    assert key("carol") in log.members  # one of the two adds holds, whichever came first
    assert key("alice") in log.members  # the creator cannot be removed


def test_a_whole_log_at_once_folds_as_one_change_at_a_time():
    changes = [
        change("alice", Op.CREATE, 1, name="alice"),
        change("alice", Op.ADD, 2, key("bob"), "bob"),
        change("alice", Op.ADMIN, 3, key("bob")),
        change("bob", Op.ADD, 4, key("carol"), "carol"),
        change("carol", Op.ADD, 5, key("dave"), "dave"),  # not an admin: inert
        change("carol", Op.LEAVE, 6),
    ]
    one, whole = Membership(GROUP), Membership(GROUP)
    for c in changes:
        one.add(c)
    entered = whole.add_all(reversed(changes))  # the authors' changes before their adds
    assert len(entered) == len(changes)
    assert one.members == whole.members and one.inert == whole.inert
    assert whole.rejected == one.rejected == {"change not signed by an admin": 1}
