"""What signalling carries, whatever the backend: offers, answers and presence.

These records are the same for the built-in server and for Firestore; each
backend only chooses how to move them. Everything arriving from a backend is
checked by a `*_untrusted` constructor that raises SignallingDataError, and
nothing else, so a malformed document is skipped and never kills a listener.

Offers and answers are signed by the sender's identity key, over everything
they say, and carry a nonce and an expiry: the service that carries them can
drop them but not forge, alter or replay them.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
from dataclasses import asdict, dataclass, replace
from typing import Any, TypeVar

from ..address import Address
from ..errors import ConfigError, LocalProtocolError, RemoteProtocolError
from ..identity import Identity, verify

#: A peer name: what users type after /open, so short and plain.
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}")
MAX_CANDIDATES = 8
KEY_HEX_LENGTH = 64  # An Ed25519 public key.
NONCE_HEX_LENGTH = 32
SIGNATURE_HEX_LENGTH = 128
#: The datagram format's version (wire.VERSION; a test holds the two together). Not imported
#: from wire, for the same reason as the tag's length below.
WIRE_VERSION = 3
#: A session tag in hex: wire.TAG_SIZE bytes (a test holds the two together). Not
#: imported from wire: the TUI's first frame needs names checked, not the datagram format.
TAG_HEX_LENGTH = 16


class SignallingDataError(RemoteProtocolError):
    """A record from the signalling service did not validate."""


def valid_name(name: object) -> bool:
    # fullmatch: "$" would let a trailing newline through ("alice\n" is not alice).
    return isinstance(name, str) and NAME_PATTERN.fullmatch(name) is not None


def check_name(name: str) -> str:
    """A name the user gave; raises ConfigError with a message for the user."""
    if not valid_name(name):
        raise ConfigError(
            f"invalid name {name!r}: use 1-32 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


def _field(data: dict[str, Any], key: str, kind: type) -> Any:
    value = data.get(key)
    # bool is an int in Python; a port of True is still wrong.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise SignallingDataError(f"field {key!r} missing or not {kind.__name__}")
    return value


def _name(data: dict[str, Any], key: str) -> str:
    value: str = _field(data, key, str)
    if not valid_name(value):
        raise SignallingDataError(f"field {key!r} is not a valid name")
    return value


def _hex(data: dict[str, Any], key: str, length: int) -> str:
    value: str = _field(data, key, str)
    if len(value) != length or not re.fullmatch(r"[0-9a-f]*", value):
        raise SignallingDataError(f"field {key!r} is not {length} hex digits")
    return value


def parse_ip_untrusted(value: object, key: str) -> str:
    if not isinstance(value, str) or len(value) > 45:
        raise SignallingDataError(f"field {key!r} is not an IP address")
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise SignallingDataError(f"field {key!r} is not an IP address") from None


def _port(value: object, key: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value < 65536:
        raise SignallingDataError(f"field {key!r} is not a port")
    return value


def _time(value: object, key: str) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value < 1e11:
        raise SignallingDataError(f"field {key!r} is not a time")
    return float(value)


def format_address(address: Address) -> str:
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def parse_address_untrusted(text: object) -> Address:
    """'IP:PORT' or '[IPv6]:PORT' into a tuple. Raises SignallingDataError."""
    if not isinstance(text, str) or len(text) > 64:
        raise SignallingDataError("address is not a string")
    host, sep, port = text.rpartition(":")
    # isascii: "²".isdigit() is true, but int("²") fails.
    if not sep or not (port.isascii() and port.isdigit()):
        raise SignallingDataError(f"bad address {text[:64]!r}")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    return parse_ip_untrusted(host, "address"), _port(int(port), "address")


def _candidates(data: dict[str, Any], key: str = "candidates", *, optional: bool = False) -> tuple[Address, ...]:
    value = data.get(key, [] if optional else None)
    if not isinstance(value, list) or len(value) > MAX_CANDIDATES:
        raise SignallingDataError(f"field {key!r} missing or too long")
    return tuple(parse_address_untrusted(item) for item in value)


#: What a sender may say of its NAT (p2ptui.net.nat.NatType values).
NAT_TYPES = frozenset({"unknown", "open", "cone", "symmetric", "single"})


def _nat(data: dict[str, Any]) -> str:
    value = data.get("nat", "unknown")
    if not isinstance(value, str) or value not in NAT_TYPES:
        raise SignallingDataError("field 'nat' is not a NAT type")
    return value


#: The wire version of a record with no `wire` field: p2ptui before wire version 3 added it.
LEGACY_WIRE = 2


def _wire(data: dict[str, Any]) -> int:
    value = data.get("wire", LEGACY_WIRE)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value < 256:
        raise SignallingDataError("field 'wire' is not a wire version")
    return value


def _to_dict(record: Offer | Answer) -> dict[str, Any]:
    data = asdict(record)
    if data["wire"] == LEGACY_WIRE:
        del data["wire"]  # As such a peer signed it: without the field.
    data["candidates"] = [format_address(c) for c in record.candidates]
    data["relays"] = [format_address(c) for c in record.relays]
    return data


@dataclass(frozen=True, slots=True)
class Offer:
    """A wants to talk to B. The fields of the design notes, plus a tag and candidates."""

    id: str
    sender: str
    sender_key: str
    receiver: str
    sender_ip: str
    """The sender's public IP, as STUN saw it."""
    receiver_ip: str
    """The receiver's IP as the sender knows it (from presence); empty if unknown."""
    port: int
    """The sender's port, the one to punch toward and the one it talks from."""
    tag: str
    """The sender's session tag (hex); the receiver's datagrams must name it."""
    candidates: tuple[Address, ...]
    """Every address of the sender worth probing, best first."""
    expires: float
    """Unix time after which the offer is void."""
    relays: tuple[Address, ...] = ()
    """The sender's relayed addresses (its TURN allocations): reachable, but relayed."""
    nat: str = "unknown"
    """The sender's NAT type, so the receiver knows at once whether direct can work."""
    wire: int = WIRE_VERSION
    """The sender's datagram format (wire.VERSION); signed, so nobody can fake a mismatch."""
    nonce: str = ""
    signature: str = ""

    def to_dict(self) -> dict[str, Any]:
        return _to_dict(self)

    @classmethod
    def from_dict_untrusted(cls, data: object) -> Offer:
        if not isinstance(data, dict):
            raise SignallingDataError("offer is not an object")
        receiver_ip = _field(data, "receiver_ip", str)
        return cls(
            id=_hex(data, "id", 32),
            sender=_name(data, "sender"),
            sender_key=_hex(data, "sender_key", KEY_HEX_LENGTH),
            receiver=_name(data, "receiver"),
            sender_ip=parse_ip_untrusted(data.get("sender_ip"), "sender_ip"),
            receiver_ip=parse_ip_untrusted(receiver_ip, "receiver_ip") if receiver_ip else "",
            port=_port(data.get("port"), "port"),
            tag=_hex(data, "tag", TAG_HEX_LENGTH),
            candidates=_candidates(data),
            expires=_time(data.get("expires"), "expires"),
            relays=_candidates(data, "relays", optional=True),
            nat=_nat(data),
            wire=_wire(data),
            nonce=_hex(data, "nonce", NONCE_HEX_LENGTH),
            signature=_hex(data, "signature", SIGNATURE_HEX_LENGTH),
        )


