"""Which key each name on the built-in server belongs to, kept in a small SQLite file.

A name is bound to the first key that registers it, and stays bound across
restarts. Names are bound case-insensitively (the key column holds the
casefolded name): once "alice" is bound, another key cannot take "Alice" and
pass for a near-copy of alice. A binding whose key has not registered the name for `expiry`
seconds lapses, so a name whose owner lost their key comes free again.

The calls are synchronous: each is one indexed statement on a small file,
made only at registration (which is rate-limited), so the event loop can
afford them.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path

from ..errors import EnvironmentFailure

log = logging.getLogger(__name__)

MEMORY = ":memory:"
DAY = 86400.0
#: A binding's time of last use is rewritten at most this often: a client
#: reconnecting in a loop must not make the server write (and sync) each time.
TOUCH_EVERY = 3600.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS names (
    name TEXT PRIMARY KEY,  -- casefolded: "Alice" and "alice" are one name
    key TEXT NOT NULL,
    last_seen REAL NOT NULL  -- Unix time the key last registered the name (or left)
)
"""

# Files written before names were casefolded may bind "Alice" and "alice" to
# two keys: the one seen most recently keeps the name. Names are ASCII, so
# SQLite's lower() is casefold().
_FOLD_OLD_NAMES = """
INSERT INTO names (name, key, last_seen)
    SELECT lower(name), key, last_seen FROM names WHERE name != lower(name) ORDER BY last_seen
ON CONFLICT (name) DO UPDATE SET key = excluded.key, last_seen = excluded.last_seen
    WHERE excluded.last_seen > names.last_seen;
DELETE FROM names WHERE name != lower(name);
"""


class NamesUnavailable(EnvironmentFailure):
    """The names file cannot be read now (an I/O error, say)."""


class NameStore:
    """name → key bindings, with the time each was last used."""

    def __init__(self, path: str | os.PathLike[str] = MEMORY, *, expiry: float = 90 * DAY) -> None:
        self.path = str(path)
        self.expiry = expiry
        #: Writes that failed (a full disk, say): the binding holds until restart.
        self.write_failures = 0
        try:
            if self.path != MEMORY:
                _create_private(Path(self.path))
            self._db = sqlite3.connect(self.path, isolation_level=None)
            self._db.execute(_SCHEMA)
            if self._db.execute("SELECT 1 FROM names WHERE name != lower(name) LIMIT 1").fetchone():
                self._db.executescript("BEGIN;" + _FOLD_OLD_NAMES + "COMMIT;")
        except (sqlite3.Error, OSError) as exc:
            raise EnvironmentFailure(
                f"cannot open the names database {self.path}: {exc}; "
                "give another --names PATH (or move the broken file away)"
            ) from None

    def owner(self, name: str, now: float) -> str | None:
        """The key name is bound to, or None if it is free (never bound, or lapsed).

        Raises NamesUnavailable when the file cannot be read.
        """
        try:
            row = self._db.execute("SELECT key, last_seen FROM names WHERE name = ?", (fold(name),)).fetchone()
        except sqlite3.Error as exc:
            log.warning("could not read %s: %s", self.path, exc)
            raise NamesUnavailable(f"the names file cannot be read: {exc}") from None
        if row is None or now - row[1] >= self.expiry:
            return None
        return str(row[0])

    def bind(self, name: str, key: str, now: float) -> None:
        """Bind name to key (or renew the binding), as of now."""
        self._write(
            "INSERT INTO names (name, key, last_seen) VALUES (?, ?, ?) "
            "ON CONFLICT (name) DO UPDATE SET key = excluded.key, last_seen = excluded.last_seen",
            (fold(name), key, now),
        )

    def touch(self, name: str, key: str, now: float) -> None:
        """The key was here as name just now: its binding lasts from now (to within TOUCH_EVERY)."""
        self._write(
            "UPDATE names SET last_seen = ? WHERE name = ? AND key = ? AND last_seen < ?",
            (now, fold(name), key, now - TOUCH_EVERY),
        )

    def purge(self, now: float) -> int:
        """Forget lapsed bindings; how many."""
        cursor = self._write("DELETE FROM names WHERE last_seen <= ?", (now - self.expiry,))
        return cursor.rowcount if cursor is not None else 0

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM names").fetchone()[0])

    def close(self) -> None:
        self._db.close()

    def _write(self, sql: str, parameters: tuple[object, ...]) -> sqlite3.Cursor | None:
        try:
            return self._db.execute(sql, parameters)
        except sqlite3.Error as exc:
            # A full disk must not stop the server: the binding still holds in
            # memory for as long as its client stays online.
            self.write_failures += 1
            log.warning("could not save a name binding in %s: %s", self.path, exc)
            return None


def fold(name: str) -> str:
    """The form two names are compared in: "Alice" and "alice" are one name."""
    return name.casefold()


def _create_private(path: Path) -> None:
    """The database file, readable by its owner only: it says who was online when."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.close(fd)
