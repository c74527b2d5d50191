"""TURN's wire formats: ChannelData framing, STUN messages as TURN uses them.

Parsers of what a server sends are named `*_untrusted` and raise `TurnError`
(a RemoteProtocolError) and nothing else. The STUN codec itself is aioice's.
"""

from __future__ import annotations

import ipaddress
import struct

from aioice import stun as _codec

from .address import Address
from .errors import LocalProtocolError, RemoteProtocolError

#: REQUESTED-TRANSPORT for UDP: protocol 17 in the first byte, then RFFU (RFC 8656 §18.7).
UDP_TRANSPORT = 17 << 24

#: ChannelData header: channel number (0x4000-0x4FFF), length of the data that follows.
#:   0                   1                   2                   3
#:  | channel number               | length                        | data ... (padding)
CHANNEL_HEADER = struct.Struct("!HH")
CHANNEL_FIRST = 0x4000
CHANNEL_LAST = 0x4FFF

class TurnError(RemoteProtocolError):
    """A datagram from the server did not parse. The only error the parsers raise."""


def looks_like_channel_data(datagram: bytes) -> bool:
    """The RFC 7983 demultiplexing check: first byte 64-79, and a whole header."""
    return len(datagram) >= 4 and 64 <= datagram[0] <= 79


def parse_channel_data_untrusted(datagram: bytes) -> tuple[int, bytes]:
    """(channel number, data) of a ChannelData message. Raises TurnError on anything else."""
    if not looks_like_channel_data(datagram):
        raise TurnError("not ChannelData")
    channel, length = CHANNEL_HEADER.unpack_from(datagram)
    # Over UDP the padding to 4 bytes is optional (RFC 8656 §12.5): accept both.
    extra = len(datagram) - CHANNEL_HEADER.size - length
    if not 0 <= extra <= 3:
        raise TurnError(f"ChannelData length {length} does not match the datagram ({len(datagram)} bytes)")
    return channel, datagram[CHANNEL_HEADER.size : CHANNEL_HEADER.size + length]


def parse_message_untrusted(datagram: bytes) -> _codec.Message:
    """A STUN message (response, error or indication). Raises TurnError on anything else.

    MESSAGE-INTEGRITY is not checked here: the key depends on the transaction.
    """
    if len(datagram) < 20 or datagram[0] >= 4 or datagram[4:8] != _codec.COOKIE.to_bytes(4, "big"):
        raise TurnError("not a STUN message")
    try:
        return _codec.parse_message(datagram)
    except (ValueError, struct.error, UnicodeDecodeError, KeyError, IndexError, TypeError) as exc:
        raise TurnError(f"bad STUN message: {exc}") from None


def normalise(peer: Address) -> Address:
    try:
        return (str(ipaddress.ip_address(peer[0])), int(peer[1]))
    except (ValueError, TypeError, IndexError):
        raise LocalProtocolError(f"TURN peer must be an (IP address, port) pair, not {peer!r}") from None


def error_text(message: _codec.Message) -> str:
    code, text = message.attributes.get("ERROR-CODE", (0, ""))
    return f"{code} {text}".strip() if code else "error response without ERROR-CODE"


def channel_data(number: int, data: bytes) -> bytes:
    """A ChannelData message: the 4-byte header, then data (unpadded: optional over UDP)."""
    return CHANNEL_HEADER.pack(number, len(data)) + data


def send_indication(peer: Address, data: bytes) -> bytes:
    """A Send indication carrying data to peer."""
    message = _codec.Message(message_method=_codec.Method.SEND, message_class=_codec.Class.INDICATION)
    message.attributes["XOR-PEER-ADDRESS"] = peer
    message.attributes["DATA"] = data
    return bytes(message)
