"""STUN Binding (RFC 5389/8489), the part p2ptui needs, on aioice's codec.

aioice's `stun` module is a sans-I/O encoder and parser; this module adds the
two things p2ptui does with it, answering Binding requests (the built-in
server) and asking them (every client), and funnels every way a parse can
fail into one error type. The codec part is free of I/O; `StunClient` and
`check_nat` below it run on trio.
"""

from __future__ import annotations

import ipaddress
import os
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import trio
from aioice import stun as _codec

from .address import Address, from_socket
from .errors import RemoteProtocolError, cannot_listen
from .nat import NatReport, classify


class StunError(RemoteProtocolError):
    """A datagram claiming to be STUN did not parse. The only error parsing raises."""


def looks_like_stun(datagram: bytes) -> bool:
    """The cheap RFC 7983 check: first byte 0-3 and the magic cookie in place."""
    return (
        len(datagram) >= 20
        and datagram[0] < 4
        and datagram[4:8] == _codec.COOKIE.to_bytes(4, "big")
    )


def binding_request() -> tuple[bytes, bytes]:
    """A new Binding request: (transaction id, datagram)."""
    txid = os.urandom(12)
    message = _codec.Message(
        message_method=_codec.Method.BINDING,
        message_class=_codec.Class.REQUEST,
        transaction_id=txid,
    )
    return txid, bytes(message)


@dataclass(frozen=True, slots=True)
class BindingRequest:
    transaction_id: bytes


@dataclass(frozen=True, slots=True)
class BindingResponse:
    transaction_id: bytes
    mapped: Address


def parse_untrusted(datagram: bytes) -> BindingRequest | BindingResponse:
    """Parse a Binding request or success response. Raises StunError on anything else."""
    try:
        message = _codec.parse_message(datagram)
    except (ValueError, struct.error, UnicodeDecodeError, KeyError, IndexError) as exc:
        raise StunError(f"bad STUN message: {exc}") from None
    if message.message_method != _codec.Method.BINDING:
        raise StunError(f"unexpected STUN method {message.message_method!r}")
    if message.message_class == _codec.Class.REQUEST:
        return BindingRequest(message.transaction_id)
    if message.message_class == _codec.Class.RESPONSE:
        mapped = message.attributes.get("XOR-MAPPED-ADDRESS") or message.attributes.get(
            "MAPPED-ADDRESS"
        )
        if not mapped:
            raise StunError("Binding response without a mapped address")
        return BindingResponse(message.transaction_id, _plain(str(mapped[0]), int(mapped[1])))
    raise StunError(f"unexpected STUN class {message.message_class!r}")


def _plain(ip: str, port: int) -> Address:
    """An IPv4 address a server sent as IPv4-mapped IPv6 (family 0x02), as plain IPv4."""
    mapped = ipaddress.ip_address(ip)
    if isinstance(mapped, ipaddress.IPv6Address) and mapped.ipv4_mapped is not None:
        return str(mapped.ipv4_mapped), port
    return str(mapped), port


def binding_response(request: BindingRequest, source: tuple[Any, ...]) -> bytes:
    """The success response telling a client which address its request came from
    (source as the socket gave it: an IPv4 client of a dual-stack socket is
    answered with family 0x01, its plain IPv4 address)."""
    message = _codec.Message(
        message_method=_codec.Method.BINDING,
        message_class=_codec.Class.RESPONSE,
        transaction_id=request.transaction_id,
    )
    message.attributes["XOR-MAPPED-ADDRESS"] = from_socket(source)
    return bytes(message)


# --- Asking STUN servers (trio) ----------------------------------------------------

TIMEOUT = 2.0


async def resolve(host: str, port: int) -> Address | None:
    """host's first IPv4 address with port, else its first IPv6 one, or None if it
    has none (a server's name that does not resolve is a server that does not
    answer). IPv4 first: that is where the NAT is that STUN tells about."""
    try:
        infos = await trio.socket.getaddrinfo(host, port, 0, trio.socket.SOCK_DGRAM)
    except (OSError, UnicodeError):  # UnicodeError: a name IDNA refuses, like "a..b"
        return None
    found = sorted(infos, key=lambda info: info[0] != trio.socket.AF_INET)
    if not found:
        return None
    return from_socket(found[0][4])


class StunClient:
    """Binding requests over a UDP socket that someone else reads.

    The reader hands every Binding response to `response_received`; `binding`
    sends a request (again and again, with back-off, until its deadline) and
    waits for the matching response.
    """

    def __init__(self, sendto: Callable[[bytes, Address], Awaitable[None]]):
        self._sendto = sendto
        self._waiters: dict[bytes, trio.MemorySendChannel[Address]] = {}

    async def binding(self, server: Address, timeout: float = TIMEOUT) -> Address | None:
        """Our address as server sees it, or None if it did not answer in time."""
        destination = await resolve(*server)
        if destination is None:
            return None
        txid, request = binding_request()
        send, receive = trio.open_memory_channel[Address](1)
        self._waiters[txid] = send
        try:
            with trio.move_on_after(timeout):
                gap = 0.1
                while True:  # Bounded by the deadline above.
                    await self._sendto(request, destination)
                    with trio.move_on_after(gap):
                        return await receive.receive()
                    gap = min(gap * 2, 1.0)
        finally:
            del self._waiters[txid]
        return None

    def response_received(self, message: BindingRequest | BindingResponse) -> bool:
        """Hand over a parsed message; False if nobody was waiting for it."""
        waiter = self._waiters.get(message.transaction_id)
        if not isinstance(message, BindingResponse) or waiter is None:
            return False
        try:
            waiter.send_nowait(message.mapped)
        except trio.WouldBlock:
            pass  # A duplicate answer; the first one counts.
        return True


async def ask_all(client: StunClient, servers: list[Address]) -> list[Address]:
    """Ask every server at once; what those that answered saw, in the servers' order."""
    answers: list[Address | None] = [None] * len(servers)

    async def ask(index: int, server: Address) -> None:
        answers[index] = await client.binding(server)

    async with trio.open_nursery() as nursery:
        for index, server in enumerate(servers):
            nursery.start_soon(ask, index, server)
    return [answer for answer in answers if answer is not None]


async def check_nat(servers: list[Address], bind: Address = ("0.0.0.0", 0)) -> NatReport:
    """`p2ptui nat-check`: ask every server from one new socket; classify what they saw.

    Raises EnvironmentFailure if bind cannot be listened on."""
    if bind[0] == "::":
        bind = ("0.0.0.0", bind[1])  # The NAT is an IPv4 matter: the default bind, as IPv4.
    sock = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
    with sock:
        try:
            await sock.bind(bind)
        except OSError as exc:
            raise cannot_listen(*bind, exc) from None

        async def sendto(data: bytes, address: Address) -> None:
            try:
                await sock.sendto(data, address)
            except OSError:
                pass  # An unreachable server simply does not answer.

        client = StunClient(sendto)

        async def read() -> None:
            while True:
                try:
                    data, _ = await sock.recvfrom(2048)
                    client.response_received(parse_untrusted(data))
                except (OSError, StunError):
                    continue

        async with trio.open_nursery() as nursery:
            nursery.start_soon(read)
            mapped = await ask_all(client, servers)
            nursery.cancel_scope.cancel()
        host, port = sock.getsockname()[:2]
        if servers and host == "0.0.0.0":
            probe = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
            with probe:
                try:
                    await probe.connect(servers[0])  # sends nothing: finds our outgoing address
                    host = probe.getsockname()[0]
                except (OSError, UnicodeError):
                    pass
        return classify((host, port), mapped)
