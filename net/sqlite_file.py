"""One SQLite file in the state directory, opened the way every store here opens it,
and a transaction over several writes. The stores (history and outbox, groups,
transfers) each say what a failure means for them; this module only raises what
SQLite and the file system raise.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from .files import private_directory, private_file


def connect(directory: Path | None, file_name: str) -> sqlite3.Connection:
    """file_name in directory (created 0700, the file 0600), or a database in memory if
    directory is None. Autocommit: each write is durable on its own unless batched.
    Raises sqlite3.Error or OSError."""
    if directory is None:
        db = sqlite3.connect(":memory:", isolation_level=None)
    else:
        private_directory(directory)
        # SQLite gives its -wal and -shm the database file's mode: 0600 here.
        private_file(directory / file_name)
        db = sqlite3.connect(str(directory / file_name), isolation_level=None)
    # WAL: a write is one append, and survives the process being killed.
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    # Several stores (and a second process, briefly) share a file: wait, do not fail.
    db.execute("PRAGMA busy_timeout=5000")
    return db


@contextmanager
def transaction(db: sqlite3.Connection, failures: Callable[[], AbstractContextManager[None]]) -> Iterator[None]:
    """Several writes as one transaction: one commit instead of one each. What fails is
    raised through `failures` (the store's words); on any exception nothing is kept."""
    with failures():
        db.execute("BEGIN")
    try:
        yield
    except BaseException:
        if db.in_transaction:  # SQLite may have rolled back already (a full disk).
            with failures():
                db.execute("ROLLBACK")
        raise
    with failures():
        try:
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
