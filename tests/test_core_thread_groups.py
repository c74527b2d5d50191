"""The bridge hands the groups' commands to the node, and what it refuses to the group's conversation."""

import queue
from contextlib import asynccontextmanager

import trio

from p2ptui.core_thread import (
    CoreThread,
    CreateGroup,
    IgnoreInvite,
    Invite,
    JoinGroup,
    Kick,
    LeaveGroup,
    LoadOlder,
    MakeAdmin,
    OpenPeer,
    SendGroupText,
    ShowGroup,
)
from p2ptui.net import ConfigError, events

INFO = events.GroupInfo("team", "ab" * 16, (), True)


class GroupNode:
    """The node's group methods (contract.md section 3), recording each call."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    @property
    async def events(self):
        await trio.sleep_forever()
        yield  # pragma: no cover

    def __getattr__(self, name):
        def call(*args, **kwargs):
            self.calls.append((name, *args, *kwargs.values()))
            if name == "kick":
                raise ConfigError("only an admin of team can remove members")
            if name == "group_history":
                return events.History("#" + args[0], ())
            if name == "group_details":
                return INFO
            return None

        return call


def test_group_commands_reach_the_node_and_refusals_come_back_to_the_group():
    node = GroupNode()

    @asynccontextmanager
    async def open_node():
        yield node

    received: queue.Queue = queue.Queue()
    core = CoreThread(open_node)
    core.start(received.put)
    try:
        for command in (
            CreateGroup("team"), Invite("team", "bob"), JoinGroup("book"), IgnoreInvite("spam"),
            MakeAdmin("team", "bob"), Kick("team", "bob"), SendGroupText("team", "hi", "01" * 8),
            ShowGroup("team"), OpenPeer("#team"), LoadOlder("#team", "02" * 8), LeaveGroup("team"),
        ):
            core.submit(command)
        seen = [received.get(timeout=10) for _ in range(5)]
    finally:
        core.stop()
    assert node.calls == [
        ("create_group", "team"), ("invite", "team", "bob"), ("join", "book"), ("ignore_invite", "spam"),
        ("make_admin", "team", "bob"), ("kick", "team", "bob"), ("send_group", "team", "hi", "01" * 8),
        ("group_details", "team"), ("group_history", "team"), ("group_details", "team"),
        ("group_history", "team", "02" * 8), ("leave", "team"),
    ]
    refused, shown, history, changed, older = seen
    assert refused == events.Error("only an admin of team can remove members", peer="#team")
    assert shown == INFO and changed == events.GroupChanged(INFO)
    assert history == older == events.History("#team", ())


def test_a_real_node_creates_a_group_sends_to_it_and_gives_its_history():
    from p2ptui.demo import open_demo_node

    received: queue.Queue = queue.Queue()
    core = CoreThread(lambda: open_demo_node("dana"))
    core.start(received.put)
    seen: list = []

    def next_of(kind, predicate=lambda e: True):
        while True:
            for event in seen:
                if isinstance(event, kind) and predicate(event):
                    seen.remove(event)
                    return event
            seen.append(received.get(timeout=15))

    try:
        core.submit(CreateGroup("team"))
        assert next_of(events.GroupJoined) == events.GroupJoined("team", ("dana",))
        core.submit(SendGroupText("team", "first words", "ab" * 8))
        sent = next_of(events.GroupMessageSent)
        assert sent.group == "team" and sent.id == "ab" * 8 and sent.order[0] >= 1
        core.submit(OpenPeer("#team"))
        history = next_of(events.History, lambda e: e.peer == "#team")
        assert [(m.peer, m.text, m.outgoing) for m in history.messages] == [("dana", "first words", True)]
        assert next_of(events.GroupChanged).info.admin
        core.submit(Kick("team", "nobody"))  # the core's refusal comes back to the group
        assert next_of(events.Error).peer == "#team"
    finally:
        core.stop()


def test_a_group_message_handed_to_the_ui_is_marked_shown_in_its_group():
    """Guards against `p2ptui pipe --group` printing again what the TUI showed."""
    said = events.MessageReceived("alice", "cd" * 8, "hi all", group="team", order=(3, "a1"))

    class Speaking(GroupNode):
        @property
        async def events(self):
            yield said
            await trio.sleep_forever()

    node = Speaking()

    @asynccontextmanager
    async def open_node():
        yield node

    received: queue.Queue = queue.Queue()
    core = CoreThread(open_node)
    core.start(received.put)
    try:
        assert received.get(timeout=10) == said
        core.submit(ShowGroup("team"))  # once its answer is back, the marking (before it) is done
        received.get(timeout=10)
    finally:
        core.stop()
    assert node.calls[0] == ("mark_group_shown", "team", "cd" * 8)
