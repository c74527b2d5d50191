"""LAN discovery's two formats, free of I/O: the signed announcement and the LAN signal.

The announcement is what a node publishes by mDNS/DNS-SD as the TXT record of
its `_p2ptui._udp.local.` service (one string per key, each under 255 bytes)::

    v=1  name=NAME  key=HEX64  port=PORT  addrs=IP,IP  time=UNIX  sig=HEX128

`sig` is the identity key's Ed25519 signature over the other five values, so
an announcement can be neither forged nor altered, and `time` bounds how long
a copy can be replayed. Anyone on the LAN can still announce any name with a
key of their own: the key is checked against the pinned one before anything
is sent (a first contact over the LAN is marked as such).

A LAN signal is an offer or answer (signalling.messages: the same records,
signed the same way, admitted by the same tests) carried in one UDP datagram
straight to the peer's chat socket, where there is no signalling service::

    b"p2ptui-lan 1\\n" | JSON {"kind": "offer" | "answer", "record": {...}}

Its first byte, "p" (0x70), is neither STUN (0x00-0x03), TURN ChannelData
(0x40-0x4F) nor a p2ptui packet (wire.MAGIC, 0xD2): the socket tells them apart.

Every parser of received bytes is `*_untrusted` and raises LanDataError only.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from .errors import LocalProtocolError, RemoteProtocolError
from .identity import Identity, verify
from .signalling.messages import (
    KEY_HEX_LENGTH,
    SIGNATURE_HEX_LENGTH,
    Answer,
    Offer,
    SignallingDataError,
    valid_name,
)

SERVICE_TYPE = "_p2ptui._udp.local."
VERSION = b"1"
#: An announcement older than this (or this far ahead of our clock) is stale: a replay.
MAX_AGE = 15 * 60.0
#: How often a node signs its announcement again with a new time: well inside MAX_AGE.
REFRESH_INTERVAL = 5 * 60.0
#: Addresses one announcement may carry.
MAX_ADDRESSES = 8
#: Every TXT string is under 255 bytes; addrs is the longest (8 IPv4 addresses).
MAX_TXT_VALUE = 250

SIGNAL_PREFIX = b"p2ptui-lan 1\n"
#: A LAN signal fits one datagram with no IP fragmentation (IPv6's minimum MTU).
MAX_SIGNAL_BYTES = 1200


class LanDataError(RemoteProtocolError):
    """An announcement or LAN signal from the network did not validate."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        #: What the drop is counted as.
        self.counter = reason


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class Announcement:
    """A peer on the LAN, as its signed announcement says."""

    name: str
    key: str
    """Its Ed25519 public key, hex."""
    port: int
    """Its chat socket's UDP port."""
    addresses: tuple[str, ...]
    """Its addresses: after parsing, only those on one of our networks."""
    time: int
    """When it signed this (Unix time)."""
    signature: str = ""


def _signed_bytes(name: str, key: str, port: int, addresses: Sequence[str], time: int) -> bytes:
    body = {"name": name, "key": key, "port": port, "addresses": list(addresses), "time": time}
    return b"p2ptui lan announcement\n" + json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def announce(identity: Identity, name: str, port: int, addresses: Sequence[IPAddress], now: float) -> dict[str, str]:
    """Our announcement as TXT properties, signed by identity. Raises LocalProtocolError
    for more addresses than fit (the caller passes at most MAX_ADDRESSES)."""
    texts = [str(a) for a in addresses]
    if len(texts) > MAX_ADDRESSES:
        raise LocalProtocolError(f"an announcement carries at most {MAX_ADDRESSES} addresses")
    time = int(now)
    signature = identity.sign(_signed_bytes(name, identity.public_key, port, texts, time)).hex()
    return {
        "v": VERSION.decode(),
        "name": name,
        "key": identity.public_key,
        "port": str(port),
        "addrs": ",".join(texts),
        "time": str(time),
        "sig": signature,
    }


def _text(properties: Mapping[bytes, bytes | None], key: bytes) -> str:
    value = properties.get(key)
    if not isinstance(value, bytes) or len(value) > MAX_TXT_VALUE:
        raise LanDataError(f"announcement without {key.decode()}")
    try:
        return value.decode("ascii")
    except UnicodeDecodeError:
        raise LanDataError(f"announcement with a non-ASCII {key.decode()}") from None


