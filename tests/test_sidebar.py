"""The sidebar: each conversation's state, unread count and last activity, and which ones are in view."""

from datetime import datetime

import pytest

from p2ptui.model import Line
from p2ptui.net import PeerStatus, events
from p2ptui.widgets import (
    STATUS_ICON,
    PeerList,
    activity_label,
    describe,
    visible_peers,
)

from .fakecore import FROZEN, FakeCore, connected, make_app
from .test_app import sidebar_text

NOW = datetime(2026, 11, 24, 9, 30)


@pytest.mark.parametrize(
    "at, label",
    [
        (datetime(2026, 11, 24, 0, 1), "00:01"),
        (datetime(2026, 11, 23, 23, 59), "23 Nov"),
        (datetime(2026, 1, 2, 12, 0), "2 Jan"),
        (datetime(2025, 12, 31, 12, 0), "2025"),
    ],
)
def test_activity_label(at, label):
    assert activity_label(at, NOW) == label


@pytest.mark.parametrize(
    "count, selected, rows, shown",
    [
        (5, 0, 10, range(0, 5)),
        (20, 0, 10, range(0, 9)),  # and "↓ 11 more"
        (20, 19, 10, range(11, 20)),  # "↑ 11 more" and the last nine
        (20, 10, 10, range(6, 14)),  # both, the selected one in the middle
        (20, None, 10, range(0, 9)),
        (20, 5, 2, range(5, 7)),
    ],
)
def test_the_sidebar_keeps_the_selected_peer_in_view(count, selected, rows, shown):
    result = visible_peers(count, selected, rows)
    assert result == shown
    if selected is not None:
        assert selected in result
    hidden_rows = (result.start > 0) + (result.stop < count)
    assert len(result) + (hidden_rows if rows >= 3 else 0) <= rows


@pytest.mark.asyncio
async def test_the_sidebar_shows_state_unread_and_last_activity():
    core = FakeCore()
    app = make_app(core, peers=("alice", "bob", "carol"))
    async with app.run_test(size=(80, 24)) as pilot:
        core.emit(
            connected("alice", 4000),
            events.PeerChanged("bob", PeerStatus.CONNECTING),
            events.MessageReceived("bob", "01" * 8, "one"),
            events.MessageReceived("bob", "02" * 8, "two"),
        )
        await pilot.pause()
        rows = sidebar_text(app).splitlines()
        assert rows[0] == "Peers"
        assert rows[1].rstrip() == " 1 ● alice"  # no messages: no time
        width = app.query_one(PeerList).content_size.width
        assert rows[2] == " 2 ◐ bob (2)".ljust(width - 5) + "09:30"  # the time at the right edge
        assert rows[3].rstrip() == "▶3 ○ carol"


@pytest.mark.asyncio
async def test_the_time_shows_only_where_it_fits_and_long_names_are_cut():
    core = FakeCore()
    long = "a-rather-long-name-for-a-peer-32"
    app = make_app(core, peers=(long, "bob"))
    async with app.run_test(size=(80, 24)) as pilot:
        core.emit(events.MessageReceived(long, "01" * 8, "hi"), events.MessageReceived("bob", "02" * 8, "hi"))
        await pilot.pause()
        rows = sidebar_text(app).splitlines()
        width = app.query_one(PeerList).content_size.width
        assert all(len(row) <= width for row in rows)
        assert rows[1] == " 1 ○ a-rather-lo… (1)"  # no room for the time
        assert rows[2] == "▶2 ○ bob".ljust(width - 5) + "09:30"
        await pilot.resize_terminal(160, 40)  # the sidebar widens on a wide terminal
        await pilot.pause()
        rows = sidebar_text(app).splitlines()
        assert rows[1] == " 1 ○ a-rather-long-name-… (1)"


@pytest.mark.asyncio
async def test_a_message_from_an_earlier_day_shows_its_date():
    app = make_app(FakeCore(), peers=("alice", "bob"))
    async with app.run_test(size=(80, 24)) as pilot:
        app.conversations["alice"].add(Line(FROZEN.replace(day=3), "alice", "old"), shown=True)
        app.select("alice")
        await pilot.pause()
        assert sidebar_text(app).splitlines()[1].endswith(" 3 Nov")


