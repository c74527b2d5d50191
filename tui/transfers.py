"""File transfers as the UI keeps and shows them: one log line each, updated in place.

Pure: no widgets. The core's file events (`FileOffered`, `FileProgress`, ...,
and `Transfer`, a whole transfer as it stands) update a `TransferView`; its
log line asks `line_text` for its words at the log's width, so the progress
bar is as long as the row has room for and never wraps.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

from p2ptui.net import events

from .model import Line
from .rows import cells
from .sanitize import sanitize

#: States in which nothing more happens (but a resume after "failed", which the core reports).
FINISHED = frozenset({"done", "failed", "declined", "cancelled"})
#: The core's words for a transfer that is not over yet.
UNDER_WAY = frozenset({"offered", "waiting", "sending", "receiving", "verifying"})
#: States a later FileFailed or FileProgress does not undo: the user's own answer, or the end.
#: ("failed" is not among them: a transfer that failed resumably, a full disk, say, goes on.)
SETTLED = frozenset({"done", "declined", "cancelled"})

#: A shown name (or path) longer than this many cells is cut in its middle.
MAX_NAME_CELLS = 80
#: The bar's inside: never shorter (else no bar), never longer (a wide terminal).
MIN_BAR, MAX_BAR = 6, 30
SHA256_SHOWN = 12
"""Hex digits of the hash shown in the log: enough to compare by eye."""


def human_size(size: float) -> str:
    """Bytes as people read them: "999 B", "3.2 MB", "20 MB" (powers of 1000, as disks are sold)."""
    if size < 1000:
        return f"{max(0, int(size))} B"
    for unit in ("kB", "MB", "GB", "TB", "PB"):
        size /= 1000
        if size < 999.5 or unit == "PB":
            return f"{size:.1f} {unit}" if size < 9.95 else f"{size:.0f} {unit}"
    raise AssertionError("unreachable")


def time_left(seconds: float) -> str:
    """"0:12", "12:05", "1:02:03"."""
    total = max(0, math.ceil(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02}:{secs:02}" if hours else f"{minutes}:{secs:02}"


def bar(fraction: float, inside: int) -> str:
    """▕████░░░░▏, `inside` cells between the edges."""
    filled = int(max(0.0, min(1.0, fraction)) * inside)
    return "▕" + "█" * filled + "░" * (inside - filled) + "▏"


def progress_text(done: int, size: int, rate: float, width: int) -> str:
    """The bar, the percent, the rate and the time left, in at most `width` cells.

    What does not fit goes, least useful first: the spacing, the rate, the time
    left, then the bar (never shorter than MIN_BAR); the percent stays. The bar
    is as long at 5% as at 100%: it does not jump as the digits grow.
    """
    fraction = min(1.0, done / size) if size > 0 else 1.0
    percent = f"{int(fraction * 100)}%"
    under_way = rate > 0 and done < size
    rate_words = f"{human_size(rate)}/s" if under_way else ""
    left = f"{time_left((size - done) / rate)} left" if under_way else "verifying" if done >= size else ""
    for parts in ([rate_words, left], [left], []):
        for separator in ("  ", " "):
            tail = separator.join(part for part in parts if part)
            room = width - cells("100%") - 3 - (len(separator) + cells(tail) if tail else 0)
            if room >= MIN_BAR:
                return separator.join([f"{bar(fraction, min(room, MAX_BAR))} {percent}", *(p for p in parts if p)])
    return percent[:width]


def safe_name(text: str, limit: int = MAX_NAME_CELLS) -> str:
    """A name or path from the core (which may quote a peer) for one row of the terminal:
    sanitised (no escape, control or bidi character), no line break, cut in its
    middle past `limit` cells (so the end, an extension, stays)."""
    shown = sanitize(text).replace("\n", "\u2424")  # ␤
    if cells(shown) <= limit:
        return shown
    head, tail = "", ""
    for char in shown:
        if cells(head + char) > limit // 2:
            break
        head += char
    for char in reversed(shown):
        if cells(head) + cells(tail + char) + 1 > limit:
            break
        tail = char + tail
    return f"{head}…{tail}"


def home_relative(path: str) -> str:
    """/home/dana/Downloads/x as ~/Downloads/x."""
    home = os.path.expanduser("~")
    if home not in ("", "/") and (path == home or path.startswith(home + os.sep)):
        return "~" + path[len(home):]
    return path


@dataclass(eq=False)
class TransferView:
    """One transfer as the UI shows it. Every text in it is safe to show."""

    peer: str
    id: str
    name: str
    size: int
    outgoing: bool
    state: str = "offered"
    bytes: int = 0
    rate: float = 0.0
    path: str = ""
    sha256: str = ""
    reason: str = ""
    line: Line | None = None
    """Its line in the conversation's log (set by whoever adds it)."""

    @property
    def finished(self) -> bool:
        return self.state in FINISHED

    @property
    def waits_for_us(self) -> bool:
        """An offer from the peer that the user has not answered."""
        return not self.outgoing and self.state == "offered"

    def text(self, width: int) -> str:
        """The log line's words at a text width: what, then how it stands."""
        size = human_size(self.size).replace(" ", "\u00a0")  # "3.2 MB" never parts at a row's end.
        return f"sends {self.name} ({size})\n{self.status(width)}"

    def status(self, width: int = 200) -> str:
        """How it stands, in at most one row of `width` cells for the bar (other words wrap)."""
        peer = self.peer
        match self.state:
            case "offered" if self.outgoing:
                return f"offered: waiting for {peer} to accept (/cancel)"
            case "offered":
                return "/accept or Enter, /decline"
            case "waiting":
                done = f", {self.percent}% done" if self.bytes else ""
                return f"waiting for {peer} to connect{done}"
            case "sending" | "receiving":
                return progress_text(self.bytes, self.size, self.rate, width)
            case "verifying":
                return "verifying…" if not self.outgoing else f"{peer} is verifying…"
            case "done" if self.outgoing:
                return f"sent, verified by {peer}"
            case "done":
                where = home_relative(self.path) if self.path else "the downloads directory"
                # The hash's words never part (a non-breaking space): a row is not spent on "(sha256".
                digest = f" (sha256\u00a0{self.sha256[:SHA256_SHOWN]}…)" if self.sha256 else ""
                return f"received → {where}{digest}"
            case "declined" if self.outgoing:
                # The core says "declined" or "declined: WHY"; whose answer it was, the line says.
                why = self.reason.removeprefix("declined") if self.reason.startswith("declined") else ""
                return f"declined by {peer}{why}"
            case "declined" | "cancelled":
                return (self.reason or self.state).replace("by the peer", f"by {peer}")
            case "failed":
                return f"failed: {self.reason}" if self.reason else "failed"
            case _:
                return self.state

    @property
    def percent(self) -> int:
        return int(self.bytes * 100 / self.size) if self.size > 0 else 100

    def summary(self) -> str:
        """For the details (F3): the state, how far, and how fast, in one line."""
        size = human_size(self.size)
        match self.state:
            case "sending" | "receiving":
                speed = f", {human_size(self.rate)}/s" if self.rate > 0 else ""
                return f"{self.state} {self.percent}% of {size}{speed}"
            case "waiting":
                return f"waiting for {self.peer} to connect, {self.percent}% of {size}"
            case "offered" if self.outgoing:
                return f"offered, {size}: waiting for {self.peer} to accept"
            case "offered":
                return f"offered, {size}: /accept or Enter, /decline"
            case _:
                return f"{self.status()}, {size}"


