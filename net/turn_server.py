"""A TURN server as configured (`--turn turn://USER:PASS@HOST:PORT`).

Apart from `turn.py`, which needs aioice's codec, so that reading the
command line and config.toml costs no import of it: the TUI's first frame
waits for that.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from .errors import ConfigError


@dataclass(frozen=True)
class TurnServer:
    host: str
    port: int
    username: str
    password: str = field(repr=False)  # Kept out of logs and tracebacks.


def parse_turn_url(url: str) -> TurnServer:
    """`turn://USER:PASS@HOST:PORT` (port 3478 if left out) into a TurnServer.

    User and password are percent-decoded, so `%40` stands for `@` and `%3A` for `:`.
    Raises ConfigError, with a message fit for the user, on anything else.
    """
    try:
        parts = urlsplit(url.strip())
    except ValueError as exc:
        raise ConfigError(f"not a valid TURN URL ({exc}): expected turn://USER:PASS@HOST:PORT") from None
    try:
        port = parts.port
    except ValueError:
        raise ConfigError("TURN URL has a bad port: expected a number 1-65535") from None
    if parts.scheme != "turn":
        raise ConfigError(
            f"TURN URL must start with turn:// (got {parts.scheme + ':' if parts.scheme else 'no scheme'};"
            " TURN over TLS is not supported)"
        )
    if parts.path not in ("", "/") or parts.fragment or parts.query not in ("", "transport=udp"):
        raise ConfigError("TURN URL has extra parts: expected turn://USER:PASS@HOST:PORT")
    if not parts.hostname:
        raise ConfigError("TURN URL has no host: expected turn://USER:PASS@HOST:PORT")
    if not parts.username or not parts.password:
        raise ConfigError("TURN URL needs credentials: turn://USER:PASS@HOST:PORT")
    if port == 0:
        raise ConfigError("TURN URL port must be 1-65535")
    return TurnServer(
        host=parts.hostname,
        port=port or 3478,
        username=unquote(parts.username),
        password=unquote(parts.password),
    )
