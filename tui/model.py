"""What the UI knows: conversations and their lines, kept apart from widgets."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime

from p2ptui.net import PeerStatus


class LineKind(enum.Enum):
    MESSAGE = "message"
    """Something one of the two people wrote."""
    SYSTEM = "system"
    """What happened to the connection, told by p2ptui itself."""


@dataclass
class Line:
    at: datetime
    sender: str
    text: str
    """Already sanitised: safe to show."""
    own: bool = False
    id: str = ""
    delivered: bool = False
    kind: LineKind = LineKind.MESSAGE


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
    first_unread: int | None = None
    """Index in `lines` of the first message that came while this conversation was not shown."""
    read_marker: int | None = None
    """Where the log draws its "new" line while this conversation is shown: the
    `first_unread` it had when it was opened."""
    history_complete: bool = False
    """Everything stored is in `lines`: scrolling to the top asks for nothing more."""
    loading_older: bool = False
    """A page of older history is on its way."""

    def oldest_id(self) -> str | None:
        """The id of the oldest message here: older history is what was stored before it."""
        return next((line.id for line in self.lines if line.id), None)

    @property
    def last_activity(self) -> datetime | None:
        """When the last message, either way, was written; lines about the connection do not count."""
        for line in reversed(self.lines):
            if line.kind is LineKind.MESSAGE:
                return line.at
        return None

    def add(self, line: Line, *, shown: bool) -> None:
        """Append a line; a peer's message that arrives while the conversation is not shown is unread."""
        if not shown and not line.own and line.kind is LineKind.MESSAGE:
            if self.first_unread is None:
                self.first_unread = len(self.lines)
            self.unread += 1
        self.lines.append(line)

    def add_system(self, at: datetime, text: str) -> Line:
        """Append a line about the connection; it never counts as unread."""
        line = Line(at, "", text, kind=LineKind.SYSTEM)
        self.lines.append(line)
        return line

    def add_history(self, lines: list[Line]) -> int:
        """Stored lines go before the ones shown so far; the ids already here are
        skipped. Returns how many went in."""
        present = {line.id for line in self.lines}
        stored = [line for line in lines if line.id not in present]
        self.lines[:0] = stored
        if self.first_unread is not None:
            self.first_unread += len(stored)
        if self.read_marker is not None:
            self.read_marker += len(stored)
        return len(stored)

    def open(self) -> None:
        """The user switched to this conversation: what was unread now sits below the read marker."""
        self.read_marker = self.first_unread
        self.first_unread = None
        self.unread = 0
        self.new = False

    def close(self) -> None:
        """The user switched away: next time, only what arrives meanwhile is new."""
        self.read_marker = None

    def mark_delivered(self, message_id: str) -> bool:
        for line in reversed(self.lines):
            if line.own and line.id == message_id:
                line.delivered = True
                return True
        return False
