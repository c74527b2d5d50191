"""The commands without a screen: signal-server, pipe, ping, nat-check, fingerprint.

Each takes the parsed arguments, checks what the parser cannot (a UsageError) and
runs its command, returning the exit status. trio and the node are imported by the
command that needs them, not here.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from p2ptui.net import EnvironmentFailure, parse_signal_url

from .settings import Settings, UsageError, check_user_name, resolve_settings


def _settings(args: argparse.Namespace) -> Settings:
    """The settings of a command without a screen: its warnings go to stderr, once."""
    settings = resolve_settings(args)
    for warning in settings.warnings:
        print(f"p2ptui: warning: {warning}", file=sys.stderr)
    return settings


def _trio_run(function, *args):
    import trio  # Here, not at the top: fingerprint and a usage error need none of it.

    return trio.run(function, *args)


def signal_server(args: argparse.Namespace) -> int:
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


def pipe(args: argparse.Namespace) -> int:
    from .pipe import PipeOptions, run_pipe

    level = os.environ.get("P2PTUI_LOG_LEVEL", "WARNING").upper()
    logging.basicConfig(level=level, format="p2ptui: %(name)s %(message)s")
    settings = _settings(args)
    if args.pipe_peer is None and args.pipe_group is None:
        raise UsageError("pipe needs --peer NAME or --group NAME")
    for name in (args.pipe_peer, args.pipe_group):
        if name is not None:
            check_user_name(name)
    options = PipeOptions(
        args.pipe_peer or "", echo=args.echo, timeout=args.timeout, linger=args.linger,
        group=args.pipe_group, accept_invites=args.accept_invites, accept_files=args.accept_files,
    )
    return _trio_run(run_pipe, settings.node_config(), settings.identity, options)


def ping(args: argparse.Namespace) -> int:
    from .diagnostics import PingOptions, run_ping

    logging.basicConfig(level=logging.WARNING, format="p2ptui: %(message)s")
    settings = _settings(args)
    check_user_name(args.ping_peer)
    if args.count < 1 or args.interval < 0 or args.timeout <= 0:
        raise UsageError("ping needs --count of 1 or more, and a positive --timeout")
    options = PingOptions(args.ping_peer, args.count, args.interval, args.timeout, args.json)
    return _trio_run(run_ping, settings.node_config(), settings.identity, options)


def nat_check(args: argparse.Namespace) -> int:
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


def fingerprint(args: argparse.Namespace) -> int:
    from .fingerprint import print_fingerprint

    return print_fingerprint(_settings(args), args.fingerprint_peer, qr=args.qr)
