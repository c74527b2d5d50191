"""Writing the small files p2ptui keeps (config.toml, known_peers, the open conversations).

One way, so every one of them is replaced atomically and durably: a crash
leaves the old file or the new one, never half of one.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .errors import EnvironmentFailure


def write_atomically(path: Path, data: bytes) -> None:
    """Replace path with data: a temporary file beside it, flushed to disk, renamed.

    A symlink (a dotfiles manager's) stays a symlink: the file it points to is
    replaced, keeping its mode. Raises EnvironmentFailure if it cannot be done.
    """
    temporary: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path = path.resolve() if path.is_symlink() else path
        mode = path.stat().st_mode & 0o777 if path.exists() else 0o600
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
