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
import os
import sys
from pathlib import Path

from p2ptui.net import (
    DEFAULT_PORT,
    DEFAULT_SIGNAL_URL,
    ConfigError,
    EnvironmentFailure,
    config_dir,
    default_name,
    describe,
    exit_code,
    load_config_file,
    parse_signal_url,
    private_file,
)

from . import __version__
from .errors import is_internal
from .sanitize import sanitize

# trio and the node are imported where a command needs them: the TUI draws its
# first frame while its core thread imports them.
from .settings import (
    DIRECT_RETRY_DEFAULT,
    KEEPALIVE_DEFAULT,
    Settings,
    UsageError,
    check_user_name,
    resolve_settings,
    ui_preferences,
    unknown_keys,
)

log = logging.getLogger("p2ptui")


def _add_common(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    # On a subcommand the defaults are suppressed, so options given before the
    # subcommand name are not overwritten by the subcommand's defaults.
    default = argparse.SUPPRESS if suppress else None
    parser.add_argument("--name", default=default, help="your handle (default: your login name)")
    parser.add_argument(
        "--signal",
        default=default,
        metavar="URL",
        help=f"signalling service: tcp://HOST:PORT or firestore://PROJECT (default: {DEFAULT_SIGNAL_URL}, "
        "started in this process if nothing answers there)",
    )
    parser.add_argument(
        "--config-dir",
        default=default,
        metavar="DIR",
        help="where your key and settings live (default: $P2PTUI_CONFIG_DIR or the platform's config dir)",
    )
    parser.add_argument(
        "--bind",
        default=default,
        metavar="ADDRESS",
        help="where the chat's UDP socket listens: IP[:PORT] or [IPv6]:PORT "
        "(default: [::], both IPv4 and IPv6, any free port)",
    )
    parser.add_argument(
        "--stun",
        action="append",
        default=default,
        metavar="HOST:PORT",
        help="a STUN server to learn your public address from (repeatable; the built-in "
        "signalling server is one already)",
    )
    parser.add_argument(
        "--turn",
        action="append",
        default=default,
        metavar="turn://USER:PASS@HOST:PORT",
        help="a TURN relay for when no direct path works (repeatable; better kept in config.toml, "
        "as `turn = [...]`, than on a command line others can see)",
    )
    parser.add_argument(
        "--direct-retry",
        type=float,
        default=default,
        metavar="SECONDS",
        help=f"while relayed, try direct paths again this often (default: {DIRECT_RETRY_DEFAULT:g})",
    )
    parser.add_argument(
        "--keepalive",
        type=float,
        default=default,
        metavar="SECONDS",
        help=f"probe an idle path this often to hold NAT mappings open (default: {KEEPALIVE_DEFAULT:g})",
    )
    parser.add_argument(
        "--firebase-credentials",
        default=default,
        metavar="FILE",
        help="service-account JSON for firestore:// (default: $GOOGLE_APPLICATION_CREDENTIALS; "
        "none needed when FIRESTORE_EMULATOR_HOST is set)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="p2ptui", description="Peer-to-peer chat for the terminal.")
    parser.add_argument("--version", action="version", version=f"p2ptui {__version__}")
    _add_common(parser, suppress=False)
    parser.add_argument(
        "--peer",
        action="append",
        default=[],
        metavar="NAME",
        help="open a conversation with NAME at start (repeatable)",
    )
    parser.add_argument(
        "--demo",
        action="store_true",
        help="chat with an echo peer over a real punched UDP path on loopback, no setup",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    server = commands.add_parser("signal-server", help="run the built-in signalling server")
    server.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1; :: for all, IPv4 and IPv6)"
    )
    server.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"TCP and UDP port (default: {DEFAULT_PORT})")
    server.add_argument(
        "--names",
        metavar="PATH",
        help="SQLite file of the name-to-key bindings, kept across restarts "
        "(default: signal-names.sqlite3 in your data directory; :memory: keeps none)",
    )
    server.add_argument(
        "--max-connections", type=int, default=0, metavar="N",
        help="connections in all (default: the open-files limit less 32)",
    )
    server.add_argument(
        "--max-per-address", type=int, default=128, metavar="N",
        help="connections from one IP address, or one IPv6 /64 (default: 128)",
    )
    server.add_argument(
        "--names-per-key", type=int, default=5, metavar="N",
        help="new names one key may take at once, and then per day (default: 5)",
    )
    server.add_argument(
        "--names-per-address", type=int, default=100, metavar="N",
        help="new names one address may take at once, and then per day (default: 100)",
    )
    server.add_argument(
        "--name-expiry-days", type=float, default=90.0, metavar="DAYS",
        help="a name is freed when its key has not registered it for this long (default: 90)",
    )

    pipe = commands.add_parser("pipe", help="headless: stdin lines to a peer, JSON events on stdout")
    _add_common(pipe, suppress=True)
    pipe.add_argument("--peer", dest="pipe_peer", required=True, metavar="NAME", help="the peer to talk to")
    pipe.add_argument("--echo", action="store_true", help="send every received message back to its sender")
    pipe.add_argument(
        "--timeout", type=float, metavar="SECONDS", help="give up if no path to the peer opens in time"
    )
    pipe.add_argument(
        "--linger",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="after stdin ends, how long to wait for undelivered messages (default: 30)",
    )
    ping = commands.add_parser("ping", help="probe the path to a peer (direct or relayed), answered by its core")
    _add_common(ping, suppress=True)
    ping.add_argument("ping_peer", metavar="PEER", help="the peer to ping")
    ping.add_argument("-c", "--count", type=int, default=4, help="probes to send (default: 4)")
    ping.add_argument("--interval", type=float, default=1.0, metavar="SECONDS", help="between probes (default: 1)")
    ping.add_argument(
        "--timeout", type=float, default=15.0, metavar="SECONDS", help="wait this long for a path (default: 15)"
    )
    ping.add_argument("--json", action="store_true", help="one JSON object per line")

    check = commands.add_parser(
        "nat-check", help="a network report: UDP, NAT mapping, hairpinning, port mapping, round trips"
    )
    _add_common(check, suppress=True)
    check.add_argument("--json", action="store_true", help="one JSON object")

    fingerprint = commands.add_parser(
        "fingerprint", help="print your key's fingerprint (or a peer's pinned one), to compare out of band"
    )
    _add_common(fingerprint, suppress=True)
    fingerprint.add_argument("fingerprint_peer", nargs="?", metavar="PEER", help="a peer whose pinned key to show")
    fingerprint.add_argument(
        "--qr",
        action="store_true",
        help="with PEER: the safety number you and PEER compare, and its QR code; without: your fingerprint's QR code",
    )
    return parser


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


