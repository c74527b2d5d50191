"""The `p2ptui` command line.

    p2ptui [--name NAME] [--signal URL] [--config-dir DIR] [--peer NAME ...]
    p2ptui --demo
    p2ptui signal-server [--host H] [--port P] [--names PATH] [--max-connections N] [--max-per-address N]
    p2ptui pipe --peer NAME [--echo] [--timeout S] [--linger S] [common options]
    p2ptui ping PEER [-c N] [--interval S] [--json] [common options]
    p2ptui nat-check [--json] [common options]
    p2ptui fingerprint [--qr] [PEER] [common options]

Errors a user can cause print one line and exit non-zero; never a traceback.
"""

from __future__ import annotations

import argparse
import gc
import logging
import sys

from p2ptui.net import config_dir, describe, exit_code, private_file

from . import headless
from .arguments import build_parser
from .errors import is_internal
from .run_app import run_tui

__all__ = ["build_parser", "main"]

log = logging.getLogger("p2ptui")

# Each command's runner (no command: the TUI). trio and the node are imported by the
# runner that needs them: the TUI draws its first frame while its core thread imports them.
_COMMANDS = {
    "signal-server": headless.signal_server,
    "pipe": headless.pipe,
    "ping": headless.ping,
    "nat-check": headless.nat_check,
    "fingerprint": headless.fingerprint,
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command is not None:
        gc.enable()  # Off since launch.main; only the TUI waits for its first frame.
    try:
        return _run(args)
    except BaseException as exc:  # Groups from trio's nurseries too: one line, never a traceback on screen.
        if isinstance(exc, SystemExit):
            raise
        if _interrupted(exc):
            return 130
        line = describe(exc)
        if is_internal(exc):
            _log_traceback(args, exc)
        if args.command == "pipe":  # pipe's readers parse JSON: its errors are events too
            from .pipe import ReaderGone, emit

            try:
                emit("error", message=line)
            except ReaderGone:  # No one reads stdout any more: the exit status says it.
                pass
        else:
            print(f"p2ptui: error: {line}", file=sys.stderr)
        return exit_code(exc)


def _interrupted(exc: BaseException) -> bool:
    if isinstance(exc, BaseExceptionGroup):
        return all(_interrupted(inner) for inner in exc.exceptions)
    return isinstance(exc, KeyboardInterrupt)


def _log_traceback(args: argparse.Namespace, exc: BaseException) -> None:
    """A bug's traceback, for the log file only (the screen gets one line)."""
    try:
        path = config_dir(getattr(args, "config_dir", None)) / "p2ptui.log"
        private_file(path)  # 0600 before logging opens it: tracebacks may quote messages.
        handler = logging.FileHandler(path)
    except (OSError, ValueError):
        return
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
    log.addHandler(handler)
    try:
        log.error("p2ptui %s failed", args.command or "", exc_info=exc)
    finally:
        log.removeHandler(handler)
        handler.close()


def _run(args: argparse.Namespace) -> int:
    return _COMMANDS.get(args.command, run_tui)(args)
