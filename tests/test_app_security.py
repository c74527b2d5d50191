"""The UI of the secure channel: the key-change warning, connection details, stored history."""

import time

import pytest

from p2ptui.screens import DetailsScreen, KeyChangedScreen
from p2ptui.core_thread import AcceptKey, ShowDetails
from p2ptui.net import PeerStatus, events
from p2ptui.net.store import StoredMessage
from p2ptui.widgets import ConversationLog

from .fakecore import FakeCore, make_app
from .test_app import log_text, sidebar_text

pytestmark = pytest.mark.asyncio

OLD, NEW = "1a2b 3c4d 5e6f 7a8b 9c0d 1e2f 3a4b 5c6d", "dead beef 0bad f00d cafe 1234 5678 9abc"


def key_changed(peer="bob"):
    return events.PeerChanged(peer, PeerStatus.KEY_CHANGED, fingerprint=OLD, new_fingerprint=NEW)


def screen_text(app) -> str:
    return " ".join(str(widget.render()) for widget in app.screen.query("Label, Static"))


async def test_a_key_change_warns_with_both_fingerprints_and_accepts_only_on_request():
    core = FakeCore()
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        core.emit(key_changed())
        await pilot.pause()
        assert isinstance(app.screen, KeyChangedScreen)
        assert OLD in screen_text(app) and NEW in screen_text(app)
        await pilot.press("enter")  # the default button is "Not now"
        await pilot.pause()
        assert not isinstance(app.screen, KeyChangedScreen)
        assert not any(isinstance(c, AcceptKey) for c in core.commands)
        assert "! bob" in sidebar_text(app)  # marked in the sidebar, without colour
        await pilot.press("alt+2")
        assert "-- bob's key has changed" in log_text(app)
        assert "KEY CHANGED" in str(app.query_one(ConversationLog).border_title)
        await pilot.press(*"/accept-key", "enter")
        await pilot.pause()
        assert isinstance(app.screen, KeyChangedScreen)
        await pilot.press("tab", "enter")  # to "Trust the new key"
        await pilot.pause()
        assert AcceptKey("bob", NEW) in core.commands  # the key the user saw, no other


async def test_details_show_the_path_keys_and_counters():
    core = FakeCore()
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f3")
        assert ShowDetails("carol") in core.commands
        core.emit(
            events.Details(
                "carol",
                PeerStatus.CONNECTED,
                path=events.PathKind.DIRECT,
                network="internet",
                fingerprint=OLD,
                dropped=(("replayed", 3),),
            )
        )
        await pilot.pause()
        assert isinstance(app.screen, DetailsScreen)
        text = screen_text(app)
        assert "Connection with carol" in text and "replayed" in text and OLD in text
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, DetailsScreen)


async def test_details_of_a_peer_that_is_gone_give_no_advice_about_nats():
    core = FakeCore()
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        core.emit(events.Details(
            "carol",
            PeerStatus.OFFLINE,
            reason="carol quit; our NAT: cone, theirs: cone; a relay is needed: configure a TURN server (--turn)",
            nat="cone",
        ))
        await pilot.pause()
        text = screen_text(app)
        assert "offline: carol quit" in text and "relay is needed" not in text and "TURN" not in text
        assert "cone" in text  # the NATs themselves are still shown, as facts


async def test_stored_history_fills_the_log_once():
    core = FakeCore()
    app = make_app(core, peers=("alice",))
    stored = (
        StoredMessage("alice", "01" * 8, False, "from last week", time.time() - 7 * 86400, True),
        StoredMessage("alice", "02" * 8, True, "my old reply", time.time() - 7 * 86400, True),
    )
    async with app.run_test(size=(80, 24)) as pilot:
        core.emit(events.MessageReceived("alice", "03" * 8, "new today"))
        core.emit(events.History("alice", stored), events.History("alice", stored))
        await pilot.pause()
        text = log_text(app)
        assert text.count("from last week") == 1 and text.count("✓  <dana> my old reply") == 1
        assert text.index("from last week") < text.index("new today")


@pytest.mark.parametrize("size", [(60, 20), (80, 24)])
async def test_the_details_dialog_fits_the_screen(size):
    core = FakeCore()
    app = make_app(core)
    async with app.run_test(size=size) as pilot:
        core.emit(events.Details(
            "carol",
            PeerStatus.FAILED,
            reason="a reason " * 12,
            relays=tuple(events.RelayInfo(f"turn relay{n}.example:3478", None, "a value " * 6) for n in range(4)),
            dropped=tuple((f"reason {n}", n) for n in range(12)),
        ))
        await pilot.pause()
        dialog = app.screen.query_one("Vertical")
        assert dialog.region.right <= size[0] and dialog.region.bottom <= size[1]
        assert "Esc to close" in screen_text(app)
