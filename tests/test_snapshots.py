"""Snapshot tests of the main screen (pytest-textual-snapshot); update with --snapshot-update."""

from datetime import datetime

from textual.widgets import Input

from p2ptui.net import PeerStatus, events
from p2ptui.net.store import StoredMessage

from .fakecore import FakeCore, connected, make_app


def busy_app():
    core = FakeCore()
    app = make_app(core, peers=("alice", "bob", "carol", "dmitri"))

    async def populate(pilot):
        app.query_one("#input", Input).cursor_blink = False
        core.emit(
            events.Ready("dana", "tcp://127.0.0.1:7878", ("203.0.113.9", 40123), nat="cone"),
            connected("alice", 51000),
            events.PeerChanged("bob", PeerStatus.CONNECTING),
            events.PeerChanged("carol", PeerStatus.OFFLINE),
            events.PeerChanged("dmitri", PeerStatus.FAILED, reason="no answer"),
            events.MessageReceived("alice", "00" * 8, "hey dana, are you there?"),
            events.MessageReceived("bob", "01" * 8, "unread one"),
            events.MessageReceived("bob", "02" * 8, "unread two"),
            events.PeerChanged("zoe", PeerStatus.CONNECTING, incoming=True),
        )
        await pilot.pause()
        await pilot.press("alt+1", *"yes! punched straight through", "enter")
        core.emit(events.MessageDelivered("alice", core.commands[-1].id))
        core.emit(events.MessageReceived("alice", "03" * 8, "a longer reply that wraps across the line, to show how the log wraps it [b]literally[/b]"))
        await pilot.pause()

    return app, populate


def test_main_screen_80x24(snap_compare):
    app, populate = busy_app()
    assert snap_compare(app, terminal_size=(80, 24), run_before=populate)


def test_empty_start_80x24(snap_compare):
    core = FakeCore()
    app = make_app(core, peers=())

    async def no_blink(pilot):
        app.query_one("#input", Input).cursor_blink = False

    assert snap_compare(app, terminal_size=(80, 24), run_before=no_blink)


def key_change_app():
    core = FakeCore()
    app = make_app(core, peers=("alice", "bob"))

    async def warn(pilot):
        app.query_one("#input", Input).cursor_blink = False
        core.emit(
            events.PeerChanged(
                "bob",
                PeerStatus.KEY_CHANGED,
                fingerprint="1a2b 3c4d 5e6f 7a8b 9c0d 1e2f 3a4b 5c6d",
                new_fingerprint="dead beef 0bad f00d cafe 1234 5678 9abc",
            )
        )
        await pilot.pause()

    return app, warn


def details_app():
    app, populate = busy_app()
    core = app.client

    async def details(pilot):
        await populate(pilot)
        core.emit(
            events.Details(
                "alice",
                (
                    ("status", "connected"),
                    ("path", "direct, internet"),
                    ("remote address", "198.51.100.7:51000"),
                    ("round trip", "23.4 ms"),
                    ("encryption", "Noise_IK_25519_ChaChaPoly_BLAKE2s"),
                    ("their key", "1a2b 3c4d 5e6f 7a8b 9c0d 1e2f 3a4b 5c6d"),
                    ("your key", "0f1e 2d3c 4b5a 6978 8796 a5b4 c3d2 e1f0"),
                    ("your NAT", "port-restricted"),
                    ("unacknowledged", "0"),
                    ("dropped: failed authentication", "2"),
                    ("dropped: replayed", "1"),
                ),
            )
        )
        await pilot.pause()

    return app, details


def log_app():
    """A day separator, a system line, the read marker, a long multi-line message, CJK and emoji."""
    core = FakeCore()
    app = make_app(core, peers=("alice", "bob"))

    def stored(n, at, text, outgoing=False):
        # A naive local time through a timestamp and back is the same local time, in any time zone.
        return StoredMessage("alice", f"{n:016x}", outgoing, text, at.timestamp(), True)

    async def populate(pilot):
        app.query_one("#input", Input).cursor_blink = False
        core.emit(
            events.History(
                "alice",
                (
                    stored(1, datetime(2026, 11, 23, 21, 58), "are we still on for tomorrow?"),
                    stored(2, datetime(2026, 11, 23, 22, 3), "yes! 10:00 at the station", outgoing=True),
                ),
            ),
            connected("alice", 51000),
            events.MessageReceived("alice", "03" * 8, "good morning 早上好 ☕ 🚉"),
            events.MessageReceived(
                "alice",
                "04" * 8,
                "the plan:\n- coffee first\n- then the long walk along the river, if the weather holds, "
                "and lunch wherever we end up",
            ),
        )
        await pilot.pause()
        await pilot.press("alt+1", *"on my way 🚶", "enter")
        await pilot.pause()

    return app, populate


#: The scenes scripts/screenshots.py draws into screenshots/, by file name.
SCENES = {
    "main-80x24": busy_app,
    "key-changed-80x24": key_change_app,
    "details-80x24": details_app,
    "log-80x24": log_app,
}


def test_key_change_warning_80x24(snap_compare):
    app, warn = key_change_app()
    assert snap_compare(app, terminal_size=(80, 24), run_before=warn)


def test_connection_details_80x24(snap_compare):
    app, details = details_app()
    assert snap_compare(app, terminal_size=(80, 24), run_before=details)


def test_conversation_log_80x24(snap_compare):
    app, populate = log_app()
    assert snap_compare(app, terminal_size=(80, 24), run_before=populate)
