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

Failures are the environment's, said in one line with what to do
(EnvironmentFailure): a full disk (`DiskFull`; nothing stored is lost, and
the caller tries again later) or a damaged file (`StoreDamaged`; p2ptui
never writes to it, the user moves it aside). The file and SQLite's -wal and
-shm beside it are readable by the owner only.
"""

from __future__ import annotations

import errno
import sqlite3
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

from .errors import EnvironmentFailure
from .sqlite_file import connect, transaction

FILE_NAME = "history.sqlite3"


class DiskFull(EnvironmentFailure):
    """The disk (or the database's size limit) is full: nothing was written."""


class StoreDamaged(EnvironmentFailure):
    """The history file is not a database, or a damaged one."""


# SQLite's primary result codes (the low byte of an extended one).
_SQLITE_CORRUPT, _SQLITE_FULL, _SQLITE_NOTADB = 11, 13, 26

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

    def __init__(self, directory: Path | None = None, *, max_pages: int | None = None):
        """Raises StoreDamaged, DiskFull or EnvironmentFailure, each saying what to do.

        max_pages caps the file at that many pages (SQLite's max_page_count),
        as a full disk would: for tests.
        """
        self.path = "in memory" if directory is None else str(directory / FILE_NAME)
        with self._failures():
            self._db = connect(directory, FILE_NAME)
            if max_pages is not None:
                self._db.execute(f"PRAGMA max_page_count={int(max_pages)}")
            self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def batch(self) -> AbstractContextManager[None]:
        """Several writes as one transaction: one commit instead of one each."""
        return transaction(self._db, self._failures)

    @contextmanager
    def _failures(self) -> Iterator[None]:
        """SQLite's and the file system's errors, as one line that says what to do."""
        try:
            yield
        except (sqlite3.Error, OSError) as exc:
            raise self._explain(exc) from None

    def _explain(self, exc: sqlite3.Error | OSError) -> EnvironmentFailure:
        code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
        if code == _SQLITE_FULL or isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
            return DiskFull(
                f"cannot store messages in {self.path}: the disk is full. Free some space; nothing waiting"
                " to be sent is lost, and messages to you wait with their senders until they can be stored"
            )
        if code in (_SQLITE_CORRUPT, _SQLITE_NOTADB):
            return StoreDamaged(
                f"{self.path} is damaged ({exc}), so p2ptui leaves it alone: move it aside"
                f" (mv {self.path} {self.path}.damaged) and start again with an empty history;"
                f" `sqlite3 {self.path}.damaged .recover` may get its messages back"
            )
        detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return EnvironmentFailure(f"cannot use {self.path}: {detail}")

    def queue(self, peer: str, message_id: str, text: str) -> bool:
        """Store an outgoing message. False if that id was already queued for peer."""
        return 1 == self._write(
            "INSERT OR IGNORE INTO messages (peer, id, outgoing, text, at) VALUES (?, ?, 1, ?, ?)",
            (peer, message_id, text, time.time()),
        )

    def delivered(self, peer: str, message_id: str) -> None:
        self._write("UPDATE messages SET delivered = 1 WHERE peer = ? AND outgoing = 1 AND id = ?", (peer, message_id))

    def received(self, peer: str, message_id: str, text: str) -> bool:
        """Store an incoming message. False if it was stored before (a resend)."""
        return 1 == self._write(
            "INSERT OR IGNORE INTO messages (peer, id, outgoing, text, at, delivered) VALUES (?, ?, 0, ?, ?, 1)",
            (peer, message_id, text, time.time()),
        )

    def shown(self, peer: str, message_id: str) -> None:
        """The application has shown this received message to its user."""
        self._write("UPDATE messages SET shown = 1 WHERE peer = ? AND outgoing = 0 AND id = ?", (peer, message_id))

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
        with self._failures():  # Rows are read here too: a damaged page shows only then.
            rows = self._db.execute(
                f"SELECT peer, id, outgoing, text, at, delivered FROM messages {where}", parameters
            ).fetchall()
        return [StoredMessage(p, i, bool(o), t, a, bool(d)) for p, i, o, t, a, d in rows]

    def _write(self, sql: str, parameters: tuple[object, ...]) -> int:
        """Run one change; how many rows it changed."""
        with self._failures():
            return self._db.execute(sql, parameters).rowcount
