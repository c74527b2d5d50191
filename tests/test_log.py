"""The conversation log: scrollback from the keyboard, following, markers and separators, wrapping."""

import re
import time
from datetime import datetime, timedelta

import pytest
from rich.cells import cell_len

from p2ptui.widgets import log as log_module
from p2ptui.core_thread import LoadOlder
from p2ptui.model import Line
from p2ptui.net import PeerStatus, events
from p2ptui.net.store import StoredMessage
from p2ptui.rows import wrap
from p2ptui.widgets import ConversationLog, MessageInput

from .fakecore import FROZEN, FakeCore, connected, make_app
from .test_app import log_text

pytestmark = pytest.mark.asyncio


def log(app) -> ConversationLog:
    return app.query_one(ConversationLog)


def numbered(peer: str, count: int, *, start: datetime = FROZEN - timedelta(hours=5)) -> list[Line]:
    """`count` short messages from `peer`, a minute apart, all on one day."""
    return [Line(start + timedelta(seconds=10 * n), peer, f"message {n}", id=f"{n:016x}") for n in range(count)]


def stored(peer: str, at: datetime, text: str, n: int, outgoing: bool = False) -> StoredMessage:
    # A naive local time through a timestamp and back is the same local time, in any time zone.
    return StoredMessage(peer, f"{n:016x}", outgoing, text, at.timestamp(), True)


async def test_page_up_and_down_scroll_the_log_while_the_input_keeps_its_text():
    app = make_app(FakeCore(), peers=("alice",))
    async with app.run_test(size=(80, 24)) as pilot:
        app.conversations["alice"].lines[:] = numbered("alice", 200)
        app.select("alice")
        log(app).show(app.conversations["alice"])
        await pilot.press(*"draft")
        bottom = log_text(app)
        assert "message 199" in bottom and "-- more" not in bottom

        await pilot.press("pageup")
        page = log_text(app)
        assert "message 199" not in page and "-- more --" in page
        assert app.query_one("#input", MessageInput).text == "draft"
        assert app.focused is app.query_one("#input")
        await pilot.press("pagedown")
        assert log_text(app) == bottom

        await pilot.press("pageup", "pageup", "end")  # End belongs to the input while it has text
        assert "message 199" not in log_text(app)
        await pilot.press("ctrl+u")  # Textual's "delete to the start of the input"
        await pilot.press("home")
        assert "message 0\n" in log_text(app)
        await pilot.press("end")
        assert log_text(app) == bottom


async def test_pages_overlap_by_one_row_and_skip_nothing():
    app = make_app(FakeCore(), peers=("alice",))
    async with app.run_test(size=(80, 24)) as pilot:
        long = "a long one that wraps over several rows of the log " * 4
        lines = numbered("alice", 100)
        for line in lines[::7]:
            line.text += " " + long
        app.conversations["alice"].lines[:] = lines
        log(app).show(app.conversations["alice"])
        seen = log_text(app).splitlines()
        while log(app).scroll_offset.y > 0:
            await pilot.press("pageup")
            page = log_text(app).splitlines()
            assert page[-1].startswith("-- more")
            if log(app).scroll_offset.y > 0:
                assert page[-2] == seen[0]  # the top row of the page before is the last one shown now
            else:
                assert seen[0] in page  # the top: less than a page was left
            seen = page
        assert "message 0 " in "\n".join(seen)


async def test_paging_down_from_the_top_reaches_the_bottom_without_skipping():
    # Regression: paging into rows not measured yet could reach a guessed bottom, and
    # following the real one skipped the messages between. A resize forgets every height.
    app = make_app(FakeCore(), peers=("alice",))
    async with app.run_test(size=(80, 24)) as pilot:
        lines = numbered("alice", 60)
        for line in lines:
            line.text += " x" * 40
        app.conversations["alice"].lines[:] = lines
        log(app).show(app.conversations["alice"])
        await pilot.press("home")
        await pilot.resize_terminal(81, 24)
        seen: set[int] = set()
        while True:
            seen |= {int(n) for n in re.findall(r"message (\d+)", log_text(app))}
            if "-- more" not in log_text(app):
                break
            await pilot.press("pagedown")
        assert seen == set(range(60))


async def test_new_messages_scroll_into_view_only_at_the_bottom():
    core = FakeCore()
    app = make_app(core, peers=("alice",))
    async with app.run_test(size=(80, 24)) as pilot:
        app.conversations["alice"].lines[:] = numbered("alice", 100)
        log(app).show(app.conversations["alice"])
        core.emit(events.MessageReceived("alice", "aa" * 8, "while at the bottom"))
        await pilot.pause()
        assert "while at the bottom" in log_text(app)

        await pilot.press("pageup")
        core.emit(events.MessageReceived("alice", "bb" * 8, "while scrolled up"))
        core.emit(events.MessageReceived("alice", "cc" * 8, "and another"))
        await pilot.pause()
        text = log_text(app)
        assert "while scrolled up" not in text and "-- more (2 new) --" in text
        await pilot.press("pagedown", "pagedown")
        text = log_text(app)
        assert "and another" in text and "-- more" not in text

        await pilot.press("pageup", *"hi", "enter")  # what you send, you see
        assert "<dana> hi" in log_text(app)


