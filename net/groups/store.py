"""Groups on disk: their names and states, their membership logs and their messages.

Tables of their own in history.sqlite3, beside the pairwise history, through a
connection of their own (WAL lets both write the one file). A group message
is stored before anything acts on it, with its author's signature, so a
member can forward it after a restart as it came. Killing the process at any
moment loses nothing another member holds: reconciliation brings the rest.
"""

from __future__ import annotations

import errno
import sqlite3
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

from ..errors import EnvironmentFailure
from ..sqlite_file import connect, transaction
from ..store import FILE_NAME, DiskFull, StoreDamaged
from ..trust import fingerprint
from .codec import Change, GroupMessage, encode_changes, parse_untrusted

_SCHEMA = """
CREATE TABLE IF NOT EXISTS groups (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    state TEXT NOT NULL,
    inviter TEXT NOT NULL DEFAULT '',
    at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS group_changes (
    grp TEXT NOT NULL,
    hash BLOB NOT NULL,
    record BLOB NOT NULL,
    UNIQUE (grp, hash)
);
CREATE TABLE IF NOT EXISTS group_messages (
    grp TEXT NOT NULL,
    author BLOB NOT NULL,
    seq INTEGER NOT NULL,
    lamport INTEGER NOT NULL,
    author_fp TEXT NOT NULL,
    id TEXT NOT NULL,
    text TEXT NOT NULL,
    signature BLOB NOT NULL,
    at REAL NOT NULL,
    shown INTEGER NOT NULL DEFAULT 0,
    UNIQUE (grp, author, seq)
);
CREATE INDEX IF NOT EXISTS group_order ON group_messages (grp, lamport, author_fp);
"""


@dataclass(frozen=True)
class GroupRow:
    id: bytes
    name: str
    state: str
    """"invited", "member" or "left" (left, or removed)."""
    inviter: str


class GroupStore:
    """Groups, logs and messages; in directory's history.sqlite3, or in memory if it is None."""

    def __init__(self, directory: Path | None = None) -> None:
        self.path = "in memory" if directory is None else str(directory / FILE_NAME)
        with self._failures():
            self._db = connect(directory, FILE_NAME)
            self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def batch(self) -> AbstractContextManager[None]:
        """Several writes as one transaction (a catch-up of thousands of messages)."""
        return transaction(self._db, self._failures)

    # --- Groups ---------------------------------------------------------------------

    def groups(self) -> list[GroupRow]:
        rows = self._rows("SELECT id, name, state, inviter FROM groups ORDER BY at, rowid", ())
        return [GroupRow(bytes.fromhex(i), n, s, v) for i, n, s, v in rows]

    def put_group(self, row: GroupRow) -> None:
        self._write(
            "INSERT INTO groups (id, name, state, inviter, at) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (id) DO UPDATE SET name = excluded.name, state = excluded.state,"
            " inviter = excluded.inviter",
            (row.id.hex(), row.name, row.state, row.inviter, time.time()),
        )

    def drop_group(self, group: bytes) -> None:
        """An invitation ignored: nothing of it is kept."""
        for table, column in (("groups", "id"), ("group_changes", "grp"), ("group_messages", "grp")):
            self._write(f"DELETE FROM {table} WHERE {column} = ?", (group.hex(),))

    # --- Logs -----------------------------------------------------------------------

    def put_change(self, change: Change) -> None:
        (record,) = encode_changes(change.group, [change])
        self._write(
            "INSERT OR IGNORE INTO group_changes (grp, hash, record) VALUES (?, ?, ?)",
            (change.group.hex(), change.hash, record),
        )

    def changes(self, group: bytes) -> list[Change]:
        changes: list[Change] = []
        for (record,) in self._rows("SELECT record FROM group_changes WHERE grp = ? ORDER BY rowid", (group.hex(),)):
            changes.extend(c for c in parse_untrusted(record) if isinstance(c, Change))
        return changes

    # --- Messages -------------------------------------------------------------------

    def put_message(self, message: GroupMessage) -> bool:
        """Store a genuine message; False if its (author, seq) was stored before."""
        return 1 == self._write(
            "INSERT OR IGNORE INTO group_messages (grp, author, seq, lamport, author_fp, id, text, signature, at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                message.group.hex(),
                message.author,
                message.seq,
                message.lamport,
                fingerprint(message.author.hex()),
                message.id.hex(),
                message.text,
                message.signature,
                time.time(),
            ),
        )

    def unshown(self, group: bytes, us: bytes) -> list[GroupMessage]:
        """Others' messages the application never showed (it was killed first), in the group's order."""
        rows = self._rows(
            "SELECT author, seq, lamport, id, text, signature FROM group_messages"
            " WHERE grp = ? AND shown = 0 AND author != ? ORDER BY lamport, author_fp",
            (group.hex(), us),
        )
        return [GroupMessage(group, a, s, lam, bytes.fromhex(i), t, sig) for a, s, lam, i, t, sig in rows]

    def shown(self, group: bytes, message_id: str) -> None:
        self._write("UPDATE group_messages SET shown = 1 WHERE grp = ? AND id = ?", (group.hex(), message_id))

    def seqs(self, group: bytes) -> Iterator[tuple[bytes, int, int]]:
        """(author, seq, lamport) of every stored message of the group."""
        yield from self._rows("SELECT author, seq, lamport FROM group_messages WHERE grp = ?", (group.hex(),))

    def after(self, group: bytes, author: bytes, seq: int) -> list[GroupMessage]:
        """The author's messages with a seq above seq, in seq order."""
        rows = self._rows(
            "SELECT seq, lamport, id, text, signature FROM group_messages"
            " WHERE grp = ? AND author = ? AND seq > ? ORDER BY seq",
            (group.hex(), author, seq),
        )
        return [GroupMessage(group, author, s, lam, bytes.fromhex(i), t, sig) for s, lam, i, t, sig in rows]

    def history(
        self, group: bytes, limit: int, before: str | None = None
    ) -> list[tuple[bytes, str, str, float, int, str]]:
        """The last `limit` messages in the group's order, oldest first: (author, id, text,
        at, lamport, author fingerprint). With before (a message id), those before it."""
        where, parameters = "grp = ?", [group.hex()]
        if before is not None:
            where += (
                " AND (lamport, author_fp) < (SELECT lamport, author_fp FROM group_messages"
                " WHERE grp = ? AND id = ? LIMIT 1)"
            )
            parameters += [group.hex(), before]
        rows = self._rows(
            f"SELECT author, id, text, at, lamport, author_fp FROM group_messages WHERE {where}"
            " ORDER BY lamport DESC, author_fp DESC LIMIT ?",
            (*parameters, limit),
        )
        return rows[::-1]

    # --- SQLite ---------------------------------------------------------------------

    def _rows(self, sql: str, parameters: tuple[object, ...]) -> list[tuple]:  # type: ignore[type-arg]
        with self._failures():
            return self._db.execute(sql, parameters).fetchall()

    def _write(self, sql: str, parameters: tuple[object, ...]) -> int:
        with self._failures():
            return self._db.execute(sql, parameters).rowcount

    @contextmanager
    def _failures(self) -> Iterator[None]:
        try:
            yield
        except (sqlite3.Error, OSError) as exc:
            code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
            if code == 13 or isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
                raise DiskFull(f"cannot store group messages in {self.path}: the disk is full") from None
            if code in (11, 26):
                raise StoreDamaged(f"{self.path} is damaged ({exc}): move it aside") from None
            raise EnvironmentFailure(f"cannot use {self.path}: {exc}") from None
