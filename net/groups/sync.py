"""What a member holds of a group's messages, per author: the base of reconciliation.

Each author numbers its messages 1, 2, 3...; a member's summary gives, per
author, the highest seq it holds with none missing below it. Given another
member's summary, `lacks` says exactly what to send it: every author's
messages above its number there. Free of I/O.
"""

from __future__ import annotations


class Heads:
    """The seqs held per author, as a contiguous prefix and what lies beyond a gap."""

    def __init__(self) -> None:
        self._contiguous: dict[bytes, int] = {}
        self._beyond: dict[bytes, set[int]] = {}

    def add(self, author: bytes, seq: int) -> None:
        prefix = self._contiguous.get(author, 0)
        if seq <= prefix:
            return
        beyond = self._beyond.setdefault(author, set())
        beyond.add(seq)
        while prefix + 1 in beyond:
            prefix += 1
            beyond.discard(prefix)
        self._contiguous[author] = prefix
        if not beyond:
            del self._beyond[author]

    def contiguous(self, author: bytes) -> int:
        return self._contiguous.get(author, 0)

    def highest(self, author: bytes) -> int:
        return max(self._beyond.get(author, ()), default=self.contiguous(author))

    def has(self, author: bytes, seq: int) -> bool:
        return seq <= self.contiguous(author) or seq in self._beyond.get(author, ())

    def summary(self) -> tuple[tuple[bytes, int], ...]:
        """(author, highest contiguous seq) for every author, in key order."""
        authors = set(self._contiguous) | set(self._beyond)
        return tuple((author, self.contiguous(author)) for author in sorted(authors))

    def lacks(self, theirs: dict[bytes, int]) -> list[tuple[bytes, int]]:
        """(author, seq): the other member lacks this author's messages above seq, and we hold some."""
        return [
            (author, theirs.get(author, 0))
            for author in sorted(set(self._contiguous) | set(self._beyond))
            if self.highest(author) > theirs.get(author, 0)
        ]