async def test_the_read_marker_sits_before_the_first_unread_message_until_switching_back():
    core = FakeCore()
    app = make_app(core, peers=("alice", "bob"))
    async with app.run_test(size=(80, 24)) as pilot:
        core.emit(events.MessageReceived("alice", "01" * 8, "read already"))
        await pilot.press("alt+1")
        core.emit(events.MessageReceived("alice", "02" * 8, "seen as it came"))
        await pilot.press("alt+2")
        core.emit(events.MessageReceived("alice", "03" * 8, "first unread"))
        core.emit(events.MessageReceived("alice", "04" * 8, "second unread"))
        await pilot.pause()
        await pilot.press("alt+1")
        rows = log_text(app).splitlines()
        marker = next(n for n, row in enumerate(rows) if row.startswith("── new ─"))
        assert "seen as it came" in rows[marker - 1] and "first unread" in rows[marker + 1]

        core.emit(events.MessageReceived("alice", "05" * 8, "while looking"))
        await pilot.pause()
        assert "── new ─" in log_text(app)  # it stays while the conversation is shown
        await pilot.press("alt+2", "alt+1")
        assert "── new ─" not in log_text(app)


async def test_a_day_separator_between_messages_of_different_days():
    core = FakeCore()
    app = make_app(core, peers=("alice",))
    monday = datetime(2026, 11, 23, 22, 50)
    async with app.run_test(size=(80, 24)) as pilot:
        core.emit(
            events.History(
                "alice",
                (stored("alice", monday, "late on monday", 1), stored("alice", monday + timedelta(minutes=5), "still monday", 2)),
            ),
            events.MessageReceived("alice", "03" * 8, "tuesday morning"),  # the fake clock's FROZEN day
        )
        await pilot.pause()
        rows = [row.strip() for row in log_text(app).splitlines()]
        assert rows[:5] == [
            "── Monday 23 November 2026 ──",
            "22:50   <alice> late on monday",
            "22:55   <alice> still monday",
            "── Tuesday 24 November 2026 ──",
            "09:30   <alice> tuesday morning",
        ]


async def test_connection_events_are_system_lines():
    core = FakeCore()
    app = make_app(core, peers=("alice",))
    async with app.run_test(size=(80, 24)) as pilot:
        core.emit(
            events.PeerChanged("alice", PeerStatus.CONNECTING),
            connected("alice", 51000),
            connected("alice", 51000),  # no change: no line
            events.PeerChanged("alice", PeerStatus.OFFLINE, reason="lost the path to 198.51.100.7:51000"),
            events.PeerChanged("alice", PeerStatus.KEY_CHANGED, fingerprint="aa", new_fingerprint="bb"),
        )
        await pilot.pause()
        await pilot.press("escape")  # the key-change warning
        text = " ".join(log_text(app).split())  # fold the wrapping
        assert text.count(" -- ") == 3
        assert "09:30 -- connected direct over the internet to 198.51.100.7:51000 09:30 -- offline: lost the path to 198.51.100.7:51000 09:30 -- alice's key has changed: nothing is sent until you /accept-key" in text


async def test_a_long_multiline_message_wraps_under_its_text_column():
    core = FakeCore()
    app = make_app(core, peers=("alice",))
    text = "first line\n" + "word " * 20 + "\n\nafter a blank line"
    async with app.run_test(size=(80, 24)) as pilot:
        core.emit(events.MessageReceived("alice", "01" * 8, text))
        await pilot.pause()
        rows = log_text(app).splitlines()[1:]
        column = rows[0].index("first line")
        assert rows[0].startswith("09:30   <alice> first line")
        body = rows[1 : rows.index("") if "" in rows else None]
        assert all(row[:column].isspace() and row[column] != " " for row in body if row)
        assert [row[column:] for row in rows[1:7]] == [
            "word word word word word word word",  # 38 cells wide
            "word word word word word word word",
            "word word word word word word",
            "",
            "after a blank line",
            "",
        ]


async def test_wide_characters_keep_every_row_the_width_of_the_log():
    core = FakeCore()
    app = make_app(core, peers=("alice",))
    wide = "你好世界，这是一条很长的中文消息 😀👍 emoji 和 CJK 混在一起 " * 3
    async with app.run_test(size=(80, 24)) as pilot:
        core.emit(events.MessageReceived("alice", "01" * 8, wide), events.MessageReceived("alice", "02" * 8, "after"))
        await pilot.pause()
        widget = log(app)
        view = widget.scrollable_content_region
        assert all(widget.render_line(y).cell_length == view.width for y in range(view.height))
        day, first, *rest = widget.visible_text().splitlines()
        column = cell_len(first[: first.index("你")])
        wrapped = rest[: rest.index("09:30   <alice> after")]
        assert len(wrapped) >= 3
        for row in wrapped:  # every wrapped row starts in the text column, wide characters or not
            assert row[:column].isspace() and not row[column].isspace()
            assert cell_len(row) <= widget.size.width


