"""Snapshot tests of the main screen (pytest-textual-snapshot); update with --snapshot-update."""

from textual.widgets import Input

from p2ptui.net import PeerStatus, events

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
