"""The built-in signalling (rendezvous) server: `p2ptui signal-server`.

It carries only the intent to talk: who is online under which key, and
offers and answers between them. Messages never pass through it. On the same
port, over UDP, it answers STUN Binding requests, so a client learns the
public address its chat socket is seen from.

Names are bound to the first key that registers them, kept in a small SQLite
file (names.py) until the key stays away for 90 days. One source cannot take
the server down: connections are capped per address and in all, below the
open-files limit; a silent registered client is pinged, then closed; offers
are rate-limited per sender and per target; a client's outbox is bounded, and
what does not fit is dropped and counted, never the client. limits.py holds
the numbers (ServerLimits) and the token buckets.
"""

from __future__ import annotations

import errno
import logging
import math
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import trio

from .. import identity, stun
from . import DEFAULT_PORT, protocol
from .limits import (
    Connections,
    KeyedBuckets,
    ServerLimits,
    address_key,
    connection_cap,
    descriptor_limit,
    per_day,
    raise_descriptor_limit,
)
from .messages import Answer, Offer, Presence, SignallingDataError, valid_name
from .names import DAY, MEMORY, NameStore

log = logging.getLogger(__name__)

OUTBOX_SIZE = 256
_MAX_WATCHES = 1024
#: How often the server logs what it dropped, when anything was.
STATS_INTERVAL = 60.0
#: Out of descriptors or memory: accept again after a pause, as trio's own accept loop does.
_ACCEPT_CAPACITY_ERRNOS = {errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS}
SERVER_FULL_MESSAGE = "the signalling server is full; try later"


@dataclass(eq=False)
class _Client:
    stream: trio.SocketStream
    outbox: trio.MemorySendChannel[bytes]
    ip: str
    dropped: Counter[str]
    nonce: bytes = field(default_factory=lambda: os.urandom(16))
    name: str | None = None
    key: str = ""
    #: Cancels the connection unless it registers in time.
    deadline: trio.CancelScope = field(default_factory=trio.CancelScope)
    watching: set[str] = field(default_factory=set)

    def send(self, line: bytes) -> None:
        """Queue a line; when the client is not keeping up, drop it and count it.

        Never close the client for it: whoever floods a client would cut it off.
        """
        try:
            self.outbox.send_nowait(line)
        except trio.WouldBlock:
            self.dropped["a client's queue was full"] += 1
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            pass  # The client is leaving.