def _safe(text: str) -> str:
    return safe_name(text, limit=4 * MAX_NAME_CELLS)


@dataclass
class Transfers:
    """Every transfer the UI has heard of, by peer and id, in the order they came."""

    _all: dict[tuple[str, str], TransferView] = field(default_factory=dict)
    _away: set[str] = field(default_factory=set)

    def get(self, peer: str, transfer_id: str) -> TransferView | None:
        return self._all.get((peer, transfer_id))

    def of(self, peer: str) -> list[TransferView]:
        """A conversation's transfers, oldest first."""
        return [view for (owner, _), view in self._all.items() if owner == peer]

    def offer_waiting(self, peer: str) -> TransferView | None:
        """The peer's newest offer, if the user has not answered it (what Enter accepts)."""
        offers = [view for view in self.of(peer) if not view.outgoing]
        return offers[-1] if offers and offers[-1].waits_for_us else None

    def find(
        self, peer: str, argument: str, usable: frozenset[str], outgoing: bool | None = None
    ) -> TransferView | str:
        """The transfer a command means: the newest usable one with no argument, else
        the one whose id or file name starts with it. A string says why there is none."""
        views = [v for v in self.of(peer) if v.state in usable and (outgoing is None or v.outgoing == outgoing)]
        if argument:
            exact = [v for v in views if v.id == argument.lower() or v.name == argument]
            views = exact or [v for v in views if v.id.startswith(argument.lower()) or v.name.startswith(argument)]
        if not views:
            return f"no such transfer with {peer}" + (f": {argument}" if argument else "")
        if argument and len(views) > 1:
            names = ", ".join(f"{v.name} ({v.id[:6]})" for v in views[:4])
            return f"{len(views)} transfers match {argument!r}: {names}; give more of the id"
        return views[-1]

    # --- What the core said --------------------------------------------------------------------

    def offered(self, event: events.FileOffered) -> tuple[TransferView, bool]:
        """An offer, ours or the peer's. Returns the view and whether it is new."""
        view = self.get(event.peer, event.id)
        if view is not None:
            return view, False
        view = TransferView(event.peer, event.id, safe_name(event.name), max(0, event.size), event.outgoing)
        self._all[event.peer, event.id] = view
        return view, True

    def stands(self, event: events.Transfer) -> tuple[TransferView, bool]:
        """A whole transfer as it stands (after a restart, or from the details)."""
        view, new = self.offered(events.FileOffered(event.peer, event.id, event.name, event.size, event.outgoing))
        view.state, view.bytes, view.rate = event.state, max(0, event.bytes), max(0.0, event.rate)
        view.path, view.reason = _safe(event.path), _safe(event.reason)
        return view, new

    def progressed(self, event: events.FileProgress) -> TransferView | None:
        view = self.get(event.peer, event.id)
        if view is None or view.state in SETTLED:
            return None
        if view.peer in self._away:  # What the core had on its way as the path went: it still waits.
            view.state, view.bytes = "waiting", max(0, event.bytes)
            return view
        view.state = "sending" if event.outgoing else "receiving"
        view.bytes, view.rate = max(0, event.bytes), max(0.0, event.rate)
        view.size = max(view.size, event.size)
        return view

    def received(self, event: events.FileReceived) -> TransferView | None:
        view = self.get(event.peer, event.id)
        if view is None:
            return None
        view.state, view.bytes, view.rate = "done", event.size, 0.0
        view.path, view.sha256 = _safe(event.path), _safe(event.sha256)
        return view

    def sent(self, event: events.FileSent) -> TransferView | None:
        view = self.get(event.peer, event.id)
        if view is None:
            return None
        view.state, view.bytes, view.rate = "done", view.size, 0.0
        return view

    def failed(self, event: events.FileFailed) -> TransferView | None:
        view = self.get(event.peer, event.id)
        if view is None or view.state in SETTLED:
            return None
        reason = _safe(event.reason)
        words = reason.lower()
        if words.startswith("declined"):
            view.state = "declined"
        elif words.startswith(("cancelled", "canceled")):
            view.state = "cancelled"
        else:
            view.state = "failed"
        view.reason, view.rate = reason, 0.0
        return view

    def peer_away(self, peer: str) -> list[TransferView]:
        """The path to the peer is gone: what was moving waits for it (no rate, no time left,
        which would be stale); the core's progress moves it on when the peer is back."""
        self._away.add(peer)
        moving = [view for view in self.of(peer) if view.state in ("sending", "receiving")]
        for view in moving:
            view.state, view.rate = "waiting", 0.0
        return moving

    def peer_back(self, peer: str) -> None:
        """The peer is connected again: its transfers move on with the core's next progress."""
        self._away.discard(peer)

    def answered(self, view: TransferView, state: str) -> None:
        """The user accepted, declined or cancelled it: shown at once. (Declined and cancelled
        stay, whatever the core says next; an accepted one moves on with the core's progress.)"""
        view.state, view.rate = state, 0.0


def transfer_rows(transfers: tuple[events.Transfer, ...]) -> list[tuple[str, str]]:
    """The details' (F3) "Files" block: (file name, how it stands), one row per transfer."""
    rows = []
    for transfer in transfers:
        view, _ = Transfers().stands(transfer)
        arrow = "↑" if view.outgoing else "↓"
        rows.append((f"{arrow} {safe_name(view.name, 24)}", view.summary()))
    return rows
