"""The one loop that runs a sans-I/O machine on trio.

A Session and a TurnClient are both machines in the h11 sense: they take
datagrams and the time, and hand back datagrams, events and the time of their
next timer. `drive()` is what gives them time: fire the timer when it is due,
let the owner flush what the machine produced, then sleep until the next timer
or until something (a datagram, a message to send) wakes it.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Protocol

import trio


class Machine(Protocol):
    """What drive() needs of a sans-I/O protocol object."""

    def next_timeout(self) -> float | None: ...

    def handle_timeout(self, now: float) -> None: ...


class Wakeable:
    """A task's doorbell: it sleeps until its timer or a wake(), however many rang."""

    def __init__(self) -> None:
        self._wakeup = trio.Event()

    def wake(self) -> None:
        self._wakeup.set()

    async def wait_wakeup(self) -> None:
        await self._wakeup.wait()
        self._wakeup = trio.Event()


#: Called after every timer and wakeup: moves what the machine produced
#: (datagrams, events); returns True when the drive is over.
Step = Callable[[], Awaitable[bool]]


async def drive(machine: Machine, doorbell: Wakeable, step: Step) -> None:
    """Run machine until step says it is over (or forever, until cancelled)."""
    while True:
        now = trio.current_time()
        deadline = machine.next_timeout()
        if deadline is not None and deadline <= now:
            machine.handle_timeout(now)
        if await step():
            return
        deadline = machine.next_timeout()
        with trio.move_on_at(deadline if deadline is not None else math.inf):
            await doorbell.wait_wakeup()
