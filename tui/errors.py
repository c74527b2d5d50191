"""Words for the errors that reach the TUI, `pipe` and the command line.

The one line and the exit status come from `p2ptui.net.describe` and
`exit_code`, which open exception groups (trio's nurseries raise them) and
pick the error that explains the failure. Tracebacks go to the log file only.
"""

from __future__ import annotations

from p2ptui.net import describe


def is_internal(exc: BaseException) -> bool:
    """A bug, not the user's input or the world: its traceback belongs in the log."""
    return describe(exc).startswith("internal error")


def signalling_advice(message: str) -> str:
    """What the signalling service said went wrong, and what to do about it."""
    if "is taken" in message:
        return f"{message}: pick another name with --name (or name = in config.toml)"
    if "cannot reach" in message:
        return f"{message}; check --signal, or start a server with `p2ptui signal-server`"
    return message
