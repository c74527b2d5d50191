"""The rows of a conversation log: plain text wrapped by terminal cells, and which message is at which row.

Pure functions and data, no widgets, so they are tested on their own.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right, insort
from itertools import accumulate

from rich.cells import cell_len, chop_cells

_SPACES = re.compile(r"( +)")


def cells(text: str) -> int:
    """How many terminal cells text takes: CJK and most emoji take two."""
    # Sanitised ASCII is printable, one cell a character: skip Rich's cached lookup.
    return len(text) if text.isascii() else cell_len(text)


def wrap(text: str, width: int) -> list[str]:
    """text in rows of at most `width` cells (width >= 2).

    Rows break at spaces, which are dropped there; a word longer than a row is
    cut by cells, never through a wide character. A newline always starts a row.
    """
    rows: list[str] = []
    for paragraph in text.split("\n"):
        rows += _wrap_paragraph(paragraph, width)
    return rows


def _wrap_paragraph(paragraph: str, width: int) -> list[str]:
    if cells(paragraph) <= width:
        return [paragraph]
    rows: list[str] = []
    row, used = "", 0
    for token in _SPACES.split(paragraph):
        size = cells(token)
        if used + size <= width:
            row, used = row + token, used + size
        elif token.startswith(" "):
            rows.append(row)
            row, used = "", 0
        else:
            if row.strip(" "):
                rows.append(row.rstrip(" "))
            if size <= width:
                row, used = token, size
            else:
                *whole_rows, row = chop_cells(token, width)
                rows += whole_rows
                used = cells(row)
    if row or not rows:
        rows.append(row)
    return rows


class RowIndex:
    """Which message is at which row, while most messages' heights are not known yet.

    A message counts as one row until it is measured, and each is measured once.
    Only the measured messages taller than one row are kept, in order, with the
    extra rows above each: finding the message at a row is a binary search, and
    a conversation of 100,000 messages costs nothing until it is scrolled through.
    """

    def __init__(self, count: int = 0) -> None:
        self.count = count
        self._measured = bytearray(count)
        self._tall: list[int] = []
        """Indices of the measured messages taller than one row, ascending."""
        self._heights: dict[int, int] = {}
        """Their heights."""
        self._extra: list[int] = [0]
        """_extra[m]: the rows beyond one per message of _tall[:m]."""
        self._starts: list[int] = []
        """The first row of each message in _tall."""

    @property
    def rows(self) -> int:
        return self.count + self._extra[-1]

    def append(self) -> None:
        self.count += 1
        self._measured.append(0)

    def is_measured(self, index: int) -> bool:
        return bool(self._measured[index])

    def height(self, index: int) -> int:
        return self._heights.get(index, 1)

    def start(self, index: int) -> int:
        """The first row of a message."""
        return index + self._extra[bisect_left(self._tall, index)]

    def locate(self, row: int) -> tuple[int, int]:
        """The message at a row (0 <= row < rows), and the row within it."""
        m = bisect_right(self._starts, row) - 1
        if m < 0:
            return row, 0
        index, start = self._tall[m], self._starts[m]
        height = self._heights[index]
        if row < start + height:
            return index, row - start
        return index + 1 + row - start - height, 0

    def update(self, index: int, height: int) -> int:
        """A measured message's height changed (a line that updates in place): returns by how
        many rows. One not measured yet is measured when it comes into view, as any other."""
        if not self._measured[index] or self.height(index) == height:
            return 0
        delta = height - self.height(index)
        position = bisect_left(self._tall, index)
        if index in self._heights:
            del self._tall[position]
            del self._heights[index]
        if height > 1:
            self._heights[index] = height
            self._tall.insert(position, index)
        self._recount(position)
        return delta

    def record(self, heights: dict[int, int]) -> None:
        """Heights of messages not measured before: one batch, one recount."""
        first_changed = len(self._tall)
        for index, height in heights.items():
            if self._measured[index]:
                continue
            self._measured[index] = 1
            if height > 1:
                self._heights[index] = height
                insort(self._tall, index)
                first_changed = min(first_changed, bisect_left(self._tall, index))
        self._recount(first_changed)

    def _recount(self, first_changed: int) -> None:
        """The extra rows and starts of the tall messages from position `first_changed` on."""
        tall = self._tall[first_changed:]
        self._extra[first_changed:] = accumulate(
            (self._heights[index] - 1 for index in tall), initial=self._extra[first_changed]
        )
        self._starts[first_changed:] = [index + extra for index, extra in zip(tall, self._extra[first_changed:])]
