"""FilesApp on both sides of an in-memory channel: whole transfers, resumes, bad input."""

import hashlib
import os

import pytest
import trio

from p2ptui.net import events as ev
from p2ptui.net import session_events as sess
from p2ptui.net.transfer import codec
from p2ptui.net.transfer.machine import STALL_AFTER

from .fakechannel import Link, Side

pytestmark = pytest.mark.trio


@pytest.fixture
def data():
    return os.urandom(300_000)


async def start(nursery, tmp_path, *, max_file_size=2**40, name="alice", other="bob", downloads=None):
    side = Side(name, other, tmp_path / f"{name}-state", downloads or tmp_path / f"{name}-downloads", max_file_size)
    await nursery.start(side.app.run)
    return side


async def pair(nursery, tmp_path, **kwargs):
    alice = await start(nursery, tmp_path)
    bob = await start(nursery, tmp_path, name="bob", other="alice", **kwargs)
    return alice, bob, Link(alice, bob)


async def offered(link, alice, bob, path):
    tid = alice.app.send_file(alice.peer, path)
    await link.run_until(lambda: bob.of(ev.FileOffered))
    (offer,) = bob.of(ev.FileOffered)
    assert offer.id == tid
    return tid, offer


async def test_a_file_arrives_whole_with_its_hash_and_both_sides_are_told(nursery, tmp_path, data, autojump_clock):
    alice, bob, link = await pair(nursery, tmp_path)
    (tmp_path / "holiday.jpg").write_bytes(data)
    tid, offer = await offered(link, alice, bob, tmp_path / "holiday.jpg")
    assert (offer.name, offer.size) == ("holiday.jpg", len(data))
    assert alice.of(ev.FileOffered) == [ev.FileOffered("bob", tid, "holiday.jpg", len(data), outgoing=True)]
    assert [t.state for t in bob.app.transfers("alice")] == ["offered"]
    bob.app.accept(bob.peer, tid, None)
    await link.run_until(lambda: alice.of(ev.FileSent))
    (received,) = bob.of(ev.FileReceived)
    assert received.sha256 == hashlib.sha256(data).hexdigest() and received.size == len(data)
    assert received.path == str((tmp_path / "bob-downloads" / "holiday.jpg").resolve())
    assert open(received.path, "rb").read() == data
    assert not list((tmp_path / "bob-downloads").glob("*.part"))
    for side in (alice, bob):
        progress = side.of(ev.FileProgress)
        assert progress and progress[-1].bytes == len(data)  # always one at 100%
        assert [p.bytes for p in progress] == sorted(p.bytes for p in progress)
        assert side.app.transfers(side.peer.name) == []  # finished: no longer listed


async def test_a_receiver_restarted_mid_transfer_resumes_from_its_part(nursery, tmp_path, data, autojump_clock):
    alice, bob, link = await pair(nursery, tmp_path)
    (tmp_path / "a.bin").write_bytes(data)
    tid, _ = await offered(link, alice, bob, tmp_path / "a.bin")
    bob.app.accept(bob.peer, tid, None)
    await link.run_until(lambda: bob.app.transfers("alice")[0].bytes >= 100_000)
    part = tmp_path / "bob-downloads" / "a.bin.part"
    had = part.stat().st_size
    assert 0 < had < len(data)
    # Bob is killed: a new app on the same state and downloads; both sessions are new ones.
    bob.store.close()
    bob2 = await start(nursery, tmp_path, name="bob", other="alice")
    link.swap(bob, bob2)
    # Taken up (its .part hashed meanwhile), waiting for alice to connect again.
    assert [(t.state, t.outgoing) for t in bob2.app.transfers("alice")] == [("waiting", False)]
    alice.peer.session = type(alice.peer.session)()
    before = alice.peer.session.stream_bytes
    await trio.sleep(0.1)  # the .part is hashed in a worker thread
    link.connected()
    await link.run_until(lambda: alice.of(ev.FileSent))
    (received,) = bob2.of(ev.FileReceived)
    assert open(received.path, "rb").read() == data
    resent = alice.peer.session.stream_bytes - before
    assert resent <= len(data) - had + codec.STREAM_HEADER.size  # only what was missing


