"""The built-in signalling (rendezvous) server: `p2ptui signal-server`.

It carries only the intent to talk: who is online under which key, and
offers and answers between them. Messages never pass through it. On the same
port, over UDP, it answers STUN Binding requests, so a client learns the
public address its chat socket is seen from.

Names are bound to the first key that registers them, for the life of the
server. Every client has a bounded outbox: a client too slow to read its
messages is disconnected rather than allowed to hold up everybody else.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import trio

from .. import identity, stun
from . import DEFAULT_PORT, listen, protocol
from .messages import (
    Answer,
    Offer,
    Presence,
    SignallingDataError,
    format_address,
    parse_address_untrusted,
    valid_name,
)

log = logging.getLogger(__name__)

OUTBOX_SIZE = 256
#: A connection that has not registered by then is closed.
REGISTER_TIMEOUT = 10.0
_MAX_WATCHES = 1024


@dataclass(eq=False)
class _Client:
    stream: trio.SocketStream
    outbox: trio.MemorySendChannel[bytes]
    nonce: bytes = field(default_factory=lambda: os.urandom(16))
    name: str | None = None
    key: str = ""
    #: Cancels the connection unless it registers in time.
    deadline: trio.CancelScope = field(default_factory=trio.CancelScope)
    address: tuple[str, int] | None = None
    watching: set[str] = field(default_factory=set)

    def send(self, line: bytes) -> bool:
        """Queue a line; False when the client is not keeping up (or gone)."""
        try:
            self.outbox.send_nowait(line)
        except (trio.WouldBlock, trio.ClosedResourceError, trio.BrokenResourceError):
            return False
        return True


class SignalServer:
    """The server's state; `serve` runs it on a host and port."""

    def __init__(self, *, register_timeout: float = REGISTER_TIMEOUT) -> None:
        self.register_timeout = register_timeout
        self.keys: dict[str, str] = {}
        self.online: dict[str, _Client] = {}
        self.watchers: dict[str, set[_Client]] = {}
        #: Bad input, by kind. It is dropped, never fatal.
        self.dropped: Counter[str] = Counter()

    async def serve(
        self,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        *,
        task_status: trio.TaskStatus[tuple[str, int]] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Listen on TCP and UDP host:port (port 0: any free one) until cancelled.
        host "::": every address of both families (see listen.py)."""
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
                await nursery.start(trio.serve_listeners, self._handle, listeners)
                for listener in listeners:
                    log.info(
                        "signalling server on %s (TCP signalling, UDP STUN on it and the next port)",
                        format_address(listener.socket.getsockname()[:2]),
                    )
                task_status.started((bound[0], bound[1]))

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
        send, receive = trio.open_memory_channel[bytes](OUTBOX_SIZE)
        client = _Client(stream, send)
        client.deadline.deadline = trio.current_time() + self.register_timeout
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
        while True:
            try:
                data = await client.stream.receive_some(65536)
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                return  # The client went away (a reset, say).
            if not data:
                return
            try:
                for line in buffer.feed(data):
                    message = protocol.decode_untrusted(line)
                    self._dispatch(client, message)
            except (protocol.SignallingProtocolError, SignallingDataError) as exc:
                self.dropped["bad request"] += 1
                client.send(protocol.encode("error", code=protocol.BAD_REQUEST, message=str(exc)))
                if isinstance(exc, protocol.SignallingProtocolError):
                    return  # The framing itself is broken: nothing more can be trusted.
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
        bound = self.keys.setdefault(name, key)
        if bound != key:
            client.send(
                protocol.encode(
                    "error",
                    code=protocol.NAME_TAKEN,
                    message=f"the name {name!r} is taken by another key",
                )
            )
            return
        address = message.get("address")
        client.address = parse_address_untrusted(address) if address else None
        previous = self.online.get(name)
        if previous is not None:
            # The same key again, from a new connection: the newest one wins.
            previous.outbox.close()
        client.name, client.key = name, key
        client.deadline.deadline = float("inf")
        self.online[name] = client
        observed = client.stream.socket.getpeername()[0]
        client.send(protocol.encode("registered", name=name, observed_ip=observed))
        self._announce(name)

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
        seen_ip = client.stream.socket.getpeername()[0]
        if not target.send(protocol.encode(op, **{op: record.to_dict()}, seen_ip=seen_ip)):
            target.outbox.close()

    # --- Presence --------------------------------------------------------------------

    def _presence(self, name: str) -> Presence:
        client = self.online.get(name)
        if client is None:
            return Presence(name, online=False, key=self.keys.get(name, ""))
        return Presence(name, online=True, key=client.key, address=client.address)

    def _announce(self, name: str) -> None:
        line = protocol.encode("presence", presence=self._presence(name).to_dict())
        for watcher in list(self.watchers.get(name, ())):
            if not watcher.send(line):
                watcher.outbox.close()

    def _forget(self, client: _Client) -> None:
        for name in client.watching:
            watchers = self.watchers.get(name)
            if watchers is not None:
                watchers.discard(client)
                if not watchers:
                    del self.watchers[name]
        if client.name is not None and self.online.get(client.name) is client:
            del self.online[client.name]
            self._announce(client.name)


async def serve(
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    *,
    task_status: trio.TaskStatus[tuple[str, int]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run a signalling server until cancelled; started() with the bound (host, port)."""
    await SignalServer().serve(host, port, task_status=task_status)

