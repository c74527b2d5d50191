"""Trust on first use, as SSH's known_hosts, and verification on top of it.

The first key seen for a name is pinned; a different key later is refused
until the user accepts it. A pinned key the user has checked (by comparing
safety numbers, net/safety.py) is *verified*; accepting another key for that
peer drops the verification, and the peer is marked as having lost it until
the user checks again, so the UI can say so loudly.

The pins live in a plain text file in the config directory, one line each,
so a user can read, check and edit them::

    name key                      pinned on first use
    name key verified             the user compared safety numbers for this key
    name key verification-lost    a verified key was replaced by this one

Older versions wrote (and read) only `name key`; such files read as before.
A line that does not parse is never dropped: it is written back as it was,
and its name stays blocked (any key for it counts as changed), so a damaged
file can never let a new key in silently.
"""

from __future__ import annotations

import enum
import fcntl
import hashlib
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError, EnvironmentFailure
from .files import write_atomically

log = logging.getLogger(__name__)

FILE_NAME = "known_peers"
HEADER = "# p2ptui: peers' keys, pinned when first seen (name key [verified|verification-lost])"


class Verdict(enum.Enum):
    NEW = "new"
    """Never seen: pinned now."""
    KNOWN = "known"
    """The pinned key."""
    CHANGED = "changed"
    """Not the pinned key: refuse until the user accepts it."""


class Verification(enum.Enum):
    UNVERIFIED = "unverified"
    """Pinned on first use (or nothing pinned): never checked."""
    VERIFIED = "verified"
    """The user compared safety numbers for the pinned key."""
    LOST = "verification-lost"
    """The user had verified an earlier key; the one pinned now replaced it unchecked."""


def fingerprint(public_key: str) -> str:
    """A key's fingerprint, for people to compare: 32 hex digits of its SHA-256, in groups."""
    digest = hashlib.sha256(bytes.fromhex(public_key)).hexdigest()[:32]
    return " ".join(digest[i : i + 4] for i in range(0, 32, 4))


@dataclass(frozen=True)
class _Pin:
    key: str | None
    """None: the file's line(s) for this name did not parse: no key matches."""
    state: Verification = Verification.UNVERIFIED
    raw: tuple[str, ...] = ()
    """The lines as read, for a pin that did not parse: written back unchanged."""


