"""`p2ptui` with no command: the chat's screen, with its core in a thread (or `--demo`'s)."""

from __future__ import annotations

import argparse
import gc
import logging
import sys
from pathlib import Path

from p2ptui.net import ConfigError, config_dir, default_name, load_config_file, private_file

from .sanitize import sanitize
from .settings import UsageError, check_user_name, resolve_settings, ui_preferences, unknown_keys

log = logging.getLogger("p2ptui")


def run_tui(args: argparse.Namespace) -> int:
    # No garbage collection until the first frame is drawn (see launch.py); then
    # what start-up made is frozen (never scanned again) and collection goes on.
    gc.disable()
    try:
        return _run_tui(args)
    finally:
        gc.enable()  # Whatever happened before the first frame.


def _run_tui(args: argparse.Namespace) -> int:
    from .app import P2PApp
    from .core_thread import CoreThread

    if args.demo:
        from .demo import ECHO_NAME, demo_name, open_demo_node

        # The demo has a key and a server of its own; only your theme and bell come from the config.
        directory = config_dir(args.config_dir)
        try:
            file = load_config_file(directory)
        except ConfigError as exc:
            raise UsageError(str(exc)) from None
        theme, bell = ui_preferences(file)
        warnings = unknown_keys(file, directory)
        name = demo_name(args.name or default_name())
        client = CoreThread(lambda: open_demo_node(name))
        app = P2PApp(
            client,
            me=name,
            signal="a private demo server on loopback",
            peers=[ECHO_NAME],
            theme=theme,
            bell=bell,
            config_dir=directory,
            warnings=warnings,
            on_first_frame=_collect_again,
        )
    else:
        settings = resolve_settings(args)
        warnings = list(settings.warnings)
        for peer in args.peer:
            check_user_name(peer)
        _log_to_file(settings.config_dir / "p2ptui.log")
        for warning in warnings:  # The TUI shows them once; the log keeps them.
            log.warning("%s", warning)

        def open_node():  # In the core thread, which imports the node.
            from p2ptui.net import open_node

            return open_node(settings.node_config(), settings.identity)

        client = CoreThread(open_node)
        app = P2PApp(
            client,
            me=settings.name,
            signal=settings.signal,
            peers=args.peer,
            theme=settings.theme,
            bell=settings.bell,
            config_dir=settings.config_dir,
            warnings=warnings,
            on_first_frame=_collect_again,
        )
    app.run()
    if app.fatal is not None:  # The same line the app showed, for the shell after the screen is gone.
        print(f"p2ptui: error: {sanitize(app.fatal.message)}", file=sys.stderr)
        return app.fatal.exit_code
    return app.return_code or 0


def _collect_again() -> None:
    gc.freeze()
    gc.enable()


def _log_to_file(path: Path) -> None:
    # The terminal belongs to the UI; log lines go to a file instead.
    try:
        private_file(path)  # 0600 before logging opens it (for appending, keeping the mode).
        logging.basicConfig(filename=path, level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    except OSError:
        pass
