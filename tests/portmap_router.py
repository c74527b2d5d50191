"""A fake router's port mapping service (PCP and/or NAT-PMP), bytes in, bytes out."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

PUBLIC_IP = "203.0.113.101"
V4 = bytes(10) + b"\xff\xff"


@dataclass
class FakeRouter:
    pcp: bool = True
    natpmp: bool = True
    #: Result code for mapping requests (0 grants them).
    refuse: int = 0
    lifetime_cap: int = 3600
    external_port: int = 40000
    #: Every request seen: (protocol, opcode, lifetime).
    seen: list[tuple[str, int, int]] = field(default_factory=list)

    def answer(self, request: bytes) -> bytes | None:
        if request[0] == 2:
            return self._pcp(request)
        if request[0] == 0:
            return self._natpmp(request)
        return None

    def _pcp(self, request: bytes) -> bytes | None:
        if not self.pcp:
            # A NAT-PMP-only router: "unsupported version" in NAT-PMP's own form.
            return struct.pack("!BBHI", 0, 128 + (request[1] & 0x7F), 1, 5) if self.natpmp else None
        opcode, lifetime = request[1], struct.unpack_from("!I", request, 4)[0]
        self.seen.append(("pcp", opcode, lifetime))
        granted = min(lifetime, self.lifetime_cap)
        result = self.refuse if opcode == 1 and lifetime else 0
        header = struct.pack("!BBBBII12x", 2, 0x80 | opcode, 0, result, granted if not result else 30, 7)
        if opcode == 0:
            return header
        nonce, internal = request[24:36], struct.unpack_from("!H", request, 40)[0]
        body = nonce + bytes([17, 0, 0, 0]) + struct.pack("!HH", internal, self.external_port if lifetime else 0)
        return header + body + V4 + bytes(int(x) for x in PUBLIC_IP.split("."))

    def _natpmp(self, request: bytes) -> bytes | None:
        if not self.natpmp:
            return None
        if request[1] == 0:
            self.seen.append(("nat-pmp", 0, 0))
            return struct.pack("!BBHI", 0, 128, 0, 5) + bytes(int(x) for x in PUBLIC_IP.split("."))
        _, _, _, internal, _, lifetime = struct.unpack("!BBHHHI", request)
        self.seen.append(("nat-pmp", 1, lifetime))
        result = self.refuse if lifetime else 0
        port = self.external_port if lifetime and not result else 0
        return struct.pack("!BBHIHHI", 0, 129, result, 5, internal, port, min(lifetime, self.lifetime_cap))
