"""Message history and the outbox, in SQLite in the config directory.

A message is stored before anything is sent or acknowledged: an outgoing one
when the application hands it over, an incoming one before the driver sends
the ack that lets the sender forget it. So killing the process at any moment
loses nothing, and the receiver's (peer, id) key turns the sender's resends
after a crash into duplicates it can drop.

Whether the application has shown a received message is kept too (`shown`):
one killed between storing and showing shows it on its next start. Showing
and marking are not one atomic step, so a kill between them shows a
message again, with the same id: the id is what identifies a message.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .files import private_directory, private_file

FILE_NAME = "history.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    peer TEXT NOT NULL,
    id TEXT NOT NULL,
    outgoing INTEGER NOT NULL,
    text TEXT NOT NULL,
    at REAL NOT NULL,
    delivered INTEGER NOT NULL DEFAULT 0,
    shown INTEGER NOT NULL DEFAULT 0,
    UNIQUE (peer, outgoing, id)
);
CREATE INDEX IF NOT EXISTS outbox ON messages (delivered) WHERE outgoing = 1 AND delivered = 0;
"""


@dataclass(frozen=True)
class StoredMessage:
    peer: str
    id: str
    outgoing: bool
    text: str
    at: float
    delivered: bool


class MessageStore:
    """History and outbox; in `directory`, or in memory if it is None."""

    def __init__(self, directory: Path | None = None):
        if directory is None:
            path = ":memory:"
        else:
            private_directory(directory)
            # SQLite gives its -wal and -shm the database file's mode: 0600 here.
            private_file(directory / FILE_NAME)
            path = str(directory / FILE_NAME)
        self._db = sqlite3.connect(path, isolation_level=None)  # autocommit: each write is durable
        # WAL: a write is one append, and survives the process being killed.
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Several writes as one transaction: one commit instead of one each."""
        self._db.execute("BEGIN")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def queue(self, peer: str, message_id: str, text: str) -> bool:
        """Store an outgoing message. False if that id was already queued for peer."""
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO messages (peer, id, outgoing, text, at) VALUES (?, ?, 1, ?, ?)",
            (peer, message_id, text, time.time()),
        )
        return cursor.rowcount == 1

    def delivered(self, peer: str, message_id: str) -> None:
        self._db.execute(
            "UPDATE messages SET delivered = 1 WHERE peer = ? AND outgoing = 1 AND id = ?", (peer, message_id)
        )

    def received(self, peer: str, message_id: str, text: str) -> bool:
        """Store an incoming message. False if it was stored before (a resend)."""
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO messages (peer, id, outgoing, text, at, delivered) VALUES (?, ?, 0, ?, ?, 1)",
            (peer, message_id, text, time.time()),
        )
        return cursor.rowcount == 1

    def shown(self, peer: str, message_id: str) -> None:
        """The application has shown this received message to its user."""
        self._db.execute(
            "UPDATE messages SET shown = 1 WHERE peer = ? AND outgoing = 0 AND id = ?", (peer, message_id)
        )

    def unshown(self, peer: str) -> list[StoredMessage]:
        """Received messages the application never showed (it was killed first), oldest first."""
        return self._select("WHERE peer = ? AND outgoing = 0 AND shown = 0 ORDER BY rowid", (peer,))

    def outbox(self) -> list[StoredMessage]:
        """Every outgoing message not yet delivered, oldest first."""
        return self._select("WHERE outgoing = 1 AND delivered = 0 ORDER BY rowid", ())

    def history(self, peer: str, limit: int = 500, before: str | None = None) -> list[StoredMessage]:
        """The last `limit` messages with peer, oldest first; with before (a message
        id), the last `limit` stored before that one (none if it is unknown)."""
        if before is None:
            rows = self._select("WHERE peer = ? ORDER BY rowid DESC LIMIT ?", (peer, limit))
        else:
            rows = self._select(
                "WHERE peer = ? AND rowid < (SELECT rowid FROM messages WHERE peer = ? AND id = ?)"
                " ORDER BY rowid DESC LIMIT ?",
                (peer, peer, before, limit),
            )
        return rows[::-1]

    def _select(self, where: str, parameters: tuple[object, ...]) -> list[StoredMessage]:
        rows = self._db.execute(
            f"SELECT peer, id, outgoing, text, at, delivered FROM messages {where}", parameters
        )
        return [StoredMessage(p, i, bool(o), t, a, bool(d)) for p, i, o, t, a, d in rows]
