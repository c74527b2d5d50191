"""A node's groups engine, several joined by in-memory channels (tests/groupmesh.py): no network."""

import pytest

from p2ptui.net import ConfigError, events
from p2ptui.net.groups.codec import (
    Change,
    GroupMessage,
    Op,
    encode_changes,
    encode_messages,
)

from .groupmesh import Mesh


def formed(names, seed=0, directory=None):
    """A mesh where names[0] created #team and invited everyone, who all joined."""
    mesh = Mesh(names, seed, directory)
    first = mesh.nodes[names[0]]
    first.create("team")
    for name in names[1:]:
        first.invite("team", name, mesh.key(name))
        mesh.deliver()
        mesh.nodes[name].join("team")
        mesh.deliver()
    return mesh


def test_create_invite_join_and_talk():
    mesh = formed(["alice", "bob", "carol"])
    assert [e.group for e in mesh.of("bob", events.GroupInvited)] == ["team"]
    assert mesh.of("bob", events.GroupJoined)[0].members[0] == "alice"
    sent = mesh.nodes["bob"].send("team", "hello all")
    mesh.deliver()
    for name in ("alice", "carol"):
        (received,) = [e for e in mesh.of(name, events.MessageReceived)]
        assert (received.peer, received.id, received.text, received.group) == ("bob", sent, "hello all", "team")
    info = mesh.nodes["carol"].info(mesh.nodes["carol"].group("team"))
    assert [m.name for m in info.members] == ["alice", "bob", "carol"]
    assert [m.admin for m in info.members] == [True, False, False] and not info.admin


def test_every_member_shows_the_same_order_whatever_the_interleaving():
    for seed in range(8):
        mesh = formed(["alice", "bob", "carol", "dave"], seed)
        for round_ in range(5):
            for name in ("alice", "bob", "carol", "dave"):
                mesh.nodes[name].send("team", f"{name} {round_}")
            mesh.deliver()
        logs = {name: mesh.log(name, "team") for name in mesh.nodes}
        assert len({repr(log) for log in logs.values()}) == 1
        _, messages, orders = logs["alice"]
        assert len(messages) == 20 and orders == sorted(orders)


def test_a_reply_sorts_after_what_it_answers():
    mesh = formed(["alice", "bob", "carol"])
    mesh.nodes["alice"].send("team", "question")
    mesh.deliver()
    mesh.nodes["bob"].send("team", "answer")
    mesh.deliver()
    assert [m[2] for m in mesh.log("carol", "team")[1]] == ["question", "answer"]


def test_a_member_offline_gets_everything_from_whoever_is_online_even_with_the_author_gone():
    for seed in range(6):
        mesh = formed(["alice", "bob", "carol"], seed)
        mesh.stop("carol")
        for i in range(30):
            mesh.nodes["alice" if i % 2 else "bob"].send("team", f"m{i}")
        mesh.deliver()
        mesh.stop("alice")  # the author of half of them leaves before carol returns
        mesh.restart("carol")
        mesh.deliver()
        mesh.restart("alice")
        mesh.deliver()
        logs = [mesh.log(name, "team") for name in ("alice", "bob", "carol")]
        assert logs[0] == logs[1] == logs[2]
        assert len(logs[2][1]) == 30


def test_restarts_from_disk_keep_everything(tmp_path):
    mesh = formed(["alice", "bob", "carol"], directory=tmp_path)
    mesh.stop("carol")
    for i in range(10):
        mesh.nodes["alice"].send("team", f"m{i}")
    mesh.deliver()
    mesh.stop("alice")
    mesh.restart("carol")
    mesh.deliver()
    mesh.restart("alice")
    mesh.nodes["alice"].send("team", "after the restart")
    mesh.deliver()
    logs = [mesh.log(name, "team") for name in ("alice", "bob", "carol")]
    assert logs[0] == logs[1] == logs[2] and len(logs[0][1]) == 11
    # Its own seq went on from where it was: nothing of carol's view was overwritten.
    assert [m[2] for m in logs[2][1]][-1] == "after the restart"


