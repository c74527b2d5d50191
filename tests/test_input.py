"""The input: several lines, recall, completion, paste, commands; the help screen and the command palette."""

import pytest
from textual import events
from textual.command import CommandPalette

from p2ptui.core_thread import SendText, ShowDetails
from p2ptui.net import MAX_MESSAGE_BYTES
from p2ptui.screens import HelpScreen

from .fakecore import FakeCore, make_app, told
from .test_app import log_text

pytestmark = pytest.mark.asyncio


def sent(core) -> list[str]:
    return [command.text for command in core.commands if isinstance(command, SendText)]


def status(app) -> str:
    return told(app)


def help_text(app) -> str:
    return "\n".join(str(widget.render()) for widget in app.screen.query("Static"))


async def test_ctrl_j_starts_a_new_line_and_enter_sends_both():
    core = FakeCore()
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        height = app.message_input.size.height
        await pilot.press(*"first line", "ctrl+j", *"second line")
        await pilot.pause()
        assert app.message_input.text == "first line\nsecond line"
        assert app.message_input.size.height == height + 1  # the input grows a row
        await pilot.press("enter")
        await pilot.pause()
        assert sent(core) == ["first line\nsecond line"]
        assert app.message_input.text == "" and app.message_input.size.height == height
        rows = [row for row in log_text(app).splitlines() if row]
        assert rows[-2].endswith("<dana> first line") and rows[-1].strip() == "second line"


async def test_alt_enter_and_shift_enter_are_newlines_where_the_terminal_tells_them_apart():
    core = FakeCore()
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("a", "alt+enter", "b", "shift+enter", "c")
        assert app.message_input.text == "a\nb\nc"


async def test_the_input_grows_to_a_few_rows_then_scrolls():
    app = make_app(FakeCore())
    async with app.run_test(size=(80, 24)) as pilot:
        app.message_input.insert("".join(f"line {n}\n" for n in range(12)))
        await pilot.pause()
        assert app.message_input.outer_size.height == 7  # five rows and the border
        assert app.query_one("#log").size.height >= 10


async def test_up_and_down_recall_what_was_sent_like_a_shell():
    core = FakeCore()
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*"one", "enter", "a", "ctrl+j", "b", "enter", *"/sidebar", "enter", "f4")
        await pilot.press(*"draft")
        text = lambda: app.message_input.text  # noqa: E731
        await pilot.press("up")
        assert text() == "/sidebar"  # commands too
        await pilot.press("up")
        assert text() == "a\nb" and app.message_input.cursor_location == (1, 1)
        await pilot.press("up")  # within the text, Up moves the cursor
        assert text() == "a\nb" and app.message_input.cursor_location == (0, 1)
        await pilot.press("up")
        assert text() == "one"
        await pilot.press("up")  # the oldest: stays
        assert text() == "one"
        await pilot.press("down")
        assert text() == "a\nb" and app.message_input.cursor_location == (1, 1)  # at its end: Down goes on
        await pilot.press("down")
        assert text() == "/sidebar"
        await pilot.press("down")
        assert text() == "draft"
        await pilot.press("enter", "up")
        assert text() == "draft" and sent(core)[-1] == "draft"


async def test_tab_completes_commands_then_names_and_cycles():
    app = make_app(FakeCore(), peers=("alice", "albert", "bob"))
    async with app.run_test(size=(80, 24)) as pilot:
        text = lambda: app.message_input.text  # noqa: E731
        await pilot.press(*"/cl", "tab")
        assert text() == "/close "
        await pilot.press("tab")  # then the names it takes
        assert text() == "/close alice "
        await pilot.press("tab")
        assert text() == "/close albert "
        await pilot.press("tab", "tab")  # round to the first
        assert text() == "/close alice "
        await pilot.press("shift+tab")
        assert text() == "/close bob "
        await pilot.press("ctrl+u", *"/theme textual-l", "tab")
        assert text() == "/theme textual-light "
        await pilot.press("ctrl+u", *"hello", "tab")  # nothing to complete in a message
        assert text() == "hello" and app.focused is app.message_input


