"""The real bridge: a trio core in a worker thread, events out, commands in, clean stop."""

import queue
import threading
from contextlib import asynccontextmanager

from p2ptui.core_thread import CoreThread, SendText
from p2ptui.demo import ECHO_NAME, open_demo_node
from p2ptui.net import events


def test_the_core_thread_runs_a_real_node_and_stops_cleanly():
    received: queue.Queue = queue.Queue()
    core = CoreThread(lambda: open_demo_node("dana"))
    core.start(received.put)

    seen = []

    def next_of(kind, predicate=lambda e: True):
        """The first event of kind seen so far or arriving next (events can come in any order)."""
        while True:
            for event in seen:
                if isinstance(event, kind) and predicate(event):
                    seen.remove(event)
                    return event
            seen.append(received.get(timeout=15))

    try:
        core.submit(SendText(ECHO_NAME, "through the bridge", "ab" * 8))
        echoed = next_of(events.MessageReceived, lambda e: e.text == "through the bridge")
        assert echoed.peer == ECHO_NAME
        assert next_of(events.MessageDelivered).id == "ab" * 8
        core.submit(SendText(ECHO_NAME, "", "cd" * 8))  # refused by the core, reported as an event
        refused = next_of(events.Error)
        assert "empty" in refused.message and refused.message_id == "cd" * 8
    finally:
        core.stop()
    assert not any(t.name == "p2ptui-core" for t in threading.enumerate())
    core.submit(SendText(ECHO_NAME, "too late", "ef" * 8))  # after stop: an error, not a crash
    assert "stopped" in next_of(events.Error).message


def test_quitting_before_the_core_is_up_ends_it_too():
    # start() no longer waits for the thread (it imports trio while the UI draws).
    core = CoreThread(lambda: open_demo_node("erin"))
    core.start(lambda event: None)
    core.submit(SendText(ECHO_NAME, "never mind", "ab" * 8))
    core.stop()
    assert not any(t.name == "p2ptui-core" for t in threading.enumerate())


def test_a_message_handed_to_the_ui_is_marked_shown():
    """Guards against `p2ptui pipe` printing again what the TUI showed."""
    received: queue.Queue = queue.Queue()
    unshown_at_the_end: list = []

    @asynccontextmanager
    async def demo_node():
        async with open_demo_node("dana") as node:
            try:
                yield node
            finally:  # In the core's thread, before the node closes its store.
                unshown_at_the_end.extend(node.unshown(ECHO_NAME))

    core = CoreThread(demo_node)
    core.start(received.put)
    try:
        core.submit(SendText(ECHO_NAME, "shown once", "ab" * 8))
        while not (isinstance(event := received.get(timeout=15), events.MessageReceived)
                   and event.text == "shown once"):
            pass
    finally:
        core.stop()
    assert "shown once" not in [message.text for message in unshown_at_the_end]


def test_file_commands_reach_the_node_and_a_conversation_opens_with_its_transfers():
    """OpenPeer is answered with the history, then each transfer as it stands (after a restart too)."""
    import trio

    from p2ptui.core_thread import AcceptFile, CancelFile, DeclineFile, OpenPeer, SendFile
    from p2ptui.net import ConfigError

    waiting = events.Transfer("alice", "ab" * 16, "big.iso", 100, False, "waiting", 25)
    called: list = []

    class FakeNode:
        def __init__(self) -> None:
            self._send, self.events = trio.open_memory_channel(0)

        def open(self, peer):
            called.append(("open", peer))

        def history(self, peer, before=None):
            return events.History(peer, ())

        def transfers(self, peer):
            return [waiting]

        def send_file(self, peer, path):
            if path == "/missing":
                raise ConfigError("no such file: /missing")
            called.append(("send_file", peer, path))
            return "cd" * 16

        def accept_file(self, peer, transfer_id, directory=None):
            called.append(("accept_file", peer, transfer_id))

        def decline_file(self, peer, transfer_id):
            called.append(("decline_file", peer, transfer_id))

        def cancel_file(self, peer, transfer_id):
            called.append(("cancel_file", peer, transfer_id))

    @asynccontextmanager
    async def fake_node():
        yield FakeNode()

    received: queue.Queue = queue.Queue()
    core = CoreThread(fake_node)
    core.start(received.put)
    try:
        for command in (OpenPeer("alice"), SendFile("alice", "/tmp/x"), AcceptFile("alice", "ab" * 16),
                        DeclineFile("alice", "ef" * 16), CancelFile("alice", "cd" * 16), SendFile("alice", "/missing")):
            core.submit(command)
        seen = [received.get(timeout=15) for _ in range(3)]
    finally:
        core.stop()
    assert seen[:2] == [events.History("alice", ()), waiting]
    assert seen[2] == events.Error("no such file: /missing", peer="alice")
    assert called == [("open", "alice"), ("send_file", "alice", "/tmp/x"), ("accept_file", "alice", "ab" * 16),
                      ("decline_file", "alice", "ef" * 16), ("cancel_file", "alice", "cd" * 16)]
