"""A set of integers kept as sorted, disjoint half-open ranges: which bytes of a
stream arrived or were acknowledged, which packet numbers arrived."""

from __future__ import annotations

import bisect
from collections.abc import Iterator


class RangeSet:
    """Sorted, disjoint, non-adjacent [start, end) ranges."""

    __slots__ = ("_starts", "_ends")

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []

    def __bool__(self) -> bool:
        return bool(self._starts)

    def __len__(self) -> int:
        return len(self._starts)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return iter(zip(self._starts, self._ends))

    def __contains__(self, value: int) -> bool:
        i = bisect.bisect_right(self._starts, value) - 1
        return i >= 0 and value < self._ends[i]

    def add(self, start: int, end: int) -> None:
        if start >= end:
            return
        starts, ends = self._starts, self._ends
        # The first range that touches or follows start, and the last that touches end.
        lo = bisect.bisect_left(ends, start)
        hi = bisect.bisect_right(starts, end)
        if lo < hi:
            start, end = min(start, starts[lo]), max(end, ends[hi - 1])
        starts[lo:hi], ends[lo:hi] = [start], [end]

    def remove(self, start: int, end: int) -> None:
        if start >= end or not self._starts:
            return
        starts, ends = self._starts, self._ends
        lo = bisect.bisect_right(ends, start)
        hi = bisect.bisect_left(starts, end)
        if lo >= hi:
            return
        keep_s, keep_e = [], []
        if starts[lo] < start:
            keep_s.append(starts[lo])
            keep_e.append(start)
        if ends[hi - 1] > end:
            keep_s.append(end)
            keep_e.append(ends[hi - 1])
        starts[lo:hi], ends[lo:hi] = keep_s, keep_e

    def prefix(self, base: int = 0) -> int:
        """Where the run of values from base stops (base itself if base is missing)."""
        if self._starts and self._starts[0] <= base < self._ends[0]:
            return self._ends[0]
        i = bisect.bisect_right(self._starts, base) - 1
        return self._ends[i] if i >= 0 and base < self._ends[i] else base

    def gaps(self, start: int, end: int) -> list[tuple[int, int]]:
        """The parts of [start, end) not in the set, in order."""
        out = []
        i = max(bisect.bisect_right(self._starts, start) - 1, 0)
        pos = start
        while pos < end and i < len(self._starts):
            s, e = self._starts[i], self._ends[i]
            if e <= pos:
                i += 1
                continue
            if s >= end:
                break
            if s > pos:
                out.append((pos, s))
            pos = max(pos, e)
            i += 1
        if pos < end:
            out.append((pos, end))
        return out

    def trim_below(self, value: int) -> None:
        """Forget everything below value (kept memory stays bounded)."""
        while self._starts and self._ends[0] <= value:
            del self._starts[0], self._ends[0]
        if self._starts and self._starts[0] < value:
            self._starts[0] = value

    def highest_first(self, limit: int) -> tuple[tuple[int, int], ...]:
        """Up to limit ranges, highest first, as inclusive (first, last) pairs."""
        n = len(self._starts)
        return tuple((self._starts[i], self._ends[i] - 1) for i in range(n - 1, max(n - 1 - limit, -1), -1))

    def drop_lowest(self) -> None:
        del self._starts[0], self._ends[0]
