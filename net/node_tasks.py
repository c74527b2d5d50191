"""The node's tree of tasks, and the hooks through which its parts hear of each other.

    open_node()
      ├─ the datagram receiver (datagrams.py): reads the chat socket, routes
      │  each datagram to a session, a TURN client or the STUN client
      ├─ relays (relays.py): a task per TURN server keeping an allocation
      ├─ the port mapper (portmap/): asks the router to forward a port to the
      │  chat socket (PCP, NAT-PMP, UPnP), offered as a candidate
      ├─ roaming (roamer.py, decisions in roaming.py): watches the interfaces'
      │  addresses, asks STUN again after a lost path or a move, and has every
      │  peer offered our new addresses when they changed
      ├─ the sprayer (spraying.py): a task per spraying attempt (one symmetric
      │  NAT against a cone), and a reader per socket it opens
      ├─ per peer (peers.py, rendezvous.py): a driver running its Session
      │  (driver.drive: timers, datagrams, events) and a connector sending
      │  offers until a path works, with back-off
      ├─ signalling: the backend's run() (which calls discovery.py once, for
      │  our addresses) and the task handling its events (intake.py:
      │  offers, answers, presence, admitted by admission.py)
      └─ LAN discovery, when on (lan.py): our mDNS announcement, the browser,
         and the task taking what it finds (lan_rendezvous.py: peers on the LAN,
         offers and answers as LAN signals, admitted the same way)

Leaving (the end of the `open_node` block, or its cancellation) says goodbye
on every open path first (peers.Peers.close_all), so peers know at once.

A mixin of `Node` (node.py), which builds the parts (configured by
nodeconfig.py) and answers the application; this runs them. A mixin rather
than a part of its own: the tasks are started from `Node`'s API (a peer the
user opens gets its driver and connector) on the parts `Node` holds.
"""

from __future__ import annotations

import ipaddress
from collections import Counter

import trio

from . import events as ev
from .address import Address
from .datagrams import Datagrams
from .discovery import Discovery
from .errors import LocalProtocolError
from .identity import Identity
from .lan import Lan, Link, lan_wanted
from .nodeconfig import NodeConfig
from .peers import Peer, Peers
from .portmap import PortMapper
from .relays import Relays
from .rendezvous import Rendezvous
from .roamer import Roamer
from .signalling import SignallingClient
from .spraying import Sprayer
from .store import MessageStore
from .trust import KnownPeers

#: How long the first offer waits for the port mapper's probe (it gives up in ~250 ms).
PORTMAP_WAIT = 1.0


