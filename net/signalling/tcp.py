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
from .messages import Answer, Offer, Presence, SignallingDataError, parse_ip_untrusted

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 5.0
#: For the server's challenge, and then for its answer to our registration.
HANDSHAKE_TIMEOUT = 10.0
#: A write the server has not taken by then: the connection is given up and made anew.
WRITE_TIMEOUT = 10.0
RETRY_MAX = 10.0
#: A full server is retried no sooner than this.
FULL_RETRY = 5.0
# Events wait here for the node; when full, reading from the server pauses.
EVENT_BUFFER = 256


class _NameTaken(Exception):
    pass


class _Refused(Exception):
    """The server would not take us now (it is full, say): retry later, slowly."""


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
        #: Around the registered session: cancelled by a write that could not
        #: finish, or by network_changed(), to connect anew.
        self._session_scope = trio.CancelScope()
        self._network_changed = False
        self._watching: set[str] = set()
        #: Malformed lines or records from the server, dropped.
        self.dropped = 0
        #: Our offers and answers the server dropped for coming too fast.
        self.rate_limited = 0

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
                        self._session_scope = session = trio.CancelScope()
                        self._network_changed = False
                        with session:
                            await self._session(stream, discover, first_attempt_over)
                        if session.cancelled_caught and self._network_changed:
                            reason = f"our network changed: connecting to {self.label} again"
                            backoff = 0.25
                        elif session.cancelled_caught:
                            reason = f"lost the signalling server at {self.label}: it stopped reading"
                        else:
                            reason = f"the signalling server at {self.label} closed the connection"
                            backoff = 0.25
                    except _NameTaken as exc:
                        await self._send_events.send(SignallingLost(str(exc), fatal=True))
                        first_attempt_over()
                        nursery.cancel_scope.cancel()
                        return
                    except _Refused as exc:
                        reason = str(exc)
                        backoff = max(backoff, FULL_RETRY)
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
        self._network_changed = True
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
        with trio.move_on_after(CONNECT_TIMEOUT):
            return await trio.open_tcp_stream(host, port)
        raise OSError(f"no answer within {CONNECT_TIMEOUT:g} s")

    async def _write(self, line: bytes) -> None:
        stream = self._stream
        if stream is None:
            raise SignallingUnavailable(f"not connected to {self.label}")
        try:
            async with self._write_lock:
                with trio.move_on_after(WRITE_TIMEOUT) as timer:
                    await stream.send_all(line)
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            raise SignallingUnavailable(f"lost the signalling server at {self.label}") from exc
        if timer.cancelled_caught:
            # Part of a line may have gone: this connection is done, run() makes another.
            self._stream = None
            self._session_scope.cancel()
            raise SignallingUnavailable(f"the signalling server at {self.label} stopped reading")

    async def _session(
        self, stream: trio.SocketStream, discover: DiscoverAddress, started: Callable[[], None]
    ) -> None:
        lines = _Lines(stream)
        observed_ip = await self._register(stream, lines, discover)
        self._stream = stream
        await self._send_events.send(Registered(self._name, observed_ip))
        started()
        for name in sorted(self._watching):
            await self._write(protocol.encode("watch", name=name))
        while True:
            message = await lines.next_message()
            if message.get("op") == "ping":
                await self._write(protocol.encode("pong"))  # Or the server closes a quiet client.
                continue
            try:
                event = self._event_untrusted(message)
            except SignallingDataError as exc:
                self.dropped += 1
                log.info("dropped a malformed %r from the server: %s", message.get("op"), exc)
                continue
            if event is not None:
                await self._send_events.send(event)

    async def _register(self, stream: trio.SocketStream, lines: _Lines, discover: DiscoverAddress) -> str:
        """Answer the server's challenge; the IP it sees us at. Every wait is bounded."""
        challenge = await self._handshake_reply(lines, "challenge")
        if challenge.get("op") == "error" and challenge.get("code") == protocol.SERVER_FULL:
            raise _Refused(f"the signalling server at {self.label} is full; try later")
        if challenge.get("op") != "challenge" or not isinstance(challenge.get("nonce"), str):
            raise protocol.SignallingProtocolError("the server did not send a challenge")
        try:
            nonce = bytes.fromhex(challenge["nonce"])
        except ValueError:
            raise protocol.SignallingProtocolError("the challenge is not hex") from None
        # The built-in server answers STUN on its port and the next one.
        host, port = self._url.host, self._url.port
        await discover([(host, port), (host, port + 1)])  # Our public address, for our offers.
        signature = self._identity.sign(protocol.register_challenge(nonce, self._name))
        # No address: the server tells nobody where we are (offers and answers do, peer to peer).
        register = protocol.encode("register", name=self._name, key=self._identity.public_key, sig=signature.hex())
        with trio.move_on_after(HANDSHAKE_TIMEOUT) as sending:
            try:
                await stream.send_all(register)
            except trio.BrokenResourceError:
                pass  # Hung up on us: the reason may be waiting to be read.
        if sending.cancelled_caught:
            raise SignallingUnavailable(f"the server did not take our registration within {HANDSHAKE_TIMEOUT:g} s")
        reply = await self._handshake_reply(lines, "answer to our registration")
        if reply.get("op") == "error":
            message = str(reply.get("message", ""))[:200]
            if reply.get("code") == protocol.NAME_TAKEN:
                raise _NameTaken(message or "name taken")
            if reply.get("code") in (protocol.TOO_MANY_NAMES, protocol.UNAVAILABLE):
                raise _Refused(f"the signalling server at {self.label} refused the name: {message}")
            if reply.get("code") == protocol.REGISTER_TIMEOUT:
                # We were slow (finding our public address, say): connect again.
                raise SignallingUnavailable(f"it hung up before we registered ({message})")
            raise protocol.SignallingProtocolError(f"registration refused: {message}")
        if reply.get("op") != "registered":
            raise protocol.SignallingProtocolError("the server did not confirm registration")
        return str(reply.get("observed_ip", ""))

    async def _handshake_reply(self, lines: _Lines, what: str) -> dict[str, Any]:
        """The server's next message, within HANDSHAKE_TIMEOUT: a mute server must not hold us."""
        with trio.move_on_after(HANDSHAKE_TIMEOUT):
            return await lines.next_message()
        raise SignallingUnavailable(f"no {what} from the server within {HANDSHAKE_TIMEOUT:g} s")

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
            case "error" if message.get("code") == protocol.RATE_LIMITED:
                self.rate_limited += 1
                log.warning("the signalling server dropped an offer or answer of ours: too many too fast")
                return None
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
