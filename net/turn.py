"""A TURN client (RFC 8656, formerly RFC 5766) as a state machine free of I/O.

A `TurnClient` shares the node's one UDP socket: the node hands it every
datagram that came from the TURN server's address and the current time, and
sends what `datagrams_to_send` returns to that address. The client decides
everything else: the long-term-credential dance (RFC 8489 §9.2), retransmission
with back-off, refreshing the allocation, the permissions (per peer IP) and
the channels (per peer address), and turning Data indications and ChannelData
into `Received` events. Encoding and decoding are aioice's sans-I/O STUN codec.

    IDLE ──allocate()──▶ ALLOCATING ──success──▶ ALLOCATED
                           │    ▲                    │
                 error or  │    │ allocate()         │ refresh failed
                 no answer ▼    │                    ▼ (AllocationLost)
                         FAILED ◀────────────────────┘

    close(), from any state, releases the allocation (if any) and goes back to IDLE.

Sending to a peer: the first datagram to a new IP sends CreatePermission and
waits in a bounded queue until the server confirms it; then data goes out as
Send indications while a ChannelBind for that peer is in flight, and as
4-byte-header ChannelData once it is bound. Permissions and channels that saw
traffic are refreshed before they expire; unused ones lapse.

The parts: `turn_codec` (the wire formats), `turn_routes` (permissions and
channels), this module (the allocation and the transactions behind it). It
is over 400 lines because the transaction life cycle is one machine; see
`TurnClient`.
"""

from __future__ import annotations

import enum
import logging
from collections import Counter
from dataclasses import dataclass
from typing import Any

from aioice import stun as _codec
from aioice.turn import make_integrity_key

from .address import Address
from .errors import LocalProtocolError
from .turn_codec import (  # noqa: F401 (re-exported: the codec is part of this module's face)
    CHANNEL_HEADER,
    UDP_TRANSPORT,
    TurnError,
    error_text,
    looks_like_channel_data,
    normalise,
    parse_channel_data_untrusted,
    parse_message_untrusted,
)
from .turn_routes import MAX_PEERS, MAX_QUEUED_PER_IP, Routes  # noqa: F401 (re-exported)
from .turn_server import TurnServer, parse_turn_url  # noqa: F401 (re-exported)

log = logging.getLogger(__name__)

#: Refresh the allocation this long before the granted LIFETIME runs out.
ALLOCATION_MARGIN = 60.0

#: RFC 8489 §6.2.1: the first retransmission after 500 ms, then doubling.
INITIAL_RTO = 0.5

#: An Allocate answered 437 Allocation Mismatch is asked again this often, after 1 s, 2 s, 3 s.
MISMATCH_RETRIES = 3
MISMATCH_DELAY = 1.0

#: The most one datagram may carry: a UDP payload less the largest Send indication overhead.
MAX_DATA = 65_507 - 64

#: Error responses that need not carry MESSAGE-INTEGRITY even to an authenticated
#: request (RFC 8489 §9.2.4: the server could not or would not check it). 437 too:
#: coturn checks the 5-tuple before the credentials and never signs it; a forged one
#: costs only a delayed retry.
_UNSIGNED_ERRORS = frozenset({400, 401, 420, 437, 438})


# --- Events ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Allocated:
    """The server gave us a relayed address; peers can reach us there."""

    relayed: Address
    mapped: Address | None


@dataclass(frozen=True)
class AllocationFailed:
    """allocate() did not succeed: wrong credentials, an error from the server, or no answer."""

    reason: str


@dataclass(frozen=True)
class AllocationLost:
    """A refresh failed or went unanswered: the relayed address is gone."""

    reason: str


@dataclass(frozen=True)
class Received:
    """A peer's datagram, relayed by the server (Data indication or ChannelData)."""

    peer: Address
    data: bytes


TurnEvent = Allocated | AllocationFailed | AllocationLost | Received


# --- The state machine ----------------------------------------------------------------


class TurnState(enum.Enum):
    IDLE = "idle"
    """No allocation; allocate() asks for one."""
    ALLOCATING = "allocating"
    """An Allocate request (perhaps after the 401 challenge) is waiting for its answer."""
    ALLOCATED = "allocated"
    """We hold a relayed address and keep it refreshed; send() relays to peers."""
    FAILED = "failed"
    """The allocation failed or was lost; allocate() tries again."""


