"""A peer on the p2ptui network: the public API.

`Node` builds the parts (configured by nodeconfig.py) and answers the
application; `open_node` runs one. It is three files, one job each: this
one (the API that acts: open, send, accept a key, verify), node_details.py
(what it tells: details, safety numbers, counters) and node_tasks.py (the
tree of tasks that runs the parts, drawn there, and their hooks): mixins of
one class, since all three work on the same parts.

Protocol decisions live in the sans-I/O `Session` and `TurnClient`; the parts
move bytes and wait. What must outlive the process is kept by `store.py`
(history, the outbox) and `trust.py` (pinned keys).
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio

from . import events as ev
from . import interfaces, nat, secure, wire
from . import session as sess
from .address import Address
from .admission import Admission
from .datagrams import Datagrams, open_socket
from .discovery import RELAY_SETTLE_WAIT, Discovery
from .errors import ConfigError, EnvironmentFailure, LocalProtocolError
from .identity import Identity
from .lan import Lan, Link
from .node_details import NodeDetails
from .node_files import NodeFiles
from .node_groups import NodeGroups
from .node_tasks import PORTMAP_WAIT as PORTMAP_WAIT
from .node_tasks import NodeTasks
from .nodeconfig import NodeConfig, make_signalling
from .peers import Peer, Peers
from .portmap import PortMapper
from .relays import Relays
from .rendezvous import Rendezvous, Timing
from .roamer import ListAddresses, Roamer
from .sendbudget import SendBudget
from .signalling import SignallingClient, check_name
from .spraying import Sprayer
from .store import MessageStore, StoredMessage
from .transfer.app import FilesApp
from .transfer.store import TransferStore
from .trust import KnownPeers, fingerprint

__all__ = ["RELAY_SETTLE_WAIT", "Node", "NodeConfig", "make_signalling", "open_node"]

EVENT_BUFFER = 1024
#: How long leaving may wait for the goodbyes to go out (SessionConfig.goodbye_copies,
#: goodbye_interval apart: 3 and 5 ms by default).
GOODBYE_WAIT = 0.25


class Node(NodeDetails, NodeGroups, NodeTasks, NodeFiles):
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
        self.transfer_store = TransferStore(config.state_dir)
        self._files = FilesApp(
            self.transfer_store,
            self._emit,
            self._resume_transfer,
            downloads=config.downloads,
            max_file_size=config.max_file_size,
        )
        self._peers.apps.append(self._files)
        self._start_groups()

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

    async def ping(self, name: str, timeout: float = 2.0) -> float | None:
        """One probe over the open path to name, answered by its core: the round trip
        in seconds, or None if no answer came in time or no path is open.
        Raises ConfigError if there is no conversation with name."""
        return await self._peers.ping(self._conversation(name), timeout)

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
                await nursery.start(node._files.run)  # Takes up what an earlier run left unfinished.
                node._reach_members()  # Sessions with our groups' members, made on demand.
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
            node.transfer_store.close()
            node._groups.store.close()
