"""Trust on first use, as SSH's known_hosts: the first key seen for a name is
pinned; a different key later is refused until the user accepts it.

The pins live in a plain text file in the config directory, one
`name key` line each, so a user can read, check and edit them.
"""

from __future__ import annotations

import enum
import hashlib
import os
from pathlib import Path

FILE_NAME = "known_peers"


class Verdict(enum.Enum):
    NEW = "new"
    """Never seen: pinned now."""
    KNOWN = "known"
    """The pinned key."""
    CHANGED = "changed"
    """Not the pinned key: refuse until the user accepts it."""


def fingerprint(public_key: str) -> str:
    """A key's fingerprint, for people to compare: 32 hex digits of its SHA-256, in groups."""
    digest = hashlib.sha256(bytes.fromhex(public_key)).hexdigest()[:32]
    return " ".join(digest[i : i + 4] for i in range(0, 32, 4))


class KnownPeers:
    """Pinned keys by name; kept in `directory`, or only in memory if it is None."""

    def __init__(self, directory: Path | None = None):
        self._path = directory / FILE_NAME if directory is not None else None
        self._keys: dict[str, str] = {}
        if self._path is not None and self._path.exists():
            for line in self._path.read_text().splitlines():
                fields = line.split()
                if len(fields) == 2 and not line.startswith("#"):
                    self._keys[fields[0]] = fields[1]

    def pinned(self, name: str) -> str | None:
        return self._keys.get(name)

    def check(self, name: str, key: str) -> Verdict:
        """What key is for name; a first key is pinned at once."""
        pinned = self._keys.get(name)
        if pinned is None:
            self.pin(name, key)
            return Verdict.NEW
        return Verdict.KNOWN if pinned == key else Verdict.CHANGED

    def pin(self, name: str, key: str) -> None:
        """Trust key for name from now on (the user accepted a changed key)."""
        self._keys[name] = key
        if self._path is None:
            return
        text = "# p2ptui: peers' keys, pinned when first seen\n"
        text += "".join(f"{n} {k}\n" for n, k in sorted(self._keys.items()))
        # Write then rename, so a crash never leaves half a file.
        temporary = self._path.with_suffix(".tmp")
        self._path.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_text(text)
        os.replace(temporary, self._path)
