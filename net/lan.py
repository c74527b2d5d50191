"""LAN discovery, the I/O side: mDNS/DNS-SD through zeroconf, and LAN signals on the chat socket.

A node announces `_p2ptui._udp.local.` with its signed TXT record (lan_codec)
and browses for the others. With no signalling service at all (an offline
LAN, a plane, a lab), two nodes that see each other here exchange their
offer and answer as LAN signals: one datagram each, straight to the chat
socket the announcement names, signed and admitted exactly as signalling's.

Threads: python-zeroconf runs its own event loop in a thread of its own, and
calls a browser's listener in the browser's thread. Those calls only resolve
the service (zeroconf's blocking lookup, meant for that thread) and hand the
TXT properties to trio with `TrioToken.run_sync_soon`, which never blocks; in
trio they are parsed and put on a bounded channel (what overflows is dropped
and counted). zeroconf's blocking calls from trio (open, register, refresh,
close) run in `trio.to_thread`. So no trio object is touched from another
thread, and zeroconf never waits for trio.

Multicast may be missing (no route, no permission, a container): that is said
once in the log, and the node goes on without the LAN.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import trio
from zeroconf import InterfaceChoice, IPVersion, ServiceBrowser, ServiceInfo, ServiceListener, Zeroconf

from . import interfaces, lan_codec
from .address import Address
from .datagrams import Datagrams
from .identity import Identity
from .secure import RateLimiter
from .signalling.messages import Answer, Offer

log = logging.getLogger(__name__)

#: How long the browser's thread waits for a service's TXT record (usually cached already).
RESOLVE_TIMEOUT_MS = 1000
#: How long leaving may wait for zeroconf to say goodbye on the LAN.
CLOSE_WAIT = 1.0
#: LAN events waiting for the node; beyond that they are dropped and counted.
EVENT_BUFFER = 64
#: LAN signals checked per second (each costs a signature check), all sources together.
SIGNAL_RATE, SIGNAL_BURST = 20.0, 40.0


@dataclass(frozen=True)
class PeerSeen:
    """A peer announced itself on the LAN (or announced again)."""

    name: str
    key: str
    address: Address
    """Its chat socket, on the LAN: where our LAN signals go."""


@dataclass(frozen=True)
class PeerGone:
    """The peer's service left the LAN (a goodbye, or its record expired)."""

    name: str


@dataclass(frozen=True)
class SignalReceived:
    """An offer or answer arrived as a LAN signal (not yet admitted)."""

    record: Offer | Answer
    source: Address


LanEvent = PeerSeen | PeerGone | SignalReceived


@dataclass(frozen=True)
class _Resolved:
    instance: str
    properties: dict[bytes, bytes | None]


@dataclass(frozen=True)
class _Removed:
    instance: str


