"""The core's errors, in two axes, as h11 and trio draw them.

Whose fault:
- `RemoteProtocolError`: the peer (or a server, or anyone on the network)
  sent bad data. Dropped and counted where it arrives; never fatal.
- `LocalProtocolError`: we misused a protocol object: a bug in p2ptui.
- `ConfigError`: the user's input (a flag, config.toml, a name) is wrong.
  The CLI says so in one line and exits 2.
- `EnvironmentFailure`: the world is not as needed (a port in use, a
  server that does not answer, a disk that is full). One line, exit 1.

`describe()` turns whatever escaped (an exception group from a nursery
included) into the one line a person reads, and `exit_code()` into the
status a script sees. Tracebacks belong in the log file, not on screen.
"""

from __future__ import annotations

import errno


class P2PError(Exception):
    """The base of every error the core raises on purpose."""


class RemoteProtocolError(P2PError):
    """Bad data from the other side: drop it, count it, carry on."""


class LocalProtocolError(P2PError):
    """A protocol object was used in a way its rules forbid: our bug."""


class ConfigError(P2PError, ValueError):
    """The user's input is wrong: a flag, a setting, a name."""


class EnvironmentFailure(P2PError):
    """Something outside p2ptui is not as needed: a port, a server, a disk."""


def leaf_errors(exc: BaseException) -> list[BaseException]:
    """The exceptions inside `exc`, exception groups opened all the way down."""
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in leaf_errors(inner)]
    return [exc]


def _most_telling(exc: BaseException) -> BaseException:
    """Of the errors in a group, the one that best explains it to a person."""
    leaves = leaf_errors(exc)
    for kind in (ConfigError, EnvironmentFailure, OSError, P2PError):
        for leaf in leaves:
            if isinstance(leaf, kind):
                return leaf
    return leaves[0]


def describe(exc: BaseException) -> str:
    """One line for a person: what went wrong, never a traceback."""
    leaf = _most_telling(exc)
    if isinstance(leaf, (P2PError, OSError)) and str(leaf):
        return str(leaf)
    return f"internal error: {type(leaf).__name__}: {leaf} (details in the log)"


def exit_code(exc: BaseException) -> int:
    """2 for the user's input, 1 for anything else (the environment, a bug)."""
    return 2 if isinstance(_most_telling(exc), ConfigError) else 1


def cannot_listen(host: str, port: int, exc: OSError) -> EnvironmentFailure:
    """The error for a UDP address we cannot listen on, with what to do about it."""
    if ":" in host:
        host = f"[{host}]"  # An IPv6 address, written as --bind takes it.
    if exc.errno == errno.EADDRINUSE:
        return EnvironmentFailure(
            f"cannot listen on {host}:{port}: the port is in use by another program;"
            " choose another with --bind (or leave the port out to take any free one)"
        )
    if exc.errno == errno.EADDRNOTAVAIL:
        return EnvironmentFailure(f"cannot listen on {host}:{port}: no interface here has that address; check --bind")
    return EnvironmentFailure(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