class KnownPeers:
    """Pinned keys and their verification by name; kept in `directory`, or only in memory if it is None.

    Raises ConfigError if the file exists but cannot be read (it is then
    never overwritten).
    """

    def __init__(self, directory: Path | None = None):
        self._path = directory / FILE_NAME if directory is not None else None
        self._pins: dict[str, _Pin] = self._read()

    def pinned(self, name: str) -> str | None:
        """The key pinned for name; None if there is none (or its line in the file did not parse)."""
        pin = self._pins.get(name)
        return pin.key if pin is not None else None

    def verification(self, name: str) -> Verification:
        """Whether the user checked name's pinned key (UNVERIFIED when nothing is pinned)."""
        pin = self._pins.get(name)
        return pin.state if pin is not None and pin.key is not None else Verification.UNVERIFIED

    def is_verified(self, name: str) -> bool:
        return self.verification(name) == Verification.VERIFIED

    def check(self, name: str, key: str) -> Verdict:
        """What key is for name; a first key is pinned at once.

        Raises EnvironmentFailure if a first key cannot be saved: it is then
        pinned in memory only, for this run, so a later change is still caught.
        """
        pin = self._pins.get(name)
        if pin is None:
            try:
                self.pin(name, key)
            except EnvironmentFailure:
                self._pins = {**self._pins, name: _Pin(key)}
                raise
            return Verdict.NEW
        return Verdict.KNOWN if pin.key == key else Verdict.CHANGED

    def pin(self, name: str, key: str) -> None:
        """Trust key for name from now on (the user accepted a changed key).

        A verified peer's new key is not verified: the peer is marked LOST
        until the user checks again. Raises EnvironmentFailure if the file
        cannot be written (nothing changes then).
        """

        def pinned(old: _Pin | None) -> _Pin | None:
            if old is not None and old.key == key:
                return None
            lost = old is not None and old.key is not None and old.state != Verification.UNVERIFIED
            return _Pin(key, Verification.LOST if lost else Verification.UNVERIFIED)

        self._update(name, pinned)

    def mark_verified(self, name: str, key: str) -> None:
        """The user compared safety numbers made with key: the pinned key for name is verified.

        Raises ConfigError if key is not the one pinned for name (nothing is
        pinned, or it changed since the number was shown), EnvironmentFailure
        if the file cannot be written.
        """
        pinned = self.pinned(name)
        if pinned is None:
            raise ConfigError(f"no key pinned for {name} yet: talk to them first")
        if pinned != key:
            raise ConfigError(f"{name}'s pinned key is not the one you compared: compare the new safety number")
        self._update(name, lambda old: _Pin(key, Verification.VERIFIED) if old and old.key == key else None)

    def _read(self) -> dict[str, _Pin]:
        if self._path is None:
            return {}
        try:
            data = self._path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise ConfigError(f"cannot read {self._path}: {exc.strerror or exc}") from None
        # surrogateescape: bytes that are not UTF-8 go back to the file unchanged.
        return _parse(data.decode("utf-8", "surrogateescape"), str(self._path))

    def _update(self, name: str, change: Callable[[_Pin | None], _Pin | None]) -> None:
        """Apply change to name's pin as the file has it now (another p2ptui on the same
        directory, or the user's editor, may have written since we read it), under a lock."""
        if self._path is None:
            pin = change(self._pins.get(name))
            if pin is not None:
                self._pins = {**self._pins, name: pin}
            return
        with _locked(self._path):
            try:
                pins = self._read()
            except ConfigError as exc:  # Readable at start, not now: the environment's doing.
                raise EnvironmentFailure(str(exc)) from None
            pin = change(pins.get(name))
            if pin is not None:
                pins[name] = pin
                write_atomically(self._path, _format(pins).encode("utf-8", "surrogateescape"))
        self._pins = pins  # Only once it is on disk: memory never claims what the file does not.


def _parse(text: str, where: str) -> dict[str, _Pin]:
    good: dict[str, _Pin] = {}
    bad: dict[str, list[str]] = {}
    for number, line in enumerate(text.split("\n"), 1):
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        name = fields[0]
        pin = _parse_line(fields)
        if pin is None or name in bad or (name in good and good[name].key != pin.key):
            # Unreadable, or two different keys for one name: block the name, keep the lines.
            log.warning(
                "%s line %d is not 'name key [verified]': %r stays blocked until a key is accepted", where, number, name
            )
            earlier = good.pop(name, None)
            bad.setdefault(name, [] if earlier is None else [_line(name, earlier)]).append(line.rstrip("\r"))
            continue
        if name in good and good[name].state != pin.state:
            pin = _Pin(pin.key, _strongest(good[name].state, pin.state))
        good[name] = pin
    return {**good, **{name: _Pin(None, raw=tuple(lines)) for name, lines in bad.items()}}


def _parse_line(fields: list[str]) -> _Pin | None:
    if len(fields) not in (2, 3) or not _is_key(fields[1]):
        return None
    if len(fields) == 2:
        return _Pin(fields[1].lower())
    try:
        state = Verification(fields[2])
    except ValueError:
        return None
    return _Pin(fields[1].lower(), state)


def _strongest(one: Verification, other: Verification) -> Verification:
    # The same key listed twice: a warning is never lost to a duplicate line.
    return Verification.LOST if Verification.LOST in (one, other) else Verification.VERIFIED


def _is_key(field: str) -> bool:
    return len(field) == 64 and field.isascii() and all(c in "0123456789abcdefABCDEF" for c in field)


def _line(name: str, pin: _Pin) -> str:
    state = "" if pin.state == Verification.UNVERIFIED else f" {pin.state.value}"
    return f"{name} {pin.key}{state}"


def _format(pins: dict[str, _Pin]) -> str:
    lines = [HEADER]
    for name, pin in sorted(pins.items()):
        lines += pin.raw if pin.key is None else [_line(name, pin)]
    return "\n".join(lines) + "\n"


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock beside path, for a read-change-write by one process at a time."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path.with_name(f".{path.name}.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise EnvironmentFailure(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # Closing releases the lock.
