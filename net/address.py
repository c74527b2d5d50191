"""The one address vocabulary of the core.

An `Address` is an (IP, port) pair as the socket API gives it. A `Route` is
where a datagram goes: straight to an `Address` from the chat socket, or
`Via` something else (a TURN allocation, a spraying socket).
"""

from __future__ import annotations

from dataclasses import dataclass

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
