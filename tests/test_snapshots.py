"""Snapshot tests of the main screen (pytest-textual-snapshot); update with --snapshot-update."""

from datetime import datetime

from textual.containers import VerticalScroll

from p2ptui.net import NatReport, NetReport, PeerStatus, PortMapStatus, events
from p2ptui.net.nat import NatType
from p2ptui.net.netreport import ServerCheck
from p2ptui.net.store import StoredMessage
from p2ptui.widgets import MessageInput

from .fakecore import FakeCore, connected, make_app


def stored(peer, n, at, text, outgoing=False):
    # A naive local time through a timestamp and back is the same local time, in any time zone.
    return StoredMessage(peer, f"{n:016x}", outgoing, text, at.timestamp(), True)


def busy_app():
    core = FakeCore()
    app = make_app(core, peers=("alice", "bob", "carol", "dmitri"))

    async def populate(pilot):
        app.query_one("#input", MessageInput).cursor_blink = False
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
        app.clear_notifications()  # toasts of the messages above; test_toast has its own

    return app, populate


def test_main_screen_80x24(snap_compare):
    app, populate = busy_app()
    assert snap_compare(app, terminal_size=(80, 24), run_before=populate)


def test_empty_start_80x24(snap_compare):
    core = FakeCore()
    app = make_app(core, peers=())

    async def no_blink(pilot):
        app.query_one("#input", MessageInput).cursor_blink = False

    assert snap_compare(app, terminal_size=(80, 24), run_before=no_blink)


def key_change_app():
    core = FakeCore()
    app = make_app(core, peers=("alice", "bob"))

    async def warn(pilot):
        app.query_one("#input", MessageInput).cursor_blink = False
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


#: A router that answers no port mapping protocol.
NO_MAPPING = PortMapStatus("192.168.1.1", (), None, None)


def details_app():
    app, populate = busy_app()
    core = app.client

    async def details(pilot):
        await populate(pilot)
        core.emit(
            events.Details(
                "alice",
                PeerStatus.CONNECTED,
                path=events.PathKind.DIRECT,
                network="internet",
                remote=("198.51.100.7", 51000),
                rtt=0.0234,
                encryption="Noise_IK_25519_ChaChaPoly_BLAKE2s",
                fingerprint="1a2b 3c4d 5e6f 7a8b 9c0d 1e2f 3a4b 5c6d",
                own_fingerprint="0f1e 2d3c 4b5a 6978 8796 a5b4 c3d2 e1f0",
                verified=True,
                public_address=("203.0.113.5", 40123),
                nat="cone",
                peer_nat="cone",
                dropped=(("failed authentication", 2), ("replayed", 1)),
                portmap=NO_MAPPING,
                net_report=NetReport(
                    NatReport(NatType.CONE, ("203.0.113.5", 40123), (("203.0.113.5", 40123),) * 2),
                    None,
                    NO_MAPPING,
                    (
                        ServerCheck(("203.0.113.2", 3478), "stun", 0.0187, ("203.0.113.5", 40123)),
                        ServerCheck(("203.0.113.4", 3478), "stun", 0.0412, ("203.0.113.5", 40123)),
                    ),
                    "2001:db8:5::7",
                ),
            )
        )
        await pilot.pause()

    return app, details


