"""A peer's long-term identity: an Ed25519 key pair, kept in the config directory.

The public key is what a name is bound to on the signalling server, and what
later versions authenticate peers with. PyNaCl (libsodium) does the crypto.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import nacl.exceptions
import nacl.signing

KEY_FILE = "identity.key"


@dataclass(frozen=True)
class Identity:
    signing_key: nacl.signing.SigningKey

    @classmethod
    def generate(cls) -> Identity:
        return cls(nacl.signing.SigningKey.generate())

    @classmethod
    def load_or_create(cls, config_dir: Path) -> Identity:
        """The key in config_dir, created (readable by the owner only) on first run."""
        path = config_dir / KEY_FILE
        if path.exists():
            seed = bytes.fromhex(path.read_text().strip())
            return cls(nacl.signing.SigningKey(seed))
        identity = cls.generate()
        config_dir.mkdir(parents=True, exist_ok=True)
        # Create with 0600 in one step, so the key is never readable by others.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as file:
            file.write(identity.signing_key.encode().hex() + "\n")
        return identity

    @property
    def public_key(self) -> str:
        """The public key, as 64 hex digits."""
        return self.signing_key.verify_key.encode().hex()

    def sign(self, message: bytes) -> bytes:
        return self.signing_key.sign(message).signature


def verify(public_key: str, message: bytes, signature: bytes) -> bool:
    """Whether signature is public_key's over message. False for any malformed input."""
    try:
        nacl.signing.VerifyKey(bytes.fromhex(public_key)).verify(message, signature)
    except (ValueError, TypeError, nacl.exceptions.CryptoError):
        return False
    return True
