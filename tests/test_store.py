"""History, outbox and pinned keys: what outlives the process."""

from p2ptui.net.store import MessageStore
from p2ptui.net.trust import KnownPeers, Verdict, fingerprint


def test_outbox_keeps_undelivered_messages_in_order_across_reopening(tmp_path):
    store = MessageStore(tmp_path)
    assert store.queue("bob", "01" * 8, "first")
    assert store.queue("carol", "02" * 8, "second")
    assert store.queue("bob", "03" * 8, "third")
    assert not store.queue("bob", "01" * 8, "a reused id")
    store.delivered("carol", "02" * 8)
    store.close()
    reopened = MessageStore(tmp_path)
    assert [(m.peer, m.text) for m in reopened.outbox()] == [("bob", "first"), ("bob", "third")]


def test_a_received_message_is_stored_once_and_shown_once(tmp_path):
    store = MessageStore(tmp_path)
    assert store.received("bob", "aa" * 8, "hello")
    assert not store.received("bob", "aa" * 8, "hello")  # the sender resent it after a crash
    assert store.received("carol", "aa" * 8, "same id, other peer")
    assert [m.text for m in store.unshown("bob")] == ["hello"]
    store.shown("bob", "aa" * 8)
    assert store.unshown("bob") == []
    store.queue("bob", "bb" * 8, "reply")
    assert [(m.outgoing, m.text) for m in store.history("bob")] == [(False, "hello"), (True, "reply")]
    assert [m.text for m in store.history("bob", limit=1)] == ["reply"]


def test_the_first_key_is_pinned_and_a_change_is_refused_until_accepted(tmp_path):
    known = KnownPeers(tmp_path)
    assert known.check("bob", "ab" * 32) == Verdict.NEW
    assert known.check("bob", "ab" * 32) == Verdict.KNOWN
    assert known.check("bob", "cd" * 32) == Verdict.CHANGED
    assert KnownPeers(tmp_path).check("bob", "cd" * 32) == Verdict.CHANGED  # kept on disk
    known.pin("bob", "cd" * 32)  # the user accepted it
    assert KnownPeers(tmp_path).check("bob", "cd" * 32) == Verdict.KNOWN
    assert (tmp_path / "known_peers").read_text().count("bob") == 1


def test_fingerprints_are_short_grouped_and_differ_per_key():
    one, two = fingerprint("ab" * 32), fingerprint("ac" * 32)
    assert len(one.split()) == 8 and all(len(group) == 4 for group in one.split())
    assert one != two


def test_history_pages_back_from_a_message(tmp_path):
    store = MessageStore(tmp_path)
    for n in range(10):
        store.received("bob", f"{n:016x}", f"m{n}")
    store.received("carol", "ff" * 8, "someone else's")
    assert [m.text for m in store.history("bob", 3)] == ["m7", "m8", "m9"]
    assert [m.text for m in store.history("bob", 3, before=f"{7:016x}")] == ["m4", "m5", "m6"]
    assert [m.text for m in store.history("bob", 5, before=f"{2:016x}")] == ["m0", "m1"]  # the last page
    assert store.history("bob", 3, before="ff" * 8) == []  # carol's id is not bob's
    assert store.history("bob", 3, before="00" * 7 + "99") == []  # an unknown id
