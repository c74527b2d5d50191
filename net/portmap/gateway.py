"""The default IPv4 gateway, from the kernel's routing table (/proc/net/route).

Parsing the table is a few lines; a netlink library (pyroute2) would be a
large dependency for one lookup. Linux only: elsewhere there is no gateway
to ask, and port mapping is off.
"""

from __future__ import annotations

import ipaddress
import struct
from pathlib import Path

ROUTE_TABLE = Path("/proc/net/route")
_RTF_GATEWAY = 0x2


def default_gateway_untrusted(table: str) -> str | None:
    """The default route's gateway in /proc/net/route's text, or None.

    Columns: Iface Destination Gateway Flags ... Metric Mask ..., addresses
    as little-endian hex. The lowest metric wins; malformed lines are skipped.
    """
    best: tuple[int, str] | None = None
    for line in table.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 8:
            continue
        try:
            destination, gateway, flags = int(fields[1], 16), int(fields[2], 16), int(fields[3], 16)
            metric, mask = int(fields[6]), int(fields[7], 16)
        except ValueError:
            continue
        if destination != 0 or mask != 0 or not flags & _RTF_GATEWAY or gateway == 0:
            continue
        if not 0 <= gateway <= 0xFFFFFFFF:
            continue
        ip = str(ipaddress.IPv4Address(struct.pack("<I", gateway)))
        if best is None or metric < best[0]:
            best = (metric, ip)
    return best[1] if best else None


def default_gateway() -> str | None:
    try:
        return default_gateway_untrusted(ROUTE_TABLE.read_text())
    except OSError:
        return None
