"""Moving between conversations: Alt+Up/Down, Alt+A, the quick switcher, /close; hiding the sidebar."""

import pytest
from textual.widgets import OptionList

from p2ptui.app import P2PApp
from p2ptui.core_thread import OpenPeer
from p2ptui.keys import ALT_CHARACTERS
from p2ptui.net import events
from p2ptui.screens import QuickSwitcher
from p2ptui.widgets import PeerList

from .fakecore import FakeCore, connected, make_app, told
from .test_app import log_text, sidebar_text

pytestmark = pytest.mark.asyncio


def parse_keys(data: str) -> list[str]:
    """The keys Textual's own parser makes of what a terminal (or tmux, or SSH) sends."""
    from textual._xterm_parser import XTermParser
    from textual.events import Key

    parser = XTermParser()
    return [token.key for token in [*parser.feed(data), *parser.feed("")] if isinstance(token, Key)]


def options(app) -> list[str]:
    return [str(option.prompt) for option in app.screen.query_one(OptionList).options]


async def test_alt_up_and_down_move_through_the_sidebar():
    app = make_app(FakeCore())
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.selected == "carol"
        await pilot.press("alt+down")
        assert app.selected == "alice"  # round the end
        await pilot.press("alt+down", "alt+down")
        assert app.selected == "carol"
        await pilot.press("alt+up")
        assert app.selected == "bob"


async def test_alt_up_and_down_arrive_from_xterm_and_tmux():
    # xterm, and tmux with its default xterm-keys, send Alt+Up as CSI 1;3 A.
    assert parse_keys("\x1b[1;3A") == ["alt+up"]
    assert parse_keys("\x1b[1;3B") == ["alt+down"]


async def test_alt_keys_are_recognised_when_more_input_follows_at_once():
    # Regression: Textual waited ESCDELAY after ESC+digit or ESC+letter; when more bytes came
    # in the same read (a slow SSH link, tmux send-keys, fast typing), "ESC 1 p" became "^1p".
    assert parse_keys("\x1b1ping\r\x1b2") == ["alt+1", "p", "i", "n", "g", "enter", "alt+2"]
    assert parse_keys("\x1ba\x1ba") == ["alt+a", "alt+a"]
    assert parse_keys("\x1bb") == ["ctrl+left"]  # what Textual makes of ESC+b (Option+Left) stays
    bound = {key for b in P2PApp.BINDINGS for key in b.key.split(",") if key.startswith("alt+") and len(key) == 5}
    assert {key[-1] for key in bound} <= set(ALT_CHARACTERS)


