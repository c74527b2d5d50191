"""The built-in signalling server's protocol: JSON objects, one per line, over TCP.

Free of I/O: `LineBuffer` turns received bytes into lines, `decode_untrusted`
turns a line into a message, `encode` does the reverse.

    server → client  {"op": "challenge", "nonce": HEX}              on connect
    client → server  {"op": "register", "name", "key", "sig", "address"}
    server → client  {"op": "registered", "name", "observed_ip"}
    client → server  {"op": "watch", "name"}                        presence of a peer, now and on change
    server → client  {"op": "presence", "presence": {...}}
    client → server  {"op": "offer", "offer": {...}}                forwarded to offer.receiver
    client → server  {"op": "answer", "answer": {...}}              forwarded to answer.receiver, once, only
                                                                    for a live offer forwarded to this client
    server → client  {"op": "offer" | "answer", ..., "seen_ip"}     forwarded; seen_ip: where the server saw the sender
    server → client  {"op": "ping"}                                 after a registered client was silent a while
    client → server  {"op": "pong"}                                 any line will do; a silent client is closed
    server → client  {"op": "error", "code", "message", "ref"}      ref: the offer or answer it concerns

Presence says online or offline and the key, never an address: addresses
travel only in offers and answers, between the two peers. A server that
cannot take a client sends it `{"op": "error", "code": "server-full"}`
instead of a challenge, and hangs up; one that has not registered within
10 s is sent `{"op": "error", "code": "register-timeout"}`, and hung up on.

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
SERVER_FULL = "server-full"
RATE_LIMITED = "rate-limited"
TOO_MANY_NAMES = "too-many-names"
UNAVAILABLE = "unavailable"
REGISTER_TIMEOUT = "register-timeout"


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
    """Collects received bytes into complete lines; every line stands on its own.

    A line over MAX_LINE is skipped up to its newline and counted in
    `overlong`, never buffered: the lines around it still arrive.
    """

    def __init__(self, max_line: int = MAX_LINE) -> None:
        self._buffer = bytearray()
        self._max_line = max_line
        #: Skipping the rest of an overlong line, up to its newline.
        self._skipping = False
        self.overlong = 0

    def feed(self, data: bytes) -> list[bytes]:
        self._buffer += data
        *lines, rest = self._buffer.split(b"\n")
        good = []
        for line in lines:
            if self._skipping:
                self._skipping = False  # This was the tail of an overlong line, already counted.
            elif len(line) > self._max_line:
                self.overlong += 1
            elif line.strip():
                good.append(bytes(line))
        if len(rest) > self._max_line:
            if not self._skipping:
                self.overlong += 1
                self._skipping = True
            rest = bytearray()
        self._buffer = rest
        return good
