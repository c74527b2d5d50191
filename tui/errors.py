"""One line and an exit status for whatever error reaches the TUI, `pipe` or the command line.

`p2ptui.net.describe` and `exit_code` do the work: they open exception groups
(trio's nurseries raise them) and pick the error that explains the failure.
The one thing added here: a bare `ValueError` from the core, which is how the
core reported a person's mistakes before its errors were typed (ConfigError,
EnvironmentFailure), is read as that person's mistake, its text shown as it is,
not as an internal error. Tracebacks go to the log file only.
"""

from __future__ import annotations

from p2ptui.net import describe, exit_code


def _bare_value_errors(exc: BaseException) -> list[ValueError]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _bare_value_errors(inner)]
    return [exc] if type(exc) is ValueError else []


def error_line(exc: BaseException) -> str:
    """The one line a person reads."""
    line = describe(exc)
    bare = _bare_value_errors(exc)
    if line.startswith("internal error") and bare and str(bare[0]):
        return str(bare[0])
    return line


def error_exit_code(exc: BaseException) -> int:
    """2 for the user's input, 1 for the environment or a bug."""
    if describe(exc).startswith("internal error") and _bare_value_errors(exc):
        return 2
    return exit_code(exc)


def is_internal(exc: BaseException) -> bool:
    """A bug, not the user's input or the world: its traceback belongs in the log."""
    return error_line(exc).startswith("internal error")


def signalling_advice(message: str) -> str:
    """What the signalling service said went wrong, and what to do about it."""
    if "is taken" in message:
        return f"{message}: pick another name with --name (or name = in config.toml)"
    if "cannot reach" in message:
        return f"{message}; check --signal, or start a server with `p2ptui signal-server`"
    return message
