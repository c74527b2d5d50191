"""Where we are: our host address, our public address by STUN, our NAT type.

Asked when the signalling client registers (it may offer STUN servers of
its own), and again whenever roaming (roaming.py) says our addresses may
have changed; what it finds goes into every offer and answer.
"""

from __future__ import annotations

import trio

from . import nat, stun
from .address import Address
from .datagrams import Datagrams
from .relays import Relays

# A documentation address (RFC 5737), only ever connect()ed to find our
# outgoing interface: no packet is sent to it.
_ANY_REMOTE = "192.0.2.1"
#: How long the start waits for the first allocations, so early offers carry them.
RELAY_SETTLE_WAIT = 2.0


class Discovery:
    """Our addresses, once `discover` has run."""

    def __init__(self, datagrams: Datagrams, relays: Relays, bind_ip: str, stun_servers: tuple[Address, ...]) -> None:
        self._datagrams = datagrams
        self._relays = relays
        self._bind_ip = bind_ip
        self._stun_servers = stun_servers
        self.host: Address | None = None
        self.public: Address | None = None
        self.nat = nat.NatReport(nat.NatType.UNKNOWN, None, ())
        #: The servers the last discover() asked: relearn() asks them again.
        self._servers: list[Address] = list(stun_servers)

    async def discover(self, stun_servers: list[Address]) -> Address:
        """Our public address by STUN from the chat socket, else our local one.

        stun_servers: those the signalling backend offers; the configured ones
        are asked too, all at once. What they saw tells our NAT type.
        """
        self._servers = list(dict.fromkeys([*stun_servers, *self._stun_servers]))
        await self.relearn()
        assert self.public is not None
        # The first offers carry our relayed addresses if there are any to have:
        # wait a little for the allocations begun meanwhile (a dead relay must not
        # hold up the start; one that answers later is offered then).
        await self._relays.settle(RELAY_SETTLE_WAIT)
        return self.public

    async def relearn(self) -> bool:
        """Ask the same STUN servers again, from the chat socket (our NAT may have
        mapped it anew, or the machine moved). Whether any answered: if none did,
        the public address learned before is kept (the network may be coming back)."""
        servers = self._servers
        port = self._datagrams.local_address[1]
        host_ip = self._bind_ip
        if host_ip == "0.0.0.0":
            # The address the default route leaves from (connect() sends nothing).
            route_to = servers[0][0] if servers else _ANY_REMOTE
            host_ip = await _route_source_ip(route_to) or "127.0.0.1"
        self.host = (host_ip, port)
        report = nat.classify(self.host, await stun.ask_all(self._datagrams.stun, servers))
        if report.public is None and self.public is not None and servers:
            return False
        self.nat = report
        self.public = report.public or self.host
        return True

    def candidates(self) -> list[Address]:
        """Where the peer may reach us directly, best first."""
        found = [self.public, self.host]
        return list(dict.fromkeys(a for a in found if a is not None and a[0] != "0.0.0.0"))


async def _route_source_ip(destination: str) -> str | None:
    """The local IP the kernel would send from to reach destination (no packet is sent)."""
    probe = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
    with probe:
        try:
            await probe.connect((destination, 9))
        except (OSError, UnicodeError, NotImplementedError):  # NotImplementedError: a fake network
            return None
        host: str = probe.getsockname()[0]
        return host
