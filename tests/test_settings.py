"""Toasts and the bell for other conversations, the theme, and what is saved in config.toml."""

import tomllib

import pytest

from p2ptui.app import P2PApp
from p2ptui.net import events

from .fakecore import FROZEN, FakeCore, make_app, told
from .test_app import sidebar_text

pytestmark = pytest.mark.asyncio

HOSTILE = "[@click=app.quit]click me[/] [b]bold?[/b] \x1b]0;pwned\x07\x1b[2J done"


def toasts(app) -> list:
    return list(app._notifications)


def settings_app(core, config_dir, **kwargs) -> P2PApp:
    return P2PApp(core, me="dana", signal="tcp://127.0.0.1:7878", peers=("alice", "bob"),
                  clock=lambda: FROZEN, config_dir=config_dir, **kwargs)


async def test_a_message_in_another_conversation_makes_a_toast_with_its_text_literal():
    core = FakeCore()
    app = make_app(core)  # carol is selected
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        core.emit(events.MessageReceived("carol", "00" * 8, "shown already: no toast"))
        core.emit(events.MessageReceived("alice", "01" * 8, HOSTILE))
        await pilot.pause()
        (toast,) = toasts(app)
        assert toast.title == "alice" and not toast.markup
        assert toast.message == "[@click=app.quit]click me[/] [b]bold?[/b] ␛␛ done"  # escapes marked, markup kept as text
        await pilot.pause()
        rendered = " ".join(str(widget.render()) for widget in app.screen.query("Toast"))
        assert "[@click=app.quit]click me[/]" in rendered and "[b]bold?[/b]" in rendered
        assert app.is_running


async def test_toasts_are_short_and_one_per_peer_at_a_time():
    core = FakeCore()
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        core.emit(events.MessageReceived("alice", "01" * 8, "line one\nline two " + "x" * 300))
        core.emit(*(events.MessageReceived("alice", f"{n:016x}", "flood") for n in range(2, 50)))
        core.emit(events.MessageReceived("bob", "ff" * 8, "hi"))
        await pilot.pause()
        first, second = toasts(app)
        assert first.message.startswith("line one line two xxx") and len(first.message) == 100
        assert first.message.endswith("…")
        assert second.title == "bob"
        assert "alice (49)" in sidebar_text(app)  # the sidebar counts them all


async def test_the_bell_rings_for_other_conversations_when_on_and_slash_bell_toggles_it(tmp_path, monkeypatch):
    core = FakeCore()
    app = settings_app(core, tmp_path, bell=True)
    rings = []
    monkeypatch.setattr(app, "bell", lambda: rings.append(1))
    async with app.run_test(size=(80, 24)) as pilot:
        core.emit(events.MessageReceived("alice", "01" * 8, "ding"))  # bob is selected
        await pilot.pause()
        assert rings == [1]
        core.emit(events.MessageReceived("bob", "02" * 8, "no ding: shown"))
        await pilot.pause()
        assert rings == [1]
        await pilot.press(*"/bell", "enter")
        assert app.bell_on is False
        assert tomllib.loads((tmp_path / "config.toml").read_text()) == {"bell": False}
        app._last_notice.clear()
        core.emit(events.MessageReceived("alice", "03" * 8, "silent"))
        await pilot.pause()
        assert rings == [1]
        await pilot.press(*"/bell", "enter")
        assert app.bell_on is True and "bell = true" in (tmp_path / "config.toml").read_text()


async def test_a_theme_chosen_is_saved_keeping_the_other_settings(tmp_path):
    (tmp_path / "config.toml").write_text('name = "dana"\nstun = ["stun.example.net:3478"]\nbell = true\n')
    app = settings_app(FakeCore(), tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.theme == "textual-dark"
        await pilot.press(*"/theme textual-light", "enter")
        await pilot.pause()
        assert app.theme == "textual-light" and not app.current_theme.dark
    saved = tomllib.loads((tmp_path / "config.toml").read_text())
    assert saved == {"name": "dana", "stun": ["stun.example.net:3478"], "bell": True, "theme": "textual-light"}

    app = settings_app(FakeCore(), tmp_path, theme=saved["theme"])  # as the command line passes it
    async with app.run_test(size=(80, 24)):
        assert app.theme == "textual-light"


async def test_a_theme_from_textuals_picker_is_saved(tmp_path):
    app = settings_app(FakeCore(), tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*"/theme", "enter")  # Textual's theme picker
        await pilot.pause()
        await pilot.press(*"nord")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause()
        assert app.theme == "nord"
    assert tomllib.loads((tmp_path / "config.toml").read_text()) == {"theme": "nord"}


async def test_starting_does_not_write_the_config_and_unknown_themes_are_reported(tmp_path):
    app = settings_app(FakeCore(), tmp_path, theme="no-such-theme")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.theme == "textual-dark"
        assert "unknown theme 'no-such-theme'" in told(app)
        await pilot.press(*"/theme nope", "enter")
        assert "no theme 'nope'" in told(app)
    assert not (tmp_path / "config.toml").exists()


async def test_an_unreadable_config_is_not_overwritten(tmp_path):
    (tmp_path / "config.toml").write_text("this is = = not toml\n")
    app = settings_app(FakeCore(), tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*"/theme nord", "enter")
        await pilot.pause()
        assert "not saved: cannot read" in told(app)
    assert (tmp_path / "config.toml").read_text() == "this is = = not toml\n"


async def test_unknown_settings_and_theme_are_each_said_once_in_a_toast(tmp_path):
    core = FakeCore()
    app = settings_app(core, tmp_path, theme="no-such-theme", warnings=["unknown setting 'keepalvie' in config.toml"])
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        messages = [toast.message for toast in toasts(app)]
        assert sum("unknown theme 'no-such-theme'" in m for m in messages) == 1
        assert sum("keepalvie" in m for m in messages) == 1
        assert all(toast.severity == "warning" for toast in toasts(app))


@pytest.mark.parametrize("size", [(80, 24), (60, 20), (200, 50)])
async def test_toasts_never_cover_the_input_being_typed_in(size):
    core = FakeCore()
    app = make_app(core)  # carol is selected
    async with app.run_test(size=size, notifications=True) as pilot:
        await pilot.press(*"half a thought")
        for n in range(4):  # a few toasts at once: they stack
            core.emit(events.MessageReceived(("alice", "bob")[n % 2], f"{n:016x}", "x " * 80))
        app.notify("a problem " * 20, severity="error")
        await pilot.pause()
        await pilot.pause()
        shown = list(app.screen.query("Toast"))
        assert shown
        rack = app.screen.query_one("ToastRack").region  # toasts past it are not drawn
        field = app.message_input.region
        assert all(not toast.region.intersection(rack).overlaps(field) for toast in shown)
