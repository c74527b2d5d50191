"""A port mapping client for NAT-PMP and PCP: one state machine, fed bytes
and the time, that says what to send and when to wake it. Free of I/O.

probe ──(PCP answers)──────────────> map with PCP ─┐
      ──(only NAT-PMP answers)─────> map with NAT-PMP ─┤──> mapped ──(half the lifetime)──> renewing ─> mapped
      ──(nothing by probe_timeout)─> unavailable       └──> failed        (lifetime over) ─> lost
close(): a mapping is deleted (lifetime 0), then closed.

The probe sends a PCP ANNOUNCE and a NAT-PMP public address request at once
and waits at most `probe_timeout` (250 ms): a home router answers in a few
milliseconds, and nothing may wait on one that does not exist. Requests are
resent on RFC 6886's schedule (250 ms, doubled each time) until the step's
deadline. PCP is preferred (it names the external address itself); a
refused PCP mapping falls back to NAT-PMP if the router answered that too.
"""

from __future__ import annotations

import enum
import logging
import os
from dataclasses import dataclass

from ..address import Address
from ..errors import LocalProtocolError, RemoteProtocolError
from . import natpmp, pcp

log = logging.getLogger(__name__)

PROBE_TIMEOUT = 0.25
#: How long a mapping request (or a renewal's retries) may take.
MAP_TIMEOUT = 4.0
#: RFC 6886 3.1: the first resend after 250 ms, then doubling.
FIRST_RESEND = 0.25
#: RFC 6886 3.3's recommended lifetime.
LIFETIME = 7200
#: How long close() waits for the router to confirm a delete.
DELETE_TIMEOUT = 0.25


class Protocol(enum.Enum):
    PCP = "pcp"
    NATPMP = "nat-pmp"
    UPNP = "upnp"


class State(enum.Enum):
    IDLE = "idle"
    """Not started."""
    PROBING = "probing"
    """Asking which protocols the router answers."""
    MAPPING = "mapping"
    """A mapping requested, not yet granted."""
    MAPPED = "mapped"
    """A mapping held; renewed at half its lifetime."""
    RENEWING = "renewing"
    """A renewal sent, the mapping still valid."""
    UNAVAILABLE = "unavailable"
    """No router answered the probe (or none lets us map)."""
    FAILED = "failed"
    """The router refused, stopped answering, or the mapping expired."""
    DELETING = "deleting"
    """close(): the delete sent, waiting briefly for the answer."""
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class Mapped:
    """A mapping granted or renewed: peers may reach us at `external`."""

    protocol: Protocol
    external: Address
    lifetime: int


@dataclass(frozen=True, slots=True)
class Unavailable:
    """The probe is over and no mapping can be had."""

    answered: frozenset[Protocol]


@dataclass(frozen=True, slots=True)
class Lost:
    """A mapping (or the attempt at one) is gone; `external` no longer reaches us."""

    reason: str


Event = Mapped | Unavailable | Lost


