"""The built-in signalling server's protocol: JSON objects, one per line, over TCP.

Free of I/O: `LineBuffer` turns received bytes into lines, `decode_untrusted`
turns a line into a message, `encode` does the reverse.

    server → client  {"op": "challenge", "nonce": HEX}              on connect
    client → server  {"op": "register", "name", "key", "sig", "address"}
    server → client  {"op": "registered", "name", "observed_ip"}
    client → server  {"op": "watch", "name"}                        presence of a peer, now and on change
    server → client  {"op": "presence", "presence": {...}}
    client → server  {"op": "offer", "offer": {...}}                forwarded to offer.receiver
    client → server  {"op": "answer", "answer": {...}}              forwarded to answer.receiver
    server → client  {"op": "offer" | "answer", ..., "seen_ip"}     forwarded; seen_ip: where the server saw the sender
    server → client  {"op": "error", "code", "message", "ref"}      ref: the offer or answer it concerns

The signature in "register" is the client's Ed25519 signature over
`register_challenge(nonce, name)`: it proves the client holds the key the name
is bound to, so nobody else can take over a name.
"""

from __future__ import annotations

import json
from typing import Any

from ..errors import RemoteProtocolError

MAX_LINE = 16 * 1024

#: Error codes the server sends.
NAME_TAKEN = "name-taken"
PEER_OFFLINE = "peer-offline"
BAD_REQUEST = "bad-request"
NOT_REGISTERED = "not-registered"


class SignallingProtocolError(RemoteProtocolError):
    """A line from the other side broke the protocol."""


def register_challenge(nonce: bytes, name: str) -> bytes:
    return b"p2ptui register\n" + nonce + b"\n" + name.encode()


def encode(op: str, **fields: Any) -> bytes:
    return json.dumps({"op": op, **fields}, separators=(",", ":")).encode() + b"\n"


def decode_untrusted(line: bytes) -> dict[str, Any]:
    """One line into a message with a string "op". Raises SignallingProtocolError."""
    try:
        message = json.loads(line)
    except (ValueError, RecursionError):
        raise SignallingProtocolError("line is not JSON") from None
    if not isinstance(message, dict) or not isinstance(message.get("op"), str):
        raise SignallingProtocolError("message is not an object with an 'op'")
    return message


class LineBuffer:
    """Collects received bytes into complete lines, refusing any over MAX_LINE."""

    def __init__(self, max_line: int = MAX_LINE) -> None:
        self._buffer = bytearray()
        self._max_line = max_line

    def feed(self, data: bytes) -> list[bytes]:
        self._buffer += data
        *lines, rest = self._buffer.split(b"\n")
        if len(rest) > self._max_line:
            raise SignallingProtocolError(f"line longer than {self._max_line} bytes")
        self._buffer = bytearray(rest)
        for line in lines:
            if len(line) > self._max_line:
                raise SignallingProtocolError(f"line longer than {self._max_line} bytes")
        return [bytes(line) for line in lines if line.strip()]