def test_a_kicked_member_is_told_and_sent_nothing_new():
    mesh = formed(["alice", "bob", "carol"])
    mesh.nodes["alice"].kick("team", "carol")
    mesh.deliver()
    assert mesh.of("carol", events.MemberLeft)[-1] == events.MemberLeft("team", "carol", kicked=True)
    assert events.MemberLeft("team", "carol", True) in mesh.of("bob", events.MemberLeft)
    mesh.nodes["bob"].send("team", "secret")
    mesh.deliver()
    assert not any(e.text == "secret" for e in mesh.of("carol", events.MessageReceived))
    with pytest.raises(ConfigError):
        mesh.nodes["carol"].send("team", "still here?")
    mesh.restart("carol")  # a new session: still nothing
    mesh.deliver()
    assert not any(e.text == "secret" for e in mesh.of("carol", events.MessageReceived))


def test_leave_and_admin_rules():
    mesh = formed(["alice", "bob", "carol"])
    with pytest.raises(ConfigError, match="only an admin"):
        mesh.nodes["bob"].kick("team", "carol")
    mesh.nodes["alice"].make_admin("team", "bob")
    mesh.deliver()
    mesh.nodes["bob"].kick("team", "carol")
    mesh.deliver()
    mesh.nodes["bob"].leave("team")
    mesh.deliver()
    members = [m.name for m in mesh.nodes["alice"].info(mesh.nodes["alice"].group("team")).members]
    assert members == ["alice"]
    assert events.MemberLeft("team", "bob", False) in mesh.of("alice", events.MemberLeft)


def test_thirty_two_members_all_get_every_message():
    names = [f"m{i}" for i in range(32)]
    mesh = formed(names)
    mesh.nodes["m5"].send("team", "to all")
    mesh.deliver()
    assert all(any(e.text == "to all" for e in mesh.of(n, events.MessageReceived)) for n in names if n != "m5")


# --- Bad input: rejected and counted, nothing crashes, no good message lost ---------------


def _counters(mesh, name):
    return dict(mesh.nodes[name].info(mesh.nodes[name].group("team")).rejected)


def test_a_message_claiming_another_author_is_rejected_and_counted():
    mesh = formed(["alice", "bob", "carol"])
    group = mesh.nodes["bob"].group("team").id
    alice = bytes.fromhex(mesh.key("alice"))
    forged = GroupMessage(group, alice, 1, 50, b"\x01" * 8, "I am alice").signed_by(mesh.identities["bob"])
    (record,) = encode_messages(group, [forged])
    mesh.nodes["carol"].received("bob", mesh.key("bob"), record)
    mesh.flush("carol")
    assert _counters(mesh, "carol")["message not signed by its author"] == 1
    mesh.nodes["alice"].send("team", "the real one")  # alice's seq 1 is still hers to use
    mesh.deliver()
    assert [e.text for e in mesh.of("carol", events.MessageReceived)] == ["the real one"]


def test_a_message_from_a_non_member_is_rejected_and_counted():
    mesh = formed(["alice", "bob", "carol", "eve"][:3])
    group = mesh.nodes["bob"].group("team").id
    from p2ptui.net import Identity

    eve = Identity.generate()
    message = GroupMessage(group, bytes.fromhex(eve.public_key), 1, 9, b"\x02" * 8, "hi").signed_by(eve)
    (record,) = encode_messages(group, [message])
    mesh.nodes["carol"].received("bob", mesh.key("bob"), record)  # forwarded by a member
    mesh.nodes["carol"].received("eve", eve.public_key, record)  # or sent by the stranger itself
    counters = _counters(mesh, "carol")
    assert counters["message from a non-member"] == 1 and counters["record from a non-member"] == 1
    assert not mesh.of("carol", events.MessageReceived)


def test_a_change_not_signed_by_an_admin_and_a_replay_are_counted():
    mesh = formed(["alice", "bob", "carol"])
    group = mesh.nodes["bob"].group("team")
    carol = bytes.fromhex(mesh.key("carol"))
    kick = Change(group.id, Op.REMOVE, bytes.fromhex(mesh.key("bob")), 99, carol, b"\x03" * 16)
    (record,) = encode_changes(group.id, [kick.signed_by(mesh.identities["bob"])])
    mesh.nodes["alice"].received("bob", mesh.key("bob"), record)
    mesh.nodes["alice"].received("bob", mesh.key("bob"), record)  # the same, replayed
    mesh.flush("alice")
    counters = _counters(mesh, "alice")
    assert counters["change not signed by an admin"] == 1 and counters["duplicate change"] == 1
    assert "carol" in [m.name for m in mesh.nodes["alice"].info(mesh.nodes["alice"].group("team")).members]


