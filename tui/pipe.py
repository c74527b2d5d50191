"""`p2ptui pipe`: the headless client. Lines in on stdin, JSON events out on stdout.

Each stdin line is a message to the peer (or `/send PATH`: pipe_files.py).
Each stdout line is one JSON object: ready, waiting, connected, disconnected,
key-changed, sent, message, delivered, error, the file-* events and the
groups' events (see the README). Messages are stored in the outbox before
"sent", so a pipe killed before delivery sends them in its next run. The exit
status is 0 when every message sent (this run or an earlier one) was
delivered, 1 otherwise.
"""

from __future__ import annotations

import json
import math
import os
import sys
from dataclasses import dataclass, field
from typing import Any

import trio

from p2ptui.net import (
    EnvironmentFailure,
    Identity,
    Node,
    NodeConfig,
    P2PError,
    describe,
    events,
    format_address,
    open_node,
)

from .errors import signalling_advice
from .pipe_files import PipeFiles, parse_line
from .pipe_groups import PipeGroups
from .pipe_stdin import read_bursts


@dataclass
class PipeOptions:
    peer: str
    echo: bool = False
    timeout: float | None = None
    """Give up if no path to the peer opened within this many seconds of starting,
    reaching the signalling service included."""
    linger: float = 30.0
    """After stdin ends, how long to wait for messages still undelivered."""
    accept_files: str | None = None
    """Accept every file offered into this directory."""
    group: str | None = None
    """--group: stdin lines go to this group (peer may then be empty)."""
    accept_invites: bool = False


def disconnect_reason(changed: events.PeerChanged) -> str:
    """Why a connected peer is no longer: the core's reason, or one its new status gives
    (a peer killed and back at once gets a new session, and the core no reason)."""
    if changed.reason:
        return changed.reason
    if changed.status == events.PeerStatus.OFFLINE:
        return f"{changed.peer} is offline"
    if changed.status == events.PeerStatus.CONNECTING:
        return f"{changed.peer} is connecting again (it may have restarted)"
    return f"lost the path to {changed.peer}"


class PeerWatch:
    """What the pipe says of its peer's status changes: no I/O, one event or none each."""

    def __init__(self) -> None:
        self.connected = False
        self.waiting = False
        """A waiting event was said, and the peer has not connected since."""

    def changed(self, changed: events.PeerChanged) -> tuple[str, dict[str, Any]] | None:
        """The event (name, fields) a new status makes: connected, key-changed, disconnected
        (only after connected), waiting (once until connected), error (no path yet), or None."""
        peer, status = changed.peer, changed.status
        if status == events.PeerStatus.CONNECTED and changed.remote:
            self.waiting = False
            self.connected = True
            remote = format_address(changed.remote)
            return "connected", dict(peer=peer, path=changed.path, network=changed.network, remote=remote)
        if status == events.PeerStatus.KEY_CHANGED:
            self.connected = False
            return "key-changed", dict(peer=peer, pinned=changed.fingerprint, new=changed.new_fingerprint)
        if self.connected:
            self.connected = False
            return "disconnected", dict(peer=peer, reason=disconnect_reason(changed))
        if status == events.PeerStatus.OFFLINE and not self.waiting:
            self.waiting = True
            return "waiting", dict(peer=peer)
        if status == events.PeerStatus.FAILED:
            return "error", dict(peer=peer, message=f"no path to {peer} yet: {changed.reason}")
        return None


class ReaderGone(Exception):
    """Stdout was closed (`p2ptui pipe ... | head -1`): no one reads the events any more."""


def emit(event: str, **fields: Any) -> None:
    """Write one event line. Raises ReaderGone once stdout is closed."""
    try:
        sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        # What is still buffered goes to /dev/null, or Python's flush at exit fails again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        raise ReaderGone() from None


class Failure(EnvironmentFailure):
    """Ends the pipe with an error event and exit status 1."""


@dataclass
class _Start:
    """How far the start got: what --timeout's error says."""

    ready: trio.Event = field(default_factory=trio.Event)
    """Registered with the signalling service."""
    problem: str = ""
    """Why signalling failed last while the client retried."""


