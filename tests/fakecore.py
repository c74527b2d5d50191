"""A stand-in for the networking core, for UI tests: records commands, feeds events."""

from __future__ import annotations

from datetime import datetime

from p2ptui.app import P2PApp
from p2ptui.net import events

FROZEN = datetime(2026, 11, 24, 9, 30)


class FakeCore:
    def __init__(self) -> None:
        self.commands: list = []
        self.stopped = False
        self._on_event = None
        self._early: list[events.NodeEvent] = []

    def start(self, on_event) -> None:
        self._on_event = on_event
        early, self._early = self._early, []
        self.emit(*early)

    def submit(self, command) -> None:
        self.commands.append(command)

    def stop(self) -> None:
        self.stopped = True

    def emit(self, *items: events.NodeEvent) -> None:
        if self._on_event is None:  # The app starts its core after the first frame.
            self._early.extend(items)
            return
        for item in items:
            self._on_event(item)


def make_app(core: FakeCore, peers=("alice", "bob", "carol")) -> P2PApp:
    return P2PApp(core, me="dana", signal="tcp://127.0.0.1:7878", peers=peers, clock=lambda: FROZEN)


def connected(peer: str, port: int) -> events.PeerChanged:
    return events.PeerChanged(
        peer, events.PeerStatus.CONNECTED, path="direct", network="internet", remote=("198.51.100.7", port)
    )


def toasts(app) -> list[str]:
    """The notifications on screen now, as text."""
    from textual.widgets._toast import Toast

    return [str(toast.render()) for toast in app.screen.query(Toast)]


def notified(app) -> list[str]:
    """The notifications raised and not yet expired (Textual draws their toasts a frame later)."""
    return [notification.message for notification in app._notifications]


def told(app) -> str:
    """Everything the app is telling the user now: the header and every notification."""
    return "\n".join([str(app.query_one("#status").render()), *notified(app)])
