"""The open conversations are remembered across restarts, in their sidebar order."""

import pytest

from p2ptui.app import P2PApp
from p2ptui.core_thread import OpenPeer
from p2ptui.net import PeerStatus, events
from p2ptui.remembered import FILE_NAME, load

from .fakecore import FROZEN, FakeCore, connected
from .test_app import sidebar_text

pytestmark = pytest.mark.asyncio


def app_in(directory, core, peers=()) -> P2PApp:
    return P2PApp(core, me="dana", signal="tcp://127.0.0.1:7878", peers=peers, clock=lambda: FROZEN,
                  config_dir=directory)


async def test_alt_1_is_the_same_peer_after_a_restart(tmp_path):
    core = FakeCore()
    async with app_in(tmp_path, core, peers=("alice", "bob")).run_test(size=(80, 24)) as pilot:
        core.emit(connected("carol", 4000))  # a conversation carol started
        await pilot.pause()
        await pilot.press("alt+2", *"/close", "enter")  # bob's closed: not remembered
        await pilot.pause()
    assert load(tmp_path) == ["alice", "carol"]
    again = FakeCore()
    app = app_in(tmp_path, again, peers=("erin",))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        rows = [row for row in sidebar_text(app).splitlines() if row.strip()[:1] in "▶123456789"]
        assert [row.split()[-1] for row in rows][:3] == ["alice", "carol", "erin"]
        assert {OpenPeer("alice"), OpenPeer("carol"), OpenPeer("erin")} <= set(again.commands)


async def test_a_hand_edited_file_gives_only_valid_names_once_each(tmp_path):
    (tmp_path / FILE_NAME).write_bytes(b"alice\n\n[@click=app.quit]\nalice\n\xff\xfe\nbob\n" + b"x" * 5000 + b"\n")
    assert load(tmp_path) == ["alice", "bob"]


async def test_without_a_config_directory_nothing_is_written(tmp_path):
    core = FakeCore()
    async with app_in(None, core, peers=("alice",)).run_test(size=(80, 24)) as pilot:
        await pilot.pause()
    assert load(None) == [] and not any(tmp_path.iterdir())


async def test_strangers_never_opened_are_not_remembered(tmp_path):
    """Guards the 64-stranger bound across restarts: a flood's conversations, never opened,
    must not come back as ordinary ones."""
    core = FakeCore()
    async with app_in(tmp_path, core, peers=("alice",)).run_test(size=(80, 24)) as pilot:
        for name in ("mallory", "oscar", "trent"):
            core.emit(events.PeerChanged(name, PeerStatus.CONNECTING, incoming=True))
            core.emit(events.MessageReceived(name, f"id-{name}", "hello"))
        await pilot.pause()
        assert {"mallory", "oscar", "trent"} <= set(sidebar_text(pilot.app).split())
        await pilot.press("alt+3")  # oscar's is looked at: remembered from then on
        await pilot.pause()
    assert load(tmp_path) == ["alice", "oscar"]