@dataclass
class _Pipe:
    node: Node
    options: PipeOptions
    undelivered: set[str] = field(default_factory=set)
    shown: set[tuple[str, str]] = field(default_factory=set)
    stdin_done: trio.Event = field(default_factory=trio.Event)
    everything_delivered: trio.Event = field(default_factory=trio.Event)
    watch: PeerWatch = field(default_factory=PeerWatch)
    said_lan_only: bool = False
    files: PipeFiles | None = None
    groups: PipeGroups | None = None

    def send(self, text: str, peer: str | None = None) -> None:
        """Send text to peer (by default the pipe's peer); a refusal is an error event."""
        try:
            message_id = self.node.send(peer or self.options.peer, text)
        except P2PError as exc:  # An empty or too long text, say, even from a stranger.
            emit("error", message=f"not sent: {describe(exc)}")
            return
        emit("sent", peer=peer or self.options.peer, id=message_id)
        self.undelivered.add(message_id)
        self.everything_delivered = trio.Event()

    def send_all(self, texts: list[str]) -> None:
        """Send the texts to the pipe's peer, stored in one transaction; emptied after.
        If the burst is refused (one text too long, say), each goes on its own, so
        only the bad one is an error event."""
        if not texts:
            return
        try:
            ids = self.node.send_many(self.options.peer, texts)
        except P2PError:
            for text in texts:
                self.send(text)
        else:
            for message_id in ids:
                emit("sent", peer=self.options.peer, id=message_id)
            self.undelivered.update(ids)
            self.everything_delivered = trio.Event()
        texts.clear()

    def show(self, peer: str, message_id: str, text: str) -> None:
        if (peer, message_id) in self.shown:
            return  # Caught up from the store, and its event was still queued.
        self.shown.add((peer, message_id))
        emit("message", peer=peer, id=message_id, text=text)
        self.node.mark_shown(peer, message_id)
        if self.options.echo:
            self.send(text, peer)

    def delivered(self, message_id: str) -> None:
        self.undelivered.discard(message_id)
        if not self.undelivered:
            self.everything_delivered.set()

    async def read_stdin(self) -> None:
        send, bursts = trio.open_memory_channel[list[str]](1)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(read_bursts, send)
            async for burst in bursts:
                self.take(burst, nursery)
        self.stdin_done.set()

    def take(self, burst: list[str], nursery: trio.Nursery) -> None:
        """Act on the lines of one burst, in order; consecutive texts to the peer are
        stored together (`Node.send_many`)."""
        texts: list[str] = []
        for text in burst:
            if not text:
                continue
            if self.groups is not None and self.groups.command(text, nursery):
                self.send_all(texts)
                continue
            what, argument = parse_line(text)
            if what == "text" and self.options.group and self.groups is not None:
                self.groups.send(argument)
                continue
            if what == "text" and self.options.peer:
                texts.append(argument)
                continue
            self.send_all(texts)
            if what == "send" and self.files is not None and (refused := self.files.send(argument)):
                name, fields = refused
                emit(name, **fields)
            elif what == "error":
                emit("error", message=argument)
        self.send_all(texts)

    def signalling(self, status: events.SignalStatus, start: _Start) -> None:
        """Signalling lost for good ends the pipe; lost before we are ready ends it too, unless
        --timeout was given: then the client retries (a full server, say) until it passes.
        With LAN discovery on, a loss after that does not: it is said once (and again after
        signalling came back)."""
        if status.connected:
            self.said_lan_only = False
        elif not status.fatal and not start.ready.is_set() and self.options.timeout is not None:
            if signalling_advice(status.message) != start.problem:  # Said once, not at every retry.
                start.problem = signalling_advice(status.message)
                emit("error", message=f"{start.problem}; retrying until --timeout")
        elif status.fatal or not start.ready.is_set():
            raise Failure(signalling_advice(status.message))
        elif status.lan_only and not self.said_lan_only:
            self.said_lan_only = True
            emit("error", message=status.message)

    async def handle_events(self, start: _Start) -> None:
        async for event in self.node.events:
            if self.groups is not None and self.groups.event(event):
                continue
            match event:
                case events.Ready(name=name, address=address):
                    emit("ready", name=name, address=format_address(address))
                    start.ready.set()
                case events.SignalStatus() as status:
                    self.signalling(status, start)
                case events.PeerChanged(peer=peer) as changed if peer == self.options.peer:
                    if said := self.watch.changed(changed):
                        name, fields = said
                        emit(name, **fields)
                case events.MessageReceived(peer=peer, id=message_id, text=text):
                    self.show(peer, message_id, text)
                case events.MessageDelivered(peer=peer, id=message_id):
                    emit("delivered", peer=peer, id=message_id)
                    self.delivered(message_id)
                case events.Error(message=message):
                    emit("error", message=message)
                case _ if self.files is not None:
                    for name, fields in self.files.event(event):
                        emit(name, **fields)


