"""A damaged history file or a full disk: one clear error, nothing lost (issue 15, point 11).

SQLite's max_page_count makes the database full, deterministically; one test
fills a real (small) tmpfs instead, where this machine lets a test mount one.
"""

from __future__ import annotations

import errno
import os
import subprocess
from pathlib import Path

import pytest
import trio

from p2ptui.net import EnvironmentFailure, Identity, describe, events, exit_code
from p2ptui.net import frames as fr
from p2ptui.net import session as sess
from p2ptui.net.channel import Channel
from p2ptui.net.session_events import MessageReceived
from p2ptui.net.store import FILE_NAME, DiskFull, MessageStore, StoreDamaged

from .fakeinternet import start_internet
from .fakenet import Link
from .fakesignal import Hub
from .processes import COMMAND
from .test_node_fakenet import ALICE_IP, ALICE_PUBLIC, BOB_IP, BOB_PUBLIC, next_event, node

TEXT = "x" * 3000


def fill(store: MessageStore, peer: str = "bob") -> int:
    """Store messages until the store is full; how many went in."""
    for count in range(10_000):
        try:
            store.received(peer, f"{count:016x}", TEXT)
        except DiskFull:
            return count
    raise AssertionError("never full")


def test_a_full_store_refuses_new_messages_and_keeps_the_outbox(tmp_path):
    store = MessageStore(tmp_path, max_pages=40)
    store.queue("bob", "aa" * 8, "waiting to be sent")
    stored = fill(store)
    with pytest.raises(DiskFull, match="the disk is full. Free some space") as raised:
        store.queue("bob", "bb" * 8, TEXT)
    assert isinstance(raised.value, EnvironmentFailure) and exit_code(raised.value) == 1
    with pytest.raises(DiskFull):
        with store.batch():
            store.received("carol", "cc" * 8, TEXT)
            store.received("carol", "dd" * 8, TEXT)
    assert [m.text for m in store.outbox()] == ["waiting to be sent"]
    assert len(store.history("bob", limit=100_000)) == stored + 1
    assert store.history("carol") == []  # The batch was rolled back whole.
    store.close()
    again = MessageStore(tmp_path)  # Space is back.
    assert again.received("carol", "cc" * 8, TEXT)
    assert [m.text for m in again.outbox()] == ["waiting to be sent"]


@pytest.mark.parametrize("damage", ["garbage", "torn"])
def test_a_damaged_history_file_is_one_error_that_says_to_move_it_aside(tmp_path, damage):
    path = tmp_path / FILE_NAME
    if damage == "garbage":
        path.write_bytes(b"this is not a database, and never was" * 100)
    else:
        store = MessageStore(tmp_path)
        for n in range(300):
            store.queue("bob", f"{n:016x}", TEXT)
        store.close()
        with path.open("r+b") as file:  # Pages after the first overwritten: a torn disk write.
            file.seek(4096)
            file.write(os.urandom(64 * 1024))
    before = path.read_bytes()
    with pytest.raises(StoreDamaged) as raised:
        store = MessageStore(tmp_path)
        store.outbox()
    line = describe(raised.value)
    assert str(path) in line and f"mv {path} {path}.damaged" in line and "\n" not in line
    assert path.read_bytes() == before  # Never rewritten.


