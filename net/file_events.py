"""What a node tells its application of file transfers (net/transfer/, net/node_files.py):
part of `events`, where NodeEvent names them; kept here so events.py stays one job a page."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Transfer:
    """One file transfer as it stands (`Node.transfers`, `Details.transfers`)."""

    peer: str
    id: str
    """32 hex digits."""
    name: str
    """The file's name: ours (sending), or the offered one made safe (receiving)."""
    size: int
    outgoing: bool
    state: str
    """"offered" | "waiting" (hashing, or for the peer) | "sending" | "receiving" | "verifying"
    | "done" | "failed" | "declined" | "cancelled"."""
    bytes: int = 0
    """Acknowledged by the peer (sending) or on disk (receiving)."""
    rate: float = 0.0
    """Bytes a second, smoothed."""
    path: str = ""
    """Where the file is (sending), or will be or was saved (receiving, once accepted)."""
    reason: str = ""
    """Why it failed, or stalls."""


@dataclass(frozen=True)
class FileOffered:
    """A file offered to us (outgoing=False: accept or decline it), or by us (outgoing=True,
    once hashed). name is made safe by the core (no separators, controls or bidi)."""

    peer: str
    id: str
    name: str
    size: int
    outgoing: bool = False


@dataclass(frozen=True)
class FileProgress:
    """At most 4 a second per transfer, and always one at 100%."""

    peer: str
    id: str
    bytes: int
    size: int
    rate: float
    outgoing: bool


@dataclass(frozen=True)
class FileReceived:
    """A file arrived whole, its SHA-256 checked, under its final name."""

    peer: str
    id: str
    path: str
    size: int
    sha256: str


@dataclass(frozen=True)
class FileSent:
    """The peer has the whole file and checked its hash."""

    peer: str
    id: str


@dataclass(frozen=True)
class FileFailed:
    """A transfer ended without the file: declined, cancelled (by either side) or failed."""

    peer: str
    id: str
    reason: str
    outgoing: bool