class NodeTasks:
    """Running the node's parts (a mixin: the parts are `Node`'s)."""

    # What `Node` holds.
    config: NodeConfig
    name: str
    identity: Identity
    signalling: SignallingClient
    dropped: Counter[str]
    known_peers: KnownPeers
    store: MessageStore
    _lan: Lan | None
    _send_events: trio.MemorySendChannel[ev.NodeEvent]
    _datagrams: Datagrams
    _relays: Relays
    _discovery: Discovery
    _sprayer: Sprayer
    _roamer: Roamer
    _peers: Peers
    _rendezvous: Rendezvous
    _nursery: trio.Nursery | None
    _portmapper: PortMapper | None

    async def _run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            await nursery.start(self._sprayer.run)
            self._resume_outbox()
            if self._lan is not None:
                nursery.start_soon(self._lan.run)
                nursery.start_soon(self._lan.serve, self._rendezvous)
            nursery.start_soon(self._datagrams.receive)
            nursery.start_soon(self._relays.run)
            if self.config.portmap and not ipaddress.ip_address(self.config.bind[0]).is_loopback:
                self._portmapper = PortMapper(self._datagrams.local_address[1], self._mapped)
                nursery.start_soon(self._portmapper.run)
            nursery.start_soon(self._roamer.run)
            async with trio.open_nursery() as signalling:
                signalling.start_soon(self._rendezvous.handle_signalling)
                await signalling.start(self.signalling.run, self._discovered)
                task_status.started()

    async def _discovered(self, stun_servers: list[Address]) -> Address:
        public = await self._discovery.discover(stun_servers)
        if self._portmapper is not None:
            # The first offers carry the mapping if the router gives one (a
            # router answers in milliseconds; the probe ends within 250 ms).
            with trio.move_on_after(PORTMAP_WAIT):
                await self._portmapper.probed.wait()
        self._peers.our_nat = self._discovery.nat.nat_type.value
        return public

    def _mapped(self, external: Address | None) -> None:
        self._discovery.mapped = external

    def _moved(self) -> None:
        """Our addresses changed: every open conversation probes from where we are
        now and offers again with the new addresses (rendezvous' connector)."""
        self._peers.our_nat = self._discovery.nat.nat_type.value
        now = trio.current_time()
        for peer in self._peers:
            peer.session.moved(now)
            if peer.status.value in (ev.PeerStatus.CONNECTED, ev.PeerStatus.CONNECTING):
                peer.path_lost.value = True
            peer.wake()

    async def _emit(self, event: ev.NodeEvent) -> None:
        await self._send_events.send(event)

    def _use_lan(self, link: Link | None) -> None:
        """Set up LAN discovery (started by `_run`) if config.lan asks for it and the
        chat socket is where the LAN can reach it; link: zeroconf's unless given."""
        bind_ip = self.config.bind[0]
        if not lan_wanted(self.config.lan, bind_ip):
            return
        link = link or _zeroconf_link(bind_ip)
        self._lan = Lan(self.identity, self.name, self._datagrams, self.dropped, bind_ip, link)
        self._peers.on_link = self._lan.on_link
        self._lan.keep = self._chosen
        self._rendezvous.lan = self._lan

    def _choose(self, peer: Peer) -> None:
        """The user opened (or verified) a conversation the node already holds: a
        stranger until now is watched from now on (rendezvous.Rendezvous.watch)."""
        stranger = not self._peers.chosen(peer)
        member_only = peer.member_only
        self._peers.opened(peer)
        if member_only:  # Told as a group's member only until now: told again, as a conversation.
            assert self._nursery is not None
            self._nursery.start_soon(self._peers.update_status, peer)
        if stranger:
            assert self._nursery is not None
            self._nursery.start_soon(self._rendezvous.watch, peer)

    def _chosen(self, name: str) -> bool:
        """Whether the user chose name (opened it, or pinned its key)."""
        peer = self._peers.get(name)
        return self.known_peers.pinned(name) is not None if peer is None else self._peers.chosen(peer)

    def _forget(self, peer: Peer) -> None:
        """A stranger is let go: the sprayer and rendezvous keep nothing of it."""
        self._sprayer.forget(peer)
        self._rendezvous.forget(peer)

    def _peer(self, name: str, incoming: bool = False) -> Peer:
        """The peer named name, added (with its driver and connector) if new."""
        peer = self._peers.get(name)
        if peer is not None:
            return peer
        if self._nursery is None:
            raise LocalProtocolError("the node is not running: use it inside open_node()")
        peer = self._peers.add(name, incoming=incoming)
        self._nursery.start_soon(self._run_peer, peer)
        return peer

    async def _run_peer(self, peer: Peer) -> None:
        """The peer's driver and connector, until it is let go (peer.scope) or we leave."""
        with peer.scope:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._peers.drive, peer)
                nursery.start_soon(self._rendezvous.connect, peer)

    def _resume_outbox(self) -> None:
        """What an earlier run could not deliver goes out again, in order."""
        now = trio.current_time()
        for message in self.store.outbox():
            peer = self._peer(message.peer)
            self._peers.opened(peer)  # The user sent to it: no stranger (and watched).
            peer.session.send_message(bytes.fromhex(message.id), message.text, now)


def _zeroconf_link(bind_ip: str) -> Link:
    from .mdns import ZeroconfLink  # zeroconf is imported only when the LAN is on.

    return ZeroconfLink(bind_ip)
