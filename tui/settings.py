"""Settings: read from the command line and config.toml, checked, and saved back.

The one place settings are read (`resolve_settings`, `ui_preferences`) and
written (`save_settings`, for what the TUI changes: the theme and the bell).
A fallback is never silent: an empty --name, a key config.toml does not know,
come back as warnings, said once by whoever shows them (stderr, or the TUI).
"""

from __future__ import annotations

import argparse
import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from p2ptui.net import (
    CONFIG_FILE,
    DEFAULT_SIGNAL_URL,
    ConfigError,
    Identity,
    check_name,
    config_dir,
    default_name,
    load_config_file,
    make_private,
    parse_signal_url,
    update_config_file,
)

if TYPE_CHECKING:
    from p2ptui.net import NodeConfig, TurnServer

KEEPALIVE_DEFAULT = 10.0
DIRECT_RETRY_DEFAULT = 60.0

#: Every key config.toml may hold; any other is reported, not silently ignored.
KNOWN_KEYS = frozenset(
    {"name", "signal", "bind", "keepalive", "stun", "turn", "direct_retry", "spray", "lan",
     "firebase_credentials", "theme", "bell"}
    | {"portmap"}
    | {"downloads", "max_file_size"}
)


class UsageError(ConfigError):
    """Something the user can fix: printed as one line, exit status 2."""


@dataclass(frozen=True)
class Settings:
    """The common options, resolved: command line, then config file, then defaults."""

    name: str
    signal: str
    embed_server: bool
    config_dir: Path
    identity: Identity
    firebase_credentials: str | None = None
    bind: tuple[str, int] = ("::", 0)
    keepalive: float = KEEPALIVE_DEFAULT
    stun: tuple[tuple[str, int], ...] = ()
    turn: tuple[TurnServer, ...] = ()
    direct_retry: float = DIRECT_RETRY_DEFAULT
    spray: dict[str, float] = field(default_factory=dict)
    """The [spray] table of config.toml: sockets, probes, rate, budget (checked)."""
    theme: str | None = None
    """The TUI's Textual theme (config.toml only; the TUI saves it there when changed)."""
    portmap: bool = True
    """Ask the router for a port mapping (PCP, NAT-PMP, UPnP); `portmap = false` in config.toml turns it off."""
    bell: bool = False
    """Ring the terminal bell for messages in conversations not shown (config.toml only)."""
    lan: bool = True
    """Find peers on the LAN by mDNS, with no signalling server needed (config.toml only)."""
    downloads: str | None = None
    """Where accepted files are saved (config.toml's `downloads`; None: the platform's downloads dir)."""
    max_file_size: int | None = None
    """The largest file accepted, in bytes (config.toml's `max_file_size`; None: the core's default)."""
    warnings: tuple[str, ...] = ()
    """Fallbacks taken (an empty --name, an unknown key): to be said once, not to stop anything."""

    def node_config(self) -> NodeConfig:
        from p2ptui.net import NodeConfig, SessionConfig, SprayConfig

        return NodeConfig(
            self.name,
            self.signal,
            embed_server=self.embed_server,
            bind=self.bind,
            firebase_credentials=self.firebase_credentials,
            session=SessionConfig(keepalive_interval=self.keepalive, direct_retry_interval=self.direct_retry),
            lan=self.lan,
            stun_servers=self.stun,
            turn_servers=self.turn,
            spray=SprayConfig(**self.spray),
            state_dir=self.config_dir,
            portmap=self.portmap,
            **self._files(),
        )

    def _files(self) -> dict[str, Any]:
        """NodeConfig's file settings, where config.toml sets them."""
        given: dict[str, Any] = {}
        if self.downloads is not None:
            given["downloads"] = Path(self.downloads).expanduser()
        if self.max_file_size is not None:
            given["max_file_size"] = self.max_file_size
        return given