async def test_data_past_the_offered_size_stops_the_transfer_on_both_sides(nursery, tmp_path, autojump_clock):
    alice, bob, link = await pair(nursery, tmp_path)
    tid = os.urandom(16)
    bob.events += bob.app.session_event(bob.peer, sess.ControlReceived(1, codec.encode(
        codec.Offer(tid, 10, hashlib.sha256(b"0123456789").digest(), "x"))))
    bob.app.accept(bob.peer, tid.hex(), None)
    stream = codec.stream_header(tid, 0) + b"0123456789" + b"and more"
    bob.events += bob.app.session_event(bob.peer, sess.StreamData(3, stream, False))
    await trio.sleep(0.01)
    (failed,) = bob.of(ev.FileFailed)
    assert "past the offered size" in failed.reason
    sent = [codec.decode_untrusted(p) for _, p in bob.peer.session.control]
    assert any(isinstance(r, codec.Stop) and "past the offered size" in r.reason for r in sent)
    assert 3 in bob.peer.session.resets_in  # the stream is stopped
    assert (tmp_path / "bob-downloads" / "x.part").stat().st_size == 0  # nothing past the size written
    assert [t.state for t in bob.app.transfers("alice")] == ["failed"]  # kept, for a resume


async def test_a_wrong_hash_fails_both_sides_and_leaves_no_file(nursery, tmp_path, autojump_clock):
    alice, bob, link = await pair(nursery, tmp_path)
    (tmp_path / "f").write_bytes(b"hello")
    tid = alice.app.send_file(alice.peer, tmp_path / "f")
    await link.run_until(lambda: alice.of(ev.FileOffered))
    # The file changes to the same size and time after hashing: what arrives does not match.
    info = os.stat(tmp_path / "f")
    (tmp_path / "f").write_bytes(b"jello")
    os.utime(tmp_path / "f", ns=(info.st_atime_ns, info.st_mtime_ns))
    await link.run_until(lambda: bob.of(ev.FileOffered))
    bob.app.accept(bob.peer, tid, None)
    await link.run_until(lambda: alice.of(ev.FileFailed))
    assert "hash did not match" in alice.of(ev.FileFailed)[0].reason
    assert "hash did not match" in bob.of(ev.FileFailed)[0].reason
    assert list((tmp_path / "bob-downloads").iterdir()) == []


@pytest.mark.parametrize("hostile", ["../../etc/passwd", "a\x1b[2Jb", "\u202egnp.exe", "x" * 10_000, "", ".", ".."])
async def test_a_hostile_name_is_made_safe_before_anyone_sees_it(nursery, tmp_path, hostile, autojump_clock):
    alice, bob, link = await pair(nursery, tmp_path)
    tid = os.urandom(16)
    offer = codec.Offer(tid, 1, hashlib.sha256(b"!").digest(), hostile[: codec.MAX_NAME_BYTES])
    bob.events += bob.app.session_event(bob.peer, sess.ControlReceived(1, codec.encode(offer)))
    (told,) = bob.of(ev.FileOffered)
    assert "/" not in told.name and "\x1b" not in told.name and "\u202e" not in told.name
    assert told.name not in ("", ".", "..") and len(told.name) <= 120
    bob.app.accept(bob.peer, tid.hex(), None)
    bob.events += bob.app.session_event(bob.peer, sess.StreamData(3, codec.stream_header(tid, 0) + b"!", True))
    (received,) = bob.of(ev.FileReceived)
    assert os.path.dirname(received.path) == str((tmp_path / "bob-downloads").resolve())
    assert not (tmp_path / "etc").exists()


