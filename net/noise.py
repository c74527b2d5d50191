"""Sans-I/O Noise Protocol Framework (revision 34) handshakes and cipher states.

Only what p2ptui needs: DH 25519, cipher ChaChaPoly, hashes BLAKE2s/BLAKE2b/SHA256/SHA512,
and the 12 fundamental interactive patterns plus the 3 one-way patterns. No PSKs, no
fallback. Primitives come from PyNaCl, cryptography (ChaChaPoly: one C call per packet,
a third of PyNaCl's wrapper's cost) and hashlib/hmac; this module only does the
Noise bookkeeping, so it never touches sockets or clocks and is fully testable offline.
"""
from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable
from typing import Any

import nacl.exceptions
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from nacl.bindings import (
    crypto_aead_chacha20poly1305_ietf_encrypt,
    crypto_scalarmult,
    crypto_scalarmult_base,
)

from .errors import RemoteProtocolError

MAX_NONCE = 2**64 - 1
MAX_MESSAGE_LEN = 65535  # Noise messages are length-prefixed with 16 bits on the wire
DHLEN = 32
TAGLEN = 16

_HashFn = Callable[..., Any]  # a hashlib constructor

_HASHES: dict[str, _HashFn] = {
    "BLAKE2s": hashlib.blake2s,
    "BLAKE2b": hashlib.blake2b,
    "SHA256": hashlib.sha256,
    "SHA512": hashlib.sha512,
}

# pattern -> (initiator pre-message, responder pre-message, messages), tokens space-separated,
# messages separated by "|". Transcribed from sections 7.4 and 7.5 of the spec.
_PATTERNS: dict[str, tuple[str, str, str]] = {
    "N": ("", "s", "e es"),
    "K": ("s", "s", "e es ss"),
    "X": ("", "s", "e es s ss"),
    "NN": ("", "", "e | e ee"),
    "NK": ("", "s", "e es | e ee"),
    "NX": ("", "", "e | e ee s es"),
    "XN": ("", "", "e | e ee | s se"),
    "XK": ("", "s", "e es | e ee | s se"),
    "XX": ("", "", "e | e ee s es | s se"),
    "KN": ("s", "", "e | e ee se"),
    "KK": ("s", "s", "e es ss | e ee se"),
    "KX": ("s", "", "e | e ee se s es"),
    "IN": ("", "", "e s | e ee se"),
    "IK": ("", "s", "e es s ss | e ee se"),
    "IX": ("", "", "e s | e ee se s es"),
}


class NoiseError(RemoteProtocolError):
    """Any handshake or decryption failure (bad MAC, low-order point, wrong state, message too short).

    The only exception the module raises on bad input, so callers can drop a peer with one except.
    """


def generate_keypair() -> tuple[bytes, bytes]:
    """Return (private, public); X25519 clamps the private key itself, so any 32 random bytes do."""
    private = os.urandom(DHLEN)
    return private, crypto_scalarmult_base(private)


def public_key(private: bytes) -> bytes:
    """Derive the X25519 public key, so only private keys need to be stored."""
    if len(private) != DHLEN:
        raise ValueError("X25519 private key must be 32 bytes")
    return crypto_scalarmult_base(private)


def _dh(private: bytes, public: bytes) -> bytes:
    """X25519; libsodium rejects low-order points (all-zero output), which must fail the handshake."""
    try:
        return crypto_scalarmult(private, public)
    except (nacl.exceptions.CryptoError, TypeError, ValueError) as exc:
        raise NoiseError("DH failed (invalid or low-order public key)") from exc


def _nonce(n: int) -> bytes:
    """ChaChaPoly nonce: 32 zero bits then the 64-bit counter little-endian (spec section 12.3)."""
    return b"\x00" * 4 + n.to_bytes(8, "little")