def test_an_invite_past_the_member_limit_is_refused():
    from p2ptui.net.groups import MAX_MEMBERS

    names = [f"m{i}" for i in range(MAX_MEMBERS)]
    mesh = Mesh(names + ["late"])
    owner = mesh.nodes["m0"]
    owner.create("team")
    for name in names[1:]:
        owner.invite("team", name, mesh.key(name))
    with pytest.raises(ConfigError, match="the most a group may have"):
        owner.invite("team", "late", mesh.key("late"))


def test_garbage_is_dropped_and_counted_and_nothing_breaks():
    mesh = formed(["alice", "bob"])
    mesh.nodes["bob"].received("alice", mesh.key("alice"), b"\x01\x01garbage")
    assert mesh.dropped["bob"]["groups record that did not parse"] == 1
    mesh.nodes["alice"].send("team", "still fine")
    mesh.deliver()
    assert mesh.of("bob", events.MessageReceived)[-1].text == "still fine"


def test_delivered_once_every_member_holds_the_message():
    mesh = formed(["alice", "bob", "carol"])
    mesh.stop("carol")
    sent = mesh.nodes["alice"].send("team", "hello")
    mesh.deliver()
    assert not mesh.of("alice", events.MessageDelivered)  # carol is away
    mesh.restart("carol")
    mesh.deliver()
    assert mesh.of("alice", events.MessageDelivered) == [events.MessageDelivered("#team", sent)]


def test_a_full_disk_loses_nothing_the_next_reconciliation_cannot_bring(monkeypatch):
    from p2ptui.net.store import DiskFull

    mesh = formed(["alice", "bob"])
    store = mesh.nodes["bob"].store
    real = store.put_message

    def full(message):
        raise DiskFull("the disk is full")

    monkeypatch.setattr(store, "put_message", full)
    mesh.nodes["alice"].send("team", "lost for now")
    with pytest.raises(DiskFull):
        mesh.deliver()
    mesh.queues.clear()  # the session ends (what was in flight is gone)
    monkeypatch.setattr(store, "put_message", real)
    mesh.connect("alice", "bob")
    mesh.deliver()
    assert [e.text for e in mesh.of("bob", events.MessageReceived)] == ["lost for now"]


def test_concurrent_membership_changes_and_messages_settle_to_one_log_in_any_interleaving():
    for seed in range(10):
        mesh = formed(["alice", "bob", "carol", "dave", "erin"], seed)
        mesh.nodes["alice"].make_admin("team", "bob")
        mesh.deliver()
        # At once, before anyone hears of the others: two admins change the membership
        # while everyone talks.
        mesh.nodes["alice"].kick("team", "dave")
        mesh.nodes["bob"].kick("team", "erin")
        mesh.nodes["bob"].make_admin("team", "carol")
        for name in ("alice", "bob", "carol"):
            mesh.nodes[name].send("team", f"{name} during the changes")
        mesh.deliver()
        for name in ("alice", "bob", "carol"):  # a reconnection round, as after any restart
            for other in ("alice", "bob", "carol"):
                if name < other:
                    mesh.connect(name, other)
        mesh.deliver()
        logs = [mesh.log(name, "team") for name in ("alice", "bob", "carol")]
        assert logs[0] == logs[1] == logs[2], seed
        members = mesh.nodes["carol"].info(mesh.nodes["carol"].group("team")).members
        assert [(m.name, m.admin) for m in members] == [("alice", True), ("bob", True), ("carol", True)]
        assert len(logs[0][1]) == 3


