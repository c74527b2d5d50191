"""A peer on the p2ptui network: the public API over a tree of tasks.

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
      │  our addresses) and the task handling its events (rendezvous.py:
      │  offers, answers, presence, admitted by admission.py)
      └─ LAN discovery, when on (lan.py): our mDNS announcement, the browser,
         and the task taking what it finds (rendezvous.py: peers on the LAN,
         offers and answers as LAN signals, admitted the same way)

Leaving (the end of the `open_node` block, or its cancellation) says goodbye
on every open path first (peers.Peers.close_all), so peers know at once.

Protocol decisions live in the sans-I/O `Session` and `TurnClient`; the parts
above move bytes and wait. This module builds the
parts (configured by nodeconfig.py), runs them, and answers the application. What must outlive the process
is kept by `store.py` (history, the outbox) and `trust.py` (pinned keys).
"""

from __future__ import annotations

import ipaddress
import logging
import os
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio

from . import events as ev
from . import interfaces, nat, safety, secure, wire
from . import session as sess
from .address import Address, Via, remote_address
from .admission import Admission
from .datagrams import Datagrams, open_socket
from .discovery import RELAY_SETTLE_WAIT, Discovery
from .errors import ConfigError, EnvironmentFailure, LocalProtocolError
from .identity import Identity
from .lan import Lan, Link, lan_wanted
from .netreport import NetReport, ServerCheck
from .nodeconfig import NodeConfig, make_signalling
from .peers import Peer, Peers, path_kind
from .portmap import PortMapper, PortMapStatus
from .relays import Relays
from .rendezvous import Rendezvous, Timing
from .roamer import ListAddresses, Roamer
from .sendbudget import SendBudget
from .signalling import SignallingClient, check_name
from .spraying import Sprayer
from .store import MessageStore, StoredMessage
from .trust import KnownPeers, fingerprint

__all__ = ["RELAY_SETTLE_WAIT", "Node", "NodeConfig", "make_signalling", "open_node"]

EVENT_BUFFER = 1024
#: How long the first offer waits for the port mapper's probe (it gives up in ~250 ms).
PORTMAP_WAIT = 1.0
#: How long leaving may wait for the goodbyes to go out (SessionConfig.goodbye_copies,
#: goodbye_interval apart: 3 and 5 ms by default).
GOODBYE_WAIT = 0.25


