"""The whole stack: the real app, the real core thread, a real peer process, on both backends."""

import asyncio
import uuid

import pytest

from p2ptui.app import P2PApp
from p2ptui.core_thread import CoreThread
from p2ptui.net import Identity, NodeConfig, events, open_node
from p2ptui.widgets import ConversationLog, MessageInput

from .processes import Processes

pytestmark = [pytest.mark.asyncio, pytest.mark.e2e]


@pytest.fixture
def processes(tmp_path):
    started = Processes(tmp_path)
    yield started
    started.stop_all()


@pytest.fixture(params=["tcp", "firestore"])
def backend(request, processes):
    """(signal URL, environment for peer processes) for each backend."""
    if request.param == "tcp":
        return processes.server(), {}
    url = request.getfixturevalue("firestore_url")
    return url, {"FIRESTORE_EMULATOR_HOST": request.getfixturevalue("firestore_host")}


async def test_the_tui_chats_with_a_peer_process(backend, processes):
    url, env = backend
    me, peer = f"dana-{uuid.uuid4().hex[:6]}", f"echo-{uuid.uuid4().hex[:6]}"
    processes.pipe(peer, me, url, "--echo", env=env)
    config = NodeConfig(me, url, bind=("127.0.0.1", 0))
    app = P2PApp(CoreThread(lambda: open_node(config, Identity.generate())), me=me, signal=url, peers=[peer])
    echoed = asyncio.Event()
    forward = app.post_message_from_core

    def watch(event):  # on the core's thread: only thread-safe calls
        forward(event)
        if isinstance(event, events.MessageReceived) and event.text == "hello, whole stack":
            app.call_later(echoed.set)

    app.post_message_from_core = watch
    async with app.run_test(size=(80, 24)) as pilot:
        app.query_one("#input", MessageInput).replace_text("hello, whole stack")
        await pilot.press("enter")
        await asyncio.wait_for(echoed.wait(), timeout=20)
        await pilot.pause()
        text = app.query_one(ConversationLog).visible_text()
        assert f"<{peer}> hello, whole stack" in text, text
        assert app.conversations[peer].path == "direct"
