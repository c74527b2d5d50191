"""The `p2ptui` command line's arguments: the parser and its help texts, nothing run."""

from __future__ import annotations

import argparse

from p2ptui.net import DEFAULT_PORT, DEFAULT_SIGNAL_URL

from . import __version__
from .settings import DIRECT_RETRY_DEFAULT, KEEPALIVE_DEFAULT


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
    pipe.add_argument("--peer", dest="pipe_peer", metavar="NAME", help="the peer to talk to (needed without --group)")
    pipe.add_argument("--group", dest="pipe_group", metavar="NAME", help="send stdin lines to this group")
    pipe.add_argument("--accept-invites", action="store_true", help="join every group you are invited to")
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
    pipe.add_argument(
        "--accept-files", metavar="DIR", help="accept every file the peer offers, saving it in DIR"
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
