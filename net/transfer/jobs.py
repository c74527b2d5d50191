"""The files app's worker jobs: hashing a file before it is offered, and taking up
what an earlier run (or a resumable failure) left.

A mixin of `FilesApp` (app.py). Hashing a whole file may take seconds, so it
runs in a worker thread (`trio.to_thread`), in the nursery of `FilesApp.run`;
the machines meanwhile wait (a sender in "waiting", a receiver shown as
receiving while its `.part` is hashed).
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

import trio

from .. import events as ev
from ..errors import EnvironmentFailure
from ..peer import Peer
from . import disk
from .entry import Entry
from .machine import Out, Receiving, Sending, State
from .store import Saved, TransferStore

log = logging.getLogger(__name__)


class Jobs:
    """Hashing and taking up, for FilesApp (a mixin: the entries and `_act` are FilesApp's)."""

    _entries: dict[tuple[str, bool, bytes], Entry]
    _open_peer: Callable[[str], Peer]
    _store: TransferStore

    _emit: Callable[[ev.NodeEvent], Awaitable[None]]

    if TYPE_CHECKING:  # FilesApp's and Streams'.

        def _act(self, peer: Peer, entry: Entry, out: Out) -> list[ev.NodeEvent]: ...

        def _start(self, job: Callable[[Peer, Entry], Awaitable[None]], peer: Peer, entry: Entry) -> None: ...

        def _tell_soon(self, events: list[ev.NodeEvent]) -> None: ...

        async def _tell(self, events: list[ev.NodeEvent]) -> None: ...

        def _save(self, entry: Entry) -> None: ...

        def _changed(self, peer: Peer, entry: Entry) -> list[ev.NodeEvent]: ...

    def _load(self, saved: Saved) -> None:
        tid = bytes.fromhex(saved.id)
        if saved.outgoing:
            sending = Sending(tid, saved.name, saved.size, bytes.fromhex(saved.sha256))
            entry = Entry(saved.peer, sending, saved.path, saved.mtime_ns)
            self._entries[(saved.peer, True, tid)] = entry
            peer = self._open_peer(saved.peer)
            if saved.state == State.WAITING.value:
                self._start(self._hash_and_offer, peer, entry)
                return
            sending.offered_before()
            self._tell_soon(self._changed(peer, entry))
            return
        receiving = Receiving(tid, saved.name, saved.size, bytes.fromhex(saved.sha256))
        entry = Entry(saved.peer, receiving, "", durable=saved.durable, saved_at=saved.at)
        if saved.path:
            entry.path, entry.part = str(Path(saved.path).parent), Path(saved.path).name
        self._entries[(saved.peer, False, tid)] = entry
        if saved.state != State.OFFERED.value:
            entry.resuming = True
            self._start(self._resume, self._open_peer(saved.peer), entry)

    def _start_sync(self, peer: Peer, entry: Entry, upto: int) -> None:
        if entry.fd is not None:
            self._start(functools.partial(self._sync, fd=entry.fd, upto=upto), peer, entry)

    async def _sync(self, peer: Peer, entry: Entry, *, fd: int, upto: int) -> None:
        """The .part up to upto is on disk: noted, so a resume after a power loss starts there."""
        try:
            await trio.to_thread.run_sync(disk.sync, fd)
        except OSError:
            return  # Closed meanwhile (the transfer ended), or the disk failed: the write says so.
        entry.durable = max(entry.durable, upto)
        try:
            self._store.set_durable(entry.peer, entry.hex, entry.durable)
        except EnvironmentFailure as exc:
            log.warning("%s", exc)

    async def _hash_and_offer(self, peer: Peer, entry: Entry) -> None:
        machine = entry.machine
        assert isinstance(machine, Sending)
        try:
            digest = await trio.to_thread.run_sync(disk.hash_file, entry.path)
            info = os.stat(entry.path)
        except OSError as exc:
            await self._tell(self._act(peer, entry, machine.fail(f"cannot read {entry.path}: {exc.strerror or exc}",
                                                                 resumable=False)))
            return
        if machine.state != State.WAITING:
            return  # Cancelled meanwhile.
        # The offer is of the file as hashed (a change since send_file included).
        machine.size, machine.sha256, entry.mtime_ns = info.st_size, digest.digest(), info.st_mtime_ns
        self._save(entry)
        await self._emit(ev.FileOffered(peer.name, entry.hex, machine.name, machine.size, outgoing=True))
        await self._tell(self._act(peer, entry, machine.offer()))
        self._save(entry)

    async def _resume(self, peer: Peer, entry: Entry) -> None:
        """A .part an earlier run (or a failure) left: hash what is there, then ask for the rest."""
        machine = entry.machine
        assert isinstance(machine, Receiving)
        try:
            await self._take_up(peer, entry, machine)
        finally:
            entry.resuming = False

    async def _take_up(self, peer: Peer, entry: Entry, machine: Receiving) -> None:
        try:
            downloads = disk.Downloads(entry.path)
            if entry.fd is None:
                entry.fd = downloads.open_part(entry.part)
            have = min(downloads.part_size(entry.part), machine.size)
            booted = disk.booted_at()
            if entry.saved_at and (booted is None or booted > entry.saved_at):
                # The machine may have rebooted since: only what was synced is surely on disk.
                have = min(have, entry.durable)
            part = downloads.inside(entry.part + disk.PART_SUFFIX)
            entry.digest = await trio.to_thread.run_sync(disk.hash_file, part, have)
        except (OSError, EnvironmentFailure) as exc:
            if not machine.finished or machine.resumable:
                reason = f"cannot take up {entry.part}.part: {exc}"
                await self._tell(self._act(peer, entry, machine.fail(reason, resumable=False)))
            return
        if machine.finished and not machine.resumable:
            return  # Cancelled meanwhile.
        entry.hashed = entry.synced = have
        await self._tell(self._act(peer, entry, machine.accept(have, trio.current_time())))
        self._save(entry)

