"""The client of the built-in signalling server (tcp://HOST:PORT)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import trio

from ..identity import Identity
from . import (
    AnswerReceived,
    DiscoverAddress,
    OfferReceived,
    OfferRefused,
    PresenceChanged,
    Registered,
    SignallingClient,
    SignallingEvent,
    SignallingLost,
    SignallingUnavailable,
    SignalUrl,
    protocol,
    server,
)
from .messages import Answer, Offer, Presence, SignallingDataError, format_address, parse_ip_untrusted

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 5.0
RETRY_MAX = 10.0
# Events wait here for the node; when full, reading from the server pauses.
EVENT_BUFFER = 256


class _NameTaken(Exception):
    pass


class TcpSignalling(SignallingClient):
    """Registers with a built-in server, and stays registered across reconnects.

    embed_server: when nothing answers at the URL, start the server inside this
    process (the default for tcp://127.0.0.1:7878, so two terminals just work).
    """

    def __init__(self, url: SignalUrl, name: str, identity: Identity, *, embed_server: bool = False):
        self.label = str(url)
        self._url = url
        self._name = name
        self._identity = identity
        self._embed_server = embed_server
        self._send_events, self.events = trio.open_memory_channel[SignallingEvent](EVENT_BUFFER)
        self._stream: trio.SocketStream | None = None
        self._write_lock = trio.Lock()
        #: Around the registered session: network_changed() cancels it, to connect anew.
        self._session_scope: trio.CancelScope | None = None
        self._watching: set[str] = set()
        #: Malformed lines or records from the server, dropped.
        self.dropped = 0

    # --- The SignallingClient interface ---------------------------------------------

    async def run(
        self,
        discover: DiscoverAddress,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        backoff = 0.25
        started = False

        def first_attempt_over() -> None:
            nonlocal started
            if not started:
                started = True
                task_status.started()

        async with trio.open_nursery() as nursery:  # Holds the embedded server, if any.
            while True:
                try:
                    stream = await self._connect(nursery)
                except OSError as exc:
                    reason = f"cannot reach the signalling server at {self.label}: {_os_reason(exc)}"
                else:
                    try:
                        with trio.CancelScope() as self._session_scope:
                            await self._session(stream, discover, first_attempt_over)
                        reason = f"the signalling server at {self.label} closed the connection"
                        if self._session_scope.cancelled_caught:
                            reason = f"our network changed: connecting to {self.label} again"
                        backoff = 0.25
                    except _NameTaken as exc:
                        await self._send_events.send(SignallingLost(str(exc), fatal=True))
                        first_attempt_over()
                        nursery.cancel_scope.cancel()
                        return
                    except (
                        OSError,
                        trio.BrokenResourceError,
                        protocol.SignallingProtocolError,
                        SignallingUnavailable,
                    ) as exc:
                        reason = f"lost the signalling server at {self.label}: {exc}"
                    finally:
                        self._stream = None
                        with trio.CancelScope(shield=True):
                            await stream.aclose()
                await self._send_events.send(SignallingLost(reason))
                first_attempt_over()
                await trio.sleep(backoff)
                backoff = min(backoff * 2, RETRY_MAX)

    def network_changed(self) -> None:
        # Our TCP connection may leave from an address we no longer have: it would
        # only fail after minutes of retransmissions. Make a new one now.
        if self._session_scope is not None:
            self._session_scope.cancel()

    async def watch(self, name: str) -> None:
        self._watching.add(name)
        if self._stream is not None:
            await self._write(protocol.encode("watch", name=name))

    async def send_offer(self, offer: Offer) -> None:
        await self._write(protocol.encode("offer", offer=offer.to_dict()))

    async def send_answer(self, answer: Answer) -> None:
        await self._write(protocol.encode("answer", answer=answer.to_dict()))

    # --- Internals --------------------------------------------------------------------

    async def _connect(self, nursery: trio.Nursery) -> trio.SocketStream:
        host, port = self._url.host, self._url.port
        try:
            with trio.fail_after(CONNECT_TIMEOUT):
                return await trio.open_tcp_stream(host, port)
        except trio.TooSlowError:
            raise OSError(f"no answer within {CONNECT_TIMEOUT:g} s") from None
        except OSError:
            if not self._embed_server:
                raise
        try:
            await nursery.start(server.serve, host, port)
            log.info("started the built-in signalling server on %s:%d", host, port)
        except OSError:
            pass  # Somebody else started one first: use theirs.
        return await trio.open_tcp_stream(host, port)

    async def _write(self, line: bytes) -> None:
        stream = self._stream
        if stream is None:
            raise SignallingUnavailable(f"not connected to {self.label}")
        try:
            async with self._write_lock:
                await stream.send_all(line)
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            raise SignallingUnavailable(f"lost the signalling server at {self.label}") from exc

    async def _session(
        self, stream: trio.SocketStream, discover: DiscoverAddress, started: Callable[[], None]
    ) -> None:
        lines = _Lines(stream)
        challenge = await lines.next_message()
        if challenge.get("op") != "challenge" or not isinstance(challenge.get("nonce"), str):
            raise protocol.SignallingProtocolError("the server did not send a challenge")
        try:
            nonce = bytes.fromhex(challenge["nonce"])
        except ValueError:
            raise protocol.SignallingProtocolError("the challenge is not hex") from None
        # The built-in server answers STUN on its port and the next one.
        host, port = self._url.host, self._url.port
        address = await discover([(host, port), (host, port + 1)])
        signature = self._identity.sign(protocol.register_challenge(nonce, self._name))
        await stream.send_all(
            protocol.encode(
                "register",
                name=self._name,
                key=self._identity.public_key,
                sig=signature.hex(),
                address=format_address(address),
            )
        )
        reply = await lines.next_message()
        if reply.get("op") == "error":
            if reply.get("code") == protocol.NAME_TAKEN:
                raise _NameTaken(str(reply.get("message", "name taken"))[:200])
            raise protocol.SignallingProtocolError(f"registration refused: {reply.get('message')}")
        if reply.get("op") != "registered":
            raise protocol.SignallingProtocolError("the server did not confirm registration")
        self._stream = stream
        await self._send_events.send(Registered(self._name, str(reply.get("observed_ip", ""))))
        started()
        for name in sorted(self._watching):
            await self._write(protocol.encode("watch", name=name))
        while True:
            message = await lines.next_message()
            try:
                event = self._event_untrusted(message)
            except SignallingDataError as exc:
                self.dropped += 1
                log.info("dropped a malformed %r from the server: %s", message.get("op"), exc)
                continue
            if event is not None:
                await self._send_events.send(event)

    def _event_untrusted(self, message: dict[str, Any]) -> SignallingEvent | None:
        match message.get("op"):
            case "offer":
                offer = Offer.from_dict_untrusted(message.get("offer"))
                return OfferReceived(offer, _seen_ip_untrusted(message))
            case "answer":
                answer = Answer.from_dict_untrusted(message.get("answer"))
                return AnswerReceived(answer, _seen_ip_untrusted(message))
            case "presence":
                return PresenceChanged(Presence.from_dict_untrusted(message.get("presence")))
            case "error" if message.get("code") == protocol.PEER_OFFLINE:
                return OfferRefused(str(message.get("ref", "")), "the peer is offline")
            case "error":
                log.warning("signalling server error: %s", str(message.get("message"))[:200])
                return None
        raise SignallingDataError(f"unknown op {str(message.get('op'))[:32]!r}")


def _seen_ip_untrusted(message: dict[str, Any]) -> str:
    """Where the server saw the sender; "" from a server that does not say."""
    seen = message.get("seen_ip", "")
    return parse_ip_untrusted(seen, "seen_ip") if seen else ""


class _Lines:
    """Reads protocol messages from a stream, one per line."""

    def __init__(self, stream: trio.SocketStream):
        self._stream = stream
        self._buffer = protocol.LineBuffer()
        self._ready: list[bytes] = []

    async def next_message(self) -> dict[str, Any]:
        while not self._ready:
            data = await self._stream.receive_some(65536)
            if not data:
                raise trio.BrokenResourceError("connection closed")
            self._ready.extend(self._buffer.feed(data))
        return protocol.decode_untrusted(self._ready.pop(0))


def _os_reason(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__