def _settings(args: argparse.Namespace) -> Settings:
    """The settings of a command without a screen: its warnings go to stderr, once."""
    settings = resolve_settings(args)
    for warning in settings.warnings:
        print(f"p2ptui: warning: {warning}", file=sys.stderr)
    return settings


def _trio_run(function, *args):
    import trio  # Here, not at the top: see there.

    return trio.run(function, *args)


def _run(args: argparse.Namespace) -> int:
    if args.command == "signal-server":
        return _signal_server(args)
    if args.command == "pipe":
        return _pipe(args)
    if args.command == "ping":
        return _ping(args)
    if args.command == "nat-check":
        return _nat_check(args)
    if args.command == "fingerprint":
        return _fingerprint(args)
    return _tui(args)


def _signal_server(args: argparse.Namespace) -> int:
    import platformdirs

    from p2ptui.net import ServerLimits, serve_signalling

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    positive = (args.max_per_address, args.names_per_key, args.names_per_address, args.name_expiry_days)
    if args.max_connections < 0 or min(positive) <= 0:
        raise UsageError("--max-connections must be 0 or more, and the other limits positive")
    limits = ServerLimits(
        connections=args.max_connections,
        connections_per_ip=args.max_per_address,
        new_names_per_key=args.names_per_key,
        new_names_per_ip=args.names_per_address,
        name_expiry_days=args.name_expiry_days,
    )
    names = args.names or str(Path(platformdirs.user_data_dir("p2ptui")) / "signal-names.sqlite3")

    async def serve() -> None:
        try:
            await serve_signalling(args.host, args.port, names=names, limits=limits, standalone=True)
        except OSError as exc:
            raise EnvironmentFailure(
                f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}; "
                "is another signalling server running? Give another --port"
            ) from None

    _trio_run(serve)
    return 0


def _pipe(args: argparse.Namespace) -> int:
    from .pipe import PipeOptions, run_pipe

    logging.basicConfig(level=os.environ.get("P2PTUI_LOG_LEVEL", "WARNING").upper(), format="p2ptui: %(name)s %(message)s")
    settings = _settings(args)
    check_user_name(args.pipe_peer)
    options = PipeOptions(args.pipe_peer, echo=args.echo, timeout=args.timeout, linger=args.linger)
    return _trio_run(run_pipe, settings.node_config(), settings.identity, options)


def _ping(args: argparse.Namespace) -> int:
    from .diagnostics import PingOptions, run_ping

    logging.basicConfig(level=logging.WARNING, format="p2ptui: %(message)s")
    settings = _settings(args)
    check_user_name(args.ping_peer)
    if args.count < 1 or args.interval < 0 or args.timeout <= 0:
        raise UsageError("ping needs --count of 1 or more, and a positive --timeout")
    options = PingOptions(args.ping_peer, args.count, args.interval, args.timeout, args.json)
    return _trio_run(run_ping, settings.node_config(), settings.identity, options)


def _nat_check(args: argparse.Namespace) -> int:
    from .diagnostics import run_nat_check

    settings = _settings(args)
    servers = list(settings.stun)
    url = parse_signal_url(settings.signal)
    if url.scheme == "tcp":  # The built-in server answers STUN on its port and the next one.
        servers = [(url.host, url.port), (url.host, url.port + 1), *servers]
    if not servers:
        raise UsageError("nat-check needs a STUN server: give --stun HOST:PORT (Firestore has none)")
    turn = tuple((server.host, server.port) for server in settings.turn)
    return _trio_run(run_nat_check, servers, settings.bind, args.json, turn, settings.portmap)


def _fingerprint(args: argparse.Namespace) -> int:
    from .fingerprint import print_fingerprint

    return print_fingerprint(_settings(args), args.fingerprint_peer, qr=args.qr)


def _tui(args: argparse.Namespace) -> int:
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