def log_app():
    """A day separator, a system line, the read marker, a long multi-line message, CJK and emoji."""
    core = FakeCore()
    app = make_app(core, peers=("alice", "bob"))

    async def populate(pilot):
        app.query_one("#input", MessageInput).cursor_blink = False
        core.emit(
            events.History(
                "alice",
                (
                    stored("alice", 1, datetime(2026, 11, 23, 21, 58), "are we still on for tomorrow?"),
                    stored("alice", 2, datetime(2026, 11, 23, 22, 3), "yes! 10:00 at the station", outgoing=True),
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
        app.clear_notifications()  # toasts of the messages above; test_toast has its own

    return app, populate


def sidebar_app():
    """Many peers: every state, unread counts, the time of the last message today or its date."""
    core = FakeCore()
    peers = ("alice", "bob", "carol", "dmitri", "erin", "frank", "grace", "heidi-from-the-night-shift", "ivan")
    app = make_app(core, peers=peers)
    today, yesterday = datetime(2026, 11, 24, 8, 5), datetime(2026, 11, 23, 18, 40)

    async def populate(pilot):
        app.query_one("#input", MessageInput).cursor_blink = False
        core.emit(
            events.Ready("dana", "tcp://127.0.0.1:7878", ("203.0.113.9", 40123), nat="cone"),
            events.History("alice", (stored("alice", 1, today, "morning!"),)),
            events.History("carol", (stored("carol", 2, yesterday, "see you tomorrow", outgoing=True),)),
            events.History("frank", (stored("frank", 3, datetime(2026, 3, 2, 12, 0), "spring"),)),
            events.History("ivan", (stored("ivan", 4, datetime(2025, 12, 30, 23, 0), "happy new year"),)),
            connected("alice", 51000),
            events.PeerChanged("bob", PeerStatus.CONNECTING),
            events.PeerChanged("carol", PeerStatus.OFFLINE),
            events.PeerChanged("dmitri", PeerStatus.FAILED, reason="no answer"),
            events.PeerChanged("erin", PeerStatus.KEY_CHANGED, fingerprint="1a2b", new_fingerprint="dead"),
            events.PeerChanged("frank", PeerStatus.ONLINE),
            events.PeerChanged("grace", PeerStatus.CONNECTED, path="relay", network="internet",
                               remote=("198.51.100.1", 50000)),  # through a TURN relay
            connected("heidi-from-the-night-shift", 53000),
            events.MessageReceived("bob", "01" * 8, "are you there?"),
            events.MessageReceived("bob", "02" * 8, "hello?"),
            *(events.MessageReceived("grace", f"{n:016x}", "news") for n in range(16, 28)),
            events.MessageReceived("heidi-from-the-night-shift", "03" * 8, "done for today"),
            events.PeerChanged("zoe", PeerStatus.CONNECTING, incoming=True),
        )
        await pilot.pause()
        await pilot.press("escape")  # erin's key-change warning
        await pilot.press("alt+1")
        await pilot.pause()
        app.clear_notifications()  # toasts of the messages above; test_toast has its own

    return app, populate


def help_app():
    app, populate = busy_app()

    async def show_help(pilot):
        await populate(pilot)
        await pilot.press("f1")
        await pilot.pause()

    return app, show_help


def switcher_app():
    app, populate = sidebar_app()

    async def switch(pilot):
        await populate(pilot)
        await pilot.press("ctrl+k", "r")
        app.screen.query_one("#switch-query").cursor_blink = False
        await pilot.pause()

    return app, switch


def multiline_app():
    """A long message sent, and another being written over several rows of the input."""
    core = FakeCore()
    app = make_app(core, peers=("alice", "bob"))

    async def populate(pilot):
        app.query_one("#input", MessageInput).cursor_blink = False
        core.emit(connected("alice", 51000))
        await pilot.pause()
        await pilot.press("alt+1", *"the list for saturday:", "ctrl+j", *"- bread", "ctrl+j", *"- cheese", "enter")
        core.emit(
            events.MessageDelivered("alice", core.commands[-1].id),
            events.MessageReceived(
                "alice",
                "01" * 8,
                "and wine! also, could you ask whether the bakery on the corner still does those "
                "walnut loaves? last time they had run out by ten, so it might be worth ringing "
                "ahead, or going before nine if you can face it",
            ),
        )
        await pilot.press(*"sure, I'll ring them in the morning.", "ctrl+j", "ctrl+j")
        await pilot.press(*"and one more thing that goes on long enough to wrap in the input, like this one does")
        await pilot.pause()
        app.clear_notifications()  # toasts of the messages above; test_toast has its own

    return app, populate


def light_app():
    app, populate = busy_app()
    app.theme = "textual-light"
    return app, populate


def wide_app():
    """A large terminal: the sidebar widens, the log's lines run long."""
    app, populate = sidebar_app()
    core = app.client

    async def converse(pilot):
        await populate(pilot)
        core.emit(
            events.MessageReceived("alice", "a1" * 8, "did the hole punching work from the train? the wifi there is behind "
                                   "two NATs, I think, and one of them is the symmetric kind"),
        )
        await pilot.pause()
        await pilot.press(*"it did: direct, 48 ms round trip, no relay", "enter")
        core.emit(events.MessageDelivered("alice", core.commands[-1].id))
        core.emit(events.MessageReceived("alice", "a2" * 8, "nice 🎉 and the key fingerprint matched what you read me on the phone"))
        await pilot.pause()
        app.clear_notifications()  # toasts of the messages above; test_toast has its own

    return app, converse


def toast_app():
    """A message in a conversation not shown: a toast, its text as it was written."""
    core = FakeCore()
    app = make_app(core, peers=("alice", "bob"))

    async def populate(pilot):
        app.query_one("#input", MessageInput).cursor_blink = False
        core.emit(connected("alice", 51000), connected("bob", 52000))
        await pilot.press("alt+1")
        core.emit(events.MessageReceived("bob", "01" * 8, "[b]not bold[/b], [@click=app.quit]not a link[/]: got a minute?"))
        await pilot.pause()

    return app, populate


def no_sidebar_app():
    app, populate = busy_app()

    async def hide(pilot):
        await populate(pilot)
        await pilot.press("f4")
        await pilot.pause()

    return app, hide


#: The scenes scripts/screenshots.py draws into screenshots/, by file name: (scene, terminal size).
SCENES = {
    "main-80x24": (busy_app, (80, 24)),
    "key-changed-80x24": (key_change_app, (80, 24)),
    "details-80x24": (details_app, (80, 24)),
    "log-80x24": (log_app, (80, 24)),
    "sidebar-80x24": (sidebar_app, (80, 24)),
    "help-80x24": (help_app, (80, 24)),
    "switcher-80x24": (switcher_app, (80, 24)),
    "multiline-80x24": (multiline_app, (80, 24)),
    "light-80x24": (light_app, (80, 24)),
    "wide-160x48": (wide_app, (160, 48)),
    "no-sidebar-80x24": (no_sidebar_app, (80, 24)),
    "toast-80x24": (toast_app, (80, 24)),
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


def test_sidebar_with_every_state_80x24(snap_compare):
    app, populate = sidebar_app()
    assert snap_compare(app, terminal_size=(80, 24), run_before=populate)


def test_help_screen_80x24(snap_compare):
    app, populate = help_app()
    assert snap_compare(app, terminal_size=(80, 24), run_before=populate)


def test_quick_switcher_80x24(snap_compare):
    app, populate = switcher_app()
    assert snap_compare(app, terminal_size=(80, 24), run_before=populate)


def test_multiline_message_80x24(snap_compare):
    app, populate = multiline_app()
    assert snap_compare(app, terminal_size=(80, 24), run_before=populate)


def test_light_theme_80x24(snap_compare):
    app, populate = light_app()
    assert snap_compare(app, terminal_size=(80, 24), run_before=populate)


def test_wide_terminal_160x48(snap_compare):
    app, populate = wide_app()
    assert snap_compare(app, terminal_size=(160, 48), run_before=populate)


def test_sidebar_hidden_80x24(snap_compare):
    app, populate = no_sidebar_app()
    assert snap_compare(app, terminal_size=(80, 24), run_before=populate)


def test_toast_for_another_conversation_80x24(snap_compare):
    app, populate = toast_app()
    assert snap_compare(app, terminal_size=(80, 24), run_before=populate)


def error_app():
    """The signalling server does not answer: the error whole in a toast and in the log,
    short in the header; the peers' presence is unknown, not offline."""
    core = FakeCore()
    app = make_app(core, peers=("alice", "bob"))

    async def populate(pilot):
        app.query_one("#input", MessageInput).cursor_blink = False
        core.emit(
            connected("alice", 51000),
            events.PeerChanged("bob", PeerStatus.OFFLINE),
            events.SignalStatus(False, "cannot reach the signalling server at tcp://127.0.0.1:7878: all attempts to connect failed"),
        )
        await pilot.pause()
        await pilot.press("alt+2")
        await pilot.pause()

    return app, populate


def test_an_error_at_80_columns(snap_compare):
    app, populate = error_app()
    assert snap_compare(app, terminal_size=(80, 24), run_before=populate)


def test_main_screen_60x20(snap_compare):
    app, populate = busy_app()
    assert snap_compare(app, terminal_size=(60, 20), run_before=populate)


def test_connection_details_60x20(snap_compare):
    app, details = details_app()
    assert snap_compare(app, terminal_size=(60, 20), run_before=details)


def quit_app():
    """A peer that quit: offline, with the reason the core gave, and no advice about NATs."""
    core = FakeCore()
    app = make_app(core, peers=("alice",))

    async def populate(pilot):
        app.query_one("#input", MessageInput).cursor_blink = False
        core.emit(connected("alice", 51000))
        await pilot.pause()
        core.emit(
            events.PeerChanged(
                "alice", PeerStatus.OFFLINE,
                reason="alice quit; our NAT: cone, theirs: cone; a relay is needed: configure a TURN server (--turn)",
            )
        )
        await pilot.pause()

    return app, populate


def test_a_peer_that_quit_80x24(snap_compare):
    app, populate = quit_app()
    assert snap_compare(app, terminal_size=(80, 24), run_before=populate)


SCENES.update({
    "error-80x24": (error_app, (80, 24)),
    "small-60x20": (busy_app, (60, 20)),
    "details-60x20": (details_app, (60, 20)),
    "quit-80x24": (quit_app, (80, 24)),
})


def verify_app():
    """/verify with alice: the safety number and its QR code; bob verified (✓), carol's key changed after (⚠)."""
    app, populate = busy_app()
    core = app.client

    async def verify(pilot):
        await populate(pilot)
        core.emit(events.PeerChanged("bob", PeerStatus.ONLINE, verified=True))
        core.emit(events.PeerChanged("carol", PeerStatus.ONLINE, verification_lost=True))
        core.emit(events.SafetyNumber("alice", "".join(f"{n * 7919 % 100000:05d}" for n in range(1, 13))))
        await pilot.pause()

    return app, verify


def test_verify_80x24(snap_compare):
    app, verify = verify_app()
    assert snap_compare(app, terminal_size=(80, 24), run_before=verify)


def test_verify_60x20(snap_compare):
    app, verify = verify_app()
    assert snap_compare(app, terminal_size=(60, 20), run_before=verify)


SCENES.update({"verify-80x24": (verify_app, (80, 24))})


def details_network_app():
    """The details scrolled to their end: your network, as the node learned it."""
    app, details = details_app()

    async def scrolled(pilot):
        await details(pilot)
        app.screen.query_one(VerticalScroll).scroll_end(animate=False)
        await pilot.pause()

    return app, scrolled


def test_connection_details_your_network_80x24(snap_compare):
    app, scrolled = details_network_app()
    assert snap_compare(app, terminal_size=(80, 24), run_before=scrolled)


SCENES.update({"details-network-80x24": (details_network_app, (80, 24))})


from .test_snapshots_files import FILE_SCENES  # noqa: E402
from .test_snapshots_groups import GROUP_SCENES  # noqa: E402

SCENES.update(FILE_SCENES)
SCENES.update(GROUP_SCENES)
