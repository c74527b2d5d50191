"""`p2ptui nat-check`'s network report, as Tailscale's netcheck and iroh's net
report give it: UDP reachability, the NAT's mapping behaviour, hairpinning,
which port mapping protocols the router answers, our public addresses and the
round trip to each STUN and TURN server.

`build_report` is pure; `network_report` gathers the facts on trio from one
new UDP socket, every step bounded in time.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

import trio

from . import stun
from .address import ANY_ADDRESS, Address, is_ipv6, to_socket
from .datagrams import open_socket
from .discovery import host_ipv6
from .errors import cannot_listen
from .nat import NatReport, NatType, classify
from .portmap import PortMapper, PortMapStatus
from .signalling.messages import format_address

#: How long a datagram sent to our own public address may take to come back.
HAIRPIN_WAIT = 0.3
#: The port mapping probe's bound (it ends within ~250 ms, UPnP's discovery a little later).
PORTMAP_WAIT = 1.5


@dataclass(frozen=True, slots=True)
class ServerCheck:
    server: Address
    kind: str
    """"stun" or "turn" (a TURN server answers STUN Binding too)."""
    rtt: float | None
    """Seconds to the first answer; None: no answer."""
    mapped: Address | None
    not_asked: str = ""
    """Why the server was not asked (an IPv6 one from an IPv4 socket); "": it was."""

    @property
    def ipv6(self) -> bool:
        """Asked over IPv6 (a server named by host name tells by its answer)."""
        return is_ipv6(self.server) or (self.mapped is not None and is_ipv6(self.mapped))


@dataclass(frozen=True, slots=True)
class NetReport:
    nat: NatReport
    hairpinning: bool | None
    """Whether a datagram to our own public address comes back; None: not behind a NAT, or not known."""
    portmap: PortMapStatus | None
    """None: not probed (port mapping off, or a loopback socket)."""
    servers: tuple[ServerCheck, ...]
    host_ipv6: str | None = None
    """Our global IPv6 address as the kernel would send from it (IPv6 needs no NAT),
    when no STUN server was asked over IPv6."""

    @property
    def udp(self) -> bool:
        return any(check.mapped for check in self.servers)

    @property
    def public_ipv4(self) -> str | None:
        return _public_of(self.servers, 4)

    @property
    def public_ipv6(self) -> str | None:
        """What a STUN server saw over IPv6, else our global IPv6 address, else None."""
        return _public_of(self.servers, 6) or self.host_ipv6

    @property
    def ipv6_only(self) -> bool:
        """No IPv4 STUN server answered, and one over IPv6 did: IPv6 needs no NAT."""
        return self.nat.public is None and _public_of(self.servers, 6) is not None

    @property
    def reachable(self) -> bool:
        """A public address was found, IPv4 or (from a STUN server's answer) IPv6."""
        return self.nat.public is not None or self.ipv6_only

    @property
    def nat_words(self) -> str:
        if self.ipv6_only:
            return "IPv6 only: no NAT (IPv6 needs none); no IPv4 STUN server answered"
        return self.nat.words

    @property
    def mapping(self) -> str:
        return {True: "endpoint-independent", False: "endpoint-dependent", None: "unknown"}[
            self.nat.endpoint_independent
        ]

    def to_json(self) -> dict[str, Any]:
        def text(address: Address | None) -> str | None:
            return format_address(address) if address else None

        return {
            "udp": self.udp,
            "public": text(self.nat.public),
            "ipv4": self.public_ipv4,
            "ipv6": self.public_ipv6,
            "mapping": self.mapping,
            "nat": self.nat.nat_type.value,
            "description": self.nat_words,
            "hairpinning": self.hairpinning,
            "portmap": None if self.portmap is None else {
                "gateway": self.portmap.gateway,
                "protocols": list(self.portmap.answered),
            },
            "mapped": [text(address) for address in self.nat.mapped],
            "servers": [
                {"server": text(c.server), "kind": c.kind,
                 "rtt_ms": None if c.rtt is None else round(c.rtt * 1000, 1), "mapped": text(c.mapped),
                 "not_asked": c.not_asked or None}
                for c in self.servers
            ],
        }


def _public_of(servers: tuple[ServerCheck, ...], version: int) -> str | None:
    for check in servers:
        if check.mapped and ipaddress.ip_address(check.mapped[0]).version == version:
            return check.mapped[0]
    return None


def build_report(
    local: Address,
    servers: list[ServerCheck],
    hairpinning: bool | None,
    portmap: PortMapStatus | None,
    host_ipv6: str | None = None,
) -> NetReport:
    """The report from what was measured. The NAT type comes from the STUN servers
    asked over IPv4 only (TURN servers may be the same machines under another
    name, and IPv6 has no NAT to classify)."""
    mapped = [c.mapped for c in servers if c.mapped and c.kind == "stun" and not is_ipv6(c.mapped)]
    nat = classify(local, mapped)
    if nat.nat_type in (NatType.OPEN, NatType.UNKNOWN):
        hairpinning = None
    return NetReport(nat, hairpinning, portmap, tuple(servers), host_ipv6)


async def network_report(
    stun_servers: list[Address],
    turn_servers: tuple[Address, ...] = (),
    bind: Address = (ANY_ADDRESS, 0),
    *,
    portmap: bool = True,
) -> NetReport:
    """Measure from one new UDP socket (dual-stack for ANY_ADDRESS, as the chat
    socket is: IPv6 servers are asked over IPv6). Raises EnvironmentFailure if
    bind cannot be listened on."""
    try:
        sock = open_socket(bind)
    except OSError as exc:
        raise cannot_listen(*bind, exc) from None
    if bind[0] == ANY_ADDRESS and sock.family != trio.socket.AF_INET6:
        bind = ("0.0.0.0", bind[1])  # A host with no IPv6.
    with sock:
        try:
            await sock.bind(bind)
        except OSError as exc:
            raise cannot_listen(*bind, exc) from None
        port = sock.getsockname()[1]
        prober = _Prober(sock)
        loopback = bind[0].startswith("127.") or bind[0] == "::1"
        mapper = PortMapper(port, probe_only=True) if portmap and not loopback else None
        async with trio.open_nursery() as nursery:
            nursery.start_soon(prober.read)
            if mapper is not None:
                nursery.start_soon(mapper.run)
            # A server named twice (the signal server's, and again with --stun) is asked once.
            stun_once = list(dict.fromkeys(stun_servers))
            turn_once = [server for server in dict.fromkeys(turn_servers) if server not in stun_once]
            async with trio.open_nursery() as asking:
                for index, server in enumerate([*stun_once, *turn_once]):
                    asking.start_soon(prober.check, index, server, "stun" if index < len(stun_once) else "turn")
            checks = [check for _, check in sorted(prober.checks, key=lambda pair: pair[0])]
            answering = next((c for c in checks if c.mapped and c.kind == "stun" and not is_ipv6(c.mapped)), None)
            public = answering.mapped if answering else None
            # Our address on the way to the server that answered (not a loopback one that did not).
            local = (await _local_ip(bind[0], answering.server if answering else None), port)
            hairpinning = await prober.hairpin(public) if public is not None and public != local else None
            if mapper is not None:
                with trio.move_on_after(PORTMAP_WAIT):
                    await mapper.probed.wait()
            nursery.cancel_scope.cancel()
        ipv6 = await host_ipv6(bind[0]) if sock.family == trio.socket.AF_INET6 else None
        return build_report(local, checks, hairpinning, mapper.status() if mapper is not None else None, ipv6)


class _Prober:
    """STUN questions from one socket, and the hairpin test, its reader dispatching answers."""

    def __init__(self, sock: trio.socket.SocketType) -> None:
        self._sock = sock
        self._client = stun.StunClient(self._sendto)
        self._hairpin_id, self._hairpin_request = stun.binding_request()
        self._hairpinned = trio.Event()
        self.checks: list[tuple[int, ServerCheck]] = []

    async def _sendto(self, data: bytes, address: Address) -> None:
        ipv6_socket = self._sock.family == trio.socket.AF_INET6
        if is_ipv6(address) and not ipv6_socket:
            return  # An IPv6 server from an IPv4-only socket: no answer, as unreachable.
        try:
            await self._sock.sendto(data, to_socket(address, ipv6_socket=ipv6_socket))
        except OSError:
            pass  # An unreachable server simply does not answer.

    async def read(self) -> None:
        while True:
            try:
                data, _ = await self._sock.recvfrom(2048)
                message = stun.parse_untrusted(data)
            except (OSError, stun.StunError):
                continue
            if isinstance(message, stun.BindingRequest) and message.transaction_id == self._hairpin_id:
                self._hairpinned.set()
            else:
                self._client.response_received(message)

    async def check(self, index: int, server: Address, kind: str) -> None:
        if is_ipv6(server) and self._sock.family != trio.socket.AF_INET6:
            self.checks.append((index, ServerCheck(server, kind, None, None, not_asked="the socket is IPv4")))
            return
        start = trio.current_time()
        mapped = await self._client.binding(server)
        rtt = trio.current_time() - start if mapped else None
        self.checks.append((index, ServerCheck(server, kind, rtt, mapped)))

    async def hairpin(self, public: Address) -> bool:
        """Send to our own public address from the same socket: does the router turn it back to us?"""
        await self._sendto(self._hairpin_request, public)
        with trio.move_on_after(HAIRPIN_WAIT):
            await self._hairpinned.wait()
        return self._hairpinned.is_set()


async def _local_ip(bind_ip: str, toward: Address | None) -> str:
    """Our address on the way to toward (connect() sends nothing)."""
    if bind_ip not in ("0.0.0.0", ANY_ADDRESS) or toward is None:
        return bind_ip
    probe = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
    with probe:
        try:
            await probe.connect(toward)
            return str(probe.getsockname()[0])
        except (OSError, UnicodeError):
            return bind_ip
