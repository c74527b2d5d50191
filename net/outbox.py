"""The datagrams a Session sends, built from what its parts ask for: wrapped
in wire packets with both tags and sealed under the current keys (only probes
go in the clear, and only before there are keys). Free of I/O: the driver
takes them with `take()`.
"""

from __future__ import annotations

from . import wire
from .address import Route
from .keyschedule import KeySchedule
from .paths import PathOutput, SendCallMe, SendProbe
from .reliability import OutFragment


class Outbox:
    def __init__(self, local_tag: bytes, keys: KeySchedule) -> None:
        self.local_tag = local_tag
        self.keys = keys
        self._out: list[tuple[bytes, Route]] = []

    def take(self) -> list[tuple[bytes, Route]]:
        out, self._out = self._out, []
        return out

    @property
    def _remote_tag(self) -> bytes:
        assert self.keys.remote_tag is not None, "nothing is sent before the peer's tag is known"
        return self.keys.remote_tag

    def handshake(self, packet: wire.HandshakeInit | wire.HandshakeResp, route: Route) -> None:
        self._out.append((wire.encode(packet), route))

    def from_paths(self, out: PathOutput) -> None:
        """What the paths part asks for: a probe, or a CALL_ME."""
        match out:
            case SendProbe(route=route, txid=txid):
                self.send(wire.Probe(self._remote_tag, self.local_tag, txid), route)
            case SendCallMe(route=route):
                self.send(wire.CallMe(self._remote_tag, self.local_tag), route)

    def probe_ack(self, txid: bytes, route: Route, *, cleartext: bool) -> None:
        self.send(wire.ProbeAck(self._remote_tag, self.local_tag, txid), route, cleartext=cleartext)

    def data(self, fragment: OutFragment, route: Route) -> None:
        tags = (self._remote_tag, self.local_tag)
        self.send(wire.Data(*tags, fragment.seq, fragment.message_id, fragment.last, fragment.payload), route)

    def ack(self, seqs: tuple[int, ...], cumulative: int, route: Route) -> None:
        self.send(wire.Ack(self._remote_tag, self.local_tag, seqs, cumulative), route)

    def goodbye(self, route: Route) -> None:
        self.send(wire.Goodbye(self._remote_tag, self.local_tag), route)

    def send(self, packet: wire.Inner, route: Route, *, cleartext: bool = False) -> None:
        """Send an inner packet: encrypted once we have keys. Only probes go in the clear."""
        if self.keys.secure and not cleartext:
            outer: wire.Packet = self.keys.seal(packet)
        else:
            assert isinstance(packet, wire.Probe | wire.ProbeAck), "data before the handshake"
            outer = packet
        self._out.append((wire.encode(outer), route))
