"""A peer's long-term identity: an Ed25519 key pair, kept in the config directory.

The public key is what a name is bound to on the signalling server, and what
later versions authenticate peers with. PyNaCl (libsodium) does the crypto.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

import nacl.exceptions
import nacl.signing

from .errors import ConfigError
from .files import FILE_MODE, OTHERS, private_directory

KEY_FILE = "identity.key"


@dataclass(frozen=True)
class Identity:
    signing_key: nacl.signing.SigningKey

    @classmethod
    def generate(cls) -> Identity:
        return cls(nacl.signing.SigningKey.generate())

    @classmethod
    def load_or_create(cls, config_dir: Path) -> Identity:
        """The key in config_dir, created (readable by the owner only) on first run.

        Raises ConfigError for a key others may read or write, as ssh refuses
        one: it is not fixed silently, since someone may have copied it (the
        user decides: chmod it, or start again with a new key). OSError or
        ValueError for a key that cannot be read.
        """
        path = config_dir / KEY_FILE
        if path.exists():
            check_key_mode(path)
            seed = bytes.fromhex(path.read_text().strip())
            return cls(nacl.signing.SigningKey(seed))
        identity = cls.generate()
        private_directory(config_dir)
        # Create with 0600 in one step, so the key is never readable by others.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        with os.fdopen(fd, "w") as file:
            file.write(identity.signing_key.encode().hex() + "\n")
        return identity

    @property
    def public_key(self) -> str:
        """The public key, as 64 hex digits."""
        return self.signing_key.verify_key.encode().hex()

    def sign(self, message: bytes) -> bytes:
        return self.signing_key.sign(message).signature


def check_key_mode(path: Path) -> None:
    """Refuse a key file others may read or write (any of 0o077), as ssh does.

    A ConfigError (exit 2): the user's own file is wrong, and only they can
    judge whether the key leaked; retrying cannot help, as it would with the
    environment's failures.
    """
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & OTHERS:
        raise ConfigError(
            f"{path} is mode {mode:04o}: other users can read your private key. p2ptui refuses it, as ssh does;"
            f" run `chmod 600 {path}` (or, if someone may have copied it, move it aside to get a new key)"
        )


def verify(public_key: str, message: bytes, signature: bytes) -> bool:
    """Whether signature is public_key's over message. False for any malformed input."""
    try:
        nacl.signing.VerifyKey(bytes.fromhex(public_key)).verify(message, signature)
    except (ValueError, TypeError, nacl.exceptions.CryptoError):
        return False
    return True