def _number(text: str, what: str) -> int:
    # isascii: "²".isdigit() is true, but int("²") fails.
    if not (text.isascii() and text.isdigit()) or len(text) > 12:
        raise LanDataError(f"announcement with a bad {what}")
    return int(text)


def _hex(text: str, length: int, what: str) -> str:
    if len(text) != length or text.strip("0123456789abcdef"):
        raise LanDataError(f"announcement with a bad {what}")
    return text


def _addresses_untrusted(text: str) -> list[IPAddress]:
    items = text.split(",") if text else []
    if not items or len(items) > MAX_ADDRESSES:
        raise LanDataError("announcement with a bad address list")
    try:
        return [ipaddress.ip_address(item) for item in items]
    except ValueError:
        raise LanDataError("announcement with a bad address list") from None


def parse_announcement_untrusted(
    properties: Mapping[bytes, bytes | None], now: float, networks: Iterable[IPNetwork]
) -> Announcement:
    """A peer's TXT properties into an Announcement: genuine, fresh, and with only
    the addresses that lie on one of networks (ours). Raises LanDataError when it is
    malformed, forged, stale, or has no address on our networks."""
    if properties.get(b"v") != VERSION:
        raise LanDataError("announcement of another version")
    name = _text(properties, b"name")
    if not valid_name(name):
        raise LanDataError("announcement with a bad name")
    key = _hex(_text(properties, b"key"), KEY_HEX_LENGTH, "key")
    port = _number(_text(properties, b"port"), "port")
    if not 0 < port < 65536:
        raise LanDataError("announcement with a bad port")
    addresses_text = _text(properties, b"addrs")
    addresses = _addresses_untrusted(addresses_text)
    time = _number(_text(properties, b"time"), "time")
    signature = _hex(_text(properties, b"sig"), SIGNATURE_HEX_LENGTH, "signature")
    # What was signed is the text as sent: the parsed addresses are not re-formatted.
    signed = _signed_bytes(name, key, port, addresses_text.split(","), time)
    if not verify(key, signed, bytes.fromhex(signature)):
        raise LanDataError("announcement with a bad signature")
    if abs(now - time) > MAX_AGE:
        raise LanDataError("stale announcement")
    ours = list(networks)
    on_our_networks = tuple(str(a) for a in addresses if any(a in network for network in ours))
    if not on_our_networks:
        raise LanDataError("announcement with no address on our networks")
    return Announcement(name, key, port, on_our_networks, time, signature)


# --- LAN signals: offers and answers in a datagram --------------------------------


def looks_like_signal(datagram: bytes) -> bool:
    return datagram.startswith(SIGNAL_PREFIX)


def encode_signal(record: Offer | Answer) -> bytes:
    """A signed offer or answer as one datagram. Raises LocalProtocolError if it
    would not fit one (the caller bounds the candidates)."""
    kind = "offer" if isinstance(record, Offer) else "answer"
    body = json.dumps({"kind": kind, "record": record.to_dict()}, separators=(",", ":")).encode()
    datagram = SIGNAL_PREFIX + body
    if len(datagram) > MAX_SIGNAL_BYTES:
        raise LocalProtocolError(f"a LAN {kind} of {len(datagram)} bytes does not fit one datagram")
    return datagram


def parse_signal_untrusted(datagram: bytes) -> Offer | Answer:
    """A LAN signal into its offer or answer, checked as signalling checks them
    (the signature and the rest are Admission's). Raises LanDataError."""
    if not looks_like_signal(datagram) or len(datagram) > MAX_SIGNAL_BYTES:
        raise LanDataError("malformed LAN signal")
    try:
        message = json.loads(datagram[len(SIGNAL_PREFIX) :])
    except (ValueError, RecursionError):
        raise LanDataError("malformed LAN signal") from None
    if not isinstance(message, dict):
        raise LanDataError("malformed LAN signal")
    try:
        match message.get("kind"):
            case "offer":
                return Offer.from_dict_untrusted(message.get("record"))
            case "answer":
                return Answer.from_dict_untrusted(message.get("record"))
    except SignallingDataError:
        raise LanDataError("malformed LAN signal") from None
    raise LanDataError("malformed LAN signal")
