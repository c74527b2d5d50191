"""The files p2ptui keeps in its config directory, and who may read them.

Everything there is the user's alone (messages, pinned keys, the key): the
directory is 0700 and every file 0600, as ~/.ssh. `private_directory` and
`private_file` create them so; `make_private` fixes what an older version (or
a umask) left readable by others, and says what it fixed.

The small files (config.toml, known_peers, the open conversations) are
written one way, `write_atomically`: a crash leaves the old file or the new
one, never half of one.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from .errors import EnvironmentFailure

DIRECTORY_MODE = 0o700
FILE_MODE = 0o600
#: Bits that let anyone but the owner in.
OTHERS = 0o077


def private_directory(directory: Path) -> None:
    """Create directory (and its parents) if missing; the directory itself 0700.

    An existing directory is left as it is: `make_private` fixes it, and says so.
    Raises OSError.
    """
    if directory.is_dir():
        return
    directory.parent.mkdir(parents=True, exist_ok=True)
    try:
        directory.mkdir(mode=DIRECTORY_MODE)
    except FileExistsError:
        return  # Made meanwhile (another p2ptui): make_private sees to its mode.
    os.chmod(directory, DIRECTORY_MODE)  # mkdir's mode passes through the umask; chmod's does not.


def private_file(path: Path) -> None:
    """Create path empty, 0600, if it does not exist (so what opens it next, SQLite or
    logging, never makes it readable by others). Raises OSError."""
    private_directory(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        return
    os.close(fd)


def make_private(directory: Path) -> list[str]:
    """Take away what others may do with directory and the files in it: 0700 and 0600.

    Returns one line per thing fixed (or that could not be), for the caller to
    say once; a symlink (a dotfiles manager's) is left alone. A directory that
    does not exist yet has nothing to fix.
    """
    fixes: list[str] = []
    try:
        entries = [directory, *sorted(directory.iterdir())]
    except FileNotFoundError:
        return []
    except OSError as exc:
        return [f"cannot check who may read {directory}: {exc.strerror or exc}"]
    for path in entries:
        try:
            info = path.lstat()
        except OSError:
            continue  # Gone meanwhile.
        if not (stat.S_ISREG(info.st_mode) or path == directory and stat.S_ISDIR(info.st_mode)):
            continue  # Symlinks, sockets, subdirectories: not ours to change.
        mode = stat.S_IMODE(info.st_mode)
        if not mode & OTHERS:
            continue
        fixed = mode & ~OTHERS  # 0755 -> 0700, 0644 -> 0600: the owner keeps what it had.
        try:
            os.chmod(path, fixed)
        except OSError as exc:
            fixes.append(f"{path} is mode {mode:04o}, readable by others, and cannot be fixed: {exc.strerror or exc}")
            continue
        fixes.append(f"{path} was mode {mode:04o}; made it {fixed:04o}")
    return fixes  # Not logged here: logging may not be set up yet, and the caller says them once.


def write_atomically(path: Path, data: bytes) -> None:
    """Replace path with data: a temporary file beside it, flushed to disk, renamed.

    The file is readable by its owner only. A symlink (a dotfiles manager's)
    stays a symlink: the file it points to is replaced, keeping its owner's
    bits. Raises EnvironmentFailure if it cannot be done.
    """
    temporary: str | None = None
    try:
        private_directory(path.parent)
        path = path.resolve() if path.is_symlink() else path
        mode = path.stat().st_mode & 0o700 if path.exists() else FILE_MODE
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fchmod(file.fileno(), mode)
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except OSError as exc:
        if temporary is not None:
            Path(temporary).unlink(missing_ok=True)
        raise EnvironmentFailure(f"cannot write {path}: {exc.strerror or exc}") from None