def test_a_damaged_history_file_stops_pipe_with_that_line_not_a_traceback(tmp_path):
    Identity.load_or_create(tmp_path)
    (tmp_path / FILE_NAME).write_bytes(b"\x00garbage" * 1000)
    done = subprocess.run(
        [*COMMAND, "pipe", "--peer", "bob", "--config-dir", str(tmp_path), "--signal", "tcp://127.0.0.1:9",
         "--timeout", "5"],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert done.returncode == 1
    assert "move it aside" in done.stdout and "Traceback" not in done.stdout + done.stderr


def _delivered(frames):
    return [f.offset for f in frames if isinstance(f, fr.Delivered)]


def test_messages_taken_back_come_again_whole_and_only_then_are_acknowledged():
    from collections import Counter

    sender = Channel(initial_rtt=0.1, max_pto=8.0, dropped=Counter())
    receiver = Channel(initial_rtt=0.1, max_pto=8.0, dropped=Counter())
    sender.sending = receiver.sending = True
    sender.send_message(b"m0000001", b"one")
    [(pn, frames)] = sender.packets(0.0)
    receiver.packet_received(pn, frames, 0.0)
    assert receiver.events == [MessageReceived(b"m0000001", "one")]
    receiver.events.clear()
    receiver.commit()  # Stored: acknowledged as kept.
    [(_, answer)] = receiver.packets(0.0)
    kept = _delivered(answer)
    assert kept and kept[0] > 0
    sender.send_message(b"m0000002", b"two, longer")
    [(pn, frames)] = sender.packets(0.0)
    receiver.packet_received(pn, frames, 0.0)
    assert receiver.events == [MessageReceived(b"m0000002", "two, longer")]
    receiver.events.clear()
    receiver.take_back()  # The owner's disk was full.
    receiver.commit()
    [(_, answer)] = receiver.packets(0.0)
    assert _delivered(answer) == []  # Held, so the packet is acknowledged but the message not kept.
    assert receiver.hand_over_again() == [MessageReceived(b"m0000002", "two, longer")]
    receiver.commit()
    [(_, answer)] = receiver.packets(0.0)
    assert _delivered(answer)[0] > kept[0]
    assert receiver.hand_over_again() == []  # Once.


def test_a_damaged_history_file_stops_the_tui_core_with_the_same_line(tmp_path):
    from p2ptui.core_thread import CoreStopped
    from p2ptui.net import NodeConfig

    from .test_errors import run_core

    (tmp_path / FILE_NAME).write_bytes(b"\x00garbage" * 1000)
    config = NodeConfig("alice", "tcp://127.0.0.1:9", bind=("127.0.0.1", 0), state_dir=tmp_path)
    stopped = run_core(config, Identity.generate(), lambda event: isinstance(event, CoreStopped))
    assert "move it aside" in stopped.message and str(tmp_path / FILE_NAME) in stopped.message
    assert stopped.exit_code == 1 and "Traceback" not in stopped.message


class FullDisk(Link):
    """A Link whose B stores what it receives, as the node does: events taken and
    stored before the acks are collected; while `full`, nothing can be stored."""

    full: bool = False
    kept: list[str] | None = None

    def _collect(self) -> None:
        events = self.b.events()
        received = [e for e in events if isinstance(e, sess.MessageReceived)]
        if received and self.full:
            self.b.not_kept(self.now)
            events = [e for e in events if not isinstance(e, sess.MessageReceived)]
        self.events["b"].extend(events)
        super()._collect()


def test_a_message_that_could_not_be_stored_is_not_acknowledged_and_comes_again():
    link = FullDisk.pair()
    link.introduce()
    link.run(until=1.0)
    link.full = True
    long = "ü" * 5000  # Several fragments.
    link.a.send_message(b"full0001", "first", link.now)
    link.a.send_message(b"full0002", long, link.now)
    link.run(until=20.0)
    assert link.received("b") == []
    assert link.delivered("a") == [] and link.a.unacknowledged == 2  # A keeps both.
    sent_while_full = len(link.sent["a"])
    link.a.send_message(b"full0003", "third", link.now)
    link.run(until=60.0)
    assert len(link.sent["a"]) - sent_while_full < 40  # Held, not resent in a loop.
    link.full = False  # Space is back: the next retry keeps them, in order, and acknowledges them.
    link.run(until=60.0 + sess.STORE_RETRY + 1)
    assert link.received("b") == ["first", long, "third"]
    assert link.delivered("a") == [b"full0001", b"full0002", b"full0003"]
    assert link.a.unacknowledged == 0


def test_a_receiver_that_restarts_while_full_gets_everything_from_the_sender():
    link = FullDisk.pair()
    link.introduce()
    link.run(until=1.0)
    link.full = True
    link.a.send_message(b"lost0001", "kept by the sender", link.now)
    link.run(until=5.0)
    link.restart("b")  # B held it in memory only; the sender still has it.
    link.full = False
    link.introduce()
    link.run(until=10.0)
    assert link.received("b") == ["kept by the sender"]
    assert link.delivered("a") == [b"lost0001"]


def test_a_session_closed_while_it_holds_messages_stops_retrying_so_quitting_never_waits():
    link = FullDisk.pair()
    link.introduce()
    link.run(until=1.0)
    link.full = True
    link.a.send_message(b"held0001", "held", link.now)
    link.run(until=3.0)
    assert link.b.next_timeout() is not None  # The next try to store it.
    link.b.close(link.now)
    link.run(until=10.0)
    assert link.b.next_timeout() is None and link.received("b") == []
    assert link.a.unacknowledged == 1  # The sender still has it, for b's next session.


def _mount_tmpfs(path: Path, size: str) -> bool:
    path.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    return done.returncode == 0


@pytest.fixture
def small_disk(tmp_path):
    """A 1 MiB tmpfs: a disk that really fills up."""
    mount = tmp_path / "disk"
    if not _mount_tmpfs(mount, "1m"):
        if os.environ.get("CI") == "true":
            pytest.fail("cannot mount a tmpfs (needs root): the full-disk test must run in CI")
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_real_full_disk_is_said_and_storing_goes_on_once_space_is_back(small_disk):
    store = MessageStore(small_disk / "p2ptui")
    store.queue("bob", "aa" * 8, "waiting to be sent")
    filler = small_disk / "filler"
    with pytest.raises(OSError) as raised:  # Every free byte taken.
        with filler.open("wb", buffering=0) as file:
            while True:
                file.write(b"\0" * 4096)
    assert raised.value.errno == errno.ENOSPC
    with pytest.raises(DiskFull, match="the disk is full"):
        for n in range(200):
            store.received("bob", f"{n:016x}", TEXT)
    assert [m.text for m in store.outbox()] == ["waiting to be sent"]
    filler.unlink()
    assert store.received("bob", "ff" * 8, "after")
    assert [m.text for m in store.outbox()] == ["waiting to be sent"]
    store.close()


@pytest.fixture
async def internet(nursery):
    """As test_node_fakenet's: NATs, two STUN servers, in memory."""
    return await start_internet(nursery)


@pytest.mark.trio
async def test_a_node_whose_disk_fills_says_so_once_and_receives_again_when_space_is_back(
    internet, autojump_clock, small_disk
):
    internet.nat(ALICE_PUBLIC, "10.0.1.0/24")
    internet.nat(BOB_PUBLIC, "10.0.2.0/24")
    hub = Hub()
    async with node(hub, "alice", ALICE_IP, state_dir=small_disk / "alice") as a, node(hub, "bob", BOB_IP) as b:
        b.send("alice", "before")  # Connected, and bob's key pinned, while there is space.
        assert (await next_event(a, events.MessageReceived)).text == "before"
        filler = small_disk / "filler"
        with pytest.raises(OSError):
            with filler.open("wb", buffering=0) as file:
                while True:
                    file.write(b"\0" * 4096)
        sent = [b.send("alice", f"{TEXT} {n}") for n in range(3)]
        error = await next_event(a, events.Error)
        assert "the disk is full" in error.message and error.peer == "bob"
        with trio.move_on_after(60):  # A minute of retries: no message, no second error, no crash.
            while True:
                event = await a.events.receive()
                assert not isinstance(event, events.MessageReceived | events.Error), event
        assert b.details("alice").unacknowledged == 3  # Not acknowledged: bob keeps them.
        filler.unlink()
        texts = [(await next_event(a, events.MessageReceived)).text for _ in sent]
        assert texts == [f"{TEXT} {n}" for n in range(3)]
        delivered = [(await next_event(b, events.MessageDelivered, lambda e: e.id in sent)).id for _ in sent]
        assert delivered == sent
