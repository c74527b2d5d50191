"""Two Sessions joined by a simulated link, with no sockets and no event loop.

Time is a plain number the link advances from one due event to the next, so
seconds of protocol time run in microseconds and every run is reproducible.
The link can drop, duplicate and delay (and so reorder) datagrams, from a seed.
Datagrams are encrypted, so a test that wants to lose one kind of packet
(only the acks, say) says so with `drop_inner`, which sees each packet as the
receiver would decrypt it (with a copy of its keys), and loses it on the wire.
"""

from __future__ import annotations

import copy
import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from p2ptui.net import session as sess
from p2ptui.net import wire

A_ADDR = ("192.0.2.1", 1111)
B_ADDR = ("192.0.2.2", 2222)
#: A's allocation on a TURN server: what A sends through it leaves from here.
RELAY = "turn 198.51.100.1:3478"
A_RELAYED = ("198.51.100.1", 50000)


@dataclass
class Link:
    a: sess.Session
    b: sess.Session
    loss: float = 0.0
    duplicate: float = 0.0
    max_delay: float = 0.001
    seed: int = 0
    now: float = 0.0
    #: Which way datagrams may flow; set False to cut a direction.
    a_to_b: bool = True
    b_to_a: bool = True
    #: Whether A's TURN relay (RELAY, A_RELAYED) forwards; only A has one.
    relay_up: bool = True
    #: Where each side's datagrams appear to come from (a NAT may remap them).
    sources: dict[str, tuple[str, int]] = field(default_factory=lambda: {"a": A_ADDR, "b": B_ADDR})
    #: (receiver, decrypted packet) -> lose it?
    drop_inner: Callable[[str, wire.Inner], bool] | None = None
    #: (receiver, packet as parsed from the wire) -> lose it? (a handshake message, say)
    drop_outer: Callable[[str, wire.Packet], bool] | None = None
    events: dict[str, list[sess.Event]] = field(default_factory=lambda: {"a": [], "b": []})
    #: Every datagram each side sent, as a capture on the wire would show it.
    sent: dict[str, list[bytes]] = field(default_factory=lambda: {"a": [], "b": []})
    #: Where each of those went.
    routes: dict[str, list[sess.Route]] = field(default_factory=lambda: {"a": [], "b": []})
    _queue: list = field(default_factory=list)
    _counter: int = 0

    def __post_init__(self):
        self._rng = random.Random(self.seed)

    def restart(self, name: str) -> sess.Session:
        """The side `name` restarts: a new instance, with its key but no memory."""
        old = getattr(self, name)
        new = sess.Session(config=old.config, static_key=old.static_key)
        setattr(self, name, new)
        self.events[name] = []
        return new

    @classmethod
    def pair(cls, config: sess.SessionConfig | None = None, **kwargs) -> Link:
        config = config or sess.SessionConfig()
        return cls(sess.Session(config=config), sess.Session(config=config), **kwargs)

    def introduce(self, *, relay: bool = False, relay_now: bool = False) -> None:
        """What signalling does: each side learns the other's tag and address.

        relay: A has an allocation on a TURN server, and says so in its offer.
        """
        if relay:
            self.a.set_relays((RELAY,), self.now)
        relays = [A_RELAYED] if relay else []
        # B got A's offer: B punches. Then A gets B's answer.
        self.b.start(self.a.local_tag, [A_ADDR], self.now, self.a.static_public, remote_relays=relays, relay_now=relay_now)
        self.a.start(self.b.local_tag, [B_ADDR], self.now, self.b.static_public, relay_now=relay_now)
        self._collect()

    def _collect(self) -> None:
        for name, source, source_addr, open_ in (
            ("a", self.a, self.sources["a"], lambda: self.a_to_b),
            ("b", self.b, self.sources["b"], lambda: self.b_to_a),
        ):
            for data, destination in source.datagrams_to_send():
                self.sent[name].append(data)
                self.routes[name].append(destination)
                # Where this one appears to come from (per datagram: a relayed one must
                # not change where the next, direct one, comes from).
                sender = source_addr
                relayed = isinstance(destination, sess.Via) or destination == A_RELAYED
                if relayed:
                    # Through A's relay: from A it leaves from A_RELAYED; to A it comes
                    # from the Via naming whoever sent it to A_RELAYED.
                    if isinstance(destination, sess.Via):
                        sender, destination = A_RELAYED, destination.peer
                    else:
                        sender, destination = sess.Via(RELAY, source_addr), A_ADDR
                if not (self.relay_up if relayed else open_()) or self._rng.random() < self.loss:
                    continue
                copies = 2 if self._rng.random() < self.duplicate else 1
                for _ in range(copies):
                    at = self.now + self._rng.uniform(0, self.max_delay)
                    self._counter += 1
                    heapq.heappush(self._queue, (at, self._counter, data, sender, destination))
            self.events[name].extend(source.events())

    def run(self, until: float) -> None:
        """Advance time to `until`, delivering datagrams and firing timers as they fall due."""
        self._collect()  # What the sessions queued since the last run.
        while True:
            candidates = [t for t in (self.a.next_timeout(), self.b.next_timeout()) if t is not None]
            if self._queue:
                candidates.append(self._queue[0][0])
            next_time = min(candidates, default=None)
            if next_time is None or next_time > until:
                self.now = until
                return
            self.now = max(self.now, next_time)
            while self._queue and self._queue[0][0] <= self.now:
                _, _, data, source, destination = heapq.heappop(self._queue)
                name = "a" if destination == A_ADDR else "b" if destination == B_ADDR else None
                if name is None:
                    continue
                target = getattr(self, name)
                packet = wire.parse_untrusted(data)
                if self.drop_outer is not None and self.drop_outer(name, packet):
                    continue
                if not self._lost_inner(name, target, packet):
                    target.datagram_received(packet, source, self.now)
            for session in (self.a, self.b):
                timeout = session.next_timeout()
                if timeout is not None and timeout <= self.now:
                    session.handle_timeout(self.now)
            self._collect()

    def _lost_inner(self, name: str, target: sess.Session, packet: wire.Packet) -> bool:
        """Whether drop_inner loses this datagram, judged by what it carries."""
        if self.drop_inner is None:
            return False
        inner: wire.Inner | None = None
        if isinstance(packet, wire.Transport):
            # A copy of the receiver's keys, so peeking records nothing.
            inner = copy.deepcopy(target.keys).open(packet)
        elif isinstance(packet, wire.Probe | wire.ProbeAck):
            inner = packet
        return inner is not None and self.drop_inner(name, inner)

    def other(self, side: str) -> sess.Session:
        return self.b if side == "a" else self.a

    def received(self, side: str) -> list[str]:
        return [e.text for e in self.events[side] if isinstance(e, sess.MessageReceived)]

    def delivered(self, side: str) -> list[bytes]:
        return [e.message_id for e in self.events[side] if isinstance(e, sess.MessageDelivered)]


def frames_of(packet: wire.Inner | wire.Packet, kind: type) -> list:
    """The frames of one kind a packet carries, as drop_inner sees it (a cleartext probe carries none)."""
    return [f for f in getattr(packet, "frames", ()) if isinstance(f, kind)]