def test_a_member_who_left_is_invited_again_under_the_same_name_with_its_history():
    mesh = formed(["alice", "bob"])
    mesh.nodes["alice"].send("team", "before")
    mesh.deliver()
    mesh.nodes["bob"].leave("team")
    mesh.deliver()
    mesh.nodes["alice"].invite("team", "bob", mesh.key("bob"))
    mesh.deliver()
    assert mesh.of("bob", events.GroupInvited)[-1].group == "team"
    mesh.nodes["bob"].ignore_invite("team")  # ignored: still the group it left, history kept
    mesh.deliver()
    assert [m.text for m in mesh.nodes["bob"].history("team").messages] == ["before"]
    mesh.nodes["alice"].invite("team", "bob", mesh.key("bob"))
    mesh.deliver()
    mesh.nodes["bob"].join("team")
    mesh.nodes["alice"].send("team", "after")
    mesh.deliver()
    assert [m.text for m in mesh.nodes["bob"].history("team").messages] == ["before", "after"]


def test_an_ignored_invitation_leaves_the_group_for_everyone():
    mesh = Mesh(["alice", "bob"])
    mesh.nodes["alice"].create("team")
    mesh.nodes["alice"].invite("team", "bob", mesh.key("bob"))
    mesh.deliver()
    mesh.nodes["bob"].ignore_invite("team")
    mesh.deliver()
    assert [m.name for m in mesh.nodes["alice"].info(mesh.nodes["alice"].group("team")).members] == ["alice"]
    assert "team" not in mesh.nodes["bob"].names()


def test_messages_never_shown_before_a_kill_are_shown_after_it_and_pages_go_back_in_order(tmp_path):
    mesh = formed(["alice", "bob"], directory=tmp_path)
    ids = [mesh.nodes["alice"].send("team", f"m{i}") for i in range(5)]
    mesh.deliver()
    mesh.nodes["bob"].store.shown(mesh.nodes["bob"].group("team").id, ids[0])
    mesh.stop("bob")
    mesh.restart("bob")
    assert [e.id for e in mesh.nodes["bob"].unshown("team")] == ids[1:]
    page = mesh.nodes["bob"].history("team", limit=2, before=ids[3])
    assert [m.id for m in page.messages] == ids[1:3] and page.older and not page.complete


def test_an_invitation_sent_while_the_peer_was_away_reaches_it_when_it_connects():
    mesh = Mesh(["alice", "bob"])
    mesh.nodes["alice"].create("team")
    mesh.stop("bob")  # its session is gone: the invitation is lost in flight
    mesh.nodes["alice"].invite("team", "bob", mesh.key("bob"))
    mesh.nodes["alice"].send("team", "while you were away")
    mesh.deliver()
    assert mesh.of("bob", events.GroupInvited) == []
    mesh.restart("bob")
    mesh.deliver()
    assert [e.group for e in mesh.of("bob", events.GroupInvited)] == ["team"]
    mesh.nodes["bob"].join("team")
    mesh.deliver()
    assert [m.text for m in mesh.nodes["bob"].history("team").messages] == ["while you were away"]
    refused = mesh.nodes["bob"].group("team").counters()
    mesh.stop("bob")
    mesh.restart("bob")  # a member reconnecting is not invited again, nor counts it as refused input
    mesh.deliver()
    assert len(mesh.of("bob", events.GroupInvited)) == 1 and "team" in mesh.nodes["bob"].names()
    assert mesh.nodes["bob"].group("team").counters() == refused


def test_a_member_who_left_while_its_inviter_was_away_is_not_invited_again_by_the_reconnection():
    mesh = formed(["alice", "bob"])
    mesh.stop("alice")
    mesh.nodes["bob"].leave("team")  # alice never hears of it
    mesh.deliver()
    mesh.restart("alice")
    mesh.deliver()
    assert len(mesh.of("bob", events.GroupInvited)) == 1
    assert mesh.nodes["bob"].group("team").row.state == "left"


def test_joining_tells_the_members_added_while_the_invitation_waited():
    mesh = Mesh(["frank", "alice", "bob"])
    mesh.nodes["frank"].create("crew")
    mesh.nodes["frank"].invite("crew", "alice", mesh.key("alice"))
    mesh.deliver()
    mesh.nodes["frank"].invite("crew", "bob", mesh.key("bob"))  # alice has not answered yet
    mesh.deliver()
    mesh.nodes["alice"].join("crew")
    mesh.deliver()
    changed = mesh.of("alice", events.GroupChanged)
    assert changed and [m.name for m in changed[-1].info.members] == ["frank", "alice", "bob"]
