"""Where a group message stands: its Lamport clock and author, the same on every screen.

Every member sorts a group by (Lamport time, author fingerprint): a total order
all agree on, whatever order the messages arrived in, that never puts a reply
before what it answers (sending bumps the clock past everything seen).
"""

from __future__ import annotations

from ..trust import fingerprint


def order(lamport: int, author: bytes) -> tuple[int, str]:
    """A message's place in its group (events.MessageReceived.order)."""
    return (lamport, fingerprint(author.hex()))


class Clock:
    """A Lamport clock: seen() what arrives, tick() for what we send."""

    def __init__(self, value: int = 0) -> None:
        self.value = value

    def seen(self, lamport: int) -> None:
        self.value = max(self.value, lamport)

    def tick(self) -> int:
        self.value += 1
        return self.value