@pytest.mark.asyncio
async def test_many_peers_scroll_with_the_selection_and_say_what_is_hidden():
    core = FakeCore()
    peers = [f"peer{n:02}" for n in range(1, 31)]
    app = make_app(core, peers=peers)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("alt+1")
        core.emit(events.MessageReceived("peer29", "01" * 8, "down here"))
        await pilot.pause()
        rows = sidebar_text(app).splitlines()
        assert rows[1].startswith("▶1 ○ peer01")
        assert len(rows) == 22 and rows[-1] == "↓ 10 more, 1 unread"
        await pilot.press("ctrl+p")  # round to the last one
        rows = sidebar_text(app).splitlines()
        assert rows[1] == "↑ 10 more"
        assert rows[-1].startswith("▶  ○ peer30")  # past 9: no Alt+number


@pytest.mark.asyncio
async def test_at_60x20_the_hidden_count_keeps_the_word_unread_whole():
    core = FakeCore()
    peers = [f"peer{n:02}" for n in range(1, 61)]
    app = make_app(core, peers=peers)
    async with app.run_test(size=(60, 20)) as pilot:
        await pilot.press("alt+1")
        for n in range(12, 61):
            core.emit(events.MessageReceived(f"peer{n:02}", f"{n:016x}", "hello"))
        await pilot.pause()
        last = sidebar_text(app).splitlines()[-1]
        room = app.query_one("#sidebar").content_size.width
        assert last.startswith("↓") and last.endswith("unread") and len(last) <= room, (last, room)


@pytest.mark.asyncio
async def test_states_are_told_apart_without_colour(monkeypatch):
    # NO_COLOR: Textual draws in greys; every state keeps a glyph of its own, and the
    # selected row its marker.
    assert set(STATUS_ICON) == {*PeerStatus, "relay"}  # every state, and a relayed connection
    assert len({look.glyph for look in STATUS_ICON.values()}) == len(STATUS_ICON)
    monkeypatch.setenv("NO_COLOR", "1")
    core = FakeCore()
    app = make_app(core, peers=("alice", "bob"))
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.no_color
        core.emit(connected("alice", 4000), events.PeerChanged("bob", PeerStatus.CONNECTING))
        await pilot.pause()
        rows = sidebar_text(app).splitlines()
        assert rows[1].startswith(" 1 ● alice") and rows[2].startswith("▶2 ◐ bob")
        core.emit(events.PeerChanged("bob", PeerStatus.CONNECTED, path="relay", network="internet",
                                     remote=("198.51.100.1", 50000)))
        await pilot.pause()
        assert sidebar_text(app).splitlines()[2].startswith("▶2 ◉ bob")  # relayed: a glyph of its own
        assert describe(app.conversations["bob"]) == "connected through a relay to 198.51.100.1:50000"


@pytest.mark.asyncio
@pytest.mark.parametrize("system, name", [("standard", "standard"), ("256", "256")])
async def test_16_and_256_colour_terminals_draw_every_state(monkeypatch, system, name):
    # What TEXTUAL_COLOR_SYSTEM (or the terminal) says: Rich then maps every theme
    # colour down to the 16 or 256 the terminal has; the glyphs carry the states.
    from textual import constants

    monkeypatch.setattr(constants, "COLOR_SYSTEM", system)
    core = FakeCore()
    app = make_app(core, peers=("alice", "bob", "carol"))
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.console.color_system == name
        core.emit(
            connected("alice", 4000),
            events.PeerChanged("bob", PeerStatus.CONNECTED, path="relay", network="internet",
                               remote=("198.51.100.1", 50000)),
            events.PeerChanged("carol", PeerStatus.FAILED, reason="no answer"),
        )
        await pilot.pause()
        rows = sidebar_text(app).splitlines()
        assert [row[3] for row in rows[1:4]] == ["●", "◉", "✕"]