class Node:
    """A peer on the p2ptui network. Build one with `open_node`."""

    def __init__(
        self,
        config: NodeConfig,
        identity: Identity,
        signalling: SignallingClient,
        sock: trio.socket.SocketType,
        list_addresses: ListAddresses = interfaces.local_addresses,
    ) -> None:
        check_name(config.name)
        self.config = config
        self.name = config.name
        self.identity = identity
        self.signalling = signalling
        #: Datagrams and signalling records dropped before reaching a session, by reason.
        self.dropped: Counter[str] = Counter()
        self.known_peers = KnownPeers(config.state_dir)
        self.store = MessageStore(config.state_dir)
        #: LAN discovery, when on (`_use_lan`).
        self._lan: Lan | None = None
        self._send_events, self.events = trio.open_memory_channel[ev.NodeEvent](EVENT_BUFFER)
        self._datagrams = Datagrams(sock, self.dropped, SendBudget(config.send_limits, trio.current_time()))
        self._relays = Relays(config.turn_servers, self._datagrams)
        self._discovery = Discovery(self._datagrams, self._relays, config.bind[0], config.stun_servers)
        # Spraying crosses IPv4 NATs: its sockets are IPv4 ones.
        spray_ip = "0.0.0.0" if ":" in config.bind[0] else config.bind[0]
        self._sprayer = Sprayer(config.spray, spray_ip, self._datagrams)
        self._roamer = Roamer(self._discovery, list_addresses)
        static_key = secure.noise_private_key(identity.signing_key)
        self._peers = Peers(
            config.session, static_key, self.store, self.known_peers, self._datagrams, self._relays, self._emit
        )
        # The parts hear of each other through these two hooks only.
        self._peers.on_status = self._sprayer.release
        self._peers.on_forget = self._forget
        self._peers.max_strangers = config.max_strangers
        self._relays.on_change = self._peers.relays_changed
        self._roamer.on_moved = self._moved
        self._roamer.on_network_changed = signalling.network_changed
        timing = Timing(config.offer_ttl, config.answer_timeout + config.session.punch_timeout, config.retry_max)
        self._rendezvous = Rendezvous(
            identity,
            self.name,
            timing,
            signalling,
            Admission(self.name, self.known_peers, self.dropped, config.offer_rates),
            (self._peers, self._discovery, self._relays, self._sprayer),
            self._peer,
            self._emit,
            config.local_networks,
            self._roamer.fresh,
        )
        self._nursery: trio.Nursery | None = None
        self._portmapper: PortMapper | None = None

    # --- The application's API ------------------------------------------------------

    @property
    def local_address(self) -> Address:
        """Where the chat socket listens."""
        return self._datagrams.local_address

    @property
    def public_address(self) -> Address | None:
        """Ours as STUN saw it (our host address without STUN); None until registered."""
        return self._discovery.public

    @property
    def nat(self) -> nat.NatReport:
        return self._discovery.nat

    @property
    def portmap(self) -> PortMapStatus | None:
        """What the router's port mapping gave; None when port mapping is off."""
        return self._portmapper.status() if self._portmapper else None

    def conversations(self) -> list[str]:
        """The names of the peers with a conversation, in the order they began."""
        return [peer.name for peer in self._peers]

    def open(self, name: str) -> None:
        """Start (or keep) a conversation with name: connect whenever it is online.

        Raises ConfigError for a bad name or our own.
        """
        self._open(name)

    def status(self, name: str) -> ev.PeerStatus:
        """How the conversation with name stands. Raises ConfigError if there is none."""
        return self._conversation(name).status.value

    async def wait_status(self, name: str, status: ev.PeerStatus) -> None:
        """Until the conversation with name has status. Raises ConfigError if there is none."""
        await self._conversation(name).status.wait_value(status)

    def send(self, name: str, text: str, *, message_id: str | None = None) -> str:
        """Queue a message for name; returns its id (message_id, if given: 16 hex digits).

        The message is stored in the outbox before this returns, and goes out as
        soon as a path to name is open, in this run or a later one. Raises
        ConfigError for a bad name or an empty or too long text (the user's),
        LocalProtocolError for a malformed or reused message_id (the caller's),
        EnvironmentFailure if it cannot be stored (a full disk): then it is not sent.
        """
        if not text:
            raise ConfigError("an empty message")
        if len(text.encode("utf-8")) > sess.MAX_MESSAGE_BYTES:
            raise sess.MessageTooLong(f"the message is over the limit of {sess.MAX_MESSAGE_BYTES} bytes")
        raw_id = os.urandom(wire.MESSAGE_ID_SIZE) if message_id is None else _message_id(message_id)
        peer = self._open(name)
        if not self.store.queue(name, raw_id.hex(), text):
            raise LocalProtocolError(f"message id {raw_id.hex()} was used before")
        peer.session.send_message(raw_id, text, trio.current_time())
        peer.wake()
        return raw_id.hex()

    def accept_key(self, name: str, seen: str | None = None) -> None:
        """The user trusts name's new key: pin it, and connect again.

        Only a key the peer signed an offer or answer with is pinned; one that
        only presence named (the service's word) is pinned when the peer first
        signs with it, never before.

        seen: the fingerprint the user was shown; if the key changed again
        since, nothing is pinned. Raises ConfigError if name's key has not
        changed, or not to the key seen.
        """
        peer = self._peers.get(name)
        if peer is None or not peer.changed_key:
            raise ConfigError(f"{name}'s key has not changed")
        if seen is not None and seen != fingerprint(peer.changed_key):
            raise ConfigError(f"{name}'s key changed again: look at the new fingerprint first")
        self._peers.accept_key(peer)

    def history(self, name: str, limit: int = 500, before: str | None = None) -> ev.History:
        """The last `limit` stored messages with name; with before (a message id),
        the `limit` stored before that one: the next page back."""
        messages = tuple(self.store.history(name, limit, before))
        return ev.History(name, messages, older=before is not None, complete=len(messages) < limit)

    def unshown(self, name: str) -> list[StoredMessage]:
        """Messages from name stored but never marked shown (the application was
        killed first), oldest first: show them, then `mark_shown` each."""
        return self.store.unshown(name)

    def mark_shown(self, name: str, message_id: str) -> None:
        """The application has shown this message from name: `unshown` leaves it out.

        If that cannot be noted (a full disk), the message is shown again after a
        restart, with the same id: logged, not raised.
        """
        try:
            self.store.shown(name, message_id)
        except EnvironmentFailure as exc:
            logging.getLogger(__name__).warning("%s", exc)

    def undelivered(self, name: str) -> list[StoredMessage]:
        """Our messages to name not yet acknowledged (this run's or an earlier one's), oldest first."""
        return [message for message in self.store.outbox() if message.peer == name]

    def details(self, name: str) -> ev.Details:
        """The path, keys and counters of the conversation with name. Raises ConfigError if there is none."""
        peer = self._conversation(name)
        session = peer.session
        kind = path_kind(session)
        verified, lost = self._peers.verification(peer)
        return ev.Details(
            peer=name,
            status=peer.status.value,
            reason=peer.reason,
            path=kind,
            network=self._peers.network(remote_address(session.path)[0]) if kind and session.path else None,
            remote=remote_address(session.path) if session.path else None,
            relay=session.path.local if isinstance(session.path, Via) and session.path.relayed else None,
            rtt=session.rtt,
            encryption=secure.PROTOCOL if session.secure else None,
            fingerprint=fingerprint(peer.key) if peer.key else "",
            new_fingerprint=fingerprint(peer.changed_key) if peer.changed_key else "",
            own_fingerprint=fingerprint(self.identity.public_key),
            public_address=self._discovery.public,
            nat=self._discovery.nat.nat_type.value,
            peer_nat=peer.nat,
            relays=self._relays.info(),
            first_contact_lan=name in self._rendezvous.lan_first_contacts,
            unacknowledged=session.unacknowledged,
            dropped=tuple(sorted(peer.dropped.items())),
            dropped_all=tuple(sorted(self.dropped.items())),
            verified=verified,
            verification_lost=lost,
            portmap=self.portmap,
            net_report=self._net_report(),
        )

    def _net_report(self) -> NetReport | None:
        """What discovery and the port mapper learned, as nat-check reports it; None before STUN."""
        found = self._discovery
        if found.public is None:
            return None
        checks = tuple(ServerCheck(a.server, "stun", a.rtt, a.mapped) for a in found.answers)
        return NetReport(found.nat, None, self.portmap, checks, found.ipv6[0] if found.ipv6 else None)

    def safety_number(self, name: str) -> str:
        """The 60-digit safety number of our key and name's pinned key (net/safety.py):
        the number name's own app shows for us. Raises ConfigError if no key is pinned for name."""
        key = self.known_peers.pinned(name)
        peer = self._peers.get(name)
        if key is None and peer is not None:
            key = peer.signed_key or None  # A stranger's, signed, pinned once the user answers.
        if key is None:
            raise ConfigError(f"no key pinned for {name} yet: talk to them first")
        return safety.safety_number(self.name, self.identity.public_key, name, key)

    def mark_verified(self, name: str, seen: str | None = None) -> None:
        """The user compared the safety number with name's and they match: name's pinned
        key is verified, until it changes.

        seen: the number the user compared (spaces allowed); if name's key changed
        since, nothing is marked. Raises ConfigError if no key is pinned for name, if
        name shows a new key not yet accepted, or if seen is not the current number;
        EnvironmentFailure if known_peers cannot be written.
        """
        number = self.safety_number(name)
        peer = self._peers.get(name)
        if peer is not None and self.known_peers.pinned(name) is None:
            self._choose(peer)  # Verifying a stranger answers it: its signed key is pinned.
        key = self.known_peers.pinned(name)
        assert key is not None
        if peer is not None and peer.changed_key:
            raise ConfigError(f"{name} shows a new key: accept or refuse it before verifying")
        if seen is not None and "".join(seen.split()) != number:
            raise ConfigError(f"{name}'s key changed: compare the new safety number")
        self.known_peers.mark_verified(name, key)
        if peer is not None:
            peer.wake()  # Its status event tells the application.

    def counters(self) -> Counter[str]:
        """Everything dropped so far, by reason: by the node and by every session."""
        total = Counter(self.dropped)
        for why, count in self._peers.counters():
            total[why] += count
        total.update(self._relays.counters())
        return total

    async def ping(self, name: str, timeout: float = 2.0) -> float | None:
        """One probe over the open path to name, answered by its core: the round trip
        in seconds, or None if no answer came in time or no path is open.
        Raises ConfigError if there is no conversation with name."""
        return await self._peers.ping(self._conversation(name), timeout)

    # --- Running ---------------------------------------------------------------------

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
                self._portmapper = PortMapper(self.local_address[1], self._mapped)
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

    def _open(self, name: str) -> Peer:
        check_name(name)
        if name == self.name:
            raise ConfigError("that is your own name")
        known = self._peers.get(name) is not None
        peer = self._peer(name)
        if known:
            self._choose(peer)
        else:
            self._peers.opened(peer)  # Before its connector starts: that one watches it.
        return peer

    def _choose(self, peer: Peer) -> None:
        """The user opened (or verified) a conversation the node already holds: a
        stranger until now is watched from now on (rendezvous.Rendezvous.watch)."""
        stranger = not self._peers.chosen(peer)
        self._peers.opened(peer)
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

    def _conversation(self, name: str) -> Peer:
        peer = self._peers.get(name)
        if peer is None:
            raise ConfigError(f"no conversation with {name}")
        return peer

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