class CipherState:
    """A key plus nonce counter; with no key, the *_with_ad methods pass data through (spec 5.1)."""

    def __init__(self, key: bytes | None = None):
        if key is not None and len(key) != 32:
            raise ValueError("cipher key must be 32 bytes")
        self.key = key
        self.n = 0

    @property
    def key(self) -> bytes | None:
        return self._key

    @key.setter
    def key(self, key: bytes | None) -> None:
        self._key = key
        # Built once per key: the AEAD object keeps the key schedule for every packet.
        self._aead = ChaCha20Poly1305(key) if key is not None else None

    def __deepcopy__(self, memo: dict[int, Any]) -> CipherState:
        # The AEAD object cannot be copied; a copy builds its own from the key.
        copy = CipherState(self.key)
        copy.n = self.n
        return copy

    def has_key(self) -> bool:
        return self.key is not None

    def _require_key(self) -> bytes:
        # Explicit-nonce calls exist for transport, where plaintext passthrough would be a silent leak.
        if self.key is None:
            raise NoiseError("cipher state has no key")
        return self.key

    def _cipher(self) -> ChaCha20Poly1305:
        if self._aead is None:
            raise NoiseError("cipher state has no key")
        return self._aead

    def encrypt(self, nonce: int, ad: bytes, plaintext: bytes) -> bytes:
        """Encrypt with an explicit nonce (UDP reorders, so the receiver can't track n); n untouched."""
        if not 0 <= nonce < MAX_NONCE:
            raise NoiseError("nonce out of range (2**64-1 is reserved)")
        return self._cipher().encrypt(_nonce(nonce), plaintext, ad)

    def decrypt(self, nonce: int, ad: bytes, ciphertext: bytes) -> bytes:
        """Decrypt with an explicit nonce; replay protection is the caller's job."""
        if not 0 <= nonce < MAX_NONCE:
            raise NoiseError("nonce out of range (2**64-1 is reserved)")
        aead = self._cipher()
        try:
            return aead.decrypt(_nonce(nonce), ciphertext, ad)
        except (InvalidTag, TypeError, ValueError) as exc:
            raise NoiseError("decryption failed") from exc

    def encrypt_with_ad(self, ad: bytes, plaintext: bytes) -> bytes:
        if self.key is None:
            return plaintext
        out = self.encrypt(self.n, ad, plaintext)
        self.n += 1
        return out

    def decrypt_with_ad(self, ad: bytes, ciphertext: bytes) -> bytes:
        if self.key is None:
            return ciphertext
        out = self.decrypt(self.n, ad, ciphertext)
        self.n += 1  # only on success, so a forged packet can't desynchronise the counter
        return out

    def rekey(self) -> None:
        """Noise REKEY: derive a fresh key from the old one using the reserved nonce; n is kept."""
        key = self._require_key()
        zeros = bytes(32)
        self.key = crypto_aead_chacha20poly1305_ietf_encrypt(zeros, b"", _nonce(MAX_NONCE), key)[:32]


class _SymmetricState:
    """Chaining key and transcript hash (spec 5.2); internal to the handshake."""

    def __init__(self, protocol_name: bytes, hash_fn: _HashFn):
        self._hash_fn = hash_fn
        self.hashlen = hash_fn().digest_size
        if len(protocol_name) <= self.hashlen:
            self.h = protocol_name.ljust(self.hashlen, b"\x00")
        else:
            self.h = self._hash(protocol_name)
        self.ck = self.h
        self.cipher = CipherState()

    def _hash(self, data: bytes) -> bytes:
        digest: bytes = self._hash_fn(data).digest()
        return digest

    def _hkdf2(self, ikm: bytes) -> tuple[bytes, bytes]:
        """Noise HKDF with two outputs (three are only needed for PSKs)."""
        temp = hmac.digest(self.ck, ikm, self._hash_fn)
        out1 = hmac.digest(temp, b"\x01", self._hash_fn)
        out2 = hmac.digest(temp, out1 + b"\x02", self._hash_fn)
        return out1, out2

    def mix_key(self, ikm: bytes) -> None:
        self.ck, temp_k = self._hkdf2(ikm)
        self.cipher = CipherState(temp_k[:32])  # 64-byte hashes are truncated to the cipher key size

    def mix_hash(self, data: bytes) -> None:
        self.h = self._hash(self.h + data)

    def encrypt_and_hash(self, plaintext: bytes) -> bytes:
        ciphertext = self.cipher.encrypt_with_ad(self.h, plaintext)
        self.mix_hash(ciphertext)
        return ciphertext

    def decrypt_and_hash(self, ciphertext: bytes) -> bytes:
        plaintext = self.cipher.decrypt_with_ad(self.h, ciphertext)
        self.mix_hash(ciphertext)
        return plaintext

    def split(self) -> tuple[CipherState, CipherState]:
        k1, k2 = self._hkdf2(b"")
        return CipherState(k1[:32]), CipherState(k2[:32])


