"""pipe's groups, without a network: the commands it reads and the JSON events it says."""

import pytest

from p2ptui.net import ConfigError, events
from p2ptui.pipe_groups import PipeGroups, parse_command


@pytest.mark.parametrize(
    "line, parsed",
    [
        ("/group team", ("/group", ["team"])),
        ("/invite team bob", ("/invite", ["team", "bob"])),
        ("/kick team bob", ("/kick", ["team", "bob"])),
        ("/leave team", ("/leave", ["team"])),
        ("hello", None),
        ("/shrug", None),
        ("//group team", None),
    ],
)
def test_commands(line, parsed):
    assert parse_command(line) == parsed


@pytest.mark.parametrize("line", ["/group", "/invite team", "/kick a b c", "/leave"])
def test_a_command_with_the_wrong_arguments_is_a_usage_error(line):
    with pytest.raises(ConfigError, match="usage"):
        parse_command(line)


class FakeNode:
    name = "alice"

    def __init__(self):
        self.joined = []

    def join(self, group):
        self.joined.append(group)

    def mark_group_shown(self, group, message_id):
        pass


def said(event, **options):
    lines = []
    node = FakeNode()
    groups = PipeGroups(node, lambda name, **fields: lines.append({"event": name, **fields}), **options)
    handled = groups.event(event)
    return handled, lines, node


def test_the_json_events_of_groups():
    cases = [
        (events.GroupJoined("team", ("alice", "bob")), {"event": "group-joined", "group": "team",
                                                        "members": ["alice", "bob"]}),
        (events.MemberJoined("team", "carol"), {"event": "member-joined", "group": "team", "peer": "carol"}),
        (events.MemberLeft("team", "carol", True), {"event": "member-left", "group": "team", "peer": "carol",
                                                    "kicked": True}),
        (events.MessageReceived("bob", "ab" * 8, "hi", group="team", order=(3, "f")),
         {"event": "message", "peer": "bob", "id": "ab" * 8, "text": "hi", "group": "team", "order": [3, "f"]}),
        (events.GroupMessageSent("team", "ab" * 8, (4, "e")),
         {"event": "sent", "group": "team", "id": "ab" * 8, "order": [4, "e"]}),
        (events.MessageDelivered("#team", "cd" * 8), {"event": "delivered", "group": "team", "id": "cd" * 8}),
    ]
    for event, line in cases:
        handled, lines, _ = said(event)
        assert handled and lines == [line]


def test_pairwise_events_are_left_to_the_pipe():
    for event in (events.MessageReceived("bob", "ab" * 8, "hi"), events.MessageDelivered("bob", "ab" * 8)):
        handled, lines, _ = said(event)
        assert not handled and not lines


def test_accept_invites_joins():
    invited = events.GroupInvited("team", "00" * 16, "bob", ("bob",))
    _, lines, node = said(invited, accept_invites=True)
    assert node.joined == ["team"] and lines[0]["event"] == "group-invited"
    _, _, node = said(invited)
    assert node.joined == []
