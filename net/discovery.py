"""Where we are: our host address, our public address by STUN, our NAT type.

Asked when the signalling client registers (it may offer STUN servers of
its own), and again whenever roaming (roaming.py) says our addresses may
have changed; what it finds goes into every offer and answer, and (with each STUN
server's round trip) into the network report of the details (`Node.details`).
On a dual-stack socket that includes our IPv6 address: the one the kernel
sends from (so the address a peer's firewall sees and lets answers back to),
or the one an IPv6 STUN server saw if it differs.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import trio

from . import nat, stun
from .address import ANY_ADDRESS, Address, is_ipv6
from .datagrams import Datagrams
from .relays import Relays

# A documentation address (RFC 5737), only ever connect()ed to find our
# outgoing interface: no packet is sent to it.
_ANY_REMOTE = "192.0.2.1"
#: The same for IPv6 (RFC 3849): any global address finds the default route.
_ANY_REMOTE6 = "2001:db8::1"
#: How long the start waits for the first allocations, so early offers carry them.
RELAY_SETTLE_WAIT = 2.0


@dataclass(frozen=True, slots=True)
class StunAnswer:
    """What one STUN server said when discovery last asked it."""

    server: Address
    rtt: float | None
    """Seconds to its answer (resends included); None: no answer."""
    mapped: Address | None
    """Our address as it saw it."""


class Discovery:
    """Our addresses, once `discover` has run."""

    def __init__(self, datagrams: Datagrams, relays: Relays, bind_ip: str, stun_servers: tuple[Address, ...]) -> None:
        self._datagrams = datagrams
        self._relays = relays
        self._bind_ip = bind_ip
        self._stun_servers = stun_servers
        self.host: Address | None = None
        self.public: Address | None = None
        #: Our IPv6 address (as a peer would see it), if we have a global one.
        self.ipv6: Address | None = None
        self.nat = nat.NatReport(nat.NatType.UNKNOWN, None, ())
        #: The router's port mapping to our socket (PCP, NAT-PMP, UPnP), set by the
        #: port mapper: reachable even behind a symmetric NAT, so offered first.
        self.mapped: Address | None = None
        #: The servers the last discover() asked: relearn() asks them again.
        self._servers: list[Address] = list(stun_servers)
        #: What each of them said, from the same round as `nat`.
        self.answers: tuple[StunAnswer, ...] = ()

    async def discover(self, stun_servers: list[Address]) -> Address:
        """Our public address by STUN from the chat socket, else our local one.

        stun_servers: those the signalling backend offers; the configured ones
        are asked too, all at once. What IPv4 servers saw tells our NAT type;
        what an IPv6 one saw is our IPv6 address.
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
        if host_ip in ("0.0.0.0", ANY_ADDRESS):
            # The address the default route leaves from (connect() sends nothing).
            route_to = next((ip for ip, _ in servers if ":" not in ip), _ANY_REMOTE)
            host_ip = await _route_source_ip(route_to, trio.socket.AF_INET) or "127.0.0.1"
        self.host = (host_ip, port)
        if self._datagrams.ipv6:
            ip6 = await host_ipv6(self._bind_ip)
            self.ipv6 = (ip6, port) if ip6 is not None else None
        answers = await _ask_each(self._datagrams.stun, servers)
        mapped = [answer.mapped for answer in answers if answer.mapped is not None]
        seen6 = [m for m in mapped if is_ipv6(m)]
        if seen6 and self._datagrams.ipv6:
            self.ipv6 = seen6[0]
        report = nat.classify(self.host, [m for m in mapped if not is_ipv6(m)])
        if report.public is None and self.public is not None and servers:
            return False
        self.nat = report
        self.answers = tuple(answers)
        self.public = report.public or self.host
        return True

    def candidates(self) -> list[Address]:
        """Where the peer may reach us directly, best first: IPv6 needs no NAT to cross,
        and the router's mapping is reachable even behind a symmetric NAT."""
        found = [self.ipv6, self.mapped, self.public, self.host]
        return list(dict.fromkeys(a for a in found if a is not None and a[0] not in ("0.0.0.0", ANY_ADDRESS)))


async def _ask_each(client: stun.StunClient, servers: list[Address]) -> list[StunAnswer]:
    """Ask every server at once (as stun.ask_all), timing each: in the servers' order."""
    answers: list[StunAnswer] = [StunAnswer(server, None, None) for server in servers]

    async def ask(index: int, server: Address) -> None:
        start = trio.current_time()
        mapped = await client.binding(server)
        if mapped is not None:
            answers[index] = StunAnswer(server, trio.current_time() - start, mapped)

    async with trio.open_nursery() as nursery:
        for index, server in enumerate(servers):
            nursery.start_soon(ask, index, server)
    return answers


async def host_ipv6(bind_ip: str) -> str | None:
    """Our IPv6 address a peer elsewhere could send to: bind_ip if it is one, else
    the one the kernel sends from toward the IPv6 internet; None if there is none."""
    ip6 = bind_ip if ":" in bind_ip and bind_ip != ANY_ADDRESS else None
    ip6 = ip6 or await _route_source_ip(_ANY_REMOTE6, trio.socket.AF_INET6)
    return ip6 if ip6 is not None and _offerable(ip6) else None


def _offerable(ip: str) -> bool:
    """An IPv6 address a peer elsewhere could send to: not loopback, nor link-local
    (which means nothing without our interface's scope)."""
    address = ipaddress.ip_address(ip)
    return not (address.is_loopback or address.is_link_local or address.is_unspecified)


async def _route_source_ip(destination: str, family: int) -> str | None:
    """The local IP the kernel would send from to reach destination (no packet is sent);
    None when there is no route (or no IPv6 at all)."""
    try:
        probe = trio.socket.socket(family, trio.socket.SOCK_DGRAM)
    except OSError:
        return None
    with probe:
        try:
            await probe.connect((destination, 9))
        except (OSError, UnicodeError, NotImplementedError):  # NotImplementedError: a fake network
            return None
        host: str = probe.getsockname()[0]
        return host