class _Kind(enum.Enum):
    ALLOCATE = "allocate"
    REFRESH = "refresh"
    DELETE = "delete"  # Refresh with LIFETIME 0; nothing waits for its answer.
    PERMISSION = "permission"
    CHANNEL = "channel"


@dataclass
class _Transaction:
    kind: _Kind
    method: _codec.Method
    attributes: dict[str, Any]
    transaction_id: bytes
    datagram: bytes
    key: bytes | None
    deadline: float
    next_send: float
    rto: float
    #: The peer IP (PERMISSION) or address (CHANNEL) the request is about.
    peer: Address | None = None
    #: False while the send is delayed (an Allocate retried after 437).
    sent: bool = True
    #: The 401 challenge was answered: another 401 means the credentials are wrong.
    challenged: bool = False
    #: A 438 Stale Nonce was answered once; a second one fails the request.
    stale_retried: bool = False
    #: How often an Allocate met 437 Allocation Mismatch.
    mismatches: int = 0


class TurnClient:
    """One allocation on one TURN server, over a UDP socket somebody else reads.

    The allocation, its credentials and every transaction are here; the peers
    it reaches (permissions and channels) are `turn_routes.Routes`', the wire
    formats `turn_codec`'s. Over 300 lines still: the transaction life cycle
    (send, retransmit, challenge, stale nonce, mismatch, fail) is one machine,
    and cutting it across classes would spread each rule over two places.
    """

    def __init__(self, server: TurnServer, *, lifetime: int = 600, request_timeout: float = 5.0):
        self.server = server
        self.lifetime = lifetime
        self.request_timeout = request_timeout
        self.state = TurnState.IDLE
        self.relayed: Address | None = None
        self.mapped: Address | None = None
        #: What we threw away, by reason: bad or unexpected datagrams from the server,
        #: and sends we could not relay. Never raised.
        self.dropped: Counter[str] = Counter()
        self._events: list[TurnEvent] = []
        self._outgoing: list[bytes] = []
        self._transactions: dict[bytes, _Transaction] = {}
        self._realm: str | None = None
        self._nonce: bytes | None = None
        self._key: bytes | None = None
        self._refresh_at: float | None = None
        self._routes = Routes(self, self._outgoing_append, self.dropped)

    # --- The caller's side ----------------------------------------------------------

    def allocate(self, now: float) -> None:
        """Ask for an allocation. Only from IDLE or FAILED; raises LocalProtocolError otherwise."""
        if self.state not in (TurnState.IDLE, TurnState.FAILED):
            raise LocalProtocolError(f"allocate() while {self.state.value}")
        self._reset()
        # The realm, nonce and key of an earlier allocation stay: the request goes out
        # signed, and a 401 or 438 brings fresh ones. The very first goes unsigned.
        self._set_state(TurnState.ALLOCATING)
        self._request(_Kind.ALLOCATE, _codec.Method.ALLOCATE, self._allocate_attributes(), now)

    def send(self, peer: Address, data: bytes, now: float) -> None:
        """Relay data to peer: queued until its IP's permission is confirmed, dropped if not allocated.

        Raises LocalProtocolError if peer is not an IP address literal or data is too large.
        """
        peer = normalise(peer)
        if len(data) > MAX_DATA:
            raise LocalProtocolError(f"TURN data of {len(data)} bytes is larger than {MAX_DATA}")
        if self.state != TurnState.ALLOCATED:
            self.dropped["send while not allocated"] += 1
            return
        self._routes.send(peer, data, now)

    def refresh(self, now: float) -> None:
        """Ask now whether the allocation is still there (a path through it went
        silent): a Refresh, as if one were due. AllocationLost follows if it is gone."""
        if self.state != TurnState.ALLOCATED:
            return
        if any(t.kind == _Kind.REFRESH for t in self._transactions.values()):
            return  # One is on its way already.
        self._refresh_at = None  # The answer sets the next one.
        self._request(_Kind.REFRESH, _codec.Method.REFRESH, {"LIFETIME": self.lifetime}, now)

    def datagram_received(self, data: bytes, now: float) -> None:
        """A datagram from the server's address. Bad ones are counted in self.dropped."""
        if looks_like_channel_data(data):
            try:
                number, payload = parse_channel_data_untrusted(data)
            except TurnError:
                self.dropped["malformed channel data"] += 1
                return
            self._channel_data(number, payload, now)
            return
        try:
            message = parse_message_untrusted(data)
        except TurnError:
            self.dropped["malformed"] += 1
            return
        if message.message_class == _codec.Class.INDICATION:
            self._indication(message, now)
        elif message.message_class in (_codec.Class.RESPONSE, _codec.Class.ERROR):
            self._response(message, now)
        else:
            self.dropped["unexpected request"] += 1

    def handle_timeout(self, now: float) -> None:
        """Retransmit, give up, and refresh whatever is due at now."""
        for transaction in list(self._transactions.values()):
            if self._transactions.get(transaction.transaction_id) is not transaction:
                continue  # Settled by an earlier iteration (a failure clears everything).
            if now >= transaction.deadline:
                del self._transactions[transaction.transaction_id]
                self._failed(transaction, f"no answer from {self.server.host}:{self.server.port}", now)
            elif now >= transaction.next_send:
                self._outgoing.append(transaction.datagram)
                if transaction.sent:
                    transaction.rto *= 2
                transaction.sent = True
                transaction.next_send = min(now + transaction.rto, transaction.deadline)
        if self.state != TurnState.ALLOCATED:
            return
        if self._refresh_at is not None and now >= self._refresh_at:
            self._refresh_at = None  # The answer sets the next one.
            self._request(_Kind.REFRESH, _codec.Method.REFRESH, {"LIFETIME": self.lifetime}, now)
        self._routes.handle_timeout(now)

    def next_timeout(self) -> float | None:
        """When handle_timeout wants to be called next, or None if nothing is pending."""
        times = [min(t.next_send, t.deadline) for t in self._transactions.values()]
        if self.state == TurnState.ALLOCATED:
            if self._refresh_at is not None:
                times.append(self._refresh_at)
            times.extend(self._routes.timers())
        return min(times, default=None)

    def datagrams_to_send(self) -> list[bytes]:
        """Everything to send to the server's address since the last call."""
        out, self._outgoing = self._outgoing, []
        return out

    def events(self) -> list[TurnEvent]:
        """Everything that happened since the last call."""
        out, self._events = self._events, []
        return out

    def close(self, now: float) -> None:
        """Release the allocation (a Refresh with LIFETIME 0, best effort) and go IDLE.

        The release is retransmitted like any request while the caller keeps calling
        handle_timeout; a caller that stops at once has still sent it once.
        """
        had_allocation = self._key is not None and self.state in (TurnState.ALLOCATING, TurnState.ALLOCATED)
        self._reset()
        self._set_state(TurnState.IDLE)
        if had_allocation:
            self._request(_Kind.DELETE, _codec.Method.REFRESH, {"LIFETIME": 0}, now)

    # --- Requests (routes.Requests too) -----------------------------------------------

    def create_permission(self, ip: str, now: float) -> bytes:
        attributes = {"XOR-PEER-ADDRESS": (ip, 0)}  # The port is ignored (RFC 8656 §10).
        return self._request(
            _Kind.PERMISSION, _codec.Method.CREATE_PERMISSION, attributes, now, (ip, 0)
        ).transaction_id

    def channel_bind(self, peer: Address, number: int, now: float) -> bytes:
        attributes = {"CHANNEL-NUMBER": number, "XOR-PEER-ADDRESS": peer}
        return self._request(_Kind.CHANNEL, _codec.Method.CHANNEL_BIND, attributes, now, peer).transaction_id

    def _outgoing_append(self, datagram: bytes) -> None:
        self._outgoing.append(datagram)

    def _allocate_attributes(self) -> dict[str, Any]:
        return {"REQUESTED-TRANSPORT": UDP_TRANSPORT, "LIFETIME": self.lifetime}

    def _request(
        self,
        kind: _Kind,
        method: _codec.Method,
        attributes: dict[str, Any],
        now: float,
        peer: Address | None = None,
        delay: float = 0.0,
    ) -> _Transaction:
        message = _codec.Message(message_method=method, message_class=_codec.Class.REQUEST)
        message.attributes.update(attributes)
        if self._key is not None:
            assert self._realm is not None and self._nonce is not None
            message.attributes["USERNAME"] = self.server.username
            message.attributes["REALM"] = self._realm
            message.attributes["NONCE"] = self._nonce
            message.add_message_integrity(self._key)  # adds FINGERPRINT too
        else:
            message.add_fingerprint()
        transaction = _Transaction(
            kind=kind,
            method=method,
            attributes=attributes,
            transaction_id=message.transaction_id,
            datagram=bytes(message),
            key=self._key,
            deadline=now + delay + self.request_timeout,
            next_send=now + (delay or INITIAL_RTO),
            rto=INITIAL_RTO,
            peer=peer,
            sent=not delay,
        )
        self._transactions[transaction.transaction_id] = transaction
        if not delay:
            self._outgoing.append(transaction.datagram)
        return transaction

    def _again(self, old: _Transaction, now: float, delay: float = 0.0) -> _Transaction:
        """The same request with a new transaction id and the current credentials."""
        new = self._request(old.kind, old.method, old.attributes, now, old.peer, delay)
        new.challenged, new.stale_retried, new.mismatches = old.challenged, old.stale_retried, old.mismatches
        if old.kind in (_Kind.PERMISSION, _Kind.CHANNEL):
            assert old.peer is not None
            self._routes.renumbered(old.peer, old.kind == _Kind.CHANNEL, old.transaction_id, new.transaction_id)
        return new

    # --- Answers ----------------------------------------------------------------------

    def _response(self, message: _codec.Message, now: float) -> None:
        transaction = self._transactions.get(message.transaction_id)
        if transaction is None or message.message_method != transaction.method:
            self.dropped["unknown transaction"] += 1
            return
        code = None
        if message.message_class == _codec.Class.ERROR:
            code = message.error_code or 0  # 0: an error without ERROR-CODE, still an error
        # Once we sign, only answers signed with the same key count (RFC 8489 §9.2.5);
        # a forged one is dropped and the request keeps being retransmitted.
        if (
            transaction.key is not None
            and code not in _UNSIGNED_ERRORS
            and not message.check_message_integrity(transaction.key)
        ):
            self.dropped["bad message integrity"] += 1
            return
        del self._transactions[message.transaction_id]
        if code is None:
            self._succeeded(transaction, message, now)
        else:
            self._error(transaction, message, code, now)

    def _error(self, transaction: _Transaction, message: _codec.Message, code: int, now: float) -> None:
        reason = error_text(message)
        # A 401 is answered once per request: to the unsigned first one, or to one
        # signed with an earlier allocation's credentials that the server forgot.
        if code == 401 and not transaction.challenged:
            realm, nonce = message.attributes.get("REALM"), message.attributes.get("NONCE")
            if not realm or not nonce:
                self._failed(transaction, f"{reason} without a realm and nonce", now)
                return
            self._realm, self._nonce = realm, nonce
            self._key = make_integrity_key(self.server.username, realm, self.server.password)
            transaction.challenged = True
            self._again(transaction, now)
        elif code == 438 and not transaction.stale_retried and message.attributes.get("NONCE"):
            # The nonce expired; the new one comes with the error (RFC 8489 §9.2.5).
            self._nonce = message.attributes["NONCE"]
            if message.attributes.get("REALM"):
                self._realm = message.attributes["REALM"]
                self._key = make_integrity_key(self.server.username, self._realm, self.server.password)
            transaction.stale_retried = True
            self._again(transaction, now)
        elif code == 437 and transaction.kind == _Kind.ALLOCATE and transaction.mismatches < MISMATCH_RETRIES:
            # The server still holds an allocation for our address: one we lost track of
            # (delete it; unsigned, its 401 brings the credentials), or one just released,
            # which coturn keeps for about a second (wait). Deleting once is enough.
            if transaction.mismatches == 0:
                self._request(_Kind.DELETE, _codec.Method.REFRESH, {"LIFETIME": 0}, now)
            transaction.mismatches += 1
            self._again(transaction, now, delay=MISMATCH_DELAY * transaction.mismatches)
        elif code == 401 and transaction.kind == _Kind.ALLOCATE:
            self._failed(transaction, f"{reason}: the server refused the username or password", now)
        else:
            self._failed(transaction, reason, now)

    def _succeeded(self, transaction: _Transaction, message: _codec.Message, now: float) -> None:
        kind, peer = transaction.kind, transaction.peer
        if kind == _Kind.ALLOCATE:
            self._allocated(transaction, message, now)
        elif kind == _Kind.REFRESH:
            if self.state == TurnState.ALLOCATED:
                self._schedule_refresh(message.attributes.get("LIFETIME", self.lifetime), now)
        elif kind == _Kind.DELETE:
            log.info("TURN allocation released")
        elif kind == _Kind.PERMISSION and peer is not None:
            self._routes.permission_installed(peer[0], transaction.transaction_id, now)
        elif kind == _Kind.CHANNEL and peer is not None:
            self._routes.channel_bound(peer, transaction.transaction_id, now)

    def _allocated(self, transaction: _Transaction, message: _codec.Message, now: float) -> None:
        relayed = message.attributes.get("XOR-RELAYED-ADDRESS")
        lifetime = message.attributes.get("LIFETIME")
        if relayed is None or lifetime is None:
            self._failed(transaction, "the Allocate answer has no relayed address or lifetime", now)
            return
        self.relayed = (str(relayed[0]), int(relayed[1]))
        mapped = message.attributes.get("XOR-MAPPED-ADDRESS")
        self.mapped = (str(mapped[0]), int(mapped[1])) if mapped else None
        self._schedule_refresh(lifetime, now)
        self._set_state(TurnState.ALLOCATED)
        log.info("TURN allocation %s (lifetime %d s)", self.relayed, lifetime)
        self._events.append(Allocated(self.relayed, self.mapped))

    def _failed(self, transaction: _Transaction, reason: str, now: float) -> None:
        kind, peer = transaction.kind, transaction.peer
        if kind == _Kind.ALLOCATE and self.state == TurnState.ALLOCATING:
            log.info("TURN allocation failed: %s", reason)
            self._reset()
            self._set_state(TurnState.FAILED)
            self._events.append(AllocationFailed(reason))
        elif kind == _Kind.REFRESH and self.state == TurnState.ALLOCATED:
            log.info("TURN allocation %s lost: %s", self.relayed, reason)
            self._reset()
            self._set_state(TurnState.FAILED)
            self._events.append(AllocationLost(f"refresh failed: {reason}"))
        elif kind == _Kind.DELETE:
            log.info("TURN release failed (the allocation expires by itself): %s", reason)
        elif kind == _Kind.PERMISSION and peer is not None:
            if self._routes.permission_failed(peer[0], transaction.transaction_id, reason):
                self.refresh(now)  # A server that lost our allocation says so only to a Refresh.
        elif kind == _Kind.CHANNEL and peer is not None:
            if self._routes.channel_failed(peer, transaction.transaction_id, reason):
                self.refresh(now)

    # --- Data from peers --------------------------------------------------------------

    def _channel_data(self, number: int, payload: bytes, now: float) -> None:
        peer = self._routes.channel_data_from(number, now) if self.state == TurnState.ALLOCATED else None
        if peer is None:
            self.dropped["unknown channel"] += 1
            return
        self._events.append(Received(peer, payload))

    def _indication(self, message: _codec.Message, now: float) -> None:
        if message.message_method != _codec.Method.DATA:
            self.dropped["unexpected indication"] += 1
            return
        peer, data = message.attributes.get("XOR-PEER-ADDRESS"), message.attributes.get("DATA")
        if peer is None or data is None:
            self.dropped["malformed"] += 1
            return
        source = (str(peer[0]), int(peer[1]))
        # The server relays only from IPs we permitted; anything else is not from it.
        if self.state != TurnState.ALLOCATED or not self._routes.permitted(source, now):
            self.dropped["data from unpermitted peer"] += 1
            return
        self._events.append(Received(source, bytes(data)))

    # --- State ------------------------------------------------------------------------

    def _schedule_refresh(self, lifetime: int, now: float) -> None:
        # Never more often than every 5 s, whatever lifetime a broken server grants.
        self._refresh_at = now + max(lifetime - ALLOCATION_MARGIN, lifetime / 2, 5.0)

    def _reset(self) -> None:
        """Forget the allocation: its transactions, permissions, channels and queues."""
        self._routes.reset()
        self._transactions.clear()
        self._refresh_at = None
        self.relayed = self.mapped = None

    def _set_state(self, new: TurnState) -> None:
        if new != self.state:
            log.debug("TURN %s:%d: %s -> %s", self.server.host, self.server.port, self.state.value, new.value)
            self.state = new
