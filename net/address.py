"""The one address vocabulary of the core.

An `Address` is an (IP, port) pair as the socket API gives it. A `Route` is
where a datagram goes: straight to an `Address` from the chat socket, or
`Via` something else (a TURN allocation, a spraying socket).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: An (IP, port) pair, as trio's and the stdlib's socket calls take and return it.
Address = tuple[str, int]


@dataclass(frozen=True, slots=True)
class Via:
    """A route that leaves through something other than the chat socket.

    `local` names that something for the node: a TURN allocation ("turn
    HOST:PORT"), relayed, so kept only until a direct path works; or one of
    the sockets opened to cross a symmetric NAT ("spray PORT"), direct.
    `peer` is the remote address it reaches.
    """

    local: str
    peer: Address
    relayed: bool = True


#: Where datagrams go: a remote address, straight from the chat socket, or a Via.
Route = Address | Via


def remote_address(route: Route) -> Address:
    """The peer's address on a route, whatever it leaves through."""
    return route.peer if isinstance(route, Via) else route


#: Where a socket listens on every address, of both families where the host has IPv6.
ANY_ADDRESS = "::"
_MAPPED_PREFIX = "::ffff:"


def from_socket(address: tuple[Any, ...]) -> Address:
    """An address as a socket call gave it, in the core's one form.

    A dual-stack socket reports an IPv4 peer as ::ffff:a.b.c.d, and IPv6
    addresses as 4-tuples (with flow info and scope id): both become a plain
    (IP, port) pair, so a peer's address compares equal however it arrived.
    """
    host, port = str(address[0]), int(address[1])
    if host.startswith(_MAPPED_PREFIX) and "." in host:
        host = host[len(_MAPPED_PREFIX) :]
    return host, port


def to_socket(address: Address, *, ipv6_socket: bool) -> Address:
    """address as a socket of that family takes it: IPv4 as ::ffff:a.b.c.d on an IPv6 one."""
    host, port = address
    # Only an IPv4 literal: a name (never expected here) is left for the resolver.
    if ipv6_socket and host.replace(".", "").isdigit():
        return f"{_MAPPED_PREFIX}{host}", port
    return address


def is_ipv6(address: Address) -> bool:
    """Whether address is an IPv6 one (the core's form: never IPv4-mapped)."""
    return ":" in address[0]
