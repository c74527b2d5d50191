"""Transfers not finished, in SQLite (`transfers.sqlite3` in the state directory).

Both sides keep a row per transfer from the offer on, so after kill -9 or a
reboot they know what was offered, accepted and where the `.part` is, and
resume from what is on disk. A finished transfer's row stays with its end
state for a while (a peer that missed our DONE or DECLINE offers again and is
told again), and goes after KEEP_FINISHED seconds. The file is 0600, as the
history is; a failure is the environment's (EnvironmentFailure).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ..errors import EnvironmentFailure
from ..sqlite_file import connect

FILE_NAME = "transfers.sqlite3"
#: How long a finished transfer's row is kept: a week.
KEEP_FINISHED = 7 * 86400.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS transfers (
    peer TEXT NOT NULL,
    id TEXT NOT NULL,
    outgoing INTEGER NOT NULL,
    name TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    path TEXT NOT NULL,
    state TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    mtime_ns INTEGER NOT NULL DEFAULT 0,
    durable INTEGER NOT NULL DEFAULT 0,
    at REAL NOT NULL,
    PRIMARY KEY (peer, outgoing, id)
);
"""

#: States a transfer ends in.
FINISHED = frozenset({"done", "declined", "cancelled", "failed"})


@dataclass(frozen=True)
class Saved:
    """One transfer as kept: path is the file (sender) or the downloads directory and
    the name chosen there (receiver, `DIR/NAME`; its data is in `NAME.part` until done)."""

    peer: str
    id: str
    outgoing: bool
    name: str
    size: int
    sha256: str
    path: str
    state: str
    reason: str = ""
    mtime_ns: int = 0
    """The sender's file's modification time when hashed: a changed file is not resumed."""
    durable: int = 0
    """Receiving: how much of the .part was synced to disk (what survives a power loss)."""
    at: float = 0.0
    """When the row was last saved (time.time())."""


class TransferStore:
    """The transfers table; in `directory`, or in memory if it is None."""

    def __init__(self, directory: Path | None = None) -> None:
        self.path = "in memory" if directory is None else str(directory / FILE_NAME)
        with self._failures():
            self._db = connect(directory, FILE_NAME)
            self._db.executescript(_SCHEMA)
            self._db.execute("DELETE FROM transfers WHERE state IN ('done', 'declined', 'cancelled', 'failed')"
                             " AND at < ?", (time.time() - KEEP_FINISHED,))

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _failures(self) -> Iterator[None]:
        try:
            yield
        except (sqlite3.Error, OSError) as exc:
            detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise EnvironmentFailure(f"cannot keep transfers in {self.path}: {detail}") from None

    def save(self, saved: Saved) -> None:
        """Insert or replace the transfer's row."""
        with self._failures():
            self._db.execute(
                "INSERT OR REPLACE INTO transfers (peer, id, outgoing, name, size, sha256, path, state, reason,"
                " mtime_ns, durable, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (saved.peer, saved.id, int(saved.outgoing), saved.name, saved.size, saved.sha256, saved.path,
                 saved.state, saved.reason, saved.mtime_ns, saved.durable, time.time()),
            )

    def set_durable(self, peer: str, transfer_id: str, durable: int) -> None:
        """The receiver's .part is on disk up to durable (fdatasync'd)."""
        with self._failures():
            self._db.execute(
                "UPDATE transfers SET durable = MAX(durable, ?) WHERE peer = ? AND id = ? AND outgoing = 0",
                (durable, peer, transfer_id),
            )

    def set_state(self, peer: str, transfer_id: str, outgoing: bool, state: str, reason: str = "") -> None:
        with self._failures():
            self._db.execute(
                "UPDATE transfers SET state = ?, reason = ?, at = ? WHERE peer = ? AND id = ? AND outgoing = ?",
                (state, reason, time.time(), peer, transfer_id, int(outgoing)),
            )

    def get(self, peer: str, transfer_id: str, outgoing: bool) -> Saved | None:
        rows = self._select("WHERE peer = ? AND id = ? AND outgoing = ?", (peer, transfer_id, int(outgoing)))
        return rows[0] if rows else None

    def unfinished(self) -> list[Saved]:
        """Every transfer not finished, oldest first."""
        return self._select(
            "WHERE state NOT IN ('done', 'declined', 'cancelled', 'failed') ORDER BY at", ()
        )

    def all(self) -> list[Saved]:
        return self._select("ORDER BY at", ())

    def _select(self, where: str, parameters: tuple[object, ...]) -> list[Saved]:
        with self._failures():
            rows = self._db.execute(
                "SELECT peer, id, outgoing, name, size, sha256, path, state, reason, mtime_ns, durable, at"
                " FROM transfers "
                + where,
                parameters,
            ).fetchall()
        return [Saved(p, i, bool(o), n, s, h, pa, st, r, m, d, a) for p, i, o, n, s, h, pa, st, r, m, d, a in rows]