async def test_decline_and_the_size_cap_are_told_on_both_sides(nursery, tmp_path, autojump_clock):
    alice, bob, link = await pair(nursery, tmp_path, max_file_size=1000)
    (tmp_path / "small").write_bytes(b"s" * 10)
    (tmp_path / "big").write_bytes(b"b" * 2000)
    tid, _ = await offered(link, alice, bob, tmp_path / "small")
    bob.app.decline(bob.peer, tid)
    await link.run_until(lambda: alice.of(ev.FileFailed))
    assert alice.of(ev.FileFailed)[0].reason == "declined"
    big = alice.app.send_file(alice.peer, tmp_path / "big")
    await link.run_until(lambda: len(alice.of(ev.FileFailed)) == 2)
    mine, theirs = alice.of(ev.FileFailed)[1], bob.of(ev.FileFailed)[-1]
    assert mine.id == theirs.id == big
    assert "too large: 2,000 bytes, over the limit of 1,000" in mine.reason
    assert "too large" in theirs.reason and len(bob.of(ev.FileOffered)) == 1  # never offered to the user


@pytest.mark.parametrize("who", ["sender", "receiver"])
async def test_cancel_from_either_side_stops_both_and_removes_the_part(nursery, tmp_path, data, who, autojump_clock):
    alice, bob, link = await pair(nursery, tmp_path)
    (tmp_path / "a.bin").write_bytes(data)
    tid, _ = await offered(link, alice, bob, tmp_path / "a.bin")
    bob.app.accept(bob.peer, tid, None)
    await link.run_until(lambda: bob.of(ev.FileProgress))
    canceller = alice if who == "sender" else bob
    canceller.app.cancel(canceller.peer, tid)
    other = bob if canceller is alice else alice
    await link.run_until(lambda: other.of(ev.FileFailed))
    assert "cancelled by the peer" in other.of(ev.FileFailed)[0].reason
    await link.run_until(lambda: canceller.of(ev.FileFailed))
    assert list((tmp_path / "bob-downloads").iterdir()) == []
    assert alice.app.transfers("bob") == bob.app.transfers("alice") == []


async def test_a_stalled_sender_is_said_once_and_the_transfer_goes_on_when_data_comes(
    nursery, tmp_path, data, autojump_clock
):
    alice, bob, link = await pair(nursery, tmp_path)
    (tmp_path / "a.bin").write_bytes(data)
    tid, _ = await offered(link, alice, bob, tmp_path / "a.bin")
    bob.app.accept(bob.peer, tid, None)
    await link.run_until(lambda: bob.of(ev.FileProgress))
    link.carry_streams = False
    start = trio.current_time()
    while not bob.of(ev.Error) and trio.current_time() - start < 3 * STALL_AFTER:
        link.step()  # as the session's timers pump it
        await trio.sleep(5)
    stalled = bob.of(ev.Error)
    assert trio.current_time() - start >= STALL_AFTER and len(stalled) == 1
    assert "stalled" in stalled[0].message and bob.app.transfers("alice")[0].reason.startswith("stalled")
    link.carry_streams = True
    await link.run_until(lambda: alice.of(ev.FileSent))
    assert len(bob.of(ev.Error)) <= 2  # the sender may have said it too: once each


async def test_a_sender_restarted_mid_transfer_resumes_where_the_receiver_is(nursery, tmp_path, data, autojump_clock):
    alice, bob, link = await pair(nursery, tmp_path)
    (tmp_path / "a.bin").write_bytes(data)
    tid, _ = await offered(link, alice, bob, tmp_path / "a.bin")
    bob.app.accept(bob.peer, tid, None)
    await link.run_until(lambda: bob.app.transfers("alice")[0].bytes >= 100_000)
    alice.store.close()
    alice2 = await start(nursery, tmp_path)
    link.swap(alice, alice2)
    assert [(t.id, t.outgoing) for t in alice2.app.transfers("bob")] == [(tid, True)]
    bob.peer.session = type(bob.peer.session)()
    link.connected()
    await link.run_until(lambda: alice2.of(ev.FileSent))
    assert open(bob.of(ev.FileReceived)[0].path, "rb").read() == data
    assert alice2.peer.session.stream_bytes < len(data) - 100_000 + 100


