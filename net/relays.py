"""TURN allocations, kept for as long as the node runs.

For every configured server, one task keeps an allocation: resolve the
server's name, allocate, refresh, and after a failure or a loss allocate
again with back-off; released on the way out. The protocol is `TurnClient`'s
(sans-I/O, in turn.py); this module gives it time (`driver.drive`) and
datagrams (`datagrams.Datagrams`): what the server relays to us re-enters the
router as coming `Via` the relay, and a Via naming the relay leaves through it.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable

import trio
import trio_util

from . import nat, stun, turn
from .address import Address, Via
from .datagrams import Datagrams, Exit
from .driver import Wakeable, drive
from .events import RelayInfo
from .turn_server import TurnServer

log = logging.getLogger(__name__)

#: Back-off between allocation attempts, so a dead server costs little.
RETRY_MIN, RETRY_MAX = 1.0, 30.0


class Relay(Wakeable):
    """One TURN server and our allocation on it."""

    def __init__(self, server: TurnServer) -> None:
        super().__init__()
        self.server = server
        self.name = f"turn {server.host}:{server.port}"
        self.client = turn.TurnClient(server)
        #: The server's resolved address: datagrams from it are the client's.
        self.address: Address | None = None
        self.relayed: Address | None = None
        self.reason = ""
        #: The first allocation attempt ended, either way.
        self.settled = trio_util.AsyncBool(False)


class Relays:
    """Every configured TURN server, each with an allocation kept by its own task."""

    def __init__(self, servers: tuple[TurnServer, ...], datagrams: Datagrams) -> None:
        self.by_name = {relay.name: relay for relay in map(Relay, dict.fromkeys(servers))}
        self._datagrams = datagrams
        #: Bumped whenever an allocation comes or goes: waiting connectors try again.
        self.changed = trio_util.AsyncValue(0)
        #: Called when an allocation comes or goes (the sessions learn of it).
        self.on_change: Callable[[], None] = lambda: None
        for relay in self.by_name.values():
            datagrams.exits[relay.name] = self._exit(relay)

    # --- What the rest of the node asks -------------------------------------------

    def names(self) -> tuple[str, ...]:
        """The relays with an allocation, by name."""
        return tuple(name for name, relay in self.by_name.items() if relay.relayed)

    def relayed_addresses(self) -> tuple[Address, ...]:
        """Our relayed addresses, for offers and answers."""
        return tuple(relay.relayed for relay in self.by_name.values() if relay.relayed)

    def info(self) -> tuple[RelayInfo, ...]:
        return tuple(RelayInfo(r.name, r.relayed, r.reason) for r in self.by_name.values())

    def counters(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for relay in self.by_name.values():
            total.update({f"relay: {why}": n for why, n in relay.client.dropped.items()})
        return total

    def check(self) -> None:
        """A path was lost or a punch failed: if it was relayed, the relay itself may
        be gone. Ask every server now rather than at the next refresh: one request
        each, however many paths fail."""
        for relay in self.by_name.values():
            relay.client.refresh(trio.current_time())
            relay.wake()

    async def settle(self, timeout: float) -> None:
        """Wait up to timeout for every first allocation attempt to end."""
        with trio.move_on_after(timeout if self.by_name else 0):
            for relay in self.by_name.values():
                await relay.settled.wait_value(True)

    # --- Running ------------------------------------------------------------------

    async def run(self) -> None:
        """Keep every allocation until cancelled."""
        async with trio.open_nursery() as nursery:
            for relay in self.by_name.values():
                nursery.start_soon(self._keep, relay)

    async def _keep(self, relay: Relay) -> None:
        try:
            await self._keep_allocated(relay)
        finally:
            if relay.relayed is not None and relay.address is not None:
                relay.client.close(trio.current_time())
                with trio.move_on_after(1) as scope:
                    scope.shield = True
                    await self._flush(relay)

    async def _keep_allocated(self, relay: Relay) -> None:
        pause = RETRY_MIN
        while True:
            if relay.address is None:
                await self._resolve(relay)
            if relay.address is not None:
                relay.client.allocate(trio.current_time())
                if await self._drive(relay):
                    pause = RETRY_MIN
                else:
                    # Never allocated: look the name up again next time (it may have moved).
                    self._datagrams.servers.pop(relay.address, None)
                    relay.address = None
            relay.settled.value = True
            await trio.sleep(pause)
            pause = min(pause * 2, RETRY_MAX)

    async def _resolve(self, relay: Relay) -> None:
        relay.address = await stun.resolve(relay.server.host, relay.server.port)
        if relay.address is None:
            relay.reason = f"cannot resolve {relay.server.host}"
            return

        def from_server(data: bytes) -> None:
            relay.client.datagram_received(data, trio.current_time())
            relay.wake()

        self._datagrams.servers[relay.address] = from_server

    async def _drive(self, relay: Relay) -> bool:
        """Run relay's client until its allocation fails or is lost; True if it had one."""
        had = False

        async def step() -> bool:
            nonlocal had
            await self._flush(relay)
            for event in relay.client.events():
                match event:
                    case turn.Allocated(relayed=relayed):
                        log.info("relay %s: allocated %s", relay.name, relayed)
                        relay.relayed, relay.reason, had = relayed, "", True
                        relay.settled.value = True
                        self._changed()
                    case turn.AllocationFailed(reason=reason) | turn.AllocationLost(reason=reason):
                        log.info("relay %s: %s", relay.name, reason)
                        relay.relayed, relay.reason = None, reason
                        self._changed()
                        return True
                    case turn.Received(peer=source, data=data):
                        self._datagrams.received(data, Via(relay.name, source))
            return False

        await drive(relay.client, relay, step)
        return had

    def _changed(self) -> None:
        self.on_change()
        self.changed.value += 1

    async def _flush(self, relay: Relay) -> None:
        assert relay.address is not None
        for data in relay.client.datagrams_to_send():
            await self._datagrams.send_direct(data, relay.address)

    def _exit(self, relay: Relay) -> Exit:
        """How a datagram leaves Via this relay."""

        async def send(data: bytes, peer: Address) -> None:
            if relay.relayed is None:
                self._datagrams.dropped["relay not allocated"] += 1
                return
            own = (relay.relayed[0], relay.address[0] if relay.address else "")
            if peer[0] in own or nat.network_of(peer[0]) != "internet":
                # To the server's own addresses (a stale relay of the peer's) or a
                # private one: it cannot help, and a send the relay fails can cost
                # us the whole allocation (coturn drops it).
                self._datagrams.dropped["relay to a useless address"] += 1
                return
            relay.client.send(peer, data, trio.current_time())
            await self._flush(relay)
            relay.wake()  # Its timers may have changed (a new permission, say).

        return send
