"""The Textual app, driven by Textual's pilot, with a fake core."""

import pytest

from p2ptui.core_thread import OpenPeer, SendText
from p2ptui.net import PeerStatus, events
from p2ptui.widgets import ConversationLog, MessageInput, PeerList

from .fakecore import FakeCore, connected, make_app, told

pytestmark = pytest.mark.asyncio


def log_text(app) -> str:
    return app.query_one(ConversationLog).visible_text()


def sidebar_text(app) -> str:
    return str(app.query_one(PeerList).render())


async def test_initial_peers_are_opened_and_the_first_selected():
    core = FakeCore()
    async with make_app(core).run_test(size=(80, 24)):
        assert core.commands == [OpenPeer("alice"), OpenPeer("bob"), OpenPeer("carol")]
    assert core.stopped  # quitting stops the core


async def test_switching_peers_from_the_keyboard_while_typing():
    core = FakeCore()
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("h", "i")  # the input has focus and keeps it
        assert app.selected == "carol"  # /open selects; the last one opened
        await pilot.press("ctrl+n")
        assert app.selected == "alice"
        await pilot.press("ctrl+n")
        assert app.selected == "bob"
        await pilot.press("ctrl+p", "ctrl+p")
        assert app.selected == "carol"
        await pilot.press("alt+2")
        assert app.selected == "bob"
        await pilot.press("alt+9")  # no ninth peer: nothing happens
        assert app.selected == "bob"
        assert app.query_one("#input", MessageInput).text == "hi"
        assert app.focused is app.query_one("#input")


async def test_alt_digit_arrives_as_escape_digit_from_a_terminal():
    # What tmux and SSH send for Alt+1: ESC then "1", parsed by Textual's own parser.
    from textual._xterm_parser import XTermParser
    from textual.events import Key

    parser = XTermParser()
    keys = [token.key for token in [*parser.feed("\x1b1"), *parser.feed("")] if isinstance(token, Key)]
    assert keys == ["alt+1"]
    app = make_app(FakeCore())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*keys)
        assert app.selected == "alice"


async def test_open_command_and_dialog():
    core = FakeCore()
    app = make_app(core, peers=())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*"/open erin", "enter")
        assert app.selected == "erin" and OpenPeer("erin") in core.commands
        await pilot.press("ctrl+o")
        await pilot.press(*"bad name!", "enter")
        error = app.screen.query_one("#open-error")
        assert "invalid name" in str(error.render())
        await pilot.pause()
        # The whole message, wrapped inside the dialog: not cut at the screen's edge.
        assert error.region.right <= 80 and "starting" in app.export_screenshot()
        await pilot.press("ctrl+a", "ctrl+k", *"frank", "enter")
        await pilot.pause()
        assert app.selected == "frank" and list(app.conversations) == ["erin", "frank"]
        await pilot.press(*"/open dana", "enter")
        assert "that is you" in told(app)


async def test_sending_shows_the_message_and_then_its_delivery():
    core = FakeCore()
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*"hello carol", "enter")
        (send,) = [c for c in core.commands if isinstance(c, SendText)]
        assert (send.peer, send.text) == ("carol", "hello carol")
        assert "09:30 …  <dana> hello carol" in log_text(app)  # … sent, in the own-message column
        core.emit(events.MessageDelivered("carol", send.id))
        await pilot.pause()
        assert "09:30 ✓  <dana> hello carol" in log_text(app)


async def test_a_message_the_core_refuses_is_marked_never_sent():
    core = FakeCore()
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*"hello carol", "enter")
        (send,) = [c for c in core.commands if isinstance(c, SendText)]
        core.emit(events.Error("the disk is full", peer="carol", message_id=send.id))
        await pilot.pause()
        assert "09:30 ✗  <dana> hello carol" in log_text(app)
        assert "the disk is full" in told(app)


async def test_an_incoming_peer_appears_by_itself_marked_unread():
    core = FakeCore()
    app = make_app(core, peers=("alice",))
    async with app.run_test(size=(80, 24)) as pilot:
        core.emit(
            events.PeerChanged("mallory", PeerStatus.CONNECTING, incoming=True),
            connected("mallory", 4000),
            events.MessageReceived("mallory", "00" * 8, "psst"),
            events.MessageReceived("mallory", "01" * 8, "psst again"),
        )
        await pilot.pause()
        assert app.selected == "alice"
        assert "mallory (2)" in sidebar_text(app)
        await pilot.press("alt+2")
        assert "mallory (2)" not in sidebar_text(app)
        assert "<mallory> psst again" in log_text(app)


