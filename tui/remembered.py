"""The open conversations, remembered across restarts in their sidebar order.

So Alt+1 is the same peer tomorrow as today. Which ones is the model's to say
(`Conversations.worth_remembering`: a stranger's never opened is left out). One name a line in
`conversations` in the config directory (a group's as `#NAME`); a line that is not a valid name is
skipped (the file is the user's to edit), and the file is rewritten whole,
atomically, when the list changes.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from p2ptui.net import ConfigError, EnvironmentFailure, check_name, write_atomically

log = logging.getLogger(__name__)

FILE_NAME = "conversations"
#: More than anyone keeps open; a file grown past it is read no further.
MAX_REMEMBERED = 256


def load(directory: Path | None) -> list[str]:
    """The conversations open when p2ptui last ran, in order; [] if none are known."""
    if directory is None:
        return []
    try:
        text = (directory / FILE_NAME).read_text("utf-8", errors="replace")
    except FileNotFoundError:
        return []
    except OSError as exc:
        log.warning("cannot read %s: %s", directory / FILE_NAME, exc)
        return []
    names: list[str] = []
    for line in text.splitlines()[:MAX_REMEMBERED]:
        name = line.strip()
        try:
            check_name(name.removeprefix("#"))  # A group's conversation is "#NAME".
        except ConfigError:
            continue
        if name not in names:
            names.append(name)
    return names


def save(directory: Path | None, names: Sequence[str]) -> None:
    """Remember these conversations, in this order. A failure is logged, never fatal:
    forgetting the order costs the user little."""
    if directory is None:
        return
    try:
        write_atomically(directory / FILE_NAME, "".join(f"{name}\n" for name in names).encode("utf-8"))
    except EnvironmentFailure as exc:
        log.warning("%s", exc)
