"""The chat socket: every datagram in and out of the node goes through here.

`Datagrams` owns the UDP socket it is given (a trio socket, so tests can hand
it one from trio's fake network), reads it in one task, and routes each
datagram by what it is:

- from a TURN server we allocated on: to that relay's client (`relays.py`);
- a p2ptui packet: to the session its tag names (a `Sink`);
- a STUN answer: to the STUN client discovering our address;
- a LAN signal (an offer or answer with no signalling service): to `lan.py`;
- anything else: dropped and counted.

Sending is routed the same way: to an `Address` straight from the socket, or
`Via` an exit registered by name (a TURN allocation, a spraying socket).
Nothing here can fail on a peer's bytes: parsers raise RemoteProtocolError
subclasses, which are counted in `dropped`.

One dual-stack socket carries both families (`open_socket`): one port, one
reader, one STUN mapping per family, and a peer's IPv4 and IPv6 candidates
reached from the same place. The socket shows IPv4 peers as ::ffff:a.b.c.d;
addresses are turned to the core's one form (plain IPv4) here, at the
boundary, so nothing else ever sees a mapped address.
"""

from __future__ import annotations

import os
import socket
from collections import Counter
from collections.abc import Awaitable, Callable

import trio

from . import secure, stun, wire
from .address import ANY_ADDRESS, Address, Route, Via, from_socket, is_ipv6, to_socket
from .errors import cannot_listen
from .sendbudget import SendBudget

#: Datagrams taken off the socket per wakeup, when they are there already.
RECEIVE_BATCH = 64
MAX_DATAGRAM = 2048

#: Sends a datagram to a peer's address through something else than the chat socket.
Exit = Callable[[bytes, Address], Awaitable[None]]
#: Takes a datagram from a TURN server we use.
ServerSink = Callable[[bytes], None]
#: Takes a parsed p2ptui packet for one session.
Sink = Callable[[wire.Packet, Route], None]


def open_socket(bind: Address) -> trio.socket.SocketType:
    """A new UDP socket for bind's host: dual-stack for ANY_ADDRESS (IPv4 only when
    the host has no IPv6), IPv6 only for an IPv6 address, else IPv4."""
    host = bind[0]
    if ":" in host:
        try:
            sock = trio.socket.socket(trio.socket.AF_INET6, trio.socket.SOCK_DGRAM)
        except OSError:
            if host != ANY_ADDRESS:
                raise
        else:
            try:
                # Both families on one socket (Linux's default, but not every system's).
                sock.setsockopt(trio.socket.IPPROTO_IPV6, trio.socket.IPV6_V6ONLY, int(host != ANY_ADDRESS))
            except (OSError, NotImplementedError):  # NotImplementedError: trio's fake network
                pass
            return sock
    return trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)


