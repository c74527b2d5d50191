"""Keys that arrive in one burst take effect in the order they arrived (issue 14, point 1).

A laggy SSH link, mosh, a text expander or a paste without bracketed paste
hands the app a whole line and its Enter in one read. Each test feeds such a
burst through Textual's own input parser and posts every key at once, as the
terminal driver does, before letting the app run.
"""

import pytest
from textual._xterm_parser import XTermParser

from p2ptui.core_thread import SendText
from p2ptui.screens import HelpScreen

from .fakecore import FakeCore, make_app

pytestmark = pytest.mark.asyncio


def burst(app, data: str) -> None:
    """What the terminal driver does with one read: parse it, post every event at once."""
    parser = XTermParser()
    for event in [*parser.feed(data), *parser.feed("")]:
        event.set_sender(app)
        app.post_message(event)


async def settle(pilot, sent, count: int) -> None:
    for _ in range(200):
        if len(sent()) >= count and not pilot.app.keys_waiting:
            break
        await pilot.pause(0.01)
    await pilot.pause()


def sent(core) -> list[tuple[str, str]]:
    return [(command.peer, command.text) for command in core.commands if isinstance(command, SendText)]


async def test_a_line_and_its_enter_in_one_burst_send_the_whole_line_and_a_question_mark_is_text():
    core = FakeCore()
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        burst(app, "hello world? yes\rsecond line\r")
        await settle(pilot, lambda: sent(core), 2)
        assert sent(core) == [("carol", "hello world? yes"), ("carol", "second line")]
        assert app.message_input.text == ""
        assert not isinstance(app.screen, HelpScreen)


async def test_the_pilot_pressing_a_sentence_without_pauses_sends_it_whole():
    core = FakeCore()
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*"is it? yes", "enter")
        await settle(pilot, lambda: sent(core), 1)
        assert sent(core) == [("carol", "is it? yes")]


async def test_a_line_after_switching_goes_where_the_switch_said_and_one_before_stays():
    core = FakeCore()
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        # ESC 1 is Alt+1 (alice); the line before it still goes to carol.
        burst(app, "to carol\r\x1b1to alice\r")
        await settle(pilot, lambda: sent(core), 2)
        assert sent(core) == [("carol", "to carol"), ("alice", "to alice")]


async def test_a_burst_through_the_quick_switcher_and_the_open_dialog():
    core = FakeCore()
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        # Ctrl+K, "bob", Enter, a line; then Ctrl+O, a new name, Enter, a line.
        burst(app, "\x0bbob\rhi bob\r\x0fzed\rhi zed\r")
        await settle(pilot, lambda: sent(core), 2)
        assert sent(core) == [("bob", "hi bob"), ("zed", "hi zed")]
        assert app.selected == "zed" and app.message_input.text == ""


async def test_home_in_a_burst_moves_the_cursor_in_what_was_typed_before_it():
    core = FakeCore()
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        burst(app, "ab\x1b[Hc\r")
        await settle(pilot, lambda: sent(core), 1)
        assert sent(core) == [("carol", "cab")]


async def test_a_pasted_block_without_bracketed_paste_sends_each_line_in_order():
    core = FakeCore()
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        lines = [f"line {n}: what? {'x' * (n * 7)}" for n in range(12)]
        burst(app, "\r".join(lines) + "\r")
        await settle(pilot, lambda: sent(core), len(lines))
        assert sent(core) == [("carol", line) for line in lines]


async def test_a_line_starting_with_a_question_mark_in_a_burst_is_sent_whole():
    core = FakeCore()
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        # A paste without bracketed paste: after each Enter the input is empty.
        burst(app, "first line\r?second line starts with a question mark\r?is anyone there\r")
        await settle(pilot, lambda: sent(core), 3)
        await pilot.pause(0.3)  # Longer than a lone ? waits: it must not open the help late either.
        assert sent(core) == [
            ("carol", "first line"),
            ("carol", "?second line starts with a question mark"),
            ("carol", "?is anyone there"),
        ]
        assert not isinstance(app.screen, HelpScreen) and app.message_input.text == ""


async def test_a_question_mark_alone_in_a_burst_still_opens_the_help():
    app = make_app(FakeCore())
    async with app.run_test(size=(80, 24)) as pilot:
        burst(app, "?")
        for _ in range(50):
            if isinstance(app.screen, HelpScreen):
                break
            await pilot.pause(0.01)
        assert isinstance(app.screen, HelpScreen)


async def test_a_bracketed_paste_keeps_its_place_among_the_keys_around_it():
    core = FakeCore()
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        # ESC [ 200 ~ ... ESC [ 201 ~ is a bracketed paste; it arrives as one Paste event.
        burst(app, "ab\x1b[200~cd? ef\x1b[201~gh\r")
        await settle(pilot, lambda: sent(core), 1)
        assert sent(core) == [("carol", "abcd? efgh")]