async def test_switching_to_100k_messages_wraps_only_what_is_in_view(monkeypatch):
    calls = []
    monkeypatch.setattr(log_module, "wrap", lambda text, width: calls.append(text) or wrap(text, width))
    app = make_app(FakeCore(), peers=("alice", "bob"))
    async with app.run_test(size=(80, 24)) as pilot:
        for peer in ("alice", "bob"):
            app.conversations[peer].lines[:] = numbered(peer, 100_000, start=datetime(2025, 1, 1))
        await pilot.press("alt+1")
        calls.clear()
        started = time.perf_counter()
        app.action_jump(2)
        text = log(app).visible_text()  # what the first frame draws
        switched = time.perf_counter() - started
        assert "message 99999" in text
        assert 0 < len(calls) <= 2 * log(app).size.height
        print(f"switched to 100,000 messages and drew them in {1000 * switched:.1f} ms, wrapping {len(calls)}")



async def test_the_scrollbar_follows_a_scroll_made_before_it_was_shown():
    # Regression: Textual moves the thumb only while the scrollbar shows; a switch and a
    # PageUp before the next layout left it at the top.
    app = make_app(FakeCore(), peers=("alice",))
    async with app.run_test(size=(80, 24)) as pilot:
        app.conversations["alice"].lines[:] = numbered("alice", 200)
        log(app).show(app.conversations["alice"])
        await pilot.press("pageup")
        await pilot.pause()
        assert 0 < log(app).scroll_y == log(app).vertical_scrollbar.position


async def test_scrolling_to_the_top_loads_older_history_page_by_page_and_the_view_stays():
    core = FakeCore()
    app = make_app(core, peers=("alice",))
    start = FROZEN - timedelta(hours=5)
    page = lambda first, count: tuple(  # noqa: E731
        stored("alice", start + timedelta(seconds=n), f"message {n}", n) for n in range(first, first + count)
    )
    async with app.run_test(size=(80, 24)) as pilot:
        core.emit(events.History("alice", page(500, 500)))  # the newest 500 of 1,000 stored
        app.select("alice")
        await pilot.pause()
        await pilot.press("home")  # the input is empty: Home goes to the oldest line shown
        await pilot.pause()
        assert [c for c in core.commands if isinstance(c, LoadOlder)] == [LoadOlder("alice", f"{500:016x}")]
        assert "message 500" in log_text(app)
        await pilot.press("home")  # asking again while the page is on its way sends nothing
        core.emit(events.History("alice", page(0, 500), older=True, complete=True))
        await pilot.pause()
        assert len(app.conversations["alice"].lines) == 1000
        # The older page went in above: what was on screen stays on screen.
        assert "message 500" in log_text(app) and "message 499" not in log_text(app)
        await pilot.press("pageup")
        await pilot.pause()
        assert "message 499" in log_text(app)  # and the older page is there, above
        await pilot.press("home")
        await pilot.pause()
        assert re.search(r"\bmessage 0$", log_text(app), re.M)  # the very first stored message
        # Everything stored is loaded: no more asking.
        assert len([c for c in core.commands if isinstance(c, LoadOlder)]) == 1


def drawn_rows(app) -> list[str]:
    """The screen as the terminal gets it, row by row (what the compositor draws, scrollbars included)."""
    from rich.console import Console

    width, height = app.size
    console = Console(width=width, height=height, record=True, file=open("/dev/null", "w"), color_system=None)
    console.print(app.screen._compositor.render_update(full=True))
    return console.export_text().splitlines()


@pytest.mark.parametrize("size", [(80, 24), (60, 20), (200, 50)])
async def test_every_character_of_a_wrapped_row_is_drawn_beside_the_scrollbar(size):
    # Regression: the log wrapped to its width with the scrollbar's column counted in,
    # so the last character of every full-width row was hidden under the scrollbar.
    core = FakeCore()
    app = make_app(core)
    async with app.run_test(size=size) as pilot:
        url = "https://example.org/" + "".join(f"{n % 10}" for n in range(size[0])) + "/end"
        words = " ".join(f"w{n:04d}" for n in range(4))
        for n in range(30):
            core.emit(events.MessageReceived("carol", f"{n:016x}", f"{words} {url}"))
        await pilot.pause()
        await pilot.pause()
        assert log(app).show_vertical_scrollbar
        region = log(app).scrollable_content_region
        rows = [row[region.x : region.right] for row in drawn_rows(app)[region.y : region.bottom]]
        # The last message, at the bottom, from its first row: every character of it is drawn.
        last = max(index for index, row in enumerate(rows) if "w0000" in row)
        column = rows[last].index("w0000")
        text = [row[column:].rstrip() for row in rows[last:]]
        assert "".join(text).replace(" ", "") == f"{words} {url}".replace(" ", "")
        # Its full rows reach the scrollbar, and none runs under it.
        assert max(map(len, text)) == region.width - column