async def test_a_pasted_text_keeps_its_lines_and_is_sent_as_it_is():
    core = FakeCore()
    app = make_app(core)
    pasted = "a long paste\n" + "x" * 5000 + "\n\tindented [b]not bold[/b]"
    async with app.run_test(size=(80, 24)) as pilot:
        app.post_message(events.Paste(pasted))  # as the terminal's bracketed paste arrives
        await pilot.pause()
        assert app.message_input.text == pasted
        await pilot.press("enter")
        await pilot.pause()
        assert sent(core) == [pasted]


async def test_a_message_over_the_limit_stays_in_the_input_with_an_error():
    core = FakeCore()
    app = make_app(core)
    huge = "é" * (MAX_MESSAGE_BYTES // 2 + 1)
    async with app.run_test(size=(80, 24)) as pilot:
        app.message_input.replace_text(huge)
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert sent(core) == [] and "over the limit" in status(app)
        assert app.message_input.text == huge


async def test_a_double_slash_sends_a_leading_slash_and_unknown_commands_are_refused():
    core = FakeCore()
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*"/shrug", "enter")
        assert sent(core) == [] and "unknown command /shrug" in status(app)
        await pilot.press(*"//shrug", "enter")
        assert sent(core) == ["/shrug"]


async def test_f1_and_question_mark_open_the_help_made_from_the_bindings_and_commands():
    app = make_app(FakeCore())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        text = help_text(app)
        for line in ("Ctrl+K", "Alt+A", "Ctrl+N, Alt+Down", "Alt+1 … Alt+9", "Ctrl+J, Alt+Enter, Shift+Enter", "F2",
                     "/close [NAME]", "/theme [NAME]", "/bell", "connected directly", "✓"):
            assert line in text, line
        await pilot.press("pagedown")  # it scrolls
        assert app.screen.query_one("#help-body").scroll_y > 0
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("question_mark")  # with the input empty, and nothing after it
        for _ in range(50):
            if isinstance(app.screen, HelpScreen):
                break
            await pilot.pause(0.01)
        assert isinstance(app.screen, HelpScreen) and app.message_input.text == ""
        await pilot.press("question_mark")  # closes it again
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press(*"why", "question_mark")  # with text, it is a question mark
        assert not isinstance(app.screen, HelpScreen) and app.message_input.text == "why?"
        await pilot.press("ctrl+u", *"/help", "enter")
        assert isinstance(app.screen, HelpScreen)


async def test_the_help_fits_80x24():
    app = make_app(FakeCore())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f1")
        await pilot.pause()
        dialog = app.screen.query_one("HelpScreen > Vertical")
        assert dialog.outer_size.width <= 80 and dialog.outer_size.height <= 24


async def run_in_palette(pilot, query: str) -> None:
    await pilot.press("f2")
    await pilot.pause()
    assert isinstance(pilot.app.screen, CommandPalette)
    await pilot.press(*query)
    await pilot.pause(0.3)  # the palette searches in a worker
    await pilot.press("enter")
    await pilot.pause()


async def test_the_command_palette_offers_the_same_actions():
    core = FakeCore()
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        await run_in_palette(pilot, "sidebar")
        assert not app.query_one("#sidebar").display
        await run_in_palette(pilot, "to bob")
        assert app.selected == "bob"
        await run_in_palette(pilot, "details")
        assert ShowDetails("bob") in core.commands
        await run_in_palette(pilot, "close")
        assert list(app.conversations) == ["alice", "carol"]
        await run_in_palette(pilot, "bob again")
        assert list(app.conversations) == ["alice", "carol", "bob"]
        await run_in_palette(pilot, "help:")
        assert isinstance(app.screen, HelpScreen)


async def test_every_palette_command_is_a_command_or_a_conversation():
    app = make_app(FakeCore(), peers=("alice",))
    async with app.run_test(size=(80, 24)):
        titles = [command.title for command in app.get_system_commands(app.screen)]
        assert titles.count("Quit") == 1
        for title in ("Open a conversation…", "Close this conversation", "Connection details", "Change the theme",
                      "Turn the bell on or off", "Hide or show the sidebar", "Help: keys and commands",
                      "Switch to alice"):
            assert title in titles
