"""LAN discovery: peers found by mDNS/DNS-SD, and offers and answers with no signalling service.

A node announces `_p2ptui._udp.local.` with its signed TXT record (lan_codec)
and browses for the others. With no signalling service at all (an offline
LAN, a plane, a lab), two nodes that see each other here exchange their
offer and answer as LAN signals: one datagram each, straight to the chat
socket the announcement names, signed and admitted exactly as signalling's
(rendezvous.py does that part).

What this module needs of the machine is a `Link`: its interfaces, and mDNS
on them. The real one is mdns.py's, over python-zeroconf (and its threads);
tests give one in memory. Everything found comes into trio, is parsed
(`*_untrusted`, dropped and counted when bad) and put on a bounded channel,
`Lan.events`, for the node. Multicast may be missing (no route, no
permission, a container): the link says so once in the log, and the node
goes on without the LAN.
"""

from __future__ import annotations

import abc
import ipaddress
import math
import time
import uuid
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import trio

from . import lan_codec
from .address import Address
from .datagrams import Datagrams
from .identity import Identity
from .interfaces import IPAddress, IPInterface
from .ratelimit import TokenBucket
from .secure import RateLimiter
from .signalling.messages import Answer, Offer, sign

#: LAN events waiting for the node, announcements and signals each; beyond that
#: they are dropped and counted (a flood of announcements never drops a signal).
EVENT_BUFFER = 64
#: LAN signals checked per second (each costs a signature check), all sources together.
SIGNAL_RATE, SIGNAL_BURST = 20.0, 40.0
#: Announcements checked per second (each costs a signature check), all together:
#: mDNS does not say who sent one, and anyone may claim any name, key or address,
#: so no bucket per sender could be kept from a forger. The burst takes a busy
#: LAN's announcements at once when we join it.
ANNOUNCE_RATE, ANNOUNCE_BURST = 20.0, 256.0
#: Names kept in the LAN directory; beyond that the one announced longest ago goes
#: (never a peer the user chose)...
MAX_LAN_PEERS = 256
#: ...at most this many for one key (a person has one name)...
NAMES_PER_KEY = 4
#: ...and mDNS instances remembered, to know who left.
MAX_INSTANCES = 2 * MAX_LAN_PEERS
#: How long the list of our interfaces is kept before it is read again (a system call).
INTERFACES_TTL = 30.0


# --- What a Link reports, and publishes ---------------------------------------------


@dataclass(frozen=True)
class Service:
    """Our mDNS service: its instance name (unique: it carries part of our key), port,
    TXT properties (the signed announcement) and addresses."""

    instance: str
    port: int
    properties: dict[str, str]
    addresses: tuple[str, ...]


@dataclass(frozen=True)
class ServiceFound:
    """A service of our type on the LAN, with its TXT properties (untrusted)."""

    instance: str
    properties: dict[bytes, bytes | None]


@dataclass(frozen=True)
class ServiceLost:
    instance: str


Found = ServiceFound | ServiceLost


class Link(abc.ABC):
    """What LAN discovery needs of the machine: its interfaces, and mDNS on them."""

    @abc.abstractmethod
    def interfaces(self) -> list[IPInterface]:
        """Our addresses (loopback aside), each with its network."""

    @abc.abstractmethod
    async def run(self, service: Callable[[], Service], found: Callable[[Found], None]) -> None:
        """Publish service() (asked again to refresh it) and call found, in trio, for what
        is found, until cancelled; return at once if mDNS cannot work here."""


# --- What the node hears ---------------------------------------------------------------


@dataclass(frozen=True)
class PeerSeen:
    """A peer announced itself on the LAN (or announced something new)."""

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


class LanHandler(Protocol):
    """Who takes what LAN discovery finds (rendezvous.Rendezvous)."""

    async def lan_presence(self, name: str, key: str | None) -> None:
        """name announced itself with key, or left the LAN (None)."""

    async def lan_signal(self, record: Offer | Answer, source: Address) -> None:
        """An offer or answer arrived as a LAN signal from source (not yet admitted)."""