class Lan:
    """Our announcement, the peers seen on the LAN, and LAN signals in and out."""

    def __init__(
        self,
        identity: Identity,
        name: str,
        datagrams: Datagrams,
        dropped: Counter[str],
        bind_ip: str,
        *,
        zeroconf: Callable[[str], Zeroconf] | None = None,
    ) -> None:
        self._identity = identity
        self._name = name
        self._datagrams = datagrams
        self._dropped = dropped
        self._bind_ip = bind_ip
        self._open_zeroconf = zeroconf or _open_zeroconf
        self._send_events, self.events = trio.open_memory_channel[LanEvent](EVENT_BUFFER)
        #: The peers seen, by name; and by mDNS instance name, to know who left.
        self.peers: dict[str, PeerSeen] = {}
        self._instances: dict[str, str] = {}
        self._limit = RateLimiter(SIGNAL_RATE, SIGNAL_BURST)
        datagrams.lan = self.signal_received

    # --- Running ----------------------------------------------------------------------

    async def run(self) -> None:
        """Announce and browse until cancelled; without multicast, say so once and return."""
        token = trio.lowlevel.current_trio_token()

        def post(item: _Resolved | _Removed) -> None:  # In zeroconf's threads.
            try:
                token.run_sync_soon(self._from_zeroconf, item)
            except trio.RunFinishedError:
                pass  # The node is gone; so is the browser, soon.

        try:
            zc = await trio.to_thread.run_sync(self._open_zeroconf, self._bind_ip)
        except Exception as exc:  # zeroconf raises OSError and its own errors: any means no LAN.
            log.warning("LAN discovery is off: cannot use multicast here (%s)", exc)
            return
        browser: ServiceBrowser | None = None
        try:
            info = await trio.to_thread.run_sync(self._announce, zc, None)
            browser = await trio.to_thread.run_sync(_browse, zc, post)
            while True:
                await trio.sleep(lan_codec.REFRESH_INTERVAL)
                info = await trio.to_thread.run_sync(self._announce, zc, info)  # A new time, signed.
        except Exception as exc:
            log.warning("LAN discovery stopped: %s", exc)
        finally:
            with trio.move_on_after(CLOSE_WAIT, shield=True):
                await trio.to_thread.run_sync(_close, zc, browser, abandon_on_cancel=True)

    def _announce(self, zc: Zeroconf, previous: ServiceInfo | None) -> ServiceInfo:
        """Register our service (or update it with a fresh signature). In a thread."""
        port = self._datagrams.local_address[1]
        addresses = self._our_addresses()
        properties = lan_codec.announce(self._identity, self._name, port, addresses, time.time())
        # The key in the instance and host names keeps them unique on the LAN, so
        # probing for a conflict (over a second of waiting) is left out.
        unique = f"{self._name}-{self._identity.public_key[:12]}"
        info = ServiceInfo(
            lan_codec.SERVICE_TYPE,
            f"{unique}.{lan_codec.SERVICE_TYPE}",
            port=port,
            properties=properties,
            server=f"p2ptui-{self._identity.public_key[:16]}.local.",
            parsed_addresses=[str(a) for a in addresses],
        )
        if previous is None:
            zc.register_service(info, cooperating_responders=True)
        else:
            zc.update_service(info)
        return info

    def _our_addresses(self) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
        # The chat socket is IPv4: only IPv4 addresses reach it.
        if self._bind_ip != "0.0.0.0":
            return [ipaddress.ip_address(self._bind_ip)]
        found: list[ipaddress.IPv4Address | ipaddress.IPv6Address]
        found = [a for a in interfaces.local_addresses() if a.version == 4]
        return found[: lan_codec.MAX_ADDRESSES]

    # --- What zeroconf found (in trio, posted from its thread) --------------------

    def _from_zeroconf(self, item: _Resolved | _Removed) -> None:
        if isinstance(item, _Removed):
            name = self._instances.pop(item.instance, None)
            if name is not None and name not in self._instances.values():
                del self.peers[name]
                self._post(PeerGone(name))
            return
        try:
            found = lan_codec.parse_announcement_untrusted(item.properties, time.time(), interfaces.local_networks())
        except lan_codec.LanDataError as exc:
            self._dropped[exc.counter] += 1
            return
        if found.name == self._name:
            return  # Ourselves (or someone claiming our name: nobody we would talk to).
        ipv4 = [a for a in found.addresses if ipaddress.ip_address(a).version == 4]
        if not ipv4:
            self._dropped["announcement with no IPv4 address on our networks"] += 1
            return
        seen = PeerSeen(found.name, found.key, (ipv4[0], found.port))
        self._instances[item.instance] = found.name
        if self.peers.get(found.name) != seen:
            self.peers[found.name] = seen
            self._post(seen)

    def _post(self, event: LanEvent) -> None:
        try:
            self._send_events.send_nowait(event)
        except trio.WouldBlock:
            self._dropped["LAN event overflow"] += 1

    # --- LAN signals ---------------------------------------------------------------

    def signal_received(self, data: bytes, source: Address) -> None:
        """A datagram that looks like a LAN signal reached the chat socket (from Datagrams)."""
        if not _on(source[0], interfaces.local_networks()):
            self._dropped["LAN signal from off our networks"] += 1
            return
        if not self._limit.allow(source[0], "lan", trio.current_time()):
            self._dropped["LAN signal rate limit"] += 1
            return
        try:
            record = lan_codec.parse_signal_untrusted(data)
        except lan_codec.LanDataError as exc:
            self._dropped[exc.counter] += 1
            return
        self._post(SignalReceived(record, source))

    async def send(self, record: Offer | Answer, to: Address) -> None:
        await self._datagrams.send_direct(lan_codec.encode_signal(record), to)

    def address_toward(self, peer_ip: str) -> str | None:
        """Our address on the network where peer_ip is, or None if we have none there."""
        if self._bind_ip != "0.0.0.0":
            return self._bind_ip
        peer = ipaddress.ip_address(peer_ip)
        for interface in interfaces.local_interfaces():
            if interface.ip.version == peer.version and peer in interface.network:
                return str(interface.ip)
        return None

    def host_address(self) -> Address:
        """Where LAN peers reach us: our first LAN address and the chat port."""
        port = self._datagrams.local_address[1]
        addresses = self._our_addresses()
        return (str(addresses[0]) if addresses else self._bind_ip, port)


def _on(ip: str, networks: list[interfaces.IPNetwork]) -> bool:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(address in network for network in networks)


def _open_zeroconf(bind_ip: str) -> Zeroconf:
    """zeroconf on the interface we listen on (every one, for 0.0.0.0), IPv4. In a thread."""
    choice: InterfaceChoice | list[str | int | tuple[tuple[str, int, int], int]]
    choice = InterfaceChoice.All if bind_ip == "0.0.0.0" else [bind_ip]
    return Zeroconf(interfaces=choice, ip_version=IPVersion.V4Only, use_asyncio=False)


def _browse(zc: Zeroconf, post: Callable[[_Resolved | _Removed], None]) -> ServiceBrowser:
    """Browse for peers; zeroconf calls the listener in the browser's thread. In a thread."""

    class Listener(ServiceListener):
        def add_service(self, zc: Zeroconf, type_: str, name: str) -> None:
            info = zc.get_service_info(type_, name, timeout=RESOLVE_TIMEOUT_MS)
            if info is not None:
                post(_Resolved(name, dict(info.properties)))

        update_service = add_service

        def remove_service(self, zc: Zeroconf, type_: str, name: str) -> None:
            post(_Removed(name))

    return ServiceBrowser(zc, lan_codec.SERVICE_TYPE, Listener())


def _close(zc: Zeroconf, browser: ServiceBrowser | None) -> None:
    """Stop browsing, and say goodbye on the LAN (zeroconf unregisters us). In a thread."""
    if browser is not None:
        browser.cancel()
    zc.close()
