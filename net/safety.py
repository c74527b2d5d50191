"""Safety numbers: what two people compare to know they hold each other's keys.

Signal's numeric fingerprint, computed the same way: each side's half is its
Ed25519 public key and its name, hashed with SHA-512 5,200 times (the key
mixed into every round, so a precomputed table for one key is no help for
another), and its first 30 bytes read as six 5-digit numbers. The two halves
are put in numeric order, so both sides compute the same 60 digits without
knowing who is "local". Shown as 12 groups of five.

The name is part of the number because the name is what a key is pinned for:
matching numbers say "the key I pinned for bob is bob's, and bob pinned mine
for alice".

`tests/test_safety.py` checks this code against libsignal's published vector.
"""

from __future__ import annotations

import hashlib

ITERATIONS = 5200
"""Signal's count: about 2^12 times the work per guess for someone grinding
for a key whose half matches a victim's."""
VERSION = b"\x00\x00"
"""Signal's fingerprint version 0, as two bytes before the key."""
DIGITS = 60
GROUP = 5


def half(public_key: bytes, identifier: bytes, iterations: int = ITERATIONS) -> str:
    """One side's 30 digits, from its key and its name (libsignal's NumericFingerprintGenerator)."""
    digest = VERSION + public_key + identifier
    for _ in range(iterations):
        digest = hashlib.sha512(digest + public_key).digest()
    # Six 40-bit big-endian chunks, each shown as 5 digits (modulo 100,000).
    return "".join(f"{int.from_bytes(digest[i : i + 5], 'big') % 100_000:05d}" for i in range(0, 30, 5))


def combine(one: str, other: str) -> str:
    """The two halves in numeric order: the same whichever side computes it."""
    return one + other if one <= other else other + one


def safety_number(my_name: str, my_key: str, their_name: str, their_key: str) -> str:
    """The 60 digits for a conversation between two (name, public key) pairs; keys are 64 hex digits.

    Raises ValueError for a key that is not 32 bytes of hex.
    """
    halves = [half(_key_bytes(key), name.encode("utf-8")) for name, key in ((my_name, my_key), (their_name, their_key))]
    return combine(*halves)


def groups(number: str) -> list[str]:
    """A safety number (spaces allowed) as its 12 groups of 5 digits.

    Raises ValueError if it is not 60 digits.
    """
    digits = "".join(number.split())
    if len(digits) != DIGITS or not digits.isascii() or not digits.isdigit():
        raise ValueError("a safety number is 60 digits")
    return [digits[i : i + GROUP] for i in range(0, DIGITS, GROUP)]


def format_safety_number(number: str, per_line: int = 12) -> str:
    """The groups separated by spaces, `per_line` groups to a line (4 gives Signal's 3x4 grid)."""
    parts = groups(number)
    return "\n".join(" ".join(parts[i : i + per_line]) for i in range(0, len(parts), per_line))


def _key_bytes(key: str) -> bytes:
    raw = bytes.fromhex(key)
    if len(raw) != 32:
        raise ValueError("an Ed25519 public key is 32 bytes (64 hex digits)")
    return raw