async def test_hostile_peer_text_is_shown_literally():
    core = FakeCore()
    app = make_app(core, peers=("eve",))
    hostile = "[@click=app.quit]click me[/] [link=http://x]x[/link] \x1b[2J\x1b]0;pwned\x07 \u202eevil \x07"
    async with app.run_test(size=(80, 24)) as pilot:
        core.emit(events.MessageReceived("eve", "00" * 8, hostile))
        await pilot.pause()
        text = " ".join(log_text(app).split())  # fold the log's wrapping
        assert "[@click=app.quit]click me[/] [link=http://x]x[/link]" in text
        assert "\x1b" not in text and "\u202e" not in text and "\x07" not in text
        assert "␛␛ ⟨U+202E⟩evil \u2407" in text  # what was removed shows as such
        assert app.is_running


async def test_core_errors_show_in_the_status_line():
    core = FakeCore()
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        core.emit(events.SignalStatus(False, "cannot reach the signalling server at tcp://127.0.0.1:7878"))
        await pilot.pause()
        assert "cannot reach" in str(app.query_one("#status").render())
        core.emit(events.Ready("dana", "tcp://127.0.0.1:7878", ("203.0.113.9", 5000)))
        core.emit(events.SignalStatus(True))
        await pilot.pause()
        status = str(app.query_one("#status").render())
        assert "cannot reach" not in status and "203.0.113.9:5000" in status


async def test_ctrl_q_quits():
    app = make_app(FakeCore())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert not app.is_running


async def test_a_conversation_a_peer_started_is_marked_new_even_when_its_history_came_first():
    # The core sends a peer's stored history before its first PeerChanged.
    core = FakeCore()
    app = make_app(core, peers=("alice",))
    async with app.run_test(size=(80, 24)) as pilot:
        core.emit(
            events.History("mallory", ()),
            events.PeerChanged("mallory", PeerStatus.CONNECTING, incoming=True),
            events.History("bob", ()),
            events.PeerChanged("bob", PeerStatus.CONNECTING),
        )
        await pilot.pause()
        rows = sidebar_text(app).splitlines()
        assert "mallory new" in next(row for row in rows if "mallory" in row)
        assert "new" not in next(row for row in rows if "bob" in row)
        await pilot.press("alt+2")
        core.emit(connected("mallory", 4000))  # still incoming: not new again once seen
        await pilot.press("alt+1")
        assert "mallory new" not in sidebar_text(app)


async def test_at_60x20_the_header_ends_on_a_word_and_every_footer_key_is_whole():
    core = FakeCore()
    app = make_app(core)
    async with app.run_test(size=(60, 20)) as pilot:
        core.emit(events.Ready("dana", "tcp://127.0.0.1:7878", ("203.0.113.9", 40123), nat="port-restricted"))
        await pilot.pause()
        header = str(app.query_one("#status").render())
        assert header.endswith("…") and not header.endswith("NAT: port-r…")
        from textual.widgets import Footer

        footer = app.query_one(Footer)
        assert footer.compact
        assert footer.virtual_size.width <= footer.size.width  # nothing cut off at the right


async def test_the_core_starts_and_the_first_frame_hook_runs_once_the_first_frame_is_drawn():
    from p2ptui.app import P2PApp

    from .fakecore import FROZEN

    core = FakeCore()
    drawn = []
    app = P2PApp(core, me="dana", signal="tcp://127.0.0.1:7878", clock=lambda: FROZEN,
                 on_first_frame=lambda: drawn.append(core._on_event is not None))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert drawn == [True]  # once, with the core already started


async def test_the_footer_follows_every_resize():
    from textual.widgets import Footer

    app = make_app(FakeCore())
    async with app.run_test(size=(200, 50)) as pilot:
        footer = app.query_one(Footer)
        for width, compact in ((60, True), (200, False), (60, True), (80, False), (60, True)):
            await pilot.resize_terminal(width, 20)
            await pilot.pause()
            assert footer.compact is compact, width
            assert footer.virtual_size.width <= footer.size.width, width  # nothing cut off