def _mount_tmpfs(path, size):
    import subprocess

    path.mkdir()
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          capture_output=True).returncode == 0


@pytest.fixture
def small_disk(tmp_path):
    """A 1 MiB tmpfs: a disk that really fills up (as test_store_failures' does)."""
    import subprocess

    mount = tmp_path / "disk"
    if not _mount_tmpfs(mount, "1m"):
        if os.environ.get("CI") == "true":
            pytest.fail("cannot mount a tmpfs (needs root): the full-disk test must run in CI")
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


async def test_a_full_disk_fails_both_sides_keeps_the_part_and_the_chat_goes_on(
    nursery, tmp_path, small_disk, autojump_clock
):
    alice, bob, link = await pair(nursery, tmp_path, downloads=small_disk)
    big = os.urandom(3 * 2**20)
    (tmp_path / "big").write_bytes(big)
    tid, _ = await offered(link, alice, bob, tmp_path / "big")
    bob.app.accept(bob.peer, tid, None)
    await link.run_until(lambda: alice.of(ev.FileFailed))
    (mine,), (theirs,) = bob.of(ev.FileFailed), alice.of(ev.FileFailed)
    assert mine.reason.startswith("the disk is full") and "accept again" in mine.reason
    assert "the disk is full" in theirs.reason and theirs.outgoing
    part = small_disk / "big.part"
    assert 0 < part.stat().st_size < len(big)  # kept, for a resume
    assert [t.state for t in bob.app.transfers("alice")] == ["failed"]
    # The conversation goes on: another offer arrives and is told.
    (tmp_path / "note.txt").write_text("hi")
    alice.app.send_file(alice.peer, tmp_path / "note.txt")
    await link.run_until(lambda: len(bob.of(ev.FileOffered)) == 2)
    bob.app.cancel(bob.peer, tid)  # given up: the partial file goes
    await link.run_until(lambda: not part.exists())
    assert [t.name for t in bob.app.transfers("alice")] == ["note.txt"]


async def test_a_flood_of_offers_is_declined_past_the_limit_and_counted(nursery, tmp_path, autojump_clock):
    from p2ptui.net.transfer.app import MAX_WAITING_OFFERS

    alice, bob, link = await pair(nursery, tmp_path)
    for _ in range(MAX_WAITING_OFFERS + 10):
        offer = codec.Offer(os.urandom(16), 1, bytes(32), "spam")
        bob.events += bob.app.session_event(bob.peer, sess.ControlReceived(1, codec.encode(offer)))
    assert len(bob.of(ev.FileOffered)) == MAX_WAITING_OFFERS and not bob.of(ev.FileFailed)
    assert bob.app.dropped["file offer over the limit of those waiting"] == 10
    declines = [codec.decode_untrusted(p) for _, p in bob.peer.session.control]
    assert len(declines) == 10 and all("too many offers" in d.reason for d in declines)
    garbage = sess.ControlReceived(1, b"\x01nonsense")
    assert bob.app.session_event(bob.peer, garbage) == []  # dropped, counted, nothing else
    assert bob.app.dropped["bad files record or stream"] == 1


