"""The app's side that follows file transfers: one log line per transfer, updated in place.

`FileFollower` sits between `CoreFollower` (the other events) and `Actions`.
What a transfer is and how it reads is tui/transfers.py's; here it becomes a
line in its conversation, a toast when it arrives elsewhere, and a redraw of
that one line when it moves on.
"""

from __future__ import annotations

from textual import on

from p2ptui.net import PeerStatus

from . import messages
from .follow import CoreFollower
from .model import Line
from .transfers import Transfers, TransferView, human_size

#: The line's text for anything that reads it whole (the log lays it out at its own width).
_FULL_WIDTH = 200


class FileFollower(CoreFollower):
    """File events in; transfer lines in the conversations out."""

    def _follow_init(self) -> None:
        super()._follow_init()
        self.transfers = Transfers()

    @on(messages.FileOffered)
    def _when_file_offered(self, message: messages.FileOffered) -> None:
        offer = message.event
        view, new = self.transfers.offered(offer)
        if not new:
            self._transfer_changed(view)
            return
        self._add_transfer_line(view)
        if not offer.outgoing and offer.peer != self.model.selected:
            self._notice(offer.peer, f"offers {view.name} ({human_size(view.size)})")

    @on(messages.TransferStands)
    def _when_transfer_stands(self, message: messages.TransferStands) -> None:
        view, new = self.transfers.stands(message.event)
        if new:
            # Shown again after a restart: only an offer waiting for an answer is news.
            self._add_transfer_line(view, unread=view.waits_for_us)
        else:
            self._transfer_changed(view)

    @on(messages.FileProgress)
    def _when_file_progress(self, message: messages.FileProgress) -> None:
        self._transfer_changed(self.transfers.progressed(message.event))

    @on(messages.FileReceived)
    def _when_file_received(self, message: messages.FileReceived) -> None:
        view = self.transfers.received(message.event)
        self._transfer_changed(view)
        if view is not None and view.peer != self.model.selected:
            self._notice(view.peer, f"{view.name} received ({human_size(view.size)})")

    @on(messages.FileSent)
    def _when_file_sent(self, message: messages.FileSent) -> None:
        self._transfer_changed(self.transfers.sent(message.event))

    @on(messages.FileFailed)
    def _when_file_failed(self, message: messages.FileFailed) -> None:
        failed = message.event
        if self.transfers.get(failed.peer, failed.id) is None:
            # One never shown: an offer the core declined by itself (too large, too many waiting).
            self.show_error(failed.reason, peer=failed.peer)
            return
        view = self.transfers.failed(failed)
        self._transfer_changed(view)
        if view is not None and view.peer != self.model.selected:
            self._notice(view.peer, f"{view.name}: {view.status()}")

    @on(messages.PeerChanged)
    def _when_peer_changed_files(self, message: messages.PeerChanged) -> None:
        # (CoreFollower's own handler of PeerChanged runs too, after this one.)
        if message.event.status == PeerStatus.CONNECTED:
            self.transfers.peer_back(message.event.peer)
        else:
            for view in self.transfers.peer_away(message.event.peer):
                self._transfer_changed(view)

    # --- The transfer's line ------------------------------------------------------------------

    def _add_transfer_line(self, view: TransferView, *, unread: bool = True) -> None:
        sender = self.me if view.outgoing else view.peer
        line = Line(self.clock(), sender, view.text(_FULL_WIDTH), own=view.outgoing, fit=view.text)
        view.line = line
        _mark(view)
        self.add_line(view.peer, line, unread=unread)

    def _transfer_changed(self, view: TransferView | None) -> None:
        if view is None:
            return  # Not one of ours, or already settled.
        line = view.line
        if line is None:
            return
        line.text = view.text(_FULL_WIDTH)
        line.version += 1
        _mark(view)
        if view.peer == self.model.selected:
            self.log_widget.changed(line)


def _mark(view: TransferView) -> None:
    """Our own transfer's line wears the delivery marks: ✓ once the peer verified it, ✗ if it ended without."""
    if view.line is not None and view.outgoing:
        view.line.delivered = view.state == "done"
        view.line.failed = view.state in ("failed", "declined", "cancelled")
