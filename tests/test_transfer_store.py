"""Unfinished transfers kept across restarts, private to the user."""

import stat

from p2ptui.net.transfer.store import FILE_NAME, Saved, TransferStore


def saved(peer="bob", tid="aa" * 16, outgoing=True, state="offered"):
    return Saved(peer, tid, outgoing, "a.txt", 10, "cd" * 32, "/tmp/a.txt", state, "", 123)


def test_unfinished_transfers_survive_reopening_and_finished_ones_leave_the_list(tmp_path):
    store = TransferStore(tmp_path)
    store.save(saved())
    store.save(saved(tid="bb" * 16, outgoing=False, state="receiving"))
    store.save(saved(tid="cc" * 16))
    store.set_state("bob", "cc" * 16, True, "cancelled", "by the user")
    store.close()
    again = TransferStore(tmp_path)
    assert [(s.id, s.outgoing, s.state) for s in again.unfinished()] == [
        ("aa" * 16, True, "offered"), ("bb" * 16, False, "receiving")
    ]
    finished = again.get("bob", "cc" * 16, True)
    assert finished is not None and (finished.state, finished.reason) == ("cancelled", "by the user")
    assert again.get("bob", "aa" * 16, False) is None  # the same id the other way is another transfer
    assert stat.S_IMODE((tmp_path / FILE_NAME).stat().st_mode) == 0o600


def test_saving_again_replaces_the_row():
    store = TransferStore()
    store.save(saved())
    store.save(saved(state="sending"))
    assert [s.state for s in store.all()] == ["sending"]


def test_how_far_a_part_is_synced_is_kept_and_only_grows(tmp_path):
    store = TransferStore(tmp_path)
    store.save(saved(outgoing=False, state="receiving"))
    store.set_durable("bob", "aa" * 16, 5)
    store.set_durable("bob", "aa" * 16, 3)  # a late sync of less
    kept = store.get("bob", "aa" * 16, False)
    assert kept is not None and kept.durable == 5 and kept.at > 0