async def run_pipe(config: NodeConfig, identity: Identity, options: PipeOptions) -> int:
    """0 once everything sent is delivered. Raises Failure, or what open_node raises
    (a ConfigError, an EnvironmentFailure); the command line turns either into one
    error event (`p2ptui.net.describe`) and its exit status."""
    timeout = options.timeout
    started = _Start()
    # --timeout covers the whole start: a signalling server that accepts and
    # never speaks must not hold the pipe either.
    with trio.CancelScope(deadline=math.inf if timeout is None else trio.current_time() + timeout) as start:
        return await _run(config, identity, options, started, start)
    if not started.ready.is_set():
        why = f": {started.problem}" if started.problem else ""
        raise Failure(f"not registered with the signalling service ({config.signal}) within {timeout:g} s{why}")
    raise Failure(f"{options.peer} did not connect within {timeout:g} s")


async def _run(
    config: NodeConfig, identity: Identity, options: PipeOptions, started: _Start, start: trio.CancelScope
) -> int:
    async with open_node(config, identity) as node:
        try:
            return await _talk(node, options, started, start)
        except* ReaderGone:
            pass
        # The reader stopped reading: that ends the pipe quietly, and the exit status keeps
        # its one meaning (0: everything sent, this run or an earlier one, was delivered).
        return 1 if node.undelivered(options.peer) else 0


async def _talk(node: Node, options: PipeOptions, started: _Start, start: trio.CancelScope) -> int:
    async with trio.open_nursery() as nursery:
        pipe = _Pipe(node, options)
        pipe.groups = PipeGroups(node, emit, options.group, options.accept_invites)
        pipe.files = PipeFiles(node, options.peer, options.accept_files)
        nursery.start_soon(pipe.handle_events, started)
        await started.ready.wait()
        pipe.groups.start()
        if options.peer:
            node.open(options.peer)
            # What an earlier run was killed before showing, it shows now.
            for message in node.unshown(options.peer):
                pipe.show(message.peer, message.id, message.text)
            # What an earlier run left undelivered is this run's to deliver too.
            pipe.undelivered |= {m.id for m in node.undelivered(options.peer)}
            for name, fields in pipe.files.resume():
                emit(name, **fields)
        nursery.start_soon(pipe.read_stdin)
        if options.timeout is not None and options.peer:
            nursery.start_soon(_connected_in_time, pipe, start)
        elif options.timeout is not None:
            start.deadline = math.inf  # Registered: with no peer to wait for, the start is over.
        await pipe.stdin_done.wait()
        with trio.move_on_after(options.linger):
            while pipe.undelivered:
                await pipe.everything_delivered.wait()
            while pipe.groups.undelivered:
                await pipe.groups.everything_delivered.wait()
        # Files take what they take; --timeout, if given, bounds the wait for them too.
        with trio.move_on_after(math.inf if options.timeout is None else options.timeout):
            await pipe.files.wait()
        nursery.cancel_scope.cancel()
        if pipe.undelivered:
            raise Failure(f"{len(pipe.undelivered)} message(s) not delivered to {options.peer}")
        if pipe.groups.undelivered:
            raise Failure(f"{len(pipe.groups.undelivered)} group message(s) not yet held by every member")
        if pipe.files.sending or pipe.files.failed:
            unsent = len(pipe.files.sending) + pipe.files.failed
            raise Failure(f"{unsent} file(s) not sent to {options.peer}")
    return 0


async def _connected_in_time(pipe: _Pipe, start: trio.CancelScope) -> None:
    """Once a path opens, the start is over: lift its deadline."""
    await pipe.node.wait_status(pipe.options.peer, events.PeerStatus.CONNECTED)
    start.deadline = math.inf