class PortMapClient:
    def __init__(
        self,
        client_ip: str,
        internal_port: int,
        *,
        lifetime: int = LIFETIME,
        probe_timeout: float = PROBE_TIMEOUT,
        nonce: bytes | None = None,
        probe_only: bool = False,
        protocols: frozenset[Protocol] = frozenset({Protocol.PCP, Protocol.NATPMP}),
    ) -> None:
        self.client_ip = client_ip
        self.internal_port = internal_port
        self.lifetime = lifetime
        self.probe_timeout = probe_timeout
        #: Only learn which protocols the router answers (the network report).
        self.probe_only = probe_only
        #: Which of PCP and NAT-PMP may hold the mapping (both are probed).
        self.protocols = protocols
        self._nonce = nonce or os.urandom(pcp.NONCE_SIZE)
        self.state = State.IDLE
        #: The protocols the router answered, and what it told.
        self.answered: set[Protocol] = set()
        self.public_ip: str | None = None  # from NAT-PMP's public address answer
        self.protocol: Protocol | None = None
        self.external: Address | None = None
        self._pcp_refused = False
        self._outbox: list[bytes] = []
        self._deadline = 0.0  # the current step's
        self._resend_at: float | None = None
        self._resend_every = FIRST_RESEND
        self._request = b""
        self._renew_at = 0.0
        self._expires_at = 0.0

    # --- What the driver asks ------------------------------------------------------

    def datagrams(self) -> list[bytes]:
        """What to send to the gateway's port 5351 now (taken: the outbox empties)."""
        out, self._outbox = self._outbox, []
        return out

    def next_timer(self) -> float | None:
        """When to call timer() next; None: only a datagram or close() changes anything."""
        if self.state in (State.PROBING, State.DELETING):
            return self._deadline
        if self.state in (State.MAPPING, State.RENEWING):
            assert self._resend_at is not None
            return min(self._resend_at, self._deadline)
        if self.state == State.MAPPED:
            return self._renew_at
        return None

    # --- Inputs --------------------------------------------------------------------

    def start(self, now: float) -> None:
        if self.state != State.IDLE:
            raise LocalProtocolError(f"start() in state {self.state.value}")
        self._outbox += [pcp.announce_request(self.client_ip), natpmp.public_address_request()]
        self._deadline = now + self.probe_timeout
        self._set_state(State.PROBING)

    def receive_untrusted(self, data: bytes, now: float) -> list[Event]:
        """A datagram from the gateway's port 5351. Raises RemoteProtocolError (only)."""
        if not data:
            raise RemoteProtocolError("empty datagram from the gateway")
        if data[0] == natpmp.VERSION:
            return self._natpmp_answer(natpmp.parse_response_untrusted(data), now)
        if data[0] == pcp.VERSION:
            return self._pcp_answer(pcp.parse_response_untrusted(data), now)
        raise RemoteProtocolError(f"port mapping answer of version {data[0]}")

    def timer(self, now: float) -> list[Event]:
        if self.state == State.PROBING and now >= self._deadline:
            return self._probe_over(now)
        if self.state in (State.MAPPING, State.RENEWING):
            if self.state == State.RENEWING and now >= self._expires_at:
                return self._lose("the router stopped renewing the mapping")
            if now >= self._deadline:
                if self.state == State.MAPPING:
                    return self._mapping_refused("no answer to the mapping request", now)
                # Keep quiet until it expires (or a late answer renews it).
                self._resend_at = self._deadline = self._expires_at
                return []
            if self._resend_at is not None and now >= self._resend_at:
                self._outbox.append(self._request)
                self._resend_every *= 2
                self._resend_at = now + self._resend_every
        elif self.state == State.MAPPED and now >= self._renew_at:
            self._send_request(now, self._map_request(self.lifetime))
            self._set_state(State.RENEWING)
        elif self.state == State.DELETING and now >= self._deadline:
            self._set_state(State.CLOSED)
        return []

    def close(self, now: float) -> None:
        """Delete the mapping if one is held; then nothing more is sent."""
        if self.state in (State.MAPPED, State.RENEWING, State.MAPPING):
            self._outbox.append(self._map_request(0))
            self._deadline = now + DELETE_TIMEOUT
            self.external = None
            self._set_state(State.DELETING)
        elif self.state != State.DELETING:
            self._set_state(State.CLOSED)

    # --- Answers -------------------------------------------------------------------

    def _natpmp_answer(self, answer: natpmp.PublicAddressResponse | natpmp.MapResponse, now: float) -> list[Event]:
        if isinstance(answer, natpmp.PublicAddressResponse):
            if answer.result == 1:
                # A NAT-PMP-only router's answer to our PCP request (RFC 6887 9).
                self._pcp_refused = True
            elif answer.result == 0:
                self.answered.add(Protocol.NATPMP)
                self.public_ip = answer.public_ip
            if self.state == State.PROBING and self.public_ip and (self._pcp_refused or Protocol.PCP in self.answered):
                return self._probe_over(now)
            return []
        if self.protocol != Protocol.NATPMP or answer.internal_port not in (self.internal_port, 0):
            return []
        return self._map_answer(answer.result, natpmp.describe_result(answer.result),
                                (self.public_ip or "", answer.external_port), answer.lifetime, now)

    def _pcp_answer(self, answer: pcp.Response, now: float) -> list[Event]:
        if answer.opcode == pcp.OP_ANNOUNCE:
            if answer.result == 0:
                self.answered.add(Protocol.PCP)
                if self.state == State.PROBING and not self.probe_only and Protocol.PCP in self.protocols:
                    return self._probe_over(now)
            return []
        if self.protocol != Protocol.PCP:
            return []
        if isinstance(answer, pcp.MapResponse):
            if answer.nonce != self._nonce:
                return []  # another client's, or an old one of ours
            external = (answer.external_ip, answer.external_port)
        else:
            external = ("", 0)
        return self._map_answer(answer.result, pcp.describe_result(answer.result), external, answer.lifetime, now)

    def _map_answer(self, result: int, words: str, external: Address, lifetime: int, now: float) -> list[Event]:
        if self.state == State.DELETING:
            self._set_state(State.CLOSED)
            return []
        if self.state not in (State.MAPPING, State.RENEWING):
            return []
        if result != 0 or lifetime <= 0 or not external[0] or not external[1]:
            if self.state == State.RENEWING:
                return self._lose(f"the router refused to renew the mapping: {words}")
            return self._mapping_refused(f"the router refused the mapping: {words}", now)
        self.external = external
        self._renew_at = now + lifetime / 2
        self._expires_at = now + lifetime
        self._resend_at = None
        self._set_state(State.MAPPED)
        return [Mapped(self.protocol, external, lifetime)]  # type: ignore[arg-type]

    # --- Steps ---------------------------------------------------------------------

    def _probe_over(self, now: float) -> list[Event]:
        if self.probe_only:
            self._set_state(State.CLOSED)
            return []
        usable = self.answered & self.protocols
        if Protocol.PCP in usable:
            self.protocol = Protocol.PCP
        elif Protocol.NATPMP in usable:
            self.protocol = Protocol.NATPMP
        else:
            self._set_state(State.UNAVAILABLE)
            return [Unavailable(frozenset(self.answered))]
        self._send_request(now, self._map_request(self.lifetime))
        self._deadline = now + MAP_TIMEOUT
        self._set_state(State.MAPPING)
        return []

    def _mapping_refused(self, reason: str, now: float) -> list[Event]:
        if self.protocol == Protocol.PCP and Protocol.NATPMP in self.answered & self.protocols:
            log.info("PCP mapping failed (%s): trying NAT-PMP", reason)
            self.protocol = Protocol.NATPMP
            self._send_request(now, self._map_request(self.lifetime))
            self._deadline = now + MAP_TIMEOUT
            return []
        self._set_state(State.FAILED)
        return [Lost(reason)]

    def _lose(self, reason: str) -> list[Event]:
        self.external = None
        self._set_state(State.FAILED)
        return [Lost(reason)]

    def _send_request(self, now: float, request: bytes) -> None:
        self._request = request
        self._outbox.append(request)
        self._resend_every = FIRST_RESEND
        self._resend_at = now + FIRST_RESEND
        if self.state == State.MAPPED:
            self._deadline = min(now + MAP_TIMEOUT, self._expires_at)

    def _map_request(self, lifetime: int) -> bytes:
        suggested = self.external or ("0.0.0.0", 0)
        if self.protocol == Protocol.PCP:
            return pcp.map_request(self.client_ip, self._nonce, self.internal_port, lifetime, suggested)
        if lifetime == 0:
            return natpmp.delete_request(self.internal_port)
        return natpmp.map_request(self.internal_port, suggested[1], lifetime)

    def _set_state(self, new: State) -> None:
        if new != self.state:
            log.debug("port mapping: %s -> %s", self.state.value, new.value)
            self.state = new