def _message_id(text: str) -> bytes:
    """A caller's message id: 16 hex digits."""
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raw = b""
    if len(raw) != wire.MESSAGE_ID_SIZE:
        raise LocalProtocolError(f"a message id is {wire.MESSAGE_ID_SIZE * 2} hex digits, not {text!r}")
    return raw


@asynccontextmanager
async def open_node(
    config: NodeConfig,
    identity: Identity,
    *,
    signalling: SignallingClient | None = None,
    lan_link: Link | None = None,
    sock: trio.socket.SocketType | None = None,
    local_addresses: ListAddresses | None = None,
) -> AsyncIterator[Node]:
    """A running node; leaving the block stops it and everything it started.

    signalling: the client to use instead of the one config.signal names;
    sock: the UDP socket to use (unbound) instead of a new one; local_addresses:
    what lists this machine's addresses (polled, to notice a move) instead of
    interfaces.local_addresses. Tests pass fakes; the socket must be a trio
    socket (trio's fake network's will do).

    Raises ConfigError for a bad name or signalling URL, EnvironmentFailure
    for an address it cannot listen on: a single exception, not a group.

    lan_link: the machine's interfaces and mDNS (lan.Link) for LAN discovery,
    when config.lan is on, instead of zeroconf's (tests give one in memory).
    """
    if sock is None:
        sock = open_socket(config.bind)
    with sock:
        signalling = signalling or make_signalling(config, identity)
        node = Node(config, identity, signalling, sock, local_addresses or interfaces.local_addresses)
        try:
            await node._datagrams.bind(config.bind)
            node._use_lan(lan_link)
            async with trio.open_nursery() as nursery:
                await nursery.start(node._run)
                try:
                    yield node
                finally:
                    # Peers learn we left at once, not when their paths go silent;
                    # also when we leave by cancellation (the TUI quitting).
                    with trio.move_on_after(GOODBYE_WAIT, shield=True):
                        await node._peers.close_all()
                    nursery.cancel_scope.cancel()
        finally:
            node.store.close()
