"""STUN Binding (RFC 5389/8489), the part p2ptui needs, on aioice's codec.

aioice's `stun` module is a sans-I/O encoder and parser; this module adds the
two things p2ptui does with it, answering Binding requests (the built-in
server) and asking them (every client), and funnels every way a parse can
fail into one error type.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

from aioice import stun as _codec

Address = tuple[str, int]


class StunError(ValueError):
    """A datagram claiming to be STUN did not parse. The only error parsing raises."""


def looks_like_stun(datagram: bytes) -> bool:
    """The cheap RFC 7983 check: first byte 0-3 and the magic cookie in place."""
    return (
        len(datagram) >= 20
        and datagram[0] < 4
        and datagram[4:8] == _codec.COOKIE.to_bytes(4, "big")
    )


def binding_request() -> tuple[bytes, bytes]:
    """A new Binding request: (transaction id, datagram)."""
    txid = os.urandom(12)
    message = _codec.Message(
        message_method=_codec.Method.BINDING,
        message_class=_codec.Class.REQUEST,
        transaction_id=txid,
    )
    return txid, bytes(message)


@dataclass(frozen=True, slots=True)
class BindingRequest:
    transaction_id: bytes


@dataclass(frozen=True, slots=True)
class BindingResponse:
    transaction_id: bytes
    mapped: Address


def parse_untrusted(datagram: bytes) -> BindingRequest | BindingResponse:
    """Parse a Binding request or success response. Raises StunError on anything else."""
    try:
        message = _codec.parse_message(datagram)
    except (ValueError, struct.error, UnicodeDecodeError, KeyError, IndexError) as exc:
        raise StunError(f"bad STUN message: {exc}") from None
    if message.message_method != _codec.Method.BINDING:
        raise StunError(f"unexpected STUN method {message.message_method!r}")
    if message.message_class == _codec.Class.REQUEST:
        return BindingRequest(message.transaction_id)
    if message.message_class == _codec.Class.RESPONSE:
        mapped = message.attributes.get("XOR-MAPPED-ADDRESS") or message.attributes.get(
            "MAPPED-ADDRESS"
        )
        if not mapped:
            raise StunError("Binding response without a mapped address")
        return BindingResponse(message.transaction_id, (str(mapped[0]), int(mapped[1])))
    raise StunError(f"unexpected STUN class {message.message_class!r}")


def binding_response(request: BindingRequest, source: Address) -> bytes:
    """The success response telling a client which address its request came from."""
    message = _codec.Message(
        message_method=_codec.Method.BINDING,
        message_class=_codec.Class.RESPONSE,
        transaction_id=request.transaction_id,
    )
    message.attributes["XOR-MAPPED-ADDRESS"] = source
    return bytes(message)
