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
what does not fit is dropped and counted, never the client.

This module moves bytes and keeps the connection limits; registry.py (free of
I/O) decides what each line does; limits.py holds the numbers (ServerLimits)
and the token buckets.
"""

from __future__ import annotations

import errno
import logging
import math
import os
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass

import trio

from .. import stun
from . import DEFAULT_PORT, listen, protocol
from .limits import (
    Connections,
    ServerLimits,
    connection_cap,
    descriptor_limit,
    raise_descriptor_limit,
)
from .messages import SignallingDataError, format_address
from .names import DAY, MEMORY, NameStore
from .registry import Member, Registry

log = logging.getLogger(__name__)

OUTBOX_SIZE = 256
#: How often the server logs what it dropped, when anything was.
STATS_INTERVAL = 60.0
#: Out of descriptors or memory: accept again after a pause, as trio's own accept loop does.
_ACCEPT_CAPACITY_ERRNOS = {errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS}
SERVER_FULL_MESSAGE = "the signalling server is full; try later"


@dataclass(eq=False)
class _Outbox:
    """A connection's bounded queue of lines; its writer task empties it onto the socket."""

    channel: trio.MemorySendChannel[bytes]
    dropped: Counter[str]

    def send(self, line: bytes) -> None:
        """Queue a line; when the client is not keeping up, drop it and count it.

        Never close the client for it: whoever floods a client would cut it off.
        """
        try:
            self.channel.send_nowait(line)
        except trio.WouldBlock:
            self.dropped["a client's queue was full"] += 1
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            pass  # The client is leaving.

    def close(self) -> None:
        self.channel.close()


class SignalServer:
    """Connections and their limits; `serve` runs it on a host and port, the registry decides."""

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
        #: What was refused or dropped, by kind: bad input, floods, full queues.
        self.dropped: Counter[str] = Counter()
        self.registry = Registry(self.names, limits, self.dropped, clock=trio.current_time)
        #: Set by serve(), from the open-files limit then.
        self.connections = Connections(0, limits.connections_per_ip)

    async def serve(
        self,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        *,
        raise_limit: bool = False,
        task_status: trio.TaskStatus[tuple[str, int]] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Listen on TCP and UDP host:port (port 0: any free one) until cancelled.
        host "::": every address of both families (see listen.py)."""
        descriptors = raise_descriptor_limit() if raise_limit else descriptor_limit()
        self.connections.total = connection_cap(descriptors, self.limits.connections)
        self.names.purge(time.time())
        listeners = await listen.open_listeners(host, port)
        bound = listeners[0].socket.getsockname()[:2]
        with ExitStack() as stack:
            try:
                udp = await listen.open_stun_sockets(listeners, stack)
            except BaseException:
                for listener in listeners:
                    await listener.aclose()
                raise
            async with trio.open_nursery() as nursery:
                for sock in udp:
                    nursery.start_soon(self._answer_stun, sock)
                for listener in listeners:
                    nursery.start_soon(self._accept, listener, nursery)
                    log.info(
                        "signalling server on %s (TCP signalling, UDP STUN on it and the next port)",
                        format_address(listener.socket.getsockname()[:2]),
                    )
                nursery.start_soon(self._log_stats)
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
                online = len(self.registry.online)
                log.info("%d connections, %d online; dropped so far: %s", len(self.connections), online, counts)

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
        await _last_word(stream, protocol.encode("error", code=protocol.SERVER_FULL, message=SERVER_FULL_MESSAGE))
        await stream.aclose()

    async def _serve_client(self, stream: trio.SocketStream, ip: str) -> None:
        send, receive = trio.open_memory_channel[bytes](OUTBOX_SIZE)
        client = Member(_Outbox(send, self.dropped), ip)
        try:
            # Unregistered, a connection has register_timeout; registered, _read pings it when silent.
            with trio.move_on_after(self.limits.register_timeout) as deadline:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._write, stream, receive, nursery.cancel_scope)
                    client.send(protocol.encode("challenge", nonce=client.nonce.hex()))
                    await self._read(stream, client, deadline)
                    # Let the writer send what is queued (an error, say), then hang up.
                    send.close()
            if deadline.cancelled_caught:  # Only an unregistered connection has a deadline.
                # Said, so that a client which was merely slow knows why it was cut off.
                message = f"register within {self.limits.register_timeout:g} s"
                await _last_word(stream, protocol.encode("error", code=protocol.REGISTER_TIMEOUT, message=message))
                self.dropped["connections that never registered"] += 1
        finally:
            self.registry.leave(client)
            with trio.CancelScope(shield=True):
                await stream.aclose()

    async def _write(
        self,
        stream: trio.SocketStream,
        receive: trio.MemoryReceiveChannel[bytes],
        connection: trio.CancelScope,
    ) -> None:
        # Errors are handled here, not by the caller: from inside a nursery they
        # would arrive wrapped in an ExceptionGroup and end the whole server.
        # A client that takes nothing for as long as a silent one is given is gone
        # (or reads nothing on purpose): its place goes to someone else.
        stall = self.limits.ping_interval + self.limits.ping_timeout
        try:
            async with receive:
                async for line in receive:
                    with trio.move_on_after(stall) as stalled:
                        await stream.send_all(line)
                    if stalled.cancelled_caught:
                        self.dropped["clients that stopped reading closed"] += 1
                        break
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass  # The client went away.
        # The outbox was closed (the client left, broke the protocol, or registered
        # again elsewhere), or the client stopped reading.
        connection.cancel()

    async def _read(self, stream: trio.SocketStream, client: Member, deadline: trio.CancelScope) -> None:
        buffer = protocol.LineBuffer()
        pinged = False
        while True:
            if client.name is None:
                wait = math.inf  # The register deadline bounds it.
            else:
                deadline.deadline = math.inf
                wait = self.limits.ping_timeout if pinged else self.limits.ping_interval
            with trio.move_on_after(wait) as idle:
                try:
                    data = await stream.receive_some(65536)
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
                    self.registry.handle(client, protocol.decode_untrusted(line))
                except (protocol.SignallingProtocolError, SignallingDataError) as exc:
                    self.dropped["bad request"] += 1
                    client.send(protocol.encode("error", code=protocol.BAD_REQUEST, message=str(exc)))
                except Exception:
                    # A bug of ours: it ends this connection, never the server.
                    log.exception("internal error handling a client; closing its connection")
                    self.dropped["internal error"] += 1
                    return


async def _last_word(stream: trio.SocketStream, line: bytes) -> None:
    """Send line before hanging up, if the client takes it soon."""
    # The line fits any socket buffer; the wait is bounded all the same.
    with trio.move_on_after(1.0):
        try:
            await stream.send_all(line)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass


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
