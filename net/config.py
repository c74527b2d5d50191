"""Where p2ptui keeps its files, and the optional config file in that place."""

from __future__ import annotations

import getpass
import os
import tomllib
from pathlib import Path
from typing import Any

import platformdirs
import tomli_w

from .errors import ConfigError, EnvironmentFailure
from .files import write_atomically

CONFIG_FILE = "config.toml"



def config_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """--config-dir, else $P2PTUI_CONFIG_DIR, else the platform's user config dir."""
    if override:
        return Path(override)
    if env := os.environ.get("P2PTUI_CONFIG_DIR"):
        return Path(env)
    return Path(platformdirs.user_config_dir("p2ptui"))


def load_config_file(directory: Path) -> dict[str, Any]:
    """The settings in config.toml, or {} when there is none."""
    path = directory / CONFIG_FILE
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None


def update_config_file(directory: Path, **values: Any) -> None:
    """Set some settings in config.toml, keeping every other setting in it.

    The file is read, changed and written whole (by tomli-w), so the settings
    stay but comments and layout do not. It is replaced atomically: a crash
    leaves the old file or the new one, never half of one. A file that cannot
    be parsed is left alone (ConfigError), rather than overwritten. A symlink
    (a dotfiles manager's) stays a symlink: the file it points to is replaced.
    """
    settings = load_config_file(directory)
    if all(settings.get(key) == value for key, value in values.items()):
        return
    settings.update(values)
    try:
        write_atomically(directory / CONFIG_FILE, tomli_w.dumps(settings).encode("utf-8"))
    except EnvironmentFailure as exc:
        raise ConfigError(str(exc)) from None


def default_name() -> str:
    """The login name, made into a valid peer name."""
    try:
        login = getpass.getuser()
    except (KeyError, OSError):
        login = ""
    cleaned = "".join(c if c.isalnum() or c in "._-" else "-" for c in login)[:32].lstrip("._-")
    return cleaned or "me"
