"""PCP (RFC 6887) messages for a client: ANNOUNCE and MAP over UDP. Free of I/O.

Addresses travel as 16 bytes, IPv4 ones as IPv4-mapped IPv6 (::ffff:a.b.c.d).
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

from ..errors import RemoteProtocolError

VERSION = 2
OP_ANNOUNCE = 0
OP_MAP = 1
#: The R bit: set in responses.
RESPONSE_BIT = 0x80
UDP = 17
NONCE_SIZE = 12

RESULTS = {
    0: "success",
    1: "unsupported version",
    2: "not authorized",
    3: "malformed request",
    4: "unsupported opcode",
    5: "unsupported option",
    6: "malformed option",
    7: "network failure",
    8: "no resources",
    9: "unsupported protocol",
    10: "user exceeded quota",
    11: "cannot provide external",
    12: "address mismatch",
    13: "excessive remote peers",
}

# version u8 | R=0,opcode u8 | reserved u16 | lifetime u32 | client IP 16 bytes
REQUEST_HEADER = struct.Struct("!BBHI16s")
# version u8 | R=1,opcode u8 | reserved u8 | result u8 | lifetime u32 | epoch u32 | reserved 12 bytes
RESPONSE_HEADER = struct.Struct("!BBBBII12x")
# nonce 12 bytes | protocol u8 | reserved 3 bytes | internal port u16 | external port u16 | external IP 16 bytes
MAP_DATA = struct.Struct("!12sB3xHH16s")


class PcpError(RemoteProtocolError):
    """A datagram from the router that is not a PCP answer we understand."""


@dataclass(frozen=True, slots=True)
class Response:
    opcode: int
    result: int
    lifetime: int
    epoch: int


@dataclass(frozen=True, slots=True)
class MapResponse(Response):
    nonce: bytes
    internal_port: int
    external_port: int
    external_ip: str


def _ip16(ip: str) -> bytes:
    parsed = ipaddress.ip_address(ip)
    if isinstance(parsed, ipaddress.IPv4Address):
        parsed = ipaddress.IPv6Address(b"\0" * 10 + b"\xff\xff" + parsed.packed)
    return parsed.packed


def _ip_text(raw: bytes) -> str:
    parsed = ipaddress.IPv6Address(raw)
    return str(parsed.ipv4_mapped or parsed)


def announce_request(client_ip: str) -> bytes:
    return REQUEST_HEADER.pack(VERSION, OP_ANNOUNCE, 0, 0, _ip16(client_ip))


def map_request(
    client_ip: str, nonce: bytes, internal_port: int, lifetime: int, suggested: tuple[str, int] = ("0.0.0.0", 0)
) -> bytes:
    """A UDP MAP request; lifetime 0 (same nonce) deletes the mapping."""
    if len(nonce) != NONCE_SIZE:
        raise ValueError("a PCP nonce is 12 bytes")
    header = REQUEST_HEADER.pack(VERSION, OP_MAP, 0, lifetime, _ip16(client_ip))
    return header + MAP_DATA.pack(nonce, UDP, internal_port, suggested[1], _ip16(suggested[0]))


def parse_response_untrusted(data: bytes) -> Response | MapResponse:
    """A router's answer. Raises PcpError (only) for anything else.

    A NAT-PMP-only router answers a PCP request with a NAT-PMP header
    (version 0, result 1): that is a PcpError too; the caller tells it apart
    by the first byte.
    """
    if len(data) < RESPONSE_HEADER.size or len(data) > 1100 or len(data) % 4:
        raise PcpError(f"PCP answer of {len(data)} bytes")
    version, r_opcode, _, result, lifetime, epoch = RESPONSE_HEADER.unpack_from(data)
    if version != VERSION:
        raise PcpError(f"PCP version {version}")
    if not r_opcode & RESPONSE_BIT:
        raise PcpError("a PCP request, not a response")
    opcode = r_opcode & ~RESPONSE_BIT
    if opcode == OP_ANNOUNCE:
        return Response(opcode, result, lifetime, epoch)
    if opcode != OP_MAP:
        raise PcpError(f"unexpected PCP opcode {opcode}")
    if len(data) < RESPONSE_HEADER.size + MAP_DATA.size:
        if result != 0:
            return Response(opcode, result, lifetime, epoch)
        raise PcpError("short PCP MAP answer")
    nonce, protocol, internal, external, raw_ip = MAP_DATA.unpack_from(data, RESPONSE_HEADER.size)
    if protocol != UDP:
        raise PcpError(f"PCP MAP answer for protocol {protocol}")
    try:
        ip = _ip_text(raw_ip)
    except ValueError:
        raise PcpError("bad address in a PCP answer") from None
    return MapResponse(opcode, result, lifetime, epoch, nonce, internal, external, ip)


def describe_result(result: int) -> str:
    return RESULTS.get(result, f"result {result}")
