"""What one side holds of a transfer besides its machine: files, stream, hash."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from .machine import Receiving, Sending, State


@dataclass(eq=False)
class Entry:
    """One transfer: its machine, and what it holds on this side."""

    peer: str
    machine: Sending | Receiving
    path: str
    """Sending: the file. Receiving: the downloads directory (empty until accepted)."""
    mtime_ns: int = 0
    """Sending: the file's modification time when hashed."""
    part: str = ""
    """Receiving: the name chosen in the directory (its data in part + ".part")."""
    fd: int | None = None
    digest: hashlib._Hash | None = None
    """Receiving: the SHA-256 of the first `hashed` bytes on disk."""
    hashed: int = 0
    synced: int = 0
    """Receiving: how far a sync of the .part was asked for."""
    durable: int = 0
    """Receiving: how far the .part is known to be on disk (synced), as kept in the store."""
    saved_at: float = 0.0
    """When an earlier run last saved it (to tell whether the machine rebooted since)."""
    session: object | None = None
    """Sending: the session the stream belongs to (a new session has none of the old one's)."""
    stream: int | None = None
    start: int = 0
    """Sending: where in the file the stream began."""
    written: int = 0
    """Sending: how far into the file the stream has been given."""
    resuming: bool = False
    """Receiving: the .part is being hashed, to be taken up (shown as receiving meanwhile)."""
    told: tuple[State, str] | None = None
    """The end (state and reason) the application was told of: each told once."""

    @property
    def hex(self) -> str:
        return self.machine.id.hex()

    @property
    def outgoing(self) -> bool:
        return self.machine.outgoing

    def final_path(self) -> str:
        return str(Path(self.path) / self.part) if self.part else ""


@dataclass
class Incoming:
    """A stream the peer opened: its header so far, then the transfer it carries."""

    header: bytearray = field(default_factory=bytearray)
    entry: Entry | None = None
