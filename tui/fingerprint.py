"""`p2ptui fingerprint [--qr] [PEER]`: keys and safety numbers, for a terminal reached over SSH."""

from __future__ import annotations

import os
import sys

from .settings import Settings, UsageError, check_user_name


def print_fingerprint(settings: Settings, peer: str | None, *, qr: bool = False) -> int:
    """`p2ptui fingerprint [PEER]`: your key's fingerprint, or the one pinned for PEER.

    With qr, what /verify shows instead. Raises UsageError if PEER has no pinned key.
    """
    from p2ptui.net import KnownPeers, fingerprint

    if qr:
        return _safety_number(settings, peer)
    if peer is None:
        print(f"{settings.name}  {fingerprint(settings.identity.public_key)}")
        return 0
    key = KnownPeers(settings.config_dir).pinned(peer)
    if key is None:
        raise UsageError(f"no key pinned for {peer} yet: talk to them first")
    print(f"{peer}  {fingerprint(key)}")
    return 0


def _safety_number(settings: Settings, peer: str | None) -> int:
    """`fingerprint --qr [PEER]`: what /verify shows, for a terminal reached over SSH."""
    from p2ptui.net import KnownPeers, Verification, fingerprint, format_safety_number, safety_number

    if peer is None:
        text = fingerprint(settings.identity.public_key)
        print(f"{settings.name}  {text}")
        _print_qr(text)
        return 0
    check_user_name(peer)
    known = KnownPeers(settings.config_dir)
    key = known.pinned(peer)
    if key is None:
        raise UsageError(f"no key pinned for {peer} yet: talk to them first")
    number = safety_number(settings.name, settings.identity.public_key, peer, key)
    print(f"Safety number of {settings.name} and {peer}:")
    print(format_safety_number(number, per_line=4))
    print({
        Verification.VERIFIED: f"{peer} is verified: you compared this number before.",
        Verification.UNVERIFIED: f"Not verified yet: compare it with {peer}'s; if they match, /verify it in p2ptui.",
        Verification.LOST: f"WARNING: {peer}'s key changed after you verified it: compare again.",
    }[known.verification(peer)])
    _print_qr(number)
    return 0


def _print_qr(text: str) -> None:
    """The QR code of text: dark on light with colours set in a terminal, so it scans on any
    theme; plain half blocks (dark modules drawn) into a pipe, or with NO_COLOR."""
    from .qr import qr_lines

    colour = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    print()
    for line in qr_lines(text, border=4):
        print(f"\x1b[30;107m{line}\x1b[0m" if colour else line)
