"""NAT-PMP (RFC 6886) messages, encoded and parsed. Free of I/O.

Only what a client needs: the public address request, UDP mapping requests
(lifetime 0 deletes), and the router's answers to both.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

from ..errors import RemoteProtocolError

VERSION = 0
PORT = 5351
OP_PUBLIC_ADDRESS = 0
OP_MAP_UDP = 1
#: A response's opcode is the request's plus 128.
RESPONSE_BIT = 128

RESULTS = {
    0: "success",
    1: "unsupported version",
    2: "not authorized or refused",
    3: "network failure",
    4: "out of resources",
    5: "unsupported opcode",
}

# version u8 | opcode u8
PUBLIC_ADDRESS_REQUEST = struct.Struct("!BB")
# version u8 | opcode u8 | reserved u16 | internal port u16 | suggested external port u16 | lifetime s u32
MAP_REQUEST = struct.Struct("!BBHHHI")
# version u8 | opcode u8 | result u16 | seconds since the router's epoch u32
RESPONSE_HEADER = struct.Struct("!BBHI")
# header | public IPv4 4 bytes
PUBLIC_ADDRESS_RESPONSE = struct.Struct("!BBHI4s")
# header | internal port u16 | mapped external port u16 | lifetime s u32
MAP_RESPONSE = struct.Struct("!BBHIHHI")


class NatPmpError(RemoteProtocolError):
    """A datagram from the router that is not a NAT-PMP answer we understand."""


@dataclass(frozen=True, slots=True)
class PublicAddressResponse:
    result: int
    epoch: int
    public_ip: str


@dataclass(frozen=True, slots=True)
class MapResponse:
    result: int
    epoch: int
    internal_port: int
    external_port: int
    lifetime: int


def public_address_request() -> bytes:
    return PUBLIC_ADDRESS_REQUEST.pack(VERSION, OP_PUBLIC_ADDRESS)


def map_request(internal_port: int, suggested_external_port: int, lifetime: int) -> bytes:
    """A UDP mapping request; lifetime 0 with external port 0 deletes the mapping."""
    return MAP_REQUEST.pack(VERSION, OP_MAP_UDP, 0, internal_port, suggested_external_port, lifetime)


def delete_request(internal_port: int) -> bytes:
    return map_request(internal_port, 0, 0)


def parse_response_untrusted(data: bytes) -> PublicAddressResponse | MapResponse:
    """A router's answer. Raises NatPmpError (only) for anything else.

    An error answer may be short (RFC 6886 3.5: only the header is certain),
    so a failed result parses from the header alone.
    """
    if len(data) < RESPONSE_HEADER.size:
        raise NatPmpError(f"NAT-PMP answer of {len(data)} bytes")
    version, opcode, result, epoch = RESPONSE_HEADER.unpack_from(data)
    if version != VERSION:
        raise NatPmpError(f"NAT-PMP version {version}")
    if opcode == RESPONSE_BIT + OP_PUBLIC_ADDRESS:
        if result != 0:
            return PublicAddressResponse(result, epoch, "")
        if len(data) < PUBLIC_ADDRESS_RESPONSE.size:
            raise NatPmpError("short NAT-PMP public address answer")
        raw_ip = PUBLIC_ADDRESS_RESPONSE.unpack_from(data)[4]
        return PublicAddressResponse(result, epoch, str(ipaddress.IPv4Address(raw_ip)))
    if opcode == RESPONSE_BIT + OP_MAP_UDP:
        if result != 0 and len(data) < MAP_RESPONSE.size:
            return MapResponse(result, epoch, 0, 0, 0)
        if len(data) < MAP_RESPONSE.size:
            raise NatPmpError("short NAT-PMP mapping answer")
        _, _, _, _, internal, external, lifetime = MAP_RESPONSE.unpack_from(data)
        return MapResponse(result, epoch, internal, external, lifetime)
    raise NatPmpError(f"unexpected NAT-PMP opcode {opcode}")


def describe_result(result: int) -> str:
    return RESULTS.get(result, f"result {result}")
