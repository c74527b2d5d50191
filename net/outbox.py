"""The datagrams a Session sends, built from what its parts ask for: wrapped
in wire packets with both tags and sealed under the current keys (only probes
go in the clear, and only before there are keys). Free of I/O: the driver
takes them with `take()`.

Once there are keys every datagram is one TRANSPORT: a packet number and
frames (frames.py). The channel numbers the packets it packs; a probe or a
goodbye takes the next number from it too.
"""

from __future__ import annotations

from collections.abc import Callable

from . import frames as fr
from . import wire
from .address import Route
from .keyschedule import KeySchedule
from .paths import PathOutput, SendCallMe, SendProbe


class Outbox:
    def __init__(self, local_tag: bytes, keys: KeySchedule, next_pn: Callable[[], int]) -> None:
        self.local_tag = local_tag
        self.keys = keys
        self._next_pn = next_pn
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
                if self.keys.secure:
                    self.frames(self._next_pn(), (fr.Probe(txid),), route)
                else:
                    self._out.append((wire.encode(wire.Probe(self._remote_tag, self.local_tag, txid)), route))
            case SendCallMe(route=route):
                self.frames(self._next_pn(), (fr.CallMe(),), route)

    def probe_ack(self, txid: bytes, route: Route, *, cleartext: bool) -> None:
        if self.keys.secure and not cleartext:
            self.frames(self._next_pn(), (fr.ProbeAck(txid),), route)
        else:
            self._out.append((wire.encode(wire.ProbeAck(self._remote_tag, self.local_tag, txid)), route))

    def goodbye(self, route: Route) -> None:
        self.frames(self._next_pn(), (fr.Goodbye(),), route)

    def frames(self, pn: int, frames: tuple[fr.Frame, ...], route: Route) -> None:
        """One packet of frames, sealed: only ever encrypted."""
        assert self.keys.secure, "frames before the handshake"
        packet = wire.Frames(self._remote_tag, self.local_tag, pn, frames)
        self._out.append((wire.encode(self.keys.seal(packet)), route))
