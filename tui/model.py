"""What the UI knows: conversations and their lines, kept apart from widgets."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from p2ptui.net import PeerStatus

from .groups import GroupState, is_group, position_for


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
    failed: bool = False
    """Never sent: the core refused it (a full disk); the error says why."""
    kind: LineKind = LineKind.MESSAGE
    fit: Callable[[int], str] | None = None
    """For a line that lays itself out (a file transfer's progress bar): its text at a
    width in cells, used instead of `text`."""
    version: int = 0
    """Counts the changes of a line that updates in place, so the log draws it anew."""
    order: tuple[int, str] | tuple[()] = ()
    """In a group: where the message stands in the group's order (ours: once the core said)."""

    def text_at(self, width: int) -> str:
        return self.fit(width) if self.fit is not None else self.text


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
    verified: bool = False
    """The user compared safety numbers for the peer's key (/verify)."""
    verification_lost: bool = False
    """The user had verified the peer, and its key changed since."""
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
    group: GroupState | None = None
    """What only a group has (`peer` is then `#NAME`); None for a conversation with one peer."""

    def __post_init__(self) -> None:
        if self.group is None and is_group(self.peer):
            self.group = GroupState()

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

    def add(self, line: Line, *, shown: bool, unread: bool = True) -> None:
        """Append a line; a peer's message (or file offer) that arrives while the conversation
        is not shown is unread, unless `unread` is False (a transfer shown again after a restart)."""
        if unread and not shown and not line.own and line.kind is LineKind.MESSAGE:
            if self.first_unread is None:
                self.first_unread = len(self.lines)
            self.unread += 1
        self.lines.append(line)

    def place(self, line: Line, *, shown: bool) -> int:
        """Put a group's message where its order says, a late one before those after it
        (`groups.position_for`); returns its index."""
        index = position_for(self.lines, line.order) if line.order else len(self.lines)
        if index == len(self.lines):
            self.add(line, shown=shown)
            return index
        if not shown and not line.own and line.kind is LineKind.MESSAGE:
            self.unread += 1
            self.first_unread = index if self.first_unread is None else min(index, self.first_unread)
        elif self.first_unread is not None and index <= self.first_unread:
            self.first_unread += 1
        if self.read_marker is not None and index <= self.read_marker:
            self.read_marker += 1
        self.lines.insert(index, line)
        return index

    def placed(self, message_id: str, order: tuple[int, str]) -> bool:
        """Our own group message, shown when sent, moves to where the core placed it."""
        at = next((i for i in range(len(self.lines) - 1, -1, -1)
                   if self.lines[i].own and self.lines[i].id == message_id), None)
        if at is None:
            return False
        line = self.lines.pop(at)
        if self.first_unread is not None and at < self.first_unread:
            self.first_unread -= 1
        if self.read_marker is not None and at < self.read_marker:
            self.read_marker -= 1
        line.order = order
        self.place(line, shown=True)
        return True

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

    def mark_failed(self, message_id: str) -> bool:
        for line in reversed(self.lines):
            if line.own and line.id == message_id:
                line.failed = True
                return True
        return False


class Conversations:
    """The conversations in the sidebar (in its order), the closed ones, and which is selected.

    Pure: the app asks it what to do and shows the result; tests/test_model.py
    drives it without Textual. Selecting moves the read markers (`Conversation.open`
    and `close`); which conversation a key leads to is decided here.
    """

    def __init__(self) -> None:
        self.open: dict[str, Conversation] = {}
        self.closed: dict[str, Conversation] = {}
        """Closed with /close: kept, with their lines, until opened again."""
        self.selected: str | None = None
        self._asked_for: set[str] = set()
        """Peers the user opened a conversation with: never `new`, whoever spoke first."""
        self._heard_from: set[str] = set()
        """Peers the core has told of: whether a peer started a conversation is decided once."""

    def in_order(self) -> list[str]:
        """The open conversations in the sidebar's order: the peers, then the groups."""
        return [name for name in self.open if not is_group(name)] + [name for name in self.open if is_group(name)]

    def get(self, name: str | None) -> Conversation | None:
        """The conversation with name, open or closed."""
        if name is None:
            return None
        return self.open.get(name) or self.closed.get(name)

    def known(self, name: str) -> Conversation:
        """The conversation with name, open or closed; a new open one if there is none."""
        return self.get(name) or self.open.setdefault(name, Conversation(name))

    def add(self, name: str) -> bool:
        """The user opens a conversation: brought back if closed, made if new.
        Returns whether it is new to the core too (it must be told)."""
        self._asked_for.add(name)
        if name in self.closed:
            self.open[name] = self.closed.pop(name)
            return False
        if name in self.open:
            return False
        self.open[name] = Conversation(name)
        return True

    def bring_back(self, name: str) -> None:
        """A closed conversation opened again by what arrived in it."""
        if name in self.closed:
            self.open[name] = self.closed.pop(name)

    def remove(self, name: str) -> str | None:
        """Close a conversation; returns what to select then (its neighbour, when it was selected)."""
        names = self.in_order()
        index = names.index(name)
        self.closed[name] = self.open.pop(name)
        if name != self.selected:
            return self.selected
        rest = names[:index] + names[index + 1 :]
        return rest[index] if index < len(rest) else (rest[-1] if rest else None)

    def select(self, name: str | None) -> bool:
        """Show another conversation; returns whether the selection changed."""
        if name == self.selected:
            return False
        leaving = self.get(self.selected)
        if leaving is not None:
            leaving.close()
        self.selected = name
        if name is not None:
            self.known(name).open()
        return True

    def step(self, step: int) -> str | None:
        """The conversation `step` places from the selected one, round the ends (None if there is none)."""
        names = self.in_order()
        if not names:
            return None
        index = names.index(self.selected) if self.selected in names else -step
        return names[(index + step) % len(names)]

    def jump(self, number: int) -> str | None:
        """The Nth conversation of the sidebar, counted from 1."""
        names = self.in_order()
        return names[number - 1] if 1 <= number <= len(names) else None

    def next_unread(self) -> str | None:
        """The next conversation after the selected one, round the end, with something unread or new."""
        names = self.in_order()
        start = names.index(self.selected) + 1 if self.selected in names else 0
        for name in names[start:] + names[:start]:
            if self.open[name].unread or self.open[name].new:
                return name
        return None

    def heard_of(self, name: str, *, incoming: bool) -> None:
        """The core's first word of a peer: a conversation it started, and the user has not
        opened or is not looking at, is `new`. Decided once: its history may come first."""
        if name in self._heard_from:
            return
        self._heard_from.add(name)
        conversation = self.known(name)
        conversation.new = incoming and name not in self._asked_for and name != self.selected

    def forget(self, name: str) -> bool:
        """The core let a stranger go: its conversation goes too if it is still `new` (the
        user never opened it nor looked at it). Whether it went."""
        self._heard_from.discard(name)  # If it comes back, it is new again.
        conversation = self.open.get(name)
        if conversation is None or not conversation.new or name in self._asked_for or name == self.selected:
            return False
        del self.open[name]
        return True

    def worth_remembering(self) -> list[str]:
        """The open conversations to bring back after a restart, in sidebar order: those the
        user opened, looked at or wrote in. A stranger's that is still `new` is left out, or
        each restart would turn a flood's strangers into ordinary conversations for good."""
        return [
            name
            for name, conversation in self.open.items()
            if not conversation.new or any(line.own and not line.delivered for line in conversation.lines)
        ]

    def waiting_elsewhere(self) -> tuple[int, int]:
        """Unread messages and new conversations outside the selected one."""
        others = [c for c in self.open.values() if c.peer != self.selected]
        return sum(c.unread for c in others), sum(1 for c in others if c.new and not c.unread)