async def test_after_a_full_disk_accepting_again_resumes_once_there_is_space(
    nursery, tmp_path, small_disk, autojump_clock
):
    alice, bob, link = await pair(nursery, tmp_path, downloads=small_disk)
    data = os.urandom(600_000)
    (tmp_path / "f.bin").write_bytes(data)
    filler = small_disk / "filler"
    filler.write_bytes(b"\0" * 600_000)  # of the 1 MiB, not enough left for the file
    tid, _ = await offered(link, alice, bob, tmp_path / "f.bin")
    bob.app.accept(bob.peer, tid, None)
    await link.run_until(lambda: alice.of(ev.FileFailed))
    had = (small_disk / "f.bin.part").stat().st_size
    assert had > 0
    filler.unlink()
    bob.app.accept(bob.peer, tid, None)  # taken up: its .part hashed, the rest asked for
    await link.run_until(lambda: alice.of(ev.FileSent))
    assert (small_disk / "f.bin").read_bytes() == data


async def test_a_part_gone_while_stopped_fails_both_sides_clearly(nursery, tmp_path, data, autojump_clock):
    alice, bob, link = await pair(nursery, tmp_path)
    (tmp_path / "a.bin").write_bytes(data)
    tid, _ = await offered(link, alice, bob, tmp_path / "a.bin")
    bob.app.accept(bob.peer, tid, None)
    await link.run_until(lambda: bob.app.transfers("alice")[0].bytes > 0)
    bob.store.close()
    (tmp_path / "bob-downloads" / "a.bin.part").unlink()
    bob2 = await start(nursery, tmp_path, name="bob", other="alice")
    link.swap(bob, bob2)
    await link.run_until(lambda: alice.of(ev.FileFailed))
    assert "cannot take up a.bin.part" in bob2.of(ev.FileFailed)[0].reason
    assert "cannot take up a.bin.part" in alice.of(ev.FileFailed)[0].reason


async def test_a_transfer_shows_waiting_while_its_peer_is_not_connected(nursery, tmp_path, data, autojump_clock):
    from p2ptui.net.state import State as SessionState

    alice, bob, link = await pair(nursery, tmp_path)
    (tmp_path / "a.bin").write_bytes(data)
    tid, _ = await offered(link, alice, bob, tmp_path / "a.bin")
    assert [t.state for t in alice.app.transfers("bob")] == ["offered"]
    assert [t.state for t in bob.app.transfers("alice")] == ["offered"]
    alice.peer.session.state = bob.peer.session.state = SessionState.PROBING  # the path is lost
    link.step()
    assert [t.state for t in alice.app.transfers("bob")] == ["waiting"]
    assert [t.state for t in bob.app.transfers("alice")] == ["offered"]  # still ours to answer


async def test_after_a_reboot_only_what_was_synced_is_trusted(nursery, tmp_path, data, autojump_clock, monkeypatch):
    import time

    from p2ptui.net.transfer import disk, streams

    monkeypatch.setattr(streams, "SYNC_EVERY", 100_000)
    alice, bob, link = await pair(nursery, tmp_path)
    (tmp_path / "a.bin").write_bytes(data)
    tid, _ = await offered(link, alice, bob, tmp_path / "a.bin")
    bob.app.accept(bob.peer, tid, None)
    await link.run_until(lambda: bob.app.transfers("alice")[0].bytes >= 150_000)
    with trio.fail_after(5):
        while (kept := bob.store.get("alice", tid, False)).durable == 0:
            await trio.sleep(0.01)  # the sync runs in a worker thread
    assert 100_000 <= kept.durable <= 150_000 + 32 * 1024
    bob.store.close()
    # The power went: what was not synced is gone from the .part (zeros, here).
    part = tmp_path / "bob-downloads" / "a.bin.part"
    with open(part, "r+b") as file:
        file.seek(kept.durable)
        file.write(b"\0" * (part.stat().st_size - kept.durable))
    monkeypatch.setattr(disk, "booted_at", lambda: time.time() + 1)
    bob2 = await start(nursery, tmp_path, name="bob", other="alice")
    link.swap(bob, bob2)
    alice.peer.session = type(alice.peer.session)()
    await trio.sleep(0.1)
    link.connected()
    await link.run_until(lambda: alice.of(ev.FileSent))
    assert open(bob2.of(ev.FileReceived)[0].path, "rb").read() == data