class HandshakeState:
    """One side of a Noise handshake; feed it messages, then split() into transport ciphers."""

    def __init__(self, protocol_name: str, *, initiator: bool, prologue: bytes = b"",
                 s: bytes | None = None, rs: bytes | None = None,
                 e: bytes | None = None, re: bytes | None = None):
        parts = protocol_name.split("_")
        if (len(parts) != 5 or parts[0] != "Noise" or parts[1] not in _PATTERNS
                or parts[2] != "25519" or parts[3] != "ChaChaPoly" or parts[4] not in _HASHES):
            raise ValueError(f"unsupported Noise protocol: {protocol_name!r}")
        init_pre, resp_pre, msgs = _PATTERNS[parts[1]]
        self._messages = [m.split() for m in msgs.split("|")]
        self._initiator = initiator
        our_pre, their_pre = (init_pre, resp_pre) if initiator else (resp_pre, init_pre)
        our_tokens = {t for i, m in enumerate(self._messages) if (i % 2 == 0) == initiator for t in m}

        for name, key in (("s", s), ("rs", rs), ("e", e), ("re", re)):
            if key is not None and len(key) != DHLEN:
                raise ValueError(f"{name} must be {DHLEN} bytes")
        if s is None and ("s" in our_pre or "s" in our_tokens):
            role = "initiator" if initiator else "responder"
            raise ValueError(f"{parts[1]} needs our static key (s) as {role}")
        if rs is None and "s" in their_pre:
            raise ValueError(f"{parts[1]} needs the remote static key (rs) in advance")
        # A key the pattern would learn in-band is refused rather than silently overwritten:
        # passing rs to XX would otherwise look like pinning while pinning nothing.
        if rs is not None and "s" not in their_pre:
            raise ValueError(f"{parts[1]} learns rs during the handshake; check remote_static afterwards")
        if re is not None and "e" not in their_pre:
            raise ValueError(f"{parts[1]} has no remote ephemeral pre-message")

        self._s = s
        self._s_pub = public_key(s) if s is not None else None
        self._e = e  # fixed ephemeral is for test vectors only; None means generate when sent
        self._e_pub: bytes | None = None
        self._rs = rs
        self._re = re
        self._ss = _SymmetricState(protocol_name.encode("ascii"), _HASHES[parts[4]])
        self._ss.mix_hash(prologue)
        # Pre-messages are hashed initiator-first regardless of our role (spec 7.1).
        for pre, ours in ((init_pre, initiator), (resp_pre, not initiator)):
            for token in pre.split():
                if token == "s":
                    self._ss.mix_hash(self._s_pub if ours else rs)  # type: ignore[arg-type]
                elif token == "e":
                    self._ss.mix_hash(self._ephemeral_pub() if ours else re)  # type: ignore[arg-type]
        self._index = 0
        self._failed = False
        self._split: tuple[CipherState, CipherState] | None = None

    # -- public state -------------------------------------------------------------------------

    @property
    def complete(self) -> bool:
        return self._index >= len(self._messages)

    @property
    def handshake_hash(self) -> bytes:
        """Transcript hash h; after completion it's a channel-binding value both sides share."""
        return self._ss.h

    @property
    def remote_static(self) -> bytes | None:
        return self._rs

    @property
    def remote_ephemeral(self) -> bytes | None:
        return self._re

    def split(self) -> tuple[CipherState, CipherState]:
        """Return (send, receive) for our role.

        Cached so a second call can't hand out the same keys with reset nonces. For one-way
        patterns the responder's send state must not be used (only the initiator sends).
        """
        if self._failed or not self.complete:
            raise NoiseError("handshake not complete")
        if self._split is None:
            c1, c2 = self._ss.split()
            self._split = (c1, c2) if self._initiator else (c2, c1)
        return self._split

    # -- messages -----------------------------------------------------------------------------

    def _check_turn(self, writing: bool) -> list[str]:
        if self._failed:
            raise NoiseError("handshake already failed")
        if self.complete:
            raise NoiseError("handshake already complete")
        if ((self._index % 2 == 0) == self._initiator) != writing:
            raise NoiseError("not our turn to " + ("write" if writing else "read"))
        return self._messages[self._index]

    def _ephemeral_pub(self) -> bytes:
        if self._e is None:
            self._e = os.urandom(DHLEN)
        if self._e_pub is None:
            self._e_pub = public_key(self._e)
        return self._e_pub

    def _mix_dh(self, token: str) -> None:
        """es/se name (initiator key, responder key); map that onto our and their keys."""
        ours, theirs = (token[0], token[1]) if self._initiator else (token[1], token[0])
        private = self._e if ours == "e" else self._s
        public = self._re if theirs == "e" else self._rs
        if private is None or public is None:  # unreachable for the built-in patterns
            raise NoiseError(f"missing key for {token}")
        self._ss.mix_key(_dh(private, public))

    def write_message(self, payload: bytes = b"") -> bytes:
        tokens = self._check_turn(writing=True)
        if len(payload) > MAX_MESSAGE_LEN:
            raise NoiseError("payload too large")
        try:
            out = bytearray()
            for token in tokens:
                if token == "e":
                    out += self._ephemeral_pub()
                    self._ss.mix_hash(self._ephemeral_pub())
                elif token == "s":
                    out += self._ss.encrypt_and_hash(self._s_pub)  # type: ignore[arg-type]
                else:
                    self._mix_dh(token)
            out += self._ss.encrypt_and_hash(payload)
            if len(out) > MAX_MESSAGE_LEN:
                raise NoiseError("handshake message exceeds 65535 bytes")
        except NoiseError:
            self._failed = True  # the transcript has advanced; there is no way back
            raise
        self._index += 1
        return bytes(out)

    def read_message(self, message: bytes) -> bytes:
        tokens = self._check_turn(writing=False)
        try:
            if len(message) > MAX_MESSAGE_LEN:
                raise NoiseError("handshake message exceeds 65535 bytes")
            view = bytes(message)
            for token in tokens:
                if token == "e":
                    self._re, view = self._take(view, DHLEN)
                    self._ss.mix_hash(self._re)
                elif token == "s":
                    n = DHLEN + (TAGLEN if self._ss.cipher.has_key() else 0)
                    chunk, view = self._take(view, n)
                    self._rs = self._ss.decrypt_and_hash(chunk)
                else:
                    self._mix_dh(token)
            payload = self._ss.decrypt_and_hash(view)
        except NoiseError:
            self._failed = True
            raise
        self._index += 1
        return payload

    @staticmethod
    def _take(data: bytes, n: int) -> tuple[bytes, bytes]:
        if len(data) < n:
            raise NoiseError("message truncated")
        return data[:n], data[n:]
