"""Where the built-in server listens: its TCP listeners and its STUN sockets.

`--host ::` means every address of both families. That is two listeners on
one port, an IPv6-only one and an IPv4 one, rather than one dual-stack
socket: the server then sees every client at a plain address (never
::ffff:a.b.c.d), in its logs, in `observed_ip` and in `seen_ip`. A host
without IPv6 listens on IPv4 alone, silently.
"""

from __future__ import annotations

import errno
import logging
from contextlib import ExitStack

import trio

log = logging.getLogger(__name__)

ANY_HOST = "::"
#: What socket() or bind() say on a host with no IPv6 at all.
_NO_IPV6 = (errno.EAFNOSUPPORT, errno.EADDRNOTAVAIL, errno.EPROTONOSUPPORT)


async def open_listeners(host: str, port: int) -> list[trio.SocketListener]:
    """TCP listeners on host:port (port 0: any free one), all on one port. Raises OSError."""
    if host != ANY_HOST:
        listeners = await trio.open_tcp_listeners(port, host=host)
        for extra in listeners[1:]:
            await extra.aclose()
        return listeners[:1]
    try:
        # trio makes an IPv6 listener IPv6-only, so the IPv4 one can share its port.
        listeners = await trio.open_tcp_listeners(port, host=ANY_HOST)
    except OSError as exc:
        if exc.errno not in _NO_IPV6:
            raise
        log.info("no IPv6 here (%s): listening on IPv4 only", exc.strerror or exc)
        return await open_listeners("0.0.0.0", port)
    try:
        listeners += await open_listeners("0.0.0.0", listeners[0].socket.getsockname()[1])
    except BaseException:
        for listener in listeners:
            await listener.aclose()
        raise
    return listeners


async def open_stun_sockets(listeners: list[trio.SocketListener], stack: ExitStack) -> list[trio.socket.SocketType]:
    """UDP sockets on each listener's address, at its port and the next one (comparing
    what two ports saw tells a client whether its NAT maps endpoint-independently).
    The first port is required (OSError); the second is skipped, with a warning, when taken.
    stack closes them."""
    sockets = []
    for listener in listeners:
        address = listener.socket.getsockname()
        for offset in (0, 1):
            udp = stack.enter_context(trio.socket.socket(listener.socket.family, trio.socket.SOCK_DGRAM))
            if listener.socket.family == trio.socket.AF_INET6:
                udp.setsockopt(trio.socket.IPPROTO_IPV6, trio.socket.IPV6_V6ONLY, 1)
            try:
                await udp.bind((address[0], address[1] + offset, *address[2:]))
            except OSError as exc:
                if offset == 0:
                    raise
                log.warning("no second STUN port %d: %s", address[1] + 1, exc.strerror or exc)
                continue
            sockets.append(udp)
    return sockets
