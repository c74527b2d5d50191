"""The secure channel's moving parts, free of I/O: the Noise IK handshake as
p2ptui runs it, transport keys with their replay windows, and the rate limit
on handshake initiations.

Why IK: both peers know each other's long-term key before the first datagram
(it travels, signed, in the offer and answer, and is pinned on first use), so
one round trip gives mutual authentication and forward secrecy, as in
WireGuard. The long-term keys are the Ed25519 identity keys, converted to
X25519 (libsodium's conversion), so one key signs offers and runs handshakes.
"""

from __future__ import annotations

import copy
import struct
from collections.abc import Hashable
from dataclasses import dataclass, field

import nacl.exceptions
import nacl.signing

from . import noise, wire
from .errors import RemoteProtocolError
from .ratelimit import KeyedBuckets

PROTOCOL = "Noise_IK_25519_ChaChaPoly_BLAKE2s"
PROLOGUE = b"p2ptui/2 "
#: Start a new handshake (fresh ephemeral keys) after this many seconds, so a
#: captured key exposes little (no link sends 2**60 datagrams in that time).
REKEY_AFTER_SECONDS = 600.0
#: Never send under one key beyond this.
REJECT_AFTER_MESSAGES = 2**60
_COUNTER = struct.Struct("!Q")


class HandshakeError(RemoteProtocolError):
    """A handshake message failed: bad crypto, the wrong key, a replay."""


def noise_private_key(signing_key: nacl.signing.SigningKey) -> bytes:
    return signing_key.to_curve25519_private_key().encode()


def noise_public_key(public_key_hex: str) -> bytes:
    """The X25519 key of an Ed25519 identity key. Raises ValueError for a bad key."""
    try:
        verify_key = nacl.signing.VerifyKey(bytes.fromhex(public_key_hex))
        return verify_key.to_curve25519_public_key().encode()
    except (ValueError, TypeError, nacl.exceptions.CryptoError, RuntimeError) as exc:
        raise ValueError(f"not a usable public key: {exc}") from None


def is_initiator(local_static: bytes, local_tag: bytes, remote_static: bytes, remote_tag: bytes) -> bool:
    """Which side starts the handshake: both sides decide alike, whoever offered.

    The tags break the tie when both ends use one identity (two devices of one user).
    """
    return (local_static, local_tag) < (remote_static, remote_tag)


def _prologue(initiator_tag: bytes, responder_tag: bytes) -> bytes:
    # Binds the handshake to the conversation signalling set up.
    return PROLOGUE + initiator_tag + responder_tag


class ReplayWindow:
    """Which counters have been seen, within the last SIZE (RFC 6479's idea, as a Python int)."""

    SIZE = 2048

    def __init__(self) -> None:
        self.top = -1
        self._bits = 0  # bit i: counter top - i was seen

    def check(self, counter: int) -> bool:
        """Whether counter is new (and not too old). Does not record it."""
        if counter > self.top:
            return True
        offset = self.top - counter
        return offset < self.SIZE and not (self._bits >> offset) & 1

    def record(self, counter: int) -> None:
        """Call only once the datagram has passed the AEAD check."""
        if counter > self.top:
            shift = counter - self.top
            self._bits = 1 if shift >= self.SIZE else ((self._bits << shift) | 1) & ((1 << self.SIZE) - 1)
            self.top = counter
        else:
            self._bits |= 1 << (self.top - counter)


