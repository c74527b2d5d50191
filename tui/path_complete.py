"""Tab for `/send PATH`: file and directory names, as a shell completes them.

Pure but for reading one directory. `~` is the home directory (kept as `~` in
what is typed); hidden names only once a dot is typed; a directory completes
with its `/`; several matches complete their common prefix and are listed. A
name that would act on the terminal (an escape, a bidi override) completes only
up to that character: the input draws what it holds as it is.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from itertools import islice

from .rows import cells
from .sanitize import first_acting

#: A directory is read no further than this (a huge one must not stall a key press).
MAX_ENTRIES = 5000


@dataclass(frozen=True)
class PathCompletion:
    text: str
    """What the typed path becomes."""
    choices: tuple[str, ...] = ()
    """The names that match, when more than one does (directories with their `/`), sorted."""


def complete_path(typed: str, *, cwd: str | None = None) -> PathCompletion | None:
    """What Tab makes of `typed`; None when nothing matches (or it cannot be read)."""
    if typed == "~":
        return PathCompletion("~/")
    folder, _, start = typed.rpartition("/")
    folder = folder + "/" if _ else ""
    where = os.path.expanduser(folder) if folder else "."
    if not os.path.isabs(where):
        where = os.path.join(cwd or os.getcwd(), where)
    names: list[tuple[str, bool]] = []
    try:
        with os.scandir(where) as entries:
            for entry in islice(entries, MAX_ENTRIES):
                if entry.name.startswith(start) and (start.startswith(".") or not entry.name.startswith(".")):
                    names.append((entry.name, _is_dir(entry)))
    except OSError:
        return None
    if not names:
        return None
    names.sort()
    typeable = [_typeable(name) for name, _ in names]
    if len(names) == 1 and typeable[0] == names[0][0]:
        name, is_dir = names[0]
        return PathCompletion(folder + name + ("/" if is_dir else ""))
    prefix = os.path.commonprefix(typeable)
    return PathCompletion(folder + prefix, tuple(name + ("/" if is_dir else "") for name, is_dir in names))


def _typeable(name: str) -> str:
    """name up to what would act on the terminal from the input (an escape, a bidi override):
    such a name is only listed, shown safely, and the user renames it to send it."""
    at = first_acting(name)
    return name if at < 0 else name[:at]


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()  # Follows a link to a directory, as a shell does.
    except OSError:
        return False


def check_sendable(typed: str, *, cwd: str | None = None) -> tuple[str, str]:
    """(the absolute path to send, "") or ("", why not): said at once, before the core is asked."""
    path = os.path.expanduser(typed)
    if not os.path.isabs(path):
        path = os.path.join(cwd or os.getcwd(), path)
    path = os.path.normpath(path)
    if os.path.isdir(path):
        return "", f"{typed} is a directory: /send takes a file"
    if not os.path.exists(path):
        return "", f"no such file: {typed}"
    if not os.path.isfile(path):
        return "", f"{typed} is not a regular file"
    if not os.access(path, os.R_OK):
        return "", f"cannot read {typed}: permission denied"
    return path, ""


def fit_choices(choices: tuple[str, ...], width: int) -> str:
    """As many choices as fit one row of `width` cells, then how many more there are."""
    used = -2  # No separator before the first.
    for count, choice in enumerate(choices):
        used += 2 + cells(choice)
        rest = len(choices) - count - 1
        if used + (len(f"  … {rest} more") if rest else 0) > width:
            return "  ".join(choices[:count]) + f"  … {rest + 1} more" if count else f"{len(choices)} matches"
    return "  ".join(choices)
