"""mDNS/DNS-SD through python-zeroconf: the real `lan.Link`.

Threads: zeroconf runs its own event loop in a thread of its own, and calls a
browser's listener in the browser's thread. Those calls only resolve the
service (zeroconf's blocking lookup, meant for that thread) and hand its TXT
properties to trio with `TrioToken.run_sync_soon`, which never blocks. The
blocking calls from trio (open, register, refresh, close) run in
`trio.to_thread`. So no trio object is touched from another thread, and
zeroconf never waits for trio.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable

import trio
from zeroconf import InterfaceChoice, IPVersion, ServiceBrowser, ServiceInfo, ServiceListener, Zeroconf

from . import interfaces, lan_codec
from .interfaces import IPInterface
from .lan import Found, Link, Service, ServiceFound, ServiceLost

log = logging.getLogger(__name__)

#: How long the browser's thread waits for a service's TXT record (usually cached already).
RESOLVE_TIMEOUT_MS = 1000
#: How long leaving may wait for zeroconf to say goodbye on the LAN.
CLOSE_WAIT = 1.0
#: How long others keep our records (every one; RFC 6762 gives PTR and TXT 75 minutes):
#: a peer that vanished with no goodbye (a crash, a lid closed) leaves their view in 2.
RECORD_TTL = 120


class ZeroconfLink(Link):
    """The machine's own interfaces, and mDNS on them (all, or the one bind_ip is on)."""

    def __init__(self, bind_ip: str) -> None:
        self._bind_ip = bind_ip

    def interfaces(self) -> list[IPInterface]:
        return interfaces.local_interfaces()

    async def run(self, service: Callable[[], Service], found: Callable[[Found], None]) -> None:
        token = trio.lowlevel.current_trio_token()

        def post(item: Found) -> None:  # In zeroconf's threads.
            try:
                token.run_sync_soon(found, item)
            except trio.RunFinishedError:
                pass  # The node is gone; so is the browser, soon.

        try:
            zc = await trio.to_thread.run_sync(self._open)
        except Exception as exc:  # zeroconf raises OSError and its own errors: any means no LAN.
            log.warning("LAN discovery is off: cannot use multicast here (%s)", exc)
            return
        browser: ServiceBrowser | None = None
        try:
            info = await trio.to_thread.run_sync(_announce, zc, service(), None)
            browser = await trio.to_thread.run_sync(_browse, zc, post)
            while True:
                await trio.sleep(lan_codec.REFRESH_INTERVAL)
                info = await trio.to_thread.run_sync(_announce, zc, service(), info)  # A new time, signed.
        except Exception as exc:  # Multicast that fails later (the interface went away): go on without.
            log.warning("LAN discovery stopped: %s", exc)
        finally:
            with trio.move_on_after(CLOSE_WAIT, shield=True):
                await trio.to_thread.run_sync(_close, zc, browser, abandon_on_cancel=True)

    def _open(self) -> Zeroconf:
        """zeroconf on the interface we listen on: every one, over IPv4 (which every LAN
        carries), for an unspecified address (0.0.0.0, ::). In a thread."""
        ip = ipaddress.ip_address(self._bind_ip)
        if ip.is_unspecified:
            return Zeroconf(interfaces=InterfaceChoice.All, ip_version=IPVersion.V4Only, use_asyncio=False)
        version = IPVersion.V4Only if ip.version == 4 else IPVersion.V6Only
        return Zeroconf(interfaces=[str(ip)], ip_version=version, use_asyncio=False)


def _announce(zc: Zeroconf, service: Service, previous: ServiceInfo | None) -> ServiceInfo:
    """Register our service, or update it (a fresh signature). In a thread."""
    info = ServiceInfo(
        lan_codec.SERVICE_TYPE,
        f"{service.instance}.{lan_codec.SERVICE_TYPE}",
        port=service.port,
        properties=service.properties,
        server=f"{service.instance}.local.",
        parsed_addresses=list(service.addresses),
        host_ttl=RECORD_TTL,
        other_ttl=RECORD_TTL,
    )
    if previous is None:
        # The instance name carries part of the key, so it is unique on the LAN:
        # probing for a conflict (over a second of waiting) is left out.
        zc.register_service(info, cooperating_responders=True)
    else:
        zc.update_service(info)
    return info


def _browse(zc: Zeroconf, post: Callable[[Found], None]) -> ServiceBrowser:
    """Browse for peers; zeroconf calls the listener in the browser's thread. In a thread."""

    class Listener(ServiceListener):
        def add_service(self, zc: Zeroconf, type_: str, name: str) -> None:
            info = zc.get_service_info(type_, name, timeout=RESOLVE_TIMEOUT_MS)
            if info is not None:
                post(ServiceFound(name, dict(info.properties)))

        update_service = add_service

        def remove_service(self, zc: Zeroconf, type_: str, name: str) -> None:
            post(ServiceLost(name))

    return ServiceBrowser(zc, lan_codec.SERVICE_TYPE, Listener())


def _close(zc: Zeroconf, browser: ServiceBrowser | None) -> None:
    """Stop browsing, and say goodbye on the LAN (zeroconf unregisters us). In a thread."""
    if browser is not None:
        browser.cancel()
    zc.close()