class Lan:
    """Our announcement, the peers seen on the LAN, and LAN signals in and out."""

    def __init__(
        self, identity: Identity, name: str, datagrams: Datagrams, dropped: Counter[str], bind_ip: str, link: Link
    ) -> None:
        self._identity = identity
        self._name = name
        self._datagrams = datagrams
        self._dropped = dropped
        self._bind_ip = bind_ip
        self._link = link
        self._send_events, self.events = trio.open_memory_channel[PeerSeen | PeerGone](EVENT_BUFFER)
        self._send_signals, self.signals = trio.open_memory_channel[SignalReceived](EVENT_BUFFER)
        #: The peers seen, by name, the one announced longest ago first; and by mDNS
        #: instance name, to know who left. Both bounded (MAX_LAN_PEERS, MAX_INSTANCES).
        self.peers: OrderedDict[str, PeerSeen] = OrderedDict()
        self._instances: OrderedDict[str, str] = OrderedDict()
        #: Whether the user chose name (pinned or opened): never let go (set by the node).
        self.keep: Callable[[str], bool] = lambda name: False
        self._limit = RateLimiter(SIGNAL_RATE, SIGNAL_BURST)
        self._announcements = TokenBucket(ANNOUNCE_RATE, ANNOUNCE_BURST, trio.current_time())
        self._interfaces_read: tuple[float, list[IPInterface]] = (-math.inf, [])
        datagrams.lan = self.signal_received

    async def run(self) -> None:
        """Announce and browse until cancelled (returns early without multicast)."""
        await self._link.run(self._service, self._found)

    async def serve(self, handler: LanHandler) -> None:
        """Hand what is found to handler until cancelled: announcements in order, and
        signals in order, each from a queue of its own."""

        async def presence() -> None:
            async for event in self.events:
                match event:
                    case PeerSeen(name=name, key=key):
                        await handler.lan_presence(name, key)
                    case PeerGone(name=name):
                        await handler.lan_presence(name, None)

        async def signals() -> None:
            async for signal in self.signals:
                await handler.lan_signal(signal.record, signal.source)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(presence)
            nursery.start_soon(signals)

    def _interfaces(self) -> list[IPInterface]:
        """Our interfaces, read again at most every INTERFACES_TTL (each announcement
        and signal asks; reading them is a system call on trio's thread)."""
        now = trio.current_time()
        if now >= self._interfaces_read[0] + INTERFACES_TTL:
            self._interfaces_read = (now, self._link.interfaces())
        return self._interfaces_read[1]

    def _service(self) -> Service:
        port = self._datagrams.local_address[1]
        addresses = self._our_addresses()
        properties = lan_codec.announce(self._identity, self._name, port, addresses, time.time())
        return Service(self._instance(), port, properties, tuple(str(a) for a in addresses))

    def _instance(self) -> str:
        """Our mDNS instance name: unique, as it carries part of our key."""
        return f"{self._name}-{self._identity.public_key[:12]}"

    def _our_addresses(self) -> list[IPAddress]:
        """Where LAN peers reach our chat socket: the address it is bound to, or every
        IPv4 one (every LAN has IPv4; IPv6 is the offers' business once connected)."""
        if not _unspecified(self._bind_ip):
            return [ipaddress.ip_address(self._bind_ip)]
        found: list[IPAddress] = [i.ip for i in self._interfaces() if i.version == 4]
        return list(dict.fromkeys(found))[: lan_codec.MAX_ADDRESSES]

    # --- What the link found --------------------------------------------------------

    def _found(self, item: Found) -> None:
        if isinstance(item, ServiceLost):
            name = self._instances.pop(item.instance, None)
            if name is not None and name not in self._instances.values():
                self._gone(name)
            return
        if item.instance == self._instance():
            return  # Our own, heard back: no check spent on it.
        if not self._announcements.take(trio.current_time()):
            self._dropped["LAN announcement rate limit"] += 1
            return
        networks = [i.network for i in self._interfaces()]
        try:
            found = lan_codec.parse_announcement_untrusted(item.properties, time.time(), networks)
        except lan_codec.LanDataError as exc:
            self._dropped[exc.counter] += 1
            return
        if found.name == self._name:
            return  # Ourselves (or someone claiming our name: nobody we would talk to).
        # IPv4 first (every LAN has it; 169.254/16 too, on a LAN with no DHCP); a link-local
        # IPv6 address would need its interface named.
        addresses = map(ipaddress.ip_address, found.addresses)
        usable = [ip for ip in addresses if not (ip.version == 6 and ip.is_link_local)]
        if not usable:
            self._dropped["announcement with only IPv6 link-local addresses"] += 1
            return
        best = min(usable, key=lambda ip: ip.version)
        seen = PeerSeen(found.name, found.key, (str(best), found.port))
        if found.name not in self.peers and not self._room_for(seen):
            self._dropped["LAN directory full"] += 1
            return
        self._instances[item.instance] = found.name
        self._instances.move_to_end(item.instance)
        while len(self._instances) > MAX_INSTANCES:
            self._instances.popitem(last=False)  # Its name stays, until pushed out below.
        before = self.peers.get(found.name)
        self.peers[found.name] = seen
        self.peers.move_to_end(found.name)
        if before != seen:
            self._post(seen)

    def _room_for(self, new: PeerSeen) -> bool:
        """Whether new may join the directory, after letting go of its key's oldest name
        (beyond NAMES_PER_KEY) and the name announced longest ago (beyond MAX_LAN_PEERS);
        never a name the user chose. A name the user chose always finds room."""
        same_key = [name for name, seen in self.peers.items() if seen.key == new.key and not self.keep(name)]
        if len(same_key) >= NAMES_PER_KEY:
            self._gone(same_key[0])
        if len(self.peers) < MAX_LAN_PEERS:
            return True
        oldest = next((name for name in self.peers if not self.keep(name)), None)
        if oldest is not None:
            self._gone(oldest)
            return True
        return self.keep(new.name)

    def _gone(self, name: str) -> None:
        """name left the LAN, or is let go: nothing of it is kept."""
        if self.peers.pop(name, None) is None:
            return
        for instance in [i for i, n in self._instances.items() if n == name]:
            del self._instances[instance]
        self._post(PeerGone(name))

    def _post(self, event: PeerSeen | PeerGone) -> None:
        try:
            self._send_events.send_nowait(event)
        except trio.WouldBlock:
            self._dropped["LAN event overflow"] += 1

    # --- LAN signals ---------------------------------------------------------------

    def signal_received(self, data: bytes, source: Address) -> bool:
        """A datagram reached the chat socket (from Datagrams): False unless it is a LAN
        signal, which is taken, or dropped and counted."""
        if not lan_codec.looks_like_signal(data):
            return False
        # The cheap test first: reading the interfaces is a system call.
        if not self._limit.allow(source[0], "lan", trio.current_time()):
            self._dropped["LAN signal rate limit"] += 1
        elif self.address_toward(source[0]) is None:
            self._dropped["LAN signal from off our networks"] += 1
        else:
            try:
                signal = SignalReceived(lan_codec.parse_signal_untrusted(data), source)
            except lan_codec.LanDataError as exc:
                self._dropped[exc.counter] += 1
                return True
            try:
                self._send_signals.send_nowait(signal)
            except trio.WouldBlock:
                self._dropped["LAN signal overflow"] += 1
        return True

    async def send(self, record: Offer | Answer, to: Address) -> None:
        await self._datagrams.send_direct(lan_codec.encode_signal(record), to)

    def on_link(self, ip: str) -> bool:
        """Whether ip is on one of our networks: a path to it runs over the LAN."""
        return self.address_toward(ip) is not None

    def address_toward(self, peer_ip: str) -> str | None:
        """Our address on the network where peer_ip is, or None if we have none there."""
        try:
            peer = ipaddress.ip_address(peer_ip)
        except ValueError:
            return None
        for interface in self._interfaces():
            if peer in interface.network and (_unspecified(self._bind_ip) or self._bind_ip == str(interface.ip)):
                return str(interface.ip)
        return None

    # --- Our offers and answers on the LAN ---------------------------------------------

    def offer(self, receiver: str, tag: str, to: Address, expires: float) -> Offer:
        """A signed offer to receiver at to (its chat socket on the LAN): our address on
        that network and our chat port, nothing else (no public address, no relay)."""
        ip, port = self._toward(to)
        offer = Offer(
            id=uuid.uuid4().hex,
            sender=self._name,
            sender_key=self._identity.public_key,
            receiver=receiver,
            sender_ip=ip,
            receiver_ip=to[0],
            port=port,
            tag=tag,
            candidates=((ip, port),),
            expires=expires,
        )
        return sign(offer, self._identity)

    def answer(self, offer: Offer, tag: str, to: Address, expires: float) -> Answer:
        """A signed answer to a LAN offer that came from to."""
        ip, port = self._toward(to)
        answer = Answer(
            offer_id=offer.id,
            sender=self._name,
            sender_key=self._identity.public_key,
            receiver=offer.sender,
            sender_ip=ip,
            port=port,
            tag=tag,
            candidates=((ip, port),),
            expires=expires,
        )
        return sign(answer, self._identity)

    def _toward(self, to: Address) -> Address:
        host, port = self.host_address()
        return self.address_toward(to[0]) or host, port

    def host_address(self) -> Address:
        """Where LAN peers reach us: our first LAN address and the chat port."""
        port = self._datagrams.local_address[1]
        addresses = self._our_addresses()
        return (str(addresses[0]) if addresses else self._bind_ip, port)


def lan_wanted(enabled: bool, bind_ip: str) -> bool:
    """Whether to run LAN discovery: asked for, and the chat socket listens where the
    LAN can reach it (not on loopback)."""
    return enabled and not ipaddress.ip_address(bind_ip).is_loopback


def _unspecified(ip: str) -> bool:
    """0.0.0.0 or ::, every address (a dual-stack socket hears IPv4 on ::)."""
    return ipaddress.ip_address(ip).is_unspecified