@dataclass(frozen=True, slots=True)
class Answer:
    """B answers A's offer, after punching toward A: the port B listens on."""

    offer_id: str
    sender: str
    sender_key: str
    receiver: str
    sender_ip: str
    port: int
    tag: str
    candidates: tuple[Address, ...]
    expires: float = 0.0
    relays: tuple[Address, ...] = ()
    nat: str = "unknown"
    wire: int = WIRE_VERSION
    nonce: str = ""
    signature: str = ""

    def to_dict(self) -> dict[str, Any]:
        return _to_dict(self)

    @classmethod
    def from_dict_untrusted(cls, data: object) -> Answer:
        if not isinstance(data, dict):
            raise SignallingDataError("answer is not an object")
        return cls(
            offer_id=_hex(data, "offer_id", 32),
            sender=_name(data, "sender"),
            sender_key=_hex(data, "sender_key", KEY_HEX_LENGTH),
            receiver=_name(data, "receiver"),
            sender_ip=parse_ip_untrusted(data.get("sender_ip"), "sender_ip"),
            port=_port(data.get("port"), "port"),
            tag=_hex(data, "tag", TAG_HEX_LENGTH),
            candidates=_candidates(data),
            expires=_time(data.get("expires"), "expires"),
            relays=_candidates(data, "relays", optional=True),
            nat=_nat(data),
            wire=_wire(data),
            nonce=_hex(data, "nonce", NONCE_HEX_LENGTH),
            signature=_hex(data, "signature", SIGNATURE_HEX_LENGTH),
        )


Signed = TypeVar("Signed", Offer, Answer)


def _signed_bytes(record: Offer | Answer) -> bytes:
    data = record.to_dict()
    del data["signature"]
    # The kind is signed too, so an offer can never pass for an answer.
    kind = type(record).__name__.lower()
    return f"p2ptui {kind}\n".encode() + json.dumps(data, sort_keys=True, separators=(",", ":")).encode()


def sign(record: Signed, identity: Identity) -> Signed:
    """record with a fresh nonce, signed by identity (whose key it must name)."""
    if record.sender_key != identity.public_key:
        raise LocalProtocolError("a record must name the key that signs it")
    record = replace(record, nonce=os.urandom(NONCE_HEX_LENGTH // 2).hex(), signature="")
    return replace(record, signature=identity.sign(_signed_bytes(record)).hex())


def signature_valid(record: Offer | Answer) -> bool:
    """Whether record is signed by the key it names, unchanged since."""
    if len(record.signature) != SIGNATURE_HEX_LENGTH:
        return False
    return verify(record.sender_key, _signed_bytes(record), bytes.fromhex(record.signature))


@dataclass(frozen=True, slots=True)
class Presence:
    """Whether a peer is reachable through signalling now, and under which key.

    The built-in server never says where a peer is: an address travels only
    in offers and answers, between the two peers.
    """

    name: str
    online: bool
    key: str = ""
    address: Address | None = None
    """The peer's public address, from an older built-in server or Firestore; None from ours."""

    def to_dict(self) -> dict[str, Any]:
        # "address" stays, empty, so clients that still require the field parse it.
        return {
            "name": self.name,
            "online": self.online,
            "key": self.key,
            "address": format_address(self.address) if self.address else "",
        }

    @classmethod
    def from_dict_untrusted(cls, data: object) -> Presence:
        if not isinstance(data, dict):
            raise SignallingDataError("presence is not an object")
        key = _field(data, "key", str)
        if key:
            key = _hex(data, "key", KEY_HEX_LENGTH)
        address = data.get("address", "")
        return cls(
            name=_name(data, "name"),
            online=_field(data, "online", bool),
            key=key,
            address=parse_address_untrusted(address) if address else None,
        )