class Datagrams:
    """Routes datagrams between the chat socket and the parts that speak through it."""

    def __init__(
        self, sock: trio.socket.SocketType, dropped: Counter[str], budget: SendBudget[Route] | None = None
    ) -> None:
        self.socket = sock
        #: What may go where no peer has proved itself (sendbudget.py): every
        #: session's datagram passes it in `send`, the one way they leave.
        self.budget: SendBudget[Route] = budget if budget is not None else SendBudget()
        #: Datagrams dropped before reaching a session, by reason (shared with the node).
        self.dropped = dropped
        #: Exits by the name a Via gives them: "turn HOST:PORT", "spray PORT".
        self.exits: dict[str, Exit] = {}
        #: The TURN servers we use, by address: what comes from them is their client's.
        self.servers: dict[Address, ServerSink] = {}
        #: Sessions by their local tag.
        self.sinks: dict[bytes, Sink] = {}
        #: Takes LAN signals (lan.py), when LAN discovery is on: False for anything else.
        self.lan: Callable[[bytes, Address], bool] | None = None
        self.stun = stun.StunClient(self.send_direct)
        self._handshake_limit = secure.RateLimiter()
        # The family never changes; asking the socket costs an enum conversion per datagram.
        self._ipv6 = bool(sock.family == trio.socket.AF_INET6)
        #: The reader's non-blocking handle on the socket, while it reads: sends go
        #: through it at once, with no trip through trio's scheduler for each.
        self._now: socket.socket | None = None

    async def bind(self, address: Address) -> None:
        """Listen at address (ANY_ADDRESS: every address the socket's family has).
        Raises EnvironmentFailure if that cannot be done."""
        if address[0] == ANY_ADDRESS and not self.ipv6:
            address = ("0.0.0.0", address[1])
        try:
            await self.socket.bind(address)
        except OSError as exc:
            raise cannot_listen(*address, exc) from None

    @property
    def local_address(self) -> Address:
        """Where the socket listens: ("::", port) for a dual-stack one."""
        return from_socket(self.socket.getsockname())

    @property
    def ipv6(self) -> bool:
        """Whether the socket can reach IPv6 addresses."""
        return self._ipv6

    # --- Out ------------------------------------------------------------------------

    async def send(self, data: bytes, route: Route, *, chosen: bool = False) -> None:
        """Send data along route; a failure, or a refusal by the budget, is counted, never raised.
        chosen: for a peer the user chose, whose budget strangers cannot spend."""
        if not self.budget.allow(route, len(data), trio.current_time(), chosen=chosen):
            self.dropped["send budget: unproven address"] += 1
            return
        if isinstance(route, Via):
            exit_ = self.exits.get(route.local)
            if exit_ is None:
                self.dropped["relay not allocated" if route.relayed else "spraying socket closed"] += 1
                return
            await exit_(data, route.peer)
            return
        await self.send_direct(data, route)

    async def send_direct(self, data: bytes, address: Address) -> None:
        if is_ipv6(address) and not self._ipv6:
            self.dropped["no IPv6"] += 1  # A peer's IPv6 candidate, on an IPv4-only host.
            return
        target = to_socket(address, ipv6_socket=self._ipv6)
        if self._now is not None:
            try:
                self._now.sendto(data, target)
                return
            except BlockingIOError:
                pass  # The socket's buffer is full: wait for room as trio does.
            except OSError as exc:
                self.dropped[f"send failed: {exc.strerror or exc}"] += 1
                return
        try:
            await self.socket.sendto(data, target)
        except OSError as exc:
            # An unreachable candidate is normal while punching; never fatal.
            self.dropped[f"send failed: {exc.strerror or exc}"] += 1

    # --- In -------------------------------------------------------------------------

    async def receive(self) -> None:
        """Read the socket until cancelled, routing every datagram."""
        burst = self._now = _nonblocking_view(self.socket)
        try:
            while True:
                try:
                    data, source = await self.socket.recvfrom(MAX_DATAGRAM)
                except OSError:
                    # ICMP errors from earlier sends surface here on some systems.
                    self.dropped["receive error"] += 1
                    continue
                self.received(data, from_socket(source))
                if burst is not None:
                    self._drain(burst)
        finally:
            self._now = None
            if burst is not None:
                burst.close()

    def _drain(self, burst: socket.socket) -> None:
        """Whatever else has arrived, without a trip through the scheduler for each:
        the drivers then handle the burst at once (one store transaction, one ack)."""
        for _ in range(RECEIVE_BATCH - 1):
            try:
                data, source = burst.recvfrom(MAX_DATAGRAM)
            except BlockingIOError:
                return
            except OSError:
                self.dropped["receive error"] += 1
                continue
            self.received(data, from_socket(source))

    def received(self, data: bytes, source: Route) -> None:
        """Route one datagram from source (an address, or a Via it came through)."""
        server = self.servers.get(source) if not isinstance(source, Via) else None
        if server is not None and not self._stun_answer(data):
            server(data)
        elif wire.is_ours(data):
            self.budget.heard(source, len(data))
            self._packet_received(data, source)
        elif stun.looks_like_stun(data) and not isinstance(source, Via):
            try:
                message = stun.parse_untrusted(data)
            except stun.StunError:
                self.dropped["malformed STUN"] += 1
                return
            if not self.stun.response_received(message):
                self.dropped["unexpected STUN"] += 1
        elif self.lan is not None and not isinstance(source, Via) and self.lan(data, source):
            return  # A LAN signal: lan.py took it (or dropped and counted it).
        else:
            self.dropped["unknown protocol"] += 1

    def _packet_received(self, data: bytes, source: Route) -> None:
        try:
            packet = wire.parse_untrusted(data)
        except wire.WireError as exc:
            self.dropped[exc.counter] += 1
            return
        sink = self.sinks.get(packet.to_tag)
        if sink is None:
            self.dropped["unknown tag"] += 1
            return
        # By address and port: many peers may share one public IP (a NAT).
        if isinstance(packet, wire.HandshakeInit | wire.HandshakeResp) and not self._handshake_limit.allow(
            source, packet.to_tag, trio.current_time()
        ):
            self.dropped["handshake rate limit"] += 1
            return
        sink(packet, source)

    def _stun_answer(self, data: bytes) -> bool:
        """Whether data is the answer to one of our Binding requests (a TURN
        server may be one of our STUN servers too): if so, it is taken."""
        if not stun.looks_like_stun(data):
            return False
        try:
            message = stun.parse_untrusted(data)
        except stun.StunError:
            return False  # Some other STUN method: the TURN client's.
        return self.stun.response_received(message)


def _nonblocking_view(sock: trio.socket.SocketType) -> socket.socket | None:
    """A second handle on a kernel socket, to drain a burst synchronously; None
    for a socket with no descriptor (trio's fake network), read one at a time."""
    try:
        fd = sock.fileno()
    except (NotImplementedError, OSError):
        return None
    view = socket.socket(fileno=os.dup(fd))
    view.setblocking(False)
    return view
