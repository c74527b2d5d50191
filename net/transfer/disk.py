"""The downloads directory: safe names, `.part` files, and the rename at the end.

The name a peer offers is only a suggestion. `safe_name` keeps one path
component of printable text: no separators, no `..`, no control, escape,
bidirectional or invisible format characters, no leading dot or dash, at most
MAX_NAME_CHARS characters (the extension kept), "file" when nothing is left.
Nothing is ever overwritten (`name (1).ext`), nothing written outside the
directory: every path is the directory joined with one such name, created
with O_EXCL and O_NOFOLLOW (a symlink planted in the way is refused, never
followed), and the finished file is hard-linked to its final name (which fails
rather than replace anything) before the `.part` goes.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import stat
import unicodedata
from pathlib import Path

from ..errors import EnvironmentFailure

MAX_NAME_CHARS = 120
#: An extension longer than this is not one worth keeping whole.
MAX_EXTENSION_CHARS = 16
PART_SUFFIX = ".part"
FILE_MODE = 0o600
#: How much is read at a time when hashing.
HASH_CHUNK = 1 << 20

_ESCAPE_SEQUENCE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]?|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b.?")
_SEPARATORS = re.compile(r"[/\\]+")


def safe_name(offered: str) -> str:
    """A file name safe to create in the downloads directory, from what a peer offered."""
    text = _ESCAPE_SEQUENCE.sub("", offered)
    text = _SEPARATORS.sub("_", text)
    # Cc: C0/C1 controls and DEL; Cf: bidi overrides, isolates, zero-width characters;
    # Co, Cs, Cn: private use, lone surrogates, unassigned: nothing a name needs.
    kept = "".join(c for c in text if unicodedata.category(c)[0] != "C" or c == " ")
    kept = unicodedata.normalize("NFC", " ".join(kept.split()))
    kept = kept.strip(". ").lstrip("-")
    if not kept:
        return "file"
    if len(kept) <= MAX_NAME_CHARS:
        return kept
    stem, dot, extension = kept.rpartition(".")
    if not dot or not stem or len(extension) > MAX_EXTENSION_CHARS:
        return kept[:MAX_NAME_CHARS].rstrip(". ")
    return stem[: MAX_NAME_CHARS - len(extension) - 1].rstrip(". ") + "." + extension


def numbered(name: str, n: int) -> str:
    """The nth alternative to name: `name (n).ext`."""
    if n == 0:
        return name
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem:
        return f"{name} ({n})"
    return f"{stem} ({n}).{extension}"


class Downloads:
    """One directory files are saved in. Raises EnvironmentFailure for what the disk refuses."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        try:
            path = Path(directory).expanduser()
            path.mkdir(parents=True, exist_ok=True)
            self.directory = path.resolve(strict=True)
        except OSError as exc:
            raise EnvironmentFailure(f"cannot use {directory} for downloads: {exc.strerror or exc}") from None
        if not self.directory.is_dir():
            raise EnvironmentFailure(f"{directory} is not a directory")

    def inside(self, name: str) -> Path:
        """directory/name, for a name that is one plain component (checked: our own bug otherwise)."""
        path = self.directory / name
        if name in ("", ".", "..") or path.parent != self.directory or "/" in name or "\0" in name:
            raise EnvironmentFailure(f"refused to write {name!r} outside {self.directory}")
        return path

    def free_name(self, name: str) -> str:
        """The first of name, `name (1)`, ... with neither it nor its .part taken."""
        for n in range(10_000):
            candidate = numbered(name, n)
            if not any(os.path.lexists(self.inside(c)) for c in (candidate, candidate + PART_SUFFIX)):
                return candidate
        raise EnvironmentFailure(f"no free name for {name!r} in {self.directory}")

    def create_part(self, name: str) -> tuple[str, int]:
        """(the name chosen, an fd of its new, empty NAME.part), 0600, made with O_EXCL."""
        for _ in range(100):
            chosen = self.free_name(name)
            try:
                fd = os.open(self.inside(chosen + PART_SUFFIX), _CREATE, FILE_MODE)
            except FileExistsError:
                continue  # Taken meanwhile.
            except OSError as exc:
                raise self._failure(exc, chosen) from None
            return chosen, fd
        raise EnvironmentFailure(f"no free name for {name!r} in {self.directory}")

    def open_part(self, name: str) -> int:
        """An fd of NAME.part as left by an earlier run, to write on; never through a symlink."""
        try:
            fd = os.open(self.inside(name + PART_SUFFIX), os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as exc:
            raise self._failure(exc, name) from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise EnvironmentFailure(f"{self.inside(name + PART_SUFFIX)} is not a regular file")
        return fd

    def part_size(self, name: str) -> int:
        """How much of NAME.part is on disk; 0 if there is none."""
        try:
            info = os.lstat(self.inside(name + PART_SUFFIX))
        except FileNotFoundError:
            return 0
        except OSError as exc:
            raise self._failure(exc, name) from None
        return info.st_size if stat.S_ISREG(info.st_mode) else 0

    def finish(self, name: str) -> Path:
        """NAME.part becomes NAME (or `NAME (1)`, ... if NAME appeared meanwhile): where it is now."""
        part = self.inside(name + PART_SUFFIX)
        for n in range(10_000):
            final = self.inside(numbered(name, n))
            try:
                os.link(part, final, follow_symlinks=False)
            except FileExistsError:
                continue
            except OSError as exc:
                raise self._failure(exc, name) from None
            part.unlink()
            return final
        raise EnvironmentFailure(f"no free name for {name!r} in {self.directory}")

    def remove_part(self, name: str) -> None:
        try:
            self.inside(name + PART_SUFFIX).unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise self._failure(exc, name) from None

    def _failure(self, exc: OSError, name: str) -> EnvironmentFailure:
        if exc.errno == errno.ENOSPC:
            return EnvironmentFailure(f"the disk is full: cannot save {name} in {self.directory}")
        if exc.errno == errno.ELOOP:
            return EnvironmentFailure(f"refused to follow a symlink at {self.directory / name}")
        return EnvironmentFailure(f"cannot save {name} in {self.directory}: {exc.strerror or exc}")


_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def write_at(fd: int, data: bytes, offset: int) -> None:
    """All of data at offset (64-bit). Raises OSError (ENOSPC: the disk is full)."""
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view, offset = view[written:], offset + written


def booted_at() -> float | None:
    """When this machine booted (Unix time, Linux's /proc/stat), or None where unknown."""
    try:
        with open("/proc/stat", "rb") as file:
            for line in file:
                if line.startswith(b"btime "):
                    return float(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def sync(fd: int) -> None:
    """What was written to fd is on the disk, for a worker thread. A copy of the descriptor
    is synced, so the transfer may close its own meanwhile. Raises OSError."""
    copy = os.dup(fd)
    try:
        os.fdatasync(copy)
    finally:
        os.close(copy)


def hash_file(path: str | os.PathLike[str], length: int | None = None) -> hashlib._Hash:
    """A SHA-256 of the file's first `length` bytes (all of it when None), for a worker thread.
    Raises OSError."""
    digest = hashlib.sha256()
    with open(path, "rb", buffering=0) as file:
        left = length
        while left is None or left > 0:
            chunk = file.read(HASH_CHUNK if left is None else min(HASH_CHUNK, left))
            if not chunk:
                break
            digest.update(chunk)
            if left is not None:
                left -= len(chunk)
    return digest