class SignalServer:
    """The server's state; `serve` runs it on a host and port."""

    def __init__(
        self,
        *,
        limits: ServerLimits = ServerLimits(),
        names: NameStore | None = None,
        stats_interval: float = STATS_INTERVAL,
    ) -> None:
        self.limits = limits
        self.names = names if names is not None else NameStore(expiry=limits.name_expiry_days * DAY)
        self.stats_interval = stats_interval
        self.online: dict[str, _Client] = {}
        self.watchers: dict[str, set[_Client]] = {}
        #: What was refused or dropped, by kind: bad input, floods, full queues.
        self.dropped: Counter[str] = Counter()
        #: Set by serve(), from the open-files limit then.
        self.connections = Connections(0, limits.connections_per_ip)
        self._sender_rates = KeyedBuckets[str](limits.offers_per_sender)
        self._target_rates = KeyedBuckets[str](limits.offers_per_target)
        self._key_names = KeyedBuckets[str](per_day(limits.new_names_per_key))
        self._address_names = KeyedBuckets[str](per_day(limits.new_names_per_ip))

    async def serve(
        self,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        *,
        raise_limit: bool = False,
        task_status: trio.TaskStatus[tuple[str, int]] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Listen on TCP and UDP host:port (port 0: any free one) until cancelled."""
        descriptors = raise_descriptor_limit() if raise_limit else descriptor_limit()
        self.connections.total = connection_cap(descriptors, self.limits.connections)
        self.names.purge(time.time())
        listeners = await trio.open_tcp_listeners(port, host=host)
        listener = listeners[0]
        for extra in listeners[1:]:
            await extra.aclose()
        bound = listener.socket.getsockname()[:2]
        udp = trio.socket.socket(listener.socket.family, trio.socket.SOCK_DGRAM)
        # A second STUN port (port + 1): comparing what two ports saw tells a
        # client whether its NAT maps endpoint-independently.
        second = trio.socket.socket(listener.socket.family, trio.socket.SOCK_DGRAM)
        with udp, second:
            await udp.bind(bound)
            try:
                await second.bind((bound[0], bound[1] + 1))
            except OSError as exc:
                log.warning("no second STUN port %d: %s", bound[1] + 1, exc.strerror or exc)
                second.close()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._answer_stun, udp)
                if second.fileno() != -1:
                    nursery.start_soon(self._answer_stun, second)
                nursery.start_soon(self._accept, listener, nursery)
                nursery.start_soon(self._log_stats)
                log.info("signalling server on %s:%d (TCP signalling, UDP STUN on it and the next port)", *bound)
                log.info(
                    "at most %d connections, %d per address; names in %s",
                    self.connections.total, self.connections.per_address, self.names.path,
                )
                task_status.started((bound[0], bound[1]))

    async def _accept(self, listener: trio.SocketListener, nursery: trio.Nursery) -> None:
        # Not trio.serve_listeners: out of descriptors, it logs a traceback per attempt.
        async with listener:
            while True:
                try:
                    stream = await listener.accept()
                except OSError as exc:
                    if exc.errno not in _ACCEPT_CAPACITY_ERRNOS:
                        raise
                    self.dropped[f"accept failed: {errno.errorcode.get(exc.errno or 0, exc.errno)}"] += 1
                    await trio.sleep(0.1)
                    continue
                nursery.start_soon(self._handle, stream)

    async def _log_stats(self) -> None:
        logged: Counter[str] = Counter()
        while True:
            await trio.sleep(self.stats_interval)
            if self.dropped != logged:
                logged = self.dropped.copy()
                counts = ", ".join(f"{kind}: {count}" for kind, count in sorted(logged.items()))
                log.info(
                    "%d connections, %d online; dropped so far: %s", len(self.connections), len(self.online), counts
                )

    # --- STUN ------------------------------------------------------------------------

    async def _answer_stun(self, udp: trio.socket.SocketType) -> None:
        while True:
            try:
                data, source = await udp.recvfrom(2048)
            except OSError:  # e.g. an ICMP error from an earlier reply, on some systems
                self.dropped["STUN receive error"] += 1
                continue
            try:
                request = stun.parse_untrusted(data)
            except stun.StunError:
                self.dropped["bad STUN"] += 1
                continue
            if isinstance(request, stun.BindingRequest):
                try:
                    await udp.sendto(stun.binding_response(request, source[:2]), source)
                except OSError:
                    self.dropped["STUN reply failed"] += 1

    # --- Signalling ------------------------------------------------------------------

    async def _handle(self, stream: trio.SocketStream) -> None:
        try:
            ip = str(stream.socket.getpeername()[0])
        except OSError:  # Reset before we got to it.
            await stream.aclose()
            return
        if not self.connections.admit(ip):
            await self._refuse(stream)
            return
        try:
            await self._serve_client(stream, ip)
        finally:
            self.connections.release(ip)

    async def _refuse(self, stream: trio.SocketStream) -> None:
        self.dropped["connections refused: server full"] += 1
        # The line fits any socket buffer; the wait is bounded all the same.
        with trio.move_on_after(1.0):
            try:
                await stream.send_all(
                    protocol.encode("error", code=protocol.SERVER_FULL, message=SERVER_FULL_MESSAGE)
                )
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                pass
        await stream.aclose()

    async def _serve_client(self, stream: trio.SocketStream, ip: str) -> None:
        send, receive = trio.open_memory_channel[bytes](OUTBOX_SIZE)
        client = _Client(stream, send, ip, self.dropped)
        client.deadline.deadline = trio.current_time() + self.limits.register_timeout
        try:
            with client.deadline:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._write, client, receive, nursery.cancel_scope)
                    client.send(protocol.encode("challenge", nonce=client.nonce.hex()))
                    await self._read(client)
                    # Let the writer send what is queued (an error, say), then hang up.
                    send.close()
        finally:
            self._forget(client)
            with trio.CancelScope(shield=True):
                await stream.aclose()

    async def _write(
        self,
        client: _Client,
        receive: trio.MemoryReceiveChannel[bytes],
        connection: trio.CancelScope,
    ) -> None:
        # Errors are handled here, not by the caller: from inside a nursery they
        # would arrive wrapped in an ExceptionGroup and end the whole server.
        try:
            async with receive:
                async for line in receive:
                    await client.stream.send_all(line)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass  # The client went away.
        # The outbox was closed: the client left, broke the protocol or fell behind.
        connection.cancel()

    async def _read(self, client: _Client) -> None:
        buffer = protocol.LineBuffer()
        pinged = False
        while True:
            # Unregistered, client.deadline bounds the wait; registered, silence is pinged, then closed.
            if client.name is None:
                wait = math.inf
            else:
                wait = self.limits.ping_timeout if pinged else self.limits.ping_interval
            with trio.move_on_after(wait) as idle:
                try:
                    data = await client.stream.receive_some(65536)
                except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                    return  # The client went away (a reset, say).
            if idle.cancelled_caught:
                if pinged:
                    self.dropped["silent clients closed"] += 1
                    return
                pinged = True
                client.send(protocol.encode("ping"))
                continue
            pinged = False
            if not data:
                return
            overlong = buffer.overlong
            lines = buffer.feed(data)
            if buffer.overlong > overlong:
                self.dropped["bad request"] += buffer.overlong - overlong
                client.send(protocol.encode("error", code=protocol.BAD_REQUEST, message="line too long"))
            # Every line stands on its own: a bad one never costs the good ones after it.
            for line in lines:
                try:
                    self._dispatch(client, protocol.decode_untrusted(line))
                except (protocol.SignallingProtocolError, SignallingDataError) as exc:
                    self.dropped["bad request"] += 1
                    client.send(protocol.encode("error", code=protocol.BAD_REQUEST, message=str(exc)))
                except Exception:
                    # A bug of ours: it ends this connection, never the server.
                    log.exception("internal error handling a client; closing its connection")
                    self.dropped["internal error"] += 1
                    return

    def _dispatch(self, client: _Client, message: dict[str, Any]) -> None:
        op = message["op"]
        handler: Callable[[_Client, dict[str, Any]], None] | None = {
            "register": self._register,
            "watch": self._watch,
            "offer": self._offer,
            "answer": self._answer,
            "pong": _ignore,
        }.get(op)
        if handler is None:
            raise SignallingDataError(f"unknown op {op[:32]!r}")
        if op != "register" and client.name is None:
            client.send(
                protocol.encode("error", code=protocol.NOT_REGISTERED, message="register first")
            )
            return
        handler(client, message)

    def _register(self, client: _Client, message: dict[str, Any]) -> None:
        name, key, sig = message.get("name"), message.get("key"), message.get("sig")
        if client.name is not None:
            raise SignallingDataError("already registered")
        if not valid_name(name) or not isinstance(key, str) or not isinstance(sig, str):
            raise SignallingDataError("register needs a valid name, key and sig")
        assert isinstance(name, str)
        try:
            signature = bytes.fromhex(sig)
        except ValueError:
            raise SignallingDataError("sig is not hex") from None
        if not identity.verify(key, protocol.register_challenge(client.nonce, name), signature):
            raise SignallingDataError("the signature does not match the key")
        if not self._claim(client, name, key):
            return
        previous = self.online.get(name)
        if previous is not None:
            # The same key again, from a new connection: the newest one wins.
            previous.outbox.close()
        client.name, client.key = name, key
        client.deadline.deadline = math.inf
        self.online[name] = client
        client.send(protocol.encode("registered", name=name, observed_ip=client.ip))
        self._announce(name)

    def _claim(self, client: _Client, name: str, key: str) -> bool:
        """Whether key may have name: bound to it already, or free and within the name limits."""
        now = time.time()
        online = self.online.get(name)
        owner = online.key if online is not None else self.names.owner(name, now)
        if owner == key:
            self.names.touch(name, key, now)
            return True
        if owner is not None:
            message = f"the name {name!r} is taken by another key"
            client.send(protocol.encode("error", code=protocol.NAME_TAKEN, message=message))
            return False
        clock = trio.current_time()
        if not (self._key_names.take(key, clock) and self._address_names.take(address_key(client.ip), clock)):
            self.dropped["new names over the limit"] += 1
            message = "this key or address has taken too many new names lately; try later"
            client.send(protocol.encode("error", code=protocol.TOO_MANY_NAMES, message=message))
            return False
        self.names.bind(name, key, now)
        return True

    def _watch(self, client: _Client, message: dict[str, Any]) -> None:
        name = message.get("name")
        if not valid_name(name):
            raise SignallingDataError("watch needs a valid name")
        assert isinstance(name, str)
        if len(client.watching) >= _MAX_WATCHES:
            raise SignallingDataError("watching too many names")
        client.watching.add(name)
        self.watchers.setdefault(name, set()).add(client)
        client.send(protocol.encode("presence", presence=self._presence(name).to_dict()))

    def _offer(self, client: _Client, message: dict[str, Any]) -> None:
        offer = Offer.from_dict_untrusted(message.get("offer"))
        self._forward(client, "offer", offer, offer.id, offer.sender, offer.sender_key, offer.receiver)

    def _answer(self, client: _Client, message: dict[str, Any]) -> None:
        answer = Answer.from_dict_untrusted(message.get("answer"))
        self._forward(
            client, "answer", answer, answer.offer_id, answer.sender, answer.sender_key, answer.receiver
        )

    def _forward(
        self,
        client: _Client,
        op: str,
        record: Offer | Answer,
        ref: str,
        sender: str,
        sender_key: str,
        receiver: str,
    ) -> None:
        if sender != client.name or sender_key != client.key:
            raise SignallingDataError(f"{op} claims to be from someone else")
        now = trio.current_time()
        if not self._sender_rates.take(sender, now):
            self._limited(client, "offers over the sender's rate", ref)
            return
        target = self.online.get(receiver)
        if target is None:
            client.send(
                protocol.encode(
                    "error", code=protocol.PEER_OFFLINE, message=f"{receiver} is offline", ref=ref
                )
            )
            return
        # seen_ip is the server's word, outside the signature: where the sender
        # really is, so the receiver never sprays toward an address an offer merely names.
        if not self._target_rates.take(receiver, now):
            self._limited(client, "offers over the target's rate", ref)
            return
        target.send(protocol.encode(op, **{op: record.to_dict()}, seen_ip=client.ip))

    def _limited(self, client: _Client, why: str, ref: str) -> None:
        self.dropped[why] += 1
        client.send(protocol.encode("error", code=protocol.RATE_LIMITED, message="too many offers; slow down", ref=ref))

    # --- Presence --------------------------------------------------------------------

    def _presence(self, name: str) -> Presence:
        # Online or not, and the key; never an address, which only offers and
        # answers carry, between the two peers.
        client = self.online.get(name)
        if client is None:
            return Presence(name, online=False, key=self.names.owner(name, time.time()) or "")
        return Presence(name, online=True, key=client.key)

    def _announce(self, name: str) -> None:
        line = protocol.encode("presence", presence=self._presence(name).to_dict())
        for watcher in list(self.watchers.get(name, ())):
            watcher.send(line)

    def _forget(self, client: _Client) -> None:
        for name in client.watching:
            watchers = self.watchers.get(name)
            if watchers is not None:
                watchers.discard(client)
                if not watchers:
                    del self.watchers[name]
        if client.name is not None and self.online.get(client.name) is client:
            del self.online[client.name]
            self.names.touch(client.name, client.key, time.time())  # Absence counts from leaving.
            self._announce(client.name)


def _ignore(client: _Client, message: dict[str, Any]) -> None:
    """A pong: its arrival already counted as the client being alive."""


async def serve(
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    *,
    names: str | os.PathLike[str] = MEMORY,
    limits: ServerLimits = ServerLimits(),
    standalone: bool = False,
    task_status: trio.TaskStatus[tuple[str, int]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run a signalling server until cancelled; started() with the bound (host, port).

    names: the SQLite file of name bindings (":memory:": forgotten on exit).
    standalone: the process is the server's own (`p2ptui signal-server`):
    raise its soft open-files limit to the hard one. An embedded server
    leaves its host process's limit alone.
    """
    store = NameStore(names, expiry=limits.name_expiry_days * DAY)
    try:
        server = SignalServer(limits=limits, names=store)
        await server.serve(host, port, raise_limit=standalone, task_status=task_status)
    finally:
        store.close()
