"""Who is online under which name and key, and what passes between them: free of I/O.

The server (server.py) moves bytes; this module decides. Each connection is
a `Member`: it can be sent a line (dropped and counted when its queue is
full, never cut off for it) and closed. Names are bound through the
NameStore, within the per-key and per-address limits, case-insensitively
(another key cannot take "Alice" while "alice" is bound); offers, answers and
presence still go by the exact spelling a client registered; offers and answers are
rate-limited per sender and per target, but an answer to an offer this
server delivered costs its sender nothing (it may answer every stranger), and
an answer to any other offer is refused. Presence says online or offline and
the key, never an address: addresses travel only in offers and answers.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from .. import identity
from ..ratelimit import KeyedBuckets
from . import protocol
from .limits import DeliveredOffers, ServerLimits, address_key, keyed_buckets, per_day
from .messages import Answer, Offer, Presence, SignallingDataError, valid_name
from .names import NameStore, NamesUnavailable, fold

_MAX_WATCHES = 1024


class Outbox(Protocol):
    def send(self, line: bytes) -> None:
        """Queue a line for the client; drop and count it if the client is behind."""

    def close(self) -> None:
        """Hang up, once what is queued is sent."""


@dataclass(eq=False)
class Member:
    """One connection, as the registry sees it."""

    outbox: Outbox
    ip: str
    nonce: bytes = field(default_factory=lambda: os.urandom(16))
    name: str | None = None
    key: str = ""
    watching: set[str] = field(default_factory=set)
    #: Offers forwarded to this client, which it may answer.
    delivered: DeliveredOffers = field(default_factory=DeliveredOffers)

    def send(self, line: bytes) -> None:
        self.outbox.send(line)


class Registry:
    """The server's state. `handle` takes one decoded message; `leave` a closed connection.

    handle raises SignallingDataError for a bad request (the caller answers it
    and goes on with the next line).
    """

    def __init__(
        self,
        names: NameStore,
        limits: ServerLimits,
        dropped: Counter[str],
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.names = names
        #: By casefolded name: one connection per name, however it is spelt.
        self.online: dict[str, Member] = {}
        self.watchers: dict[str, set[Member]] = {}
        self.dropped = dropped
        self._clock, self._wall_clock = clock, wall_clock
        self._sender_rates: KeyedBuckets[str] = keyed_buckets(limits.offers_per_sender)
        self._target_rates: KeyedBuckets[str] = keyed_buckets(limits.offers_per_target)
        self._key_names: KeyedBuckets[str] = keyed_buckets(per_day(limits.new_names_per_key))
        self._address_names: KeyedBuckets[str] = keyed_buckets(per_day(limits.new_names_per_ip))

    def handle(self, client: Member, message: dict[str, Any]) -> None:
        """One decoded message from client. Raises SignallingDataError for a bad request."""
        op = message["op"]
        handler: Callable[[Member, dict[str, Any]], None] | None = {
            "register": self._register,
            "watch": self._watch,
            "offer": self._offer,
            "answer": self._answer,
            "pong": _ignore,
        }.get(op)
        if handler is None:
            raise SignallingDataError(f"unknown op {op[:32]!r}")
        if op != "register" and client.name is None:
            client.send(
                protocol.encode("error", code=protocol.NOT_REGISTERED, message="register first")
            )
            return
        handler(client, message)

    def _register(self, client: Member, message: dict[str, Any]) -> None:
        name, key, sig = message.get("name"), message.get("key"), message.get("sig")
        if client.name is not None:
            raise SignallingDataError("already registered")
        if not valid_name(name) or not isinstance(key, str) or not isinstance(sig, str):
            raise SignallingDataError("register needs a valid name, key and sig")
        assert isinstance(name, str)
        try:
            signature = bytes.fromhex(sig)
        except ValueError:
            raise SignallingDataError("sig is not hex") from None
        if not identity.verify(key, protocol.register_challenge(client.nonce, name), signature):
            raise SignallingDataError("the signature does not match the key")
        if not self._claim(client, name, key):
            return
        previous = self.online.get(fold(name))
        if previous is not None:
            # The same key again, from a new connection: the newest one wins.
            previous.outbox.close()
        client.name, client.key = name, key
        self.online[fold(name)] = client
        client.send(protocol.encode("registered", name=name, observed_ip=client.ip))
        self._announce(name)

    def _claim(self, client: Member, name: str, key: str) -> bool:
        """Whether key may have name: bound to it already, or free and within the name limits."""
        now = self._wall_clock()
        online = self.online.get(fold(name))
        try:
            owner = online.key if online is not None else self.names.owner(name, now)
        except NamesUnavailable:
            # Not knowing whose a name is, give it to nobody; the client retries.
            self.dropped["registrations while the names file was unreadable"] += 1
            message = "the server cannot check names right now; try later"
            client.send(protocol.encode("error", code=protocol.UNAVAILABLE, message=message))
            return False
        if owner == key:
            self.names.touch(name, key, now)
            return True
        if owner is not None:
            message = f"the name {name!r} is taken by another key"
            client.send(protocol.encode("error", code=protocol.NAME_TAKEN, message=message))
            return False
        clock = self._clock()
        if not (self._key_names.take(key, clock) and self._address_names.take(address_key(client.ip), clock)):
            self.dropped["new names over the limit"] += 1
            message = "this key or address has taken too many new names lately; try later"
            client.send(protocol.encode("error", code=protocol.TOO_MANY_NAMES, message=message))
            return False
        self.names.bind(name, key, now)
        return True

    def _watch(self, client: Member, message: dict[str, Any]) -> None:
        name = message.get("name")
        if not valid_name(name):
            raise SignallingDataError("watch needs a valid name")
        assert isinstance(name, str)
        if len(client.watching) >= _MAX_WATCHES:
            raise SignallingDataError("watching too many names")
        client.watching.add(name)
        self.watchers.setdefault(name, set()).add(client)
        client.send(protocol.encode("presence", presence=self._presence(name).to_dict()))

    def _offer(self, client: Member, message: dict[str, Any]) -> None:
        if not self._within_sender_rate(client, message.get("offer"), "id"):
            return
        offer = Offer.from_dict_untrusted(message.get("offer"))
        target = self._forward(client, "offer", offer, offer.id, offer.sender, offer.sender_key, offer.receiver)
        if target is not None:
            target.delivered.add(offer.id, offer.sender, offer.expires, self._wall_clock())

    def _answer(self, client: Member, message: dict[str, Any]) -> None:
        # Not against the sender's rate: a node answering many strangers' offers
        # would have its answers dropped. Offers delivered to it bound them instead.
        record = message.get("answer")
        offer_id = record.get("offer_id") if isinstance(record, dict) else None
        offerer = client.delivered.take(offer_id, self._wall_clock()) if isinstance(offer_id, str) else None
        if offerer is None:
            raise SignallingDataError("an answer to no offer delivered to you (or answered, or expired)")
        answer = Answer.from_dict_untrusted(record)
        if answer.receiver != offerer:
            raise SignallingDataError("an answer must go to the offer's sender")
        self._forward(
            client, "answer", answer, answer.offer_id, answer.sender, answer.sender_key, answer.receiver
        )

    def _forward(
        self,
        client: Member,
        op: str,
        record: Offer | Answer,
        ref: str,
        sender: str,
        sender_key: str,
        receiver: str,
    ) -> Member | None:
        """Send record on to receiver; the receiver's connection, if it was sent."""
        if sender != client.name or sender_key != client.key:
            raise SignallingDataError(f"{op} claims to be from someone else")
        target = self._member(receiver)
        if target is None:
            client.send(
                protocol.encode(
                    "error", code=protocol.PEER_OFFLINE, message=f"{receiver} is offline", ref=ref
                )
            )
            return None
        # Per target and sending address: one address's many names cannot use up
        # what everybody else may send the target (the queue bounds the sum).
        if not self._target_rates.take(f"{receiver} {address_key(client.ip)}", self._clock()):
            self._limited(client, "offers over the target's rate", ref)
            return None
        # seen_ip is the server's word, outside the signature: where the sender
        # really is, so the receiver never sprays toward an address an offer merely names.
        target.send(protocol.encode(op, **{op: record.to_dict()}, seen_ip=client.ip))
        return target

    def _within_sender_rate(self, client: Member, record: object, ref_field: str) -> bool:
        """Checked before the record is parsed: a flood costs as little as it can."""
        assert client.name is not None
        if self._sender_rates.take(client.name, self._clock()):
            return True
        ref = record.get(ref_field) if isinstance(record, dict) else None
        self._limited(client, "offers over the sender's rate", ref[:64] if isinstance(ref, str) else "")
        return False

    def _limited(self, client: Member, why: str, ref: str) -> None:
        self.dropped[why] += 1
        client.send(protocol.encode("error", code=protocol.RATE_LIMITED, message="too many offers; slow down", ref=ref))

    def _member(self, name: str) -> Member | None:
        """Who is online as name, spelt exactly so: the receiving node checks the spelling."""
        client = self.online.get(fold(name))
        return client if client is not None and client.name == name else None

    # --- Presence --------------------------------------------------------------------

    def _presence(self, name: str) -> Presence:
        # Online or not, and the key; never an address, which only offers and
        # answers carry, between the two peers.
        client = self._member(name)
        if client is None:
            try:
                key = self.names.owner(name, self._wall_clock()) or ""
            except NamesUnavailable:
                key = ""
            return Presence(name, online=False, key=key)
        return Presence(name, online=True, key=client.key)

    def _announce(self, name: str) -> None:
        line = protocol.encode("presence", presence=self._presence(name).to_dict())
        for watcher in list(self.watchers.get(name, ())):
            watcher.send(line)

    def leave(self, client: Member) -> None:
        for name in client.watching:
            watchers = self.watchers.get(name)
            if watchers is not None:
                watchers.discard(client)
                if not watchers:
                    del self.watchers[name]
        if client.name is not None and self.online.get(fold(client.name)) is client:
            del self.online[fold(client.name)]
            self.names.touch(client.name, client.key, self._wall_clock())  # Absence counts from leaving.
            self._announce(client.name)


def _ignore(client: Member, message: dict[str, Any]) -> None:
    """A pong: its arrival already counted as the client being alive."""
