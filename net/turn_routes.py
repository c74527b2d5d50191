"""The peers one TURN allocation reaches: permissions per peer IP, channels per peer address.

Part of the sans-I/O TURN client (turn.py), which owns the transactions:
`Routes` asks it for a CreatePermission or a ChannelBind through `Requests`,
and is told how each ended. The first datagram to a new IP waits in a bounded
queue until its permission is confirmed; then data goes out as Send
indications while a ChannelBind is in flight, and as ChannelData once bound.
Permissions and channels that saw traffic are refreshed before they expire;
unused ones lapse (RFC 8656 §9, §12).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from .address import Address
from .turn_codec import CHANNEL_FIRST, CHANNEL_LAST, channel_data, send_indication

log = logging.getLogger(__name__)

#: RFC 8656 §9: a permission lasts 300 s; §12: a channel binding 600 s. We refresh
#: early enough that one lost round of retransmissions (request_timeout) still fits.
PERMISSION_LIFETIME = 300.0
PERMISSION_REFRESH = 240.0
CHANNEL_LIFETIME = 600.0
CHANNEL_REFRESH = 540.0

#: How many peer IPs (permissions) and peer addresses (channels) we hold at once.
MAX_PEERS = 256
#: Datagrams waiting for one IP's permission; more are dropped and counted.
MAX_QUEUED_PER_IP = 64


class Requests(Protocol):
    """What Routes needs of the client: requests, each returning its transaction id."""

    def create_permission(self, ip: str, now: float) -> bytes: ...

    def channel_bind(self, peer: Address, number: int, now: float) -> bytes: ...


@dataclass
class _Permission:
    confirmed: bool = False
    #: Data waiting for the permission: (peer address, data).
    queue: list[tuple[Address, bytes]] = field(default_factory=list)
    installed_at: float = 0.0
    last_used: float = 0.0
    in_flight: bytes | None = None  # transaction id of a CreatePermission


@dataclass
class _Channel:
    number: int
    bound: bool = False
    bound_at: float = 0.0
    last_used: float = 0.0
    in_flight: bytes | None = None  # transaction id of a ChannelBind


class Routes:
    """Permissions and channels of one allocation."""

    def __init__(self, requests: Requests, send: Callable[[bytes], None], dropped: Counter[str]) -> None:
        self._requests = requests
        self._send = send
        self._dropped = dropped
        self._permissions: dict[str, _Permission] = {}
        self._channels: dict[Address, _Channel] = {}
        self._channel_peers: dict[int, Address] = {}
        #: A number stays with its peer for the whole allocation: RFC 8656 §12 forbids
        #: rebinding it to another address soon after it lapses.
        self._channel_numbers: dict[Address, int] = {}

    def reset(self) -> None:
        """Forget everything (the allocation is gone); queued data is counted as lost."""
        for permission in self._permissions.values():
            if permission.queue:
                self._dropped["queued data lost with the allocation"] += len(permission.queue)
        self._permissions.clear()
        self._channels.clear()
        self._channel_peers.clear()
        self._channel_numbers.clear()

    # --- Out --------------------------------------------------------------------------

    def send(self, peer: Address, data: bytes, now: float) -> None:
        """Relay data to peer, once its IP's permission is confirmed."""
        permission = self._permissions.get(peer[0])
        if permission is None:
            if len(self._permissions) >= MAX_PEERS:
                self._dropped["too many peers"] += 1
                return
            permission = self._permissions[peer[0]] = _Permission()
            permission.in_flight = self._requests.create_permission(peer[0], now)
        if not permission.confirmed:
            if len(permission.queue) >= MAX_QUEUED_PER_IP:
                self._dropped["permission queue full"] += 1
            else:
                permission.queue.append((peer, data))
            return
        self._relay(peer, data, permission, now)

    def _relay(self, peer: Address, data: bytes, permission: _Permission, now: float) -> None:
        permission.last_used = now
        if permission.installed_at + PERMISSION_REFRESH <= now and not permission.in_flight:
            # Used late in its life: refresh now.
            permission.in_flight = self._requests.create_permission(peer[0], now)
        channel = self._channels.get(peer)
        if channel is None:
            channel = self._new_channel(peer, now)
        if channel is not None:
            channel.last_used = now
            if channel.bound:
                self._send(channel_data(channel.number, data))
                if channel.bound_at + CHANNEL_REFRESH <= now and not channel.in_flight:
                    channel.in_flight = self._requests.channel_bind(peer, channel.number, now)
                return
        self._send(send_indication(peer, data))

    def _new_channel(self, peer: Address, now: float) -> _Channel | None:
        number = self._channel_numbers.get(peer)
        if number is None:
            number = CHANNEL_FIRST + len(self._channel_numbers)
            if number > CHANNEL_LAST or len(self._channels) >= MAX_PEERS:
                self._dropped["no channel left"] += 1
                return None  # Send indications work without one.
            self._channel_numbers[peer] = number
        elif len(self._channels) >= MAX_PEERS:
            self._dropped["no channel left"] += 1
            return None
        channel = self._channels[peer] = _Channel(number)
        self._channel_peers[number] = peer
        channel.in_flight = self._requests.channel_bind(peer, number, now)
        return channel

    def _unbind(self, peer: Address) -> None:
        channel = self._channels.pop(peer, None)
        if channel is not None:
            self._channel_peers.pop(channel.number, None)

    # --- Timers -----------------------------------------------------------------------

    def handle_timeout(self, now: float) -> None:
        """Refresh what is used and due; let lapse what is not used."""
        for ip, permission in list(self._permissions.items()):
            if not permission.confirmed or permission.in_flight:
                continue
            if now >= permission.installed_at + PERMISSION_LIFETIME:
                log.debug("TURN permission for %s lapsed", ip)
                del self._permissions[ip]
            elif now >= permission.installed_at + PERMISSION_REFRESH and permission.last_used > permission.installed_at:
                permission.in_flight = self._requests.create_permission(ip, now)
        for peer, channel in list(self._channels.items()):
            if not channel.bound or channel.in_flight:
                continue
            if now >= channel.bound_at + CHANNEL_LIFETIME:
                log.debug("TURN channel %#x for %s lapsed", channel.number, peer)
                self._unbind(peer)
            elif now >= channel.bound_at + CHANNEL_REFRESH and channel.last_used > channel.bound_at:
                channel.in_flight = self._requests.channel_bind(peer, channel.number, now)

    def timers(self) -> list[float]:
        times = []
        for permission in self._permissions.values():
            if permission.confirmed and not permission.in_flight:
                used = permission.last_used > permission.installed_at
                times.append(permission.installed_at + (PERMISSION_REFRESH if used else PERMISSION_LIFETIME))
        for channel in self._channels.values():
            if channel.bound and not channel.in_flight:
                used = channel.last_used > channel.bound_at
                times.append(channel.bound_at + (CHANNEL_REFRESH if used else CHANNEL_LIFETIME))
        return times

    # --- How requests ended -------------------------------------------------------------

    def renumbered(self, peer: Address, channel: bool, old: bytes, new: bytes) -> None:
        """A request was sent again under a new transaction id."""
        item = self._channels.get(peer) if channel else self._permissions.get(peer[0])
        if item is not None and item.in_flight == old:
            item.in_flight = new

    def permission_installed(self, ip: str, txid: bytes, now: float) -> None:
        permission = self._permissions.get(ip)
        if permission is None or permission.in_flight != txid:
            return
        permission.in_flight = None
        permission.installed_at = now
        if not permission.confirmed:
            permission.confirmed = True
            queued, permission.queue = permission.queue, []
            for peer, data in queued:
                self._relay(peer, data, permission, now)

    def channel_bound(self, peer: Address, txid: bytes, now: float) -> None:
        channel = self._channels.get(peer)
        if channel is None or channel.in_flight != txid:
            return
        channel.in_flight = None
        channel.bound = True
        channel.bound_at = now
        # A ChannelBind also installs or refreshes the IP's permission (RFC 8656 §12).
        permission = self._permissions.get(peer[0])
        if permission is not None and permission.confirmed and not permission.in_flight:
            permission.installed_at = now

    def permission_failed(self, ip: str, txid: bytes, reason: str) -> bool:
        """True if it was the permission's current request (it is dropped)."""
        permission = self._permissions.get(ip)
        if permission is None or permission.in_flight != txid:
            return False
        log.info("TURN permission for %s failed: %s", ip, reason)
        self._dropped["permission failed"] += 1 + len(permission.queue)
        del self._permissions[ip]
        return True

    def channel_failed(self, peer: Address, txid: bytes, reason: str) -> bool:
        """True if it was the channel's current request (it is unbound)."""
        channel = self._channels.get(peer)
        if channel is None or channel.in_flight != txid:
            return False
        log.info("TURN channel bind for %s failed: %s", peer, reason)
        self._dropped["channel bind failed"] += 1
        self._unbind(peer)
        return True

    # --- In ---------------------------------------------------------------------------

    def channel_data_from(self, number: int, now: float) -> Address | None:
        """The peer bound to channel number (and it counts as used), or None."""
        peer = self._channel_peers.get(number)
        if peer is None:
            return None
        # A bind still in flight counts: the server may have bound it and lost our answer.
        self._channels[peer].last_used = now
        permission = self._permissions.get(peer[0])
        if permission is not None:
            permission.last_used = now
        return peer

    def permitted(self, peer: Address, now: float) -> bool:
        """Whether data from peer can be from the server: only IPs we permitted are
        relayed. A peer that only talks to us keeps its permission too."""
        permission = self._permissions.get(peer[0])
        if permission is None:
            return False
        permission.last_used = now
        return True