def resolve_settings(args: argparse.Namespace) -> Settings:
    directory = config_dir(args.config_dir)
    try:
        file = load_config_file(directory)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    warnings = unknown_keys(file, directory)
    name = args.name or file.get("name") or default_name()
    if args.name == "":
        warnings.append(f"--name is empty: you are {name!r} (your login name or config.toml's name)")
    signal = args.signal or file.get("signal")
    credentials = args.firebase_credentials or file.get("firebase_credentials")
    # An empty --bind is a mistake, not "the default": only an absent one is "::".
    bind = _parse_bind(str(args.bind if args.bind is not None else file.get("bind", "::")))
    keepalive = _seconds("keepalive", args.keepalive, file, KEEPALIVE_DEFAULT, 0.1, 3600)
    stun_list = _list("stun", args.stun, file, "HOST:PORT")
    stun = tuple(_parse_host_port(str(item), "--stun") for item in stun_list)
    turn_list = _list("turn", args.turn, file, "turn://USER:PASS@HOST:PORT")
    try:
        from p2ptui.net import parse_turn_url

        turn = tuple(parse_turn_url(str(item)) for item in turn_list)
    except ValueError as exc:
        raise UsageError(f"bad --turn: {exc}") from None
    spray = file.get("spray", {})
    if not isinstance(spray, dict) or not set(spray) <= {"sockets", "probes", "rate", "budget"}:
        raise UsageError(f"bad [spray] in {CONFIG_FILE}: it takes sockets, probes, rate and budget")
    if spray:  # (imported only then: the TUI's first frame waits for this function)
        from p2ptui.net import SprayConfig

        try:
            SprayConfig(**spray).check()
        except ValueError as exc:
            raise UsageError(f"bad [spray] in {CONFIG_FILE}: {exc}") from None
    lan = _flag(file, "lan", True)
    direct_retry = _seconds("direct_retry", args.direct_retry, file, DIRECT_RETRY_DEFAULT, 1, 86400)
    portmap = _flag(file, "portmap", True)
    try:
        credentials_found = credentials is None or Path(str(credentials)).is_file()
    except OSError:
        credentials_found = False
    if not credentials_found:
        raise UsageError(f"no credentials file at {str(credentials)[:200]}")
    try:
        check_user_name(str(name))
        if signal is not None:
            parse_signal_url(str(signal))
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    theme, bell = ui_preferences(file)
    downloads, max_file_size = _file_settings(file)
    identity = _identity(directory, warnings)
    return Settings(
        name=str(name),
        signal=str(signal or DEFAULT_SIGNAL_URL),
        embed_server=signal is None,
        config_dir=directory,
        identity=identity,
        firebase_credentials=str(credentials) if credentials else None,
        bind=bind,
        keepalive=keepalive,
        stun=stun,
        turn=turn,
        direct_retry=direct_retry,
        spray=spray,
        portmap=portmap,
        theme=theme,
        bell=bell,
        lan=lan,
        downloads=downloads,
        max_file_size=max_file_size,
        warnings=tuple(warnings),
    )


def _file_settings(file: dict[str, Any]) -> tuple[str | None, int | None]:
    """`downloads` (a directory) and `max_file_size` (bytes) from config.toml, checked."""
    downloads = file.get("downloads")
    if downloads is not None and not (isinstance(downloads, str) and downloads.strip()):
        raise UsageError(f'bad downloads {downloads!r} in {CONFIG_FILE}: expected a directory like "~/Downloads"')
    size = file.get("max_file_size")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size <= 0):
        raise UsageError(f"bad max_file_size {size!r} in {CONFIG_FILE}: expected a number of bytes")
    return downloads, size


def _identity(directory: Path, warnings: list[str]) -> Identity:
    """The user's key; then the directory is made private, what was fixed said once."""
    try:
        identity = Identity.load_or_create(directory)
    except ConfigError as exc:  # A key others can read: said as it is, with the chmod to run.
        raise UsageError(str(exc)) from None
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot load or create your key in {directory}: {exc}") from None
    # After the key, which is refused rather than fixed (it may have been copied).
    if fixes := make_private(directory):
        warnings.append("other users could read your p2ptui files: " + "; ".join(fixes))
    return identity


