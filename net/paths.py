"""Which way to reach the peer, free of I/O and crypto: candidates, probes,
ranking, relays, and keeping the chosen path open.

Both sides probe every candidate address of the other; each considers a path
open when a probe of its own comes back from where it went (so the path works
both ways), or when the peer's data arrives on it.

Paths are ranked: this machine, the LAN, the internet (IPv6 before IPv4), and relays last (a
`Via` through our TURN allocation, or the peer's relayed address). Relayed
paths join the punch after `relay_delay`, or at once when the NAT types rule
direct out. While on a relayed path (or on IPv4 where the peer has an IPv6
address: a firewall may open a round later), the punch goes on to its
deadline, and then the direct paths are tried every `direct_retry_interval`,
with a CALL_ME asking the peer to probe at the same moment; the session moves
to whichever better path answers.

On an open path: a keepalive probe every `keepalive_interval`, probes every
`suspect_probe_interval` while something goes unanswered, and the path is
lost once something stays unanswered for `path_timeout`.

Peer-reflexive paths (ICE's term): when the peer's authenticated traffic
arrives from an address other than the open path's (its NAT mapped it anew,
or it moved to another network), that address is probed, and the session
moves there once the probe comes back from it. A path of the same rank is
also taken when it answers while the open one leaves something unanswered
(after we moved, the peer's old view of us goes nowhere).

This part decides what to probe and when; it hands each probe and CALL_ME to
the `emit` callback, and the Session wraps, encrypts and sends it. The times
it keeps are in three small parts, split out when this file passed 400
lines, each only keeping times and saying what is due: `punch.PunchSchedule`
(the rounds, the deadline, relays joining), `liveness.Liveness` (keepalives,
suspicion, loss) and `direct_retry.DirectRetry` (the direct retries, CALL_ME's
rate, whether an IPv6 path could beat the open one). The addresses and their
ranks are `candidates.Candidates`; the probes awaiting an answer,
`probes.ProbeTable`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .address import Address, Route, Via, remote_address
from .candidates import MAX_REMOTE_RELAYS, RELAYED, Candidates
from .direct_retry import CALL_ME_MIN_INTERVAL, DirectRetry
from .liveness import Liveness
from .probes import MAX_PROBES, ProbeTable
from .punch import PunchSchedule
from .sessionconfig import SessionConfig
from .state import State

__all__ = [
    "CALL_ME_MIN_INTERVAL",
    "MAX_PROBES",
    "MAX_REMOTE_RELAYS",
    "RELAYED",
    "PathOutput",
    "Paths",
    "ProbeAnswered",
    "SendCallMe",
    "SendProbe",
]

#: A peer-reflexive address is probed again at most this often (its traffic keeps coming).
REFLEXIVE_PROBE_INTERVAL = 1.0


@dataclass(frozen=True, slots=True)
class SendProbe:
    route: Route
    txid: bytes


@dataclass(frozen=True, slots=True)
class SendCallMe:
    route: Route


PathOutput = SendProbe | SendCallMe


@dataclass(frozen=True, slots=True)
class ProbeAnswered:
    """One of our probes came back from where it went."""

    rtt: float
    ping: bool
    """It was a ping() (the application wants a Pong)."""
    moved: bool
    """It was a better path than the open one, and the open path is now this one."""


class Paths:
    """The candidate paths to one peer and the state of the punch. Not thread-safe."""

    def __init__(
        self,
        config: SessionConfig,
        emit: Callable[[PathOutput], None],
        dropped: Counter[str] | None = None,
    ) -> None:
        self.config = config
        self._emit = emit
        self.dropped: Counter[str] = Counter() if dropped is None else dropped
        #: The session's state, as the Session last told it.
        self.state = State.IDLE
        #: The peer's addresses and relays, and ours.
        self.known = Candidates(config.max_candidates)
        #: The open path (or the one the handshake runs on), if any.
        self.path: Route | None = None

        self._probes = ProbeTable(config.punch_timeout, self.dropped)
        self._punch = PunchSchedule(config)
        #: While on a relayed path: when to try the direct ones again.
        self._retry = DirectRetry(config)
        #: Whether the open path still answers.
        self._liveness = Liveness(config)
        #: The latest address the peer's authenticated traffic came from, other than
        #: the open path's, and when we last probed it.
        self._reflexive: Route | None = None
        self._reflexive_probed = float("-inf")

    # --- What we know of the peer ------------------------------------------------------

    def learn(self, candidates: Sequence[Address], remote_relays: Sequence[Address], relay_now: bool) -> None:
        """The peer's addresses (and which are its relays) from its offer or answer.
        relay_now: the NAT types say direct will not work; relays join the punch at once."""
        self.known.learn(candidates, remote_relays)
        self._punch.relay_now = relay_now
        self._path_changed()

    def set_relays(self, relays: tuple[str, ...], now: float) -> bool:
        """Our relays changed. True if the open path went through one now gone (it is lost)."""
        added = [r for r in relays if r not in self.known.relays]
        self.known.relays = tuple(relays)
        if self.state == State.PROBING and self._punch.relaying:
            for path in self.known.relayed_routes():
                if isinstance(path, Via) and path.local in added:
                    self.send_probe(path, now)
            return False
        open_path = self.path
        return (
            self.state == State.CONNECTED
            and isinstance(open_path, Via)
            and open_path.relayed
            and open_path.local not in relays
        )

    def forget_probes(self) -> None:
        """The peer restarted: answers to earlier probes cannot come."""
        self._probes.clear()
        self.path = None
        self._retry.path_changed(self.known, None)

    @property
    def relayed(self) -> bool:
        """Whether the open path goes through a relay."""
        return self.known.is_relayed(self.path)

    # --- Punching -----------------------------------------------------------------------

    def begin_punch(self, now: float) -> None:
        """Probe every candidate, in rounds further and further apart, until the deadline."""
        self.path = None
        self._punch.begin(now)
        self.probe_round(now)

    def probe_round(self, now: float) -> None:
        paths = self.known.direct() + (self.known.relayed_routes() if self._punch.relaying else [])
        for path in paths:
            self.send_probe(path, now)
        self._punch.round_sent(now)

    def probe_all(self, now: float) -> None:
        """Probe every candidate once (the peer offered again while our path looks open)."""
        for candidate in self.known.addresses:
            self.send_probe(candidate, now)

    def _probe_direct(self, now: float) -> None:
        """Probe every direct path, on the side: while on a relay, to find a better one."""
        for path in self.known.direct():
            self.send_probe(path, now, expect_answer=False)

    def send_probe(self, route: Route, now: float, *, expect_answer: bool = True, ping: bool = False) -> bytes:
        """Probe route; its id. expect_answer=False for a try of a path we are not on:
        its silence says nothing of ours."""
        txid = self._probes.add(route, now, ping=ping)
        self._emit(SendProbe(route, txid))
        if expect_answer:
            self._liveness.asked(now, connected=self.state == State.CONNECTED, probe=True)
        return txid

    @property
    def probes_awaiting_answer(self) -> int:
        return len(self._probes)

    def ping(self, now: float) -> bytes | None:
        """Probe the open path now; the id whose answer is a Pong."""
        if self.state != State.CONNECTED or self.path is None:
            return None
        return self.send_probe(self.path, now, ping=True)

    # --- What arrives ---------------------------------------------------------------------

    def heard_from(self, source: Route) -> None:
        """Something of the peer's (that we trust) arrived from source."""
        if self.state != State.CONNECTED or source == self.path:
            # Only what arrives on the path proves the path alive: if the peer's
            # NAT remapped it, our data to the old address goes nowhere.
            self._liveness.answered()

    def authenticated_from(self, source: Route, now: float) -> None:
        """The peer's authenticated traffic arrived from source. From another address
        than the open path's (peer-reflexive): probe it, and move there if it answers."""
        if self.state != State.CONNECTED or source == self.path:
            return
        if isinstance(source, Via) or source in self.known.remote_relays:
            return  # Relays and spraying sockets have their own ways in.
        if self.known.rank(source) > self.known.rank(self.path):
            return
        if source == self._reflexive and now - self._reflexive_probed < REFLEXIVE_PROBE_INTERVAL:
            return
        self._reflexive, self._reflexive_probed = source, now
        self.known.add([source])
        self.send_probe(source, now, expect_answer=False)

    def probe_received(self, source: Route, now: float, *, trusted: bool) -> bool:
        """The peer probed us from source. True if the session should punch (if it is not
        already) and then call probe_back(source)."""
        if self.state in (State.CONNECTED, State.HANDSHAKE):
            if trusted and self.state == State.CONNECTED and self.known.rank(source) < self.known.rank(self.path):
                # The peer found a better path to us: probe back along it, and move
                # once our probe comes back (the upgrade from a relay).
                self.known.add([remote_address(source)])
                self.send_probe(source, now, expect_answer=False)
            return False
        # Once there are keys, only the peer (authenticated) may add an address or
        # restart probing: a stranger who saw the tags must not steer us.
        if trusted:
            self.known.add([remote_address(source)])
        return trusted

    def probe_back(self, source: Route, now: float) -> None:
        if isinstance(source, Via) or self.known.rank(source) == RELAYED:
            # A path we would not have probed by ourselves (one of the node's
            # spraying sockets), or the peer on a relay already: probe it back
            # now, and take it if it answers.
            self._punch.relaying = self._punch.relaying or self.known.rank(source) == RELAYED
            self.send_probe(source, now)

    def probe_answered(self, txid: bytes, source: Route, now: float) -> ProbeAnswered | None:
        """An answer to a probe: None (counted) unless it answers ours from where it went."""
        answer = self._probes.answered(txid, source, now)
        if answer is None:
            return None
        live = self.state in (State.CONNECTED, State.HANDSHAKE)
        moved = live and (self.known.rank(source) < self.known.rank(self.path) or self._sideways(source))
        if moved:
            # A LAN pair over an internet one, a direct one over a relay: both ways
            # work there too, so move. Reliability is above the path.
            self.path = source
            self._liveness.answered()
            self._path_changed()
        return ProbeAnswered(answer.rtt, answer.ping, moved)

    def _sideways(self, source: Route) -> bool:
        """Whether to move to a path no better than the open one that just answered:
        only if it is where the peer speaks from now, or the open path looks dead."""
        if self.state != State.CONNECTED or source == self.path:
            return False
        if self.known.rank(source) != self.known.rank(self.path):
            return False
        return source == self._reflexive or self._liveness.unanswered

    def call_me_received(self, now: float) -> None:
        if self.state == State.CONNECTED and self._retry.call_me_allowed(now):
            self._probe_direct(now)

    # --- The open path ----------------------------------------------------------------------

    def opened(self, source: Route) -> None:
        """A path works both ways: the session runs over it now."""
        self.path = source
        self._liveness.answered()
        self._path_changed()

    def _path_changed(self) -> None:
        self._retry.path_changed(self.known, self.path)

    @property
    def seeking_better(self) -> bool:
        """Whether the open path is one a direct path could beat: a relayed one, or
        IPv4 where the peer has an IPv6 address (ranked above it)."""
        return self.relayed or self._retry.ipv6_better

    def connected(self, now: float) -> None:
        self._retry.connected(now)

    def expect_answer(self, now: float) -> None:
        """We sent something that wants an answer (a probe, data) on the path."""
        self._liveness.asked(now, connected=self.state == State.CONNECTED, probe=False)

    def lose(self) -> Route:
        """The open path is gone; it stays a candidate. The lost path."""
        assert self.path is not None
        lost = self.path
        self.known.add([remote_address(lost)])
        return lost

    def timed_out(self, now: float) -> bool:
        """Whether the open path left something unanswered for path_timeout."""
        return self.state == State.CONNECTED and self._liveness.lost(now)

    # --- Timers ----------------------------------------------------------------------------

    def next_timeout(self) -> float | None:
        if self.state == State.PROBING:
            return self._punch.next_timeout(self.known.any_relays())
        if self.state == State.HANDSHAKE:
            return self._liveness.keepalive_at
        if self.state == State.CONNECTED:
            return min(self._upkeep_times())
        return None

    def _upkeep_times(self) -> list[float]:
        times = self._liveness.times()
        if self.seeking_better:
            times.append(self._retry.at)
            if self._punch.next_round < self._punch.deadline:
                times.append(self._punch.next_round)
        return times

    def handle_timeout(self, now: float) -> str | None:
        """Run the due timers. Returns why the punch failed, when it did."""
        if self.state == State.PROBING:
            return self._punch_timeout(now)
        if self.state == State.HANDSHAKE and now >= self._liveness.keepalive_at:
            assert self.path is not None
            self.send_probe(self.path, now)
        elif self.state == State.CONNECTED:
            self._keep_open(now)
            if self.seeking_better:
                self._seek_direct(now)
        return None

    def _punch_timeout(self, now: float) -> str | None:
        if self._punch.over(now):
            tried = "direct or relayed" if self.known.any_relays() else "direct"
            return f"no answer from the peer on any {tried} path ({len(self.known.addresses)} candidate address(es))"
        if self._punch.relays_due(now) and self.known.any_relays():
            self._punch.relaying = True
            self.probe_round(now)
        elif self._punch.round_due(now):
            self.probe_round(now)
        return None

    def _keep_open(self, now: float) -> None:
        assert self.path is not None
        if self._liveness.probe_due(now):  # A keepalive, or something went unanswered.
            self.send_probe(self.path, now)

    def _seek_direct(self, now: float) -> None:
        """On a relayed path (or IPv4 with IPv6 to find): try the direct ones, on the
        punch's schedule and then periodically."""
        if self._retry.due(now):
            self._try_direct(now)
        elif self._punch.round_due(now):
            if not self._punch.over(now):
                # The relay answered first; the punch goes on until its deadline,
                # and the conversation moves if a direct path answers.
                self._probe_direct(now)
                self._punch.round_sent(now)
            else:
                self._punch.stop_rounds()  # The punch is over; the retries go on.

    def _try_direct(self, now: float) -> None:
        """Probe the direct paths, and ask the peer to do the same now, so both
        NATs open toward each other at once."""
        assert self.path is not None
        self._retry.retried(now)
        self._probe_direct(now)
        self._emit(SendCallMe(self.path))
