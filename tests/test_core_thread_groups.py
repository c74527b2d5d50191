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
