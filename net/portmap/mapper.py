"""The port mapper: a PortMapClient (NAT-PMP, PCP) driven on its own UDP
socket to the gateway's port 5351, and UPnP-IGD beside it; the mapping it
gets is reported through `on_change` (Discovery offers it as a candidate).

Nothing waits on it: the node starts it in the background, the probe gives
up within about 250 ms when no router answers, and on exit the mapping is
deleted within a short shielded deadline.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import trio

from ..address import Address
from ..errors import RemoteProtocolError
from . import natpmp
from .client import LIFETIME, Lost, Mapped, PortMapClient, Protocol, State, Unavailable
from .gateway import default_gateway
from .upnp import Upnp

log = logging.getLogger(__name__)

#: How long exit waits for the router to confirm deletes.
DELETE_WAIT = 0.5
#: A PCP/NAT-PMP answer is at most 1100 bytes (RFC 6887 7).
MAX_ANSWER = 1100
#: How many UPnP renewals fail in a row before the mapping counts as lost.
UPNP_TRIES = 3
#: After a mapping is lost or refused, how long until PCP/NAT-PMP are asked again.
RETRY_AFTER = 60.0


@dataclass(frozen=True, slots=True)
class PortMapStatus:
    """What the port mapper found, for the network report and the details pane."""

    gateway: str | None
    answered: tuple[str, ...]
    """The port mapping protocols the router answered: "pcp", "nat-pmp", "upnp"."""
    protocol: str | None
    """The one holding our mapping."""
    external: Address | None


class PortMapper:
    def __init__(
        self,
        internal_port: int,
        on_change: Callable[[Address | None], None] = lambda _: None,
        *,
        gateway: str | None = None,
        port: int = natpmp.PORT,
        upnp: bool = True,
        lifetime: int = LIFETIME,
        probe_only: bool = False,
        protocols: frozenset[Protocol] = frozenset(Protocol),
    ) -> None:
        self.internal_port = internal_port
        self.on_change = on_change
        self.gateway = gateway
        self.port = port
        self.lifetime = lifetime
        self.probe_only = probe_only
        self.protocols = protocols
        self._upnp = Upnp() if upnp and Protocol.UPNP in protocols else None
        self._upnp_found = False
        self.client: PortMapClient | None = None
        self.protocol: Protocol | None = None
        self.external: Address | None = None
        self.dropped: Counter[str] = Counter()
        #: Set once the probe has an outcome: a mapping, or none to be had.
        self.probed = trio.Event()
        self._probes_left = 2 if self._upnp is not None else 1
        #: Set once PCP/NAT-PMP have a mapping or none to give (UPnP waits for it).
        self._first_choice_settled = trio.Event()

    def status(self) -> PortMapStatus:
        answered = [p.value for p in (self.client.answered if self.client else ())]
        if self._upnp_found:
            answered.append(Protocol.UPNP.value)
        order = [p.value for p in Protocol]
        return PortMapStatus(
            self.gateway,
            tuple(sorted(answered, key=order.index)),
            self.protocol.value if self.protocol else None,
            self.external,
        )

    async def run(self) -> None:
        """Probe, map, renew until cancelled; then delete the mapping."""
        self.gateway = self.gateway or default_gateway()
        if self.gateway is None:
            log.info("port mapping: no default gateway")
            self.probed.set()
            return
        sock = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
        with sock:
            try:
                await sock.connect((self.gateway, self.port))
            except (OSError, NotImplementedError) as exc:  # NotImplementedError: a fake network
                log.info("port mapping: cannot reach the gateway %s (%s)", self.gateway, exc)
                self.probed.set()
                return
            client_ip = sock.getsockname()[0]
            self.client = self._new_client(client_ip)
            try:
                async with trio.open_nursery() as nursery:
                    if self._upnp is not None:
                        nursery.start_soon(self._run_upnp, client_ip)
                    await self._drive(sock, self.client)
                    # A router that answered once but lost or refused the mapping is
                    # asked again now and then (not one that never answered).
                    while self.client.state == State.FAILED and self.protocol != Protocol.UPNP:
                        await trio.sleep(RETRY_AFTER)
                        self.client = self._new_client(client_ip)
                        await self._drive(sock, self.client)
            finally:
                with trio.CancelScope(shield=True), trio.move_on_after(DELETE_WAIT):
                    await self._delete(sock, self.client)

    def _new_client(self, client_ip: str) -> PortMapClient:
        return PortMapClient(
            client_ip,
            self.internal_port,
            lifetime=self.lifetime,
            probe_only=self.probe_only,
            protocols=self.protocols - {Protocol.UPNP},
        )

    async def _drive(self, sock: trio.socket.SocketType, client: PortMapClient) -> None:
        client.start(trio.current_time())
        while True:
            for datagram in client.datagrams():
                try:
                    await sock.send(datagram)
                except OSError as exc:
                    log.debug("port mapping: send failed (%s)", exc)
            if client.state in (State.UNAVAILABLE, State.FAILED, State.CLOSED):
                self._first_choice_settled.set()
                self._probe_done()
                return
            if client.state in (State.MAPPED, State.RENEWING):
                self._first_choice_settled.set()
            wake = client.next_timer()
            events = []
            with trio.move_on_at(wake if wake is not None else math.inf) as scope:
                try:
                    data = await sock.recv(MAX_ANSWER)
                except OSError:
                    data = b""  # ICMP port unreachable: no PCP/NAT-PMP server there
            now = trio.current_time()
            if scope.cancelled_caught:
                events = client.timer(now)
            elif data:
                try:
                    events = client.receive_untrusted(data, now)
                except RemoteProtocolError as exc:
                    self.dropped["bad port mapping answer"] += 1
                    log.debug("port mapping: dropped an answer (%s)", exc)
            else:
                # Refused by the gateway: wait for the timer rather than spin.
                await trio.sleep_until(wake if wake is not None else now + 1)
                events = client.timer(trio.current_time())
            for event in events:
                self._event(event)

    def _event(self, event: Mapped | Lost | Unavailable) -> None:
        if isinstance(event, Mapped):
            self.protocol = event.protocol
            self._set_external(event.external)
            self.probed.set()
        elif isinstance(event, Lost):
            log.info("port mapping lost: %s", event.reason)
            if self.protocol != Protocol.UPNP:
                self.protocol = None
                self._set_external(None)
        # Unavailable: the drive loop ends and counts the probe done.

    def _probe_done(self) -> None:
        self._probes_left -= 1
        if self._probes_left <= 0 or self.external is not None:
            self.probed.set()

    def _set_external(self, external: Address | None) -> None:
        if external != self.external:
            log.info("port mapping: %s", f"{external[0]}:{external[1]}" if external else "none")
            self.external = external
            self.on_change(external)

    async def _run_upnp(self, client_ip: str) -> None:
        assert self._upnp is not None
        self._upnp_found = await self._upnp.discover()
        if not self._upnp_found or self.probe_only:
            self._probe_done()
            return
        # PCP and NAT-PMP go first; UPnP only where they give nothing.
        await self._first_choice_settled.wait()
        if self.external is not None:
            return
        fails = 0
        while fails < UPNP_TRIES:
            mapping = await self._upnp.map((client_ip, self.internal_port), self.lifetime)
            if mapping is None:
                fails += 1
                if self.protocol == Protocol.UPNP:
                    self.protocol = None
                    self._set_external(None)
                self._probe_done()
                await trio.sleep(min(30, self.lifetime / 4))
                continue
            fails = 0
            self.protocol = Protocol.UPNP
            self._set_external(mapping.external)
            self.probed.set()
            await trio.sleep(mapping.lifetime / 2)

    async def _delete(self, sock: trio.socket.SocketType, client: PortMapClient) -> None:
        if self.protocol == Protocol.UPNP and self.external is not None and self._upnp is not None:
            await self._upnp.delete(self.external[1])
        client.close(trio.current_time())
        for datagram in client.datagrams():
            try:
                await sock.send(datagram)
            except OSError:
                return
        while client.state == State.DELETING:
            wake = client.next_timer()
            with trio.move_on_at(wake if wake is not None else trio.current_time()) as scope:
                try:
                    data = await sock.recv(MAX_ANSWER)
                except OSError:
                    return
            if scope.cancelled_caught:
                client.timer(trio.current_time())
                continue
            try:
                client.receive_untrusted(data, trio.current_time())
            except RemoteProtocolError:
                self.dropped["bad port mapping answer"] += 1
        self.external = None
