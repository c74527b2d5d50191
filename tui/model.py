"""What the UI knows: conversations and their lines, kept apart from widgets."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from p2ptui.net import PeerStatus


@dataclass
class Line:
    at: datetime
    sender: str
    text: str
    """Already sanitised: safe to show."""
    own: bool = False
    id: str = ""
    delivered: bool = False


@dataclass
class Conversation:
    peer: str
    status: PeerStatus = PeerStatus.OFFLINE
    path: str | None = None
    network: str | None = None
    remote: str = ""
    reason: str = ""
    fingerprint: str = ""
    """Of the peer's trusted key."""
    new_fingerprint: str = ""
    """Of the key it shows now, when that changed."""
    unread: int = 0
    new: bool = False
    """The peer started this conversation and it has not been looked at yet."""
    lines: list[Line] = field(default_factory=list)

    def add_history(self, lines: list[Line]) -> None:
        """Stored lines go before the ones shown so far; the ids already here are skipped."""
        present = {line.id for line in self.lines}
        self.lines[:0] = [line for line in lines if line.id not in present]

    def mark_delivered(self, message_id: str) -> bool:
        for line in reversed(self.lines):
            if line.own and line.id == message_id:
                line.delivered = True
                return True
        return False
