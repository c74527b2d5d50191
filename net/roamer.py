"""Roaming on trio: watch the interfaces, run the rounds of STUN that `Roaming`
asks for, and tell the node when our addresses changed.

The decisions (when to ask, whether the peers must hear) are `roaming.Roaming`'s;
this part only polls, waits and asks `Discovery`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import trio
import trio_util

from .discovery import Discovery
from .driver import Wakeable
from .roaming import Phase, Roaming, Trigger

log = logging.getLogger(__name__)

#: How often the interfaces' addresses are read (ifaddr: one getifaddrs call).
POLL_INTERVAL = 2.0
#: How long an offer waits for a round of STUN after a lost path: a dead STUN
#: server must not hold up the offer (it goes with what we know).
FRESH_WAIT = 3.0

ListAddresses = Callable[[], Sequence[object]]


class Roamer(Wakeable):
    """Keeps our addresses current for one node."""

    def __init__(
        self,
        discovery: Discovery,
        list_addresses: ListAddresses,
        poll_interval: float = POLL_INTERVAL,
    ) -> None:
        super().__init__()
        self._discovery = discovery
        self._list_addresses = list_addresses
        self._poll_interval = poll_interval
        self.roaming = Roaming()
        self._rounds = trio_util.AsyncValue(0)
        #: Called after a round that changed our addresses (or followed a move):
        #: every peer must hear where we are now.
        self.on_moved: Callable[[], None] = lambda: None
        #: Called as soon as the interfaces' addresses change (the signalling
        #: connection may leave from an address we no longer have).
        self.on_network_changed: Callable[[], None] = lambda: None

    async def run(self) -> None:
        """Until cancelled: the interface watcher and the rounds of STUN."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._watch_interfaces)
            await self._learn()

    def path_lost(self) -> None:
        """A path went silent: learn our addresses again (soon, not at once for each)."""
        self.roaming.want(Trigger.PATH_LOST)
        self.wake()

    async def fresh(self, limit: float = FRESH_WAIT) -> None:
        """A path was lost: wait (at most limit) for a round of STUN begun after now."""
        # A round under way began before the loss: wait for the one after it.
        rounds = self.roaming.rounds + (1 if self.roaming.phase == Phase.LEARNING else 0)
        self.path_lost()
        with trio.move_on_after(limit):
            await self._rounds.wait_value(lambda done: done > rounds)

    async def _learn(self) -> None:
        while True:
            now = trio.current_time()
            if self.roaming.start(now):
                before = self._discovery.candidates()
                answered = await self._discovery.relearn()
                after = self._discovery.candidates()
                if self.roaming.finished(before, after, answered):
                    log.info("our addresses changed: %s -> %s", before, after)
                    self.on_moved()
                self._rounds.value = self.roaming.rounds
            due = self.roaming.next_timeout()
            with trio.move_on_at(due if due is not None else float("inf")):
                await self.wait_wakeup()

    def _routable(self) -> list[object]:
        # Link-local addresses come and go with every container's veth and never
        # carry a peer's traffic: a change in them is not a move.
        return [a for a in self._list_addresses() if not getattr(a, "is_link_local", False)]

    async def _watch_interfaces(self) -> None:
        # Not before discover() has run: the first round is registration's.
        seen = self._routable()
        while True:
            await trio.sleep(self._poll_interval)
            now = self._routable()
            if now != seen:
                log.info("the interfaces' addresses changed: %s -> %s", seen, now)
                seen = now
                self.roaming.want(Trigger.ADDRESSES_CHANGED)
                self.on_network_changed()
                self.wake()
