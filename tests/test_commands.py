"""The pure parts of the UI: commands, completion, the input's history, key names, the sidebar's layout."""

import pytest

from p2ptui.app import P2PApp
from p2ptui.commands import COMMANDS, Completes, InputHistory, completions, parse
from p2ptui.keys import describe_keys, key_name
from p2ptui.widgets import MessageInput

PEERS = ["alice", "albert", "bob"]
THEMES = ["nord", "textual-dark", "textual-light"]


def test_every_command_runs_through_the_apps_table_of_handlers():
    from .fakecore import FakeCore, make_app

    app = make_app(FakeCore())  # its constructor checks that every row has a handler, and only those
    for command in COMMANDS:
        assert command.name.startswith("/") and command.help
    ran = []
    app._commands["/bell"] = ran.append
    app.run_command(next(c for c in COMMANDS if c.name == "/bell"), "x")
    assert ran == ["x"]


@pytest.mark.parametrize(
    "text, command, argument, message",
    [
        ("/open alice", "/open", "alice", ""),
        ("/close", "/close", "", ""),
        ("  /theme   nord  ", None, "", "  /theme   nord  "),  # not at the start: a message
        ("/theme   nord  ", "/theme", "nord", ""),
        ("//open is a command", None, "", "/open is a command"),
        ("/open alice\nand more", None, "", "/open alice\nand more"),  # several lines: a message
        ("hello /open", None, "", "hello /open"),
    ],
)
def test_parse_tells_commands_from_messages(text, command, argument, message):
    parsed = parse(text)
    assert (parsed.command.name if parsed.command else None, parsed.argument, parsed.text) == (command, argument, message)


def test_an_unknown_command_is_named():
    assert parse("/usr/bin/env").unknown == "/usr/bin/env"


@pytest.mark.parametrize(
    "before, start, candidates",
    [
        ("/", 0, [c.name for c in COMMANDS]),
        ("/c", 0, ["/close", "/cancel"]),
        ("/cl", 0, ["/close"]),
        ("/O", 0, ["/open"]),
        ("/open ", 6, PEERS),
        ("/open al", 6, ["alice", "albert"]),
        ("/close B", 7, ["bob"]),
        ("/theme textual-", 7, ["textual-dark", "textual-light"]),
        ("/quit n", 6, []),  # takes no name
        ("/open alice bo", 14, []),
        ("hello al", 8, []),  # messages are not completed
        ("/open al\n", 9, []),
    ],
)
def test_completions(before, start, candidates):
    assert completions(before, PEERS, THEMES) == (start, candidates)


def test_commands_that_take_a_name_say_so():
    assert {c.name for c in COMMANDS if c.completes is Completes.PEER} == {"/open", "/close", "/verify", "/invite"}
    assert {c.name for c in COMMANDS if c.completes is Completes.THEME} == {"/theme"}
    assert {c.name for c in COMMANDS if c.completes is Completes.MEMBER} == {"/kick", "/admin"}
    assert {c.name for c in COMMANDS if c.completes is Completes.GROUP} == {"/join", "/ignore", "/leave"}


def test_group_commands_complete_from_the_pools_given():
    pools = {Completes.GROUP: ["team", "tennis"], Completes.MEMBER: ["bob", "bea"]}
    assert completions("/join te", PEERS, THEMES, more=pools) == (6, ["team", "tennis"])
    assert completions("/kick b", PEERS, THEMES, more=pools) == (6, ["bob", "bea"])
    assert completions("/invite b", PEERS, THEMES, more=pools) == (8, ["bob"])  # peers, not the members pool
    assert completions("/leave x", PEERS, THEMES) == (7, [])  # no pool given: nothing


def test_history_recalls_like_a_shell_and_keeps_the_draft():
    history = InputHistory()
    for text in ("one", "two", "two", "three"):
        history.add(text)
    assert history.entries == ["one", "two", "three"]  # a repeat is kept once
    assert history.next() is None  # not recalling: Down does nothing
    assert history.previous("draft") == "three"
    assert history.previous("three") == "two"
    assert history.previous("two") == "one"
    assert history.previous("one") is None  # the oldest
    assert history.next() == "two"
    assert history.next() == "three"
    assert history.next() == "draft"
    assert history.next() is None


def test_history_is_bounded():
    history = InputHistory(limit=3)
    for n in range(10):
        history.add(str(n))
    assert history.entries == ["7", "8", "9"]


@pytest.mark.parametrize(
    "key, name",
    [("ctrl+j", "Ctrl+J"), ("alt+up", "Alt+Up"), ("question_mark", "?"), ("f1", "F1"),
     ("pageup", "PageUp"), ("shift+tab", "Shift+Tab"), ("alt+1", "Alt+1"), ("enter", "Enter")],
)
def test_key_names(key, name):
    assert key_name(key) == name


def test_the_keys_in_the_help_come_from_the_bindings():
    rows = dict(describe_keys([*P2PApp.BINDINGS, *MessageInput.BINDINGS]))
    assert rows["Ctrl+N, Alt+Down"] == "the next conversation in the sidebar"
    assert rows["Alt+1 … Alt+9"].startswith("the Nth conversation")
    assert rows["Up, Down"].startswith("recall what you sent")
    assert "new line" in rows["Ctrl+J, Alt+Enter, Shift+Enter"]
    for key in ("Ctrl+K", "Alt+A", "F1, ?", "F3", "F4", "Ctrl+O", "Ctrl+Q", "Enter", "Tab, Shift+Tab"):
        assert key in rows