async def test_alt_a_goes_to_the_next_conversation_with_unread_messages():
    # From a terminal, tmux or SSH, Alt+A is ESC then "a" (see p2ptui.keys).
    keys = parse_keys("\x1ba")
    assert keys == ["alt+a"]
    core = FakeCore()
    app = make_app(core, peers=("alice", "bob", "carol", "dmitri"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("alt+3")
        core.emit(
            events.MessageReceived("bob", "01" * 8, "to bob"),
            events.MessageReceived("alice", "02" * 8, "to alice"),
        )
        await pilot.pause()
        await pilot.press(*keys)
        assert app.selected == "alice"  # the first after carol, round the end
        await pilot.press(*keys)
        assert app.selected == "bob"
        await pilot.press(*keys)
        assert app.selected == "bob"  # nothing unread left: stays
        assert "to bob" in log_text(app)


async def test_ctrl_k_filters_by_letters_in_order_and_switches():
    core = FakeCore()
    app = make_app(core, peers=("alice", "bob", "carol", "albert"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("alt+3", *"draft")
        await pilot.press("ctrl+k")
        assert isinstance(app.screen, QuickSwitcher)
        assert [o.split()[1] for o in options(app)] == ["alice", "bob", "carol", "albert"]
        await pilot.press("a", "l")
        assert [o.split()[1] for o in options(app)[:2]] == ["alice", "albert"]
        await pilot.press("b")  # "alb": only albert has those letters in that order
        assert options(app) == ["○ albert", "+ open a new conversation with alb"]
        await pilot.press("enter")
        await pilot.pause()
        assert app.selected == "albert" and not isinstance(app.screen, QuickSwitcher)
        assert app.message_input.text == "draft"  # the input kept its text

        await pilot.press("ctrl+k", *"ce", "down", "up")  # Up and Down move in the list
        await pilot.pause()
        assert options(app)[0] == "○ alice"
        await pilot.press("enter")
        await pilot.pause()
        assert app.selected == "alice"

        await pilot.press("ctrl+k", "b", "escape")
        await pilot.pause()
        assert app.selected == "alice" and not isinstance(app.screen, QuickSwitcher)


async def test_ctrl_k_opens_a_new_conversation_with_a_name_not_in_the_list():
    core = FakeCore()
    app = make_app(core, peers=("alice",))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+k", *"zoe")
        assert options(app) == ["+ open a new conversation with zoe"]
        await pilot.press("enter")
        await pilot.pause()
        assert app.selected == "zoe" and OpenPeer("zoe") in core.commands
        await pilot.press("ctrl+k", *"bad name!")
        assert options(app) == []  # not a valid name: nothing to open
        await pilot.press("enter")
        assert isinstance(app.screen, QuickSwitcher)
        await pilot.press("escape")
        await pilot.press("ctrl+k", *"dana")  # yourself
        assert options(app) == []


async def test_ctrl_k_in_a_dialog_input_still_deletes_to_its_end():
    app = make_app(FakeCore(), peers=())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+o", *"frank", "home", "ctrl+k")
        assert not isinstance(app.screen, QuickSwitcher)
        assert app.screen.query_one("#peer-name").value == ""


async def test_close_selects_a_neighbour_and_a_message_brings_the_conversation_back():
    core = FakeCore()
    app = make_app(core, peers=("alice", "bob", "carol"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("alt+2", *"hello bob", "enter")
        await pilot.press(*"/close", "enter")
        assert list(app.conversations) == ["alice", "carol"] and app.selected == "carol"
        assert "bob" not in sidebar_text(app)
        await pilot.press(*"/close alice", "enter")
        assert list(app.conversations) == ["carol"] and app.selected == "carol"
        await pilot.press(*"/close", "enter")
        assert app.selected is None and "Open a conversation" in log_text(app)
        assert "none yet" in sidebar_text(app)

        core.emit(connected("bob", 4000))  # a closed conversation's state changes quietly
        await pilot.pause()
        assert list(app.conversations) == []
        core.emit(events.MessageReceived("bob", "01" * 8, "still there?"))
        await pilot.pause()
        assert list(app.conversations) == ["bob"] and "bob (1)" in sidebar_text(app)
        await pilot.press("alt+1")
        text = log_text(app)
        assert "hello bob" in text and "still there?" in text  # nothing was forgotten
        assert "● bob" in sidebar_text(app)

        await pilot.press(*"/open alice", "enter")  # /open brings one back too
        assert list(app.conversations) == ["bob", "alice"] and app.selected == "alice"
        assert [c for c in core.commands if c == OpenPeer("alice")] == [OpenPeer("alice")]  # the core kept it


async def test_closed_conversations_are_in_the_quick_switcher():
    app = make_app(FakeCore(), peers=("alice", "bob"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*"/close alice", "enter", "ctrl+k")
        assert options(app) == ["○ bob", "○ alice closed"]
        await pilot.press("down", "enter")
        await pilot.pause()
        assert list(app.conversations) == ["bob", "alice"] and app.selected == "alice"


async def test_close_errors():
    app = make_app(FakeCore(), peers=("alice",))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*"/close zed", "enter")
        assert "no open conversation with zed" in told(app)


async def test_f4_and_slash_sidebar_hide_and_show_the_sidebar():
    core = FakeCore()
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        log = app.query_one("#log")
        narrow = log.size.width
        await pilot.press("f4")
        await pilot.pause()
        assert not app.query_one(PeerList).display
        assert log.size.width == narrow + app.query_one(PeerList).styles.width.value
        core.emit(events.MessageReceived("alice", "01" * 8, "psst"), events.MessageReceived("bob", "02" * 8, "hey"))
        await pilot.pause()
        assert str(app.query_one("#status").render()).startswith("dana · 2 unread (Alt+A) · ")
        await pilot.press(*"/sidebar", "enter")
        await pilot.pause()
        assert app.query_one(PeerList).display and log.size.width == narrow
        assert "unread" not in str(app.query_one("#status").render())
