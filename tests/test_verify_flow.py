"""/verify in the app: the safety number asked of the core, compared, marked; the marks
in the sidebar; and the loud warning when a verified peer's key changes."""

import pytest

from p2ptui.core_thread import MarkVerified, ShowSafetyNumber
from p2ptui.net import PeerStatus, events
from p2ptui.verify_screen import VerifyScreen

from .fakecore import FakeCore, connected, make_app, notified
from .test_app import log_text, sidebar_text

pytestmark = pytest.mark.asyncio

NUMBER = "".join(f"{n:05d}" for n in range(12345, 12345 + 12))


async def test_verify_asks_the_core_shows_the_number_and_marks_the_peer_when_they_match():
    core = FakeCore()
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        core.emit(connected("alice", 51000))
        await pilot.pause()
        await pilot.press("alt+1", *"/verify", "enter")
        await pilot.pause()
        assert ShowSafetyNumber("alice") in core.commands  # the selected conversation
        core.emit(events.SafetyNumber("alice", NUMBER))
        await pilot.pause()
        assert isinstance(app.screen, VerifyScreen)
        await pilot.press("tab", "enter")  # Cancel has the focus: "They match" is a deliberate step
        await pilot.pause()
        assert not isinstance(app.screen, VerifyScreen)
        assert MarkVerified("alice", NUMBER) in core.commands
        # The core tells the new state; the sidebar marks it.
        core.emit(events.PeerChanged("alice", PeerStatus.CONNECTED, path="direct", network="internet",
                                     remote=("198.51.100.7", 51000), verified=True))
        await pilot.pause()
        assert "alice ✓" in sidebar_text(app)


async def test_cancelling_marks_nothing_and_a_bad_name_is_refused_at_once():
    core = FakeCore()
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*"/verify bob", "enter")
        await pilot.pause()
        assert ShowSafetyNumber("bob") in core.commands
        core.emit(events.SafetyNumber("bob", NUMBER))
        await pilot.pause()
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, VerifyScreen)
        assert not any(isinstance(c, MarkVerified) for c in core.commands)
        await pilot.press(*"/verify b[o]b", "enter")
        await pilot.pause()
        assert not any(c == ShowSafetyNumber("b[o]b") for c in core.commands)
        assert any("invalid name" in text for text in notified(app))


async def test_a_verified_peers_new_key_is_a_loud_warning_until_checked_again():
    core = FakeCore()
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        core.emit(events.PeerChanged("alice", PeerStatus.CONNECTED, path="direct", network="internet",
                                     remote=("198.51.100.7", 51000), verified=True))
        await pilot.pause()
        core.emit(events.PeerChanged("alice", PeerStatus.KEY_CHANGED, fingerprint="aa", new_fingerprint="bb",
                                     verification_lost=True))
        await pilot.pause()
        await pilot.press("escape", "alt+1")  # the key-change dialog: not now; then alice's log
        await pilot.pause()
        warning = "alice's key changed after you verified it: compare safety numbers again (/verify)"
        assert any(warning in text for text in notified(app))
        assert warning in " ".join(log_text(app).split())  # wrapped in the log, whole
        assert "alice ⚠" in sidebar_text(app) and "✓" not in sidebar_text(app)
        # Said once, not again with every status the core tells while it stays lost.
        core.emit(events.PeerChanged("alice", PeerStatus.CONNECTED, path="direct", network="internet",
                                     remote=("198.51.100.7", 51000), verification_lost=True))
        await pilot.pause()
        assert sum(warning in text for text in notified(app)) == 1


async def test_keys_typed_before_the_dialog_opens_never_say_the_numbers_match():
    from .test_keys_in_order import burst, sent

    core = FakeCore()
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("alt+1", *"/verify", "enter")
        await pilot.pause()
        core.emit(events.SafetyNumber("alice", NUMBER))
        burst(app, "yes I will check it later\r")  # typed ahead, as the dialog comes up
        for _ in range(100):
            if not app.keys_waiting:
                break
            await pilot.pause(0.01)
        await pilot.pause()
        assert not any(isinstance(c, MarkVerified) for c in core.commands)
        assert not sent(core)


async def test_verified_is_said_once_the_core_says_so_and_a_second_verify_does_not_stack():
    core = FakeCore()
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        core.emit(events.SafetyNumber("alice", NUMBER), events.SafetyNumber("alice", NUMBER))
        await pilot.pause()
        assert sum(isinstance(screen, VerifyScreen) for screen in app.screen_stack) == 1
        await pilot.press("tab", "enter")  # from Cancel to "They match"
        await pilot.pause()
        assert MarkVerified("alice", NUMBER) in core.commands
        assert not any("is verified" in text for text in notified(app))  # not before the core agrees
        core.emit(events.PeerChanged("alice", PeerStatus.ONLINE, verified=True))
        await pilot.pause()
        assert any("alice is verified" in text for text in notified(app))


async def test_text_from_a_server_never_reaches_the_terminal_with_its_escapes():
    core = FakeCore()
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        core.emit(events.SignalStatus(False, "registration refused: \x1b]8;;http://evil\x1b\\click\x1b[2J", fatal=True))
        await pilot.pause()
        told = notified(app) + [str(app.query_one("#status").render())]
        assert not any("\x1b" in text for text in told)
        assert any("␛" in text for text in told)


async def test_a_bug_in_a_handler_is_one_line_not_a_traceback():
    core = FakeCore()
    app = make_app(core)
    with pytest.raises(ValueError):
        async with app.run_test(size=(80, 24)) as pilot:
            core.emit(events.SafetyNumber("alice", "not sixty digits"))  # our bug: a malformed number
            await pilot.pause()
    assert app.fatal is not None and app.fatal.message.startswith("internal error: ValueError")
    assert app.return_code == 1
