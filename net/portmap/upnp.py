"""UPnP-IGD port mapping through miniupnpc, run in a worker thread.

miniupnpc (the C library every router's miniupnpd is tested against, with
its own Python module) is blocking; each call runs in `trio.to_thread`.
async-upnp-client is asyncio-only and far larger: bridging two event loops
for three SOAP calls costs more than a thread.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import trio

from ..address import Address

log = logging.getLogger(__name__)

#: SSDP discovery's wait, in milliseconds: the probe's budget.
DISCOVER_DELAY_MS = 200
DESCRIPTION = "p2ptui"


@dataclass
class UpnpMapping:
    external: Address
    lifetime: int


class Upnp:
    """One router's IGD, found by discover(); None of its calls raise."""

    def __init__(self) -> None:
        self._igd: Any = None
        self.public_ip: str | None = None

    async def discover(self) -> bool:
        """Find an IGD on the LAN (about DISCOVER_DELAY_MS); False if none answers."""
        return await trio.to_thread.run_sync(self._discover, abandon_on_cancel=True)

    def _discover(self) -> bool:
        try:
            import miniupnpc  # type: ignore[import-not-found]  # a C extension with no stubs
        except ImportError:
            return False
        igd = miniupnpc.UPnP()
        igd.discoverdelay = DISCOVER_DELAY_MS
        try:
            if igd.discover() <= 0:
                return False
            igd.selectigd()
            self.public_ip = igd.externalipaddress() or None
        except Exception as exc:  # miniupnpc raises bare Exception for every failure
            log.info("UPnP: no usable IGD (%s)", exc)
            return False
        self._igd = igd
        return True

    async def map(self, internal: Address, lifetime: int) -> UpnpMapping | None:
        """Map internal's port UDP on the router, the same external port if free."""
        return await trio.to_thread.run_sync(self._map, internal, lifetime, abandon_on_cancel=True)

    def _map(self, internal: Address, lifetime: int) -> UpnpMapping | None:
        if self._igd is None or not self.public_ip:
            return None
        try:
            if self._igd.addportmapping(internal[1], "UDP", internal[0], internal[1], DESCRIPTION, "", lifetime):
                return UpnpMapping((self.public_ip, internal[1]), lifetime)
        except Exception as exc:
            log.info("UPnP: AddPortMapping of port %d failed (%s)", internal[1], exc)
        try:
            # The same port taken (or refused): an IGDv2 picks another.
            port = int(self._igd.addanyportmapping(internal[1], "UDP", internal[0], internal[1], DESCRIPTION, lifetime))
        except Exception as exc:
            log.info("UPnP: AddAnyPortMapping failed (%s)", exc)
            return None
        return UpnpMapping((self.public_ip, port), lifetime) if 0 < port < 65536 else None

    async def delete(self, external_port: int) -> None:
        await trio.to_thread.run_sync(self._delete, external_port, abandon_on_cancel=True)

    def _delete(self, external_port: int) -> None:
        try:
            if self._igd is not None:
                self._igd.deleteportmapping(external_port, "UDP")
        except Exception as exc:
            log.info("UPnP: DeletePortMapping failed (%s)", exc)