@dataclass
class Keys:
    """One handshake's transport keys."""

    key_id: int
    send_cipher: noise.CipherState
    receive_cipher: noise.CipherState
    created: float
    window: ReplayWindow = field(default_factory=ReplayWindow)
    sent: int = 0
    received: int = 0

    def seal(self, to_tag: bytes, from_tag: bytes, inner: wire.Inner) -> wire.Transport:
        if self.sent >= REJECT_AFTER_MESSAGES:
            raise HandshakeError("this key has sent all it may")
        counter, self.sent = self.sent, self.sent + 1
        header = wire.transport_header(to_tag, from_tag, self.key_id, counter)
        ciphertext = self.send_cipher.encrypt(counter, header, wire.encode_inner(inner))
        return wire.Transport(to_tag, from_tag, self.key_id, counter, ciphertext)

    def open(self, packet: wire.Transport) -> bytes:
        """The plaintext, or noise.NoiseError for a forgery or a replay."""
        if not self.window.check(packet.counter):
            raise noise.NoiseError("replayed or too old")
        plaintext = self.receive_cipher.decrypt(packet.counter, packet.associated_data, packet.ciphertext)
        self.window.record(packet.counter)  # Only now: a forgery must not move the window.
        self.received += 1
        return plaintext


class Initiation:
    """The initiator's half-done handshake: message 1, waiting for message 2."""

    def __init__(
        self,
        static: bytes,
        remote_static: bytes,
        local_tag: bytes,
        remote_tag: bytes,
        counter: int,
        now: float,
    ) -> None:
        self.counter = counter
        self.started = now
        self._state = noise.HandshakeState(
            PROTOCOL,
            initiator=True,
            prologue=_prologue(local_tag, remote_tag),
            s=static,
            rs=remote_static,
        )
        # The counter grows with every initiation, so a replayed message 1 is refused.
        self.message = self._state.write_message(_COUNTER.pack(counter))

    def finish(self, message: bytes, now: float) -> Keys:
        """Read message 2. Raises HandshakeError, and stays ready for the genuine one."""
        # On a copy: a forged response must not spoil the handshake for the real one.
        state = copy.deepcopy(self._state)
        try:
            state.read_message(message)
            send, receive = state.split()
        except noise.NoiseError as exc:
            raise HandshakeError(f"bad handshake response: {exc}") from None
        return Keys(self.counter & 0xFF, send, receive, now)


@dataclass
class Response:
    counter: int
    keys: Keys
    message: bytes


def respond(
    static: bytes,
    remote_static: bytes,
    local_tag: bytes,
    remote_tag: bytes,
    message: bytes,
    now: float,
) -> Response:
    """Read message 1 from the peer whose key is remote_static and write message 2.

    Raises HandshakeError for bad crypto or a key other than remote_static.
    """
    state = noise.HandshakeState(
        PROTOCOL, initiator=False, prologue=_prologue(remote_tag, local_tag), s=static
    )
    try:
        payload = state.read_message(message)
    except noise.NoiseError as exc:
        raise HandshakeError(f"bad handshake initiation: {exc}") from None
    if state.remote_static != remote_static:
        raise HandshakeError("handshake from a key other than the peer's")
    if len(payload) != _COUNTER.size:
        raise HandshakeError("handshake initiation without a counter")
    (counter,) = _COUNTER.unpack(payload)
    reply = state.write_message(b"")
    send, receive = state.split()  # Ours: the responder sends with c2.
    return Response(counter, Keys(counter & 0xFF, send, receive, now), reply)


class RateLimiter:
    """Token buckets per source address and per conversation (each bounded in number).

    Each handshake message costs X25519 operations to check. Per source: a
    flood from one address cannot starve real peers. Per conversation: a flood
    from many (spoofed) addresses costs at most one conversation's rate, and
    only for the conversation whose tags the flooder knows; nobody else's.
    """

    def __init__(self, rate: float = 20.0, burst: float = 40.0, max_keys: int = 4096):
        self.rate, self.burst, self.max_keys = rate, burst, max_keys
        self._sources = KeyedBuckets[Hashable](rate, burst, max_keys)
        self._conversations = KeyedBuckets[Hashable](rate, burst, max_keys)

    def allow(self, source: Hashable, conversation: Hashable, now: float) -> bool:
        return self._sources.take(source, now) and self._conversations.take(conversation, now)