def _seconds(key: str, given: object, file: dict[str, Any], default: float, low: float, high: float) -> float:
    """A number of seconds: from the command line, else config.toml, else the default; checked."""
    value = next((v for v in (given, file.get(key)) if v is not None), default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise UsageError(f"bad {key} {value!r}: give seconds between {low:g} and {high:g}")
    return float(value)


def _list(key: str, given: list[str] | None, file: dict[str, Any], example: str) -> list[object]:
    """A repeatable option, or its list in config.toml."""
    value = given or file.get(key) or []
    if not isinstance(value, list):
        raise UsageError(f'bad {key} {value!r} in {CONFIG_FILE}: expected a list like ["{example}"]')
    return value


def _flag(file: dict[str, Any], key: str, default: bool) -> bool:
    """A true-or-false setting of config.toml."""
    value = file.get(key, default)
    if not isinstance(value, bool):
        raise UsageError(f"bad {key} {value!r} in {CONFIG_FILE}: expected true or false")
    return value


def ui_preferences(file: dict) -> tuple[str | None, bool]:
    """`theme` and `bell` from config.toml. Whether the theme exists, the app checks:
    it knows Textual's theme registry, and an unknown one is not worth refusing to start."""
    theme = file.get("theme")
    if theme is not None and not (isinstance(theme, str) and theme.strip()):
        raise UsageError(f'bad theme {theme!r} in {CONFIG_FILE}: expected a name like "textual-light"')
    return theme, _flag(file, "bell", False)


def _parse_host_port(text: str, option: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    host = host.strip("[]")
    if not host or not (port.isascii() and port.isdigit()) or not 0 < int(port) < 65536:
        raise UsageError(f"bad {option} {text!r}: expected HOST:PORT")
    try:
        host.encode("idna")
    except UnicodeError:
        raise UsageError(f"bad {option} {text!r}: {host!r} is not a host name") from None
    return host, int(port)


def _parse_bind(text: str) -> tuple[str, int]:
    """IP, IP:PORT, IPv6 or [IPv6]:PORT ("::": both families). Raises UsageError."""
    bad = UsageError(f"bad --bind {text!r}: expected an IP address, optionally with :PORT ([IPv6]:PORT)")
    host, port, bracketed = text, None, text.startswith("[")
    if bracketed:
        host, closed, rest = text[1:].partition("]")
        if not closed or (rest and not rest.startswith(":")):
            raise bad
        port = rest[1:] if rest else None
    elif text.count(":") == 1:  # IPv4:PORT; a bare IPv6 address has several colons, and no port
        host, _, port = text.partition(":")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise bad from None
    if (bracketed and ip.version != 6) or (port is not None and not (port.isascii() and port.isdigit())):
        raise bad
    address = (str(ip), int(port or 0))
    if not 0 <= address[1] < 65536:
        raise UsageError(f"bad --bind {text!r}: the port is out of range")
    return address




def check_user_name(name: str) -> str:
    """check_name, with its rule said exactly: the letters are ASCII ones."""
    try:
        return check_name(name)
    except ValueError:
        raise UsageError(
            f"invalid name {name!r}: use 1-32 ASCII letters (a-z, A-Z), digits, '.', '_' or '-', "
            "starting with a letter or digit"
        ) from None


def unknown_keys(file: dict[str, Any], directory: Path) -> list[str]:
    """A warning for each key of config.toml that p2ptui does not know (a typo, most likely)."""
    return [
        f"unknown setting {key!r} in {directory / CONFIG_FILE}: ignored (known: {', '.join(sorted(KNOWN_KEYS))})"
        for key in sorted(set(file) - KNOWN_KEYS)
    ]


def save_settings(directory: Path, **values: object) -> None:
    """Set some of config.toml's settings (the TUI's theme and bell), keeping the rest.
    Raises ConfigError when the file cannot be read or written."""
    update_config_file(directory, **values)
