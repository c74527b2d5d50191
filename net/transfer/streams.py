"""The bulk streams of file transfer: filling ours from the file, writing the peer's to disk.

A mixin of `FilesApp` (app.py): these work on its entries and hand what the
machines return to its `_act`. The sender reads its file only as far as
`stream_room` allows; the receiver writes each `StreamData` to the `.part` as
it comes (the channel returns flow-control credit once the pump handed it on)
and hashes it on the way, so the file is checked the moment it is whole.
"""

from __future__ import annotations

import errno
import logging
import os
from typing import TYPE_CHECKING

import trio

from .. import events as ev
from ..errors import EnvironmentFailure, LocalProtocolError, RemoteProtocolError
from ..peer import Peer
from . import codec, disk
from .entry import Entry, Incoming
from .machine import Out, Receiving, Sending, State

log = logging.getLogger(__name__)

#: How much is written between syncs of a .part (what a power loss may cost, re-sent).
SYNC_EVERY = 16 * 2**20
#: The most read from a file for one stream_write.
CHUNK = 256 * 1024
HEADER = codec.STREAM_HEADER.size


class Streams:
    """Streams for FilesApp (a mixin: the entries and `_act` are FilesApp's)."""

    _entries: dict[tuple[str, bool, bytes], Entry]
    #: Per peer: the session its incoming streams belong to, and those streams.
    _incoming: dict[str, tuple[object, dict[int, Incoming]]]

    if TYPE_CHECKING:  # FilesApp's.

        def _act(self, peer: Peer, entry: Entry, out: Out) -> list[ev.NodeEvent]: ...

        def _drop(self, peer: Peer, why: str) -> None: ...

        def _of(self, peer: str) -> list[Entry]: ...

        def _start_sync(self, peer: Peer, entry: Entry, upto: int) -> None: ...

    # --- Sending ------------------------------------------------------------------------

    def _fill(self, peer: Peer, entry: Entry, now: float) -> list[ev.NodeEvent]:
        """Give the stream what it has room for; note what the peer acknowledged."""
        machine = entry.machine
        assert isinstance(machine, Sending) and entry.stream is not None
        session = peer.session
        try:
            machine.acked(entry.start + max(0, session.stream_acked(entry.stream) - HEADER), now)
            if entry.fd is None:
                entry.fd = os.open(entry.path, os.O_RDONLY | os.O_CLOEXEC)
            while entry.written < machine.size and (room := session.stream_room(entry.stream)) > 0:
                want = min(room, CHUNK, machine.size - entry.written)
                data = os.pread(entry.fd, want, entry.written)
                if len(data) != want:
                    raise OSError(0, "the file is shorter than when it was offered")
                entry.written += want
                session.stream_write(entry.stream, data, now, fin=entry.written == machine.size)
        except LocalProtocolError:
            self._lost_stream(entry)  # The session dropped it: the next Accept opens another.
        except OSError as exc:
            return self._act(peer, entry, machine.fail(f"cannot read {entry.path}: {exc.strerror or exc}",
                                                       resumable=False))
        return []

    def _open_stream(self, peer: Peer, entry: Entry, start: int) -> list[ev.NodeEvent]:
        told = self._changed(peer, entry)
        if entry.machine.finished:
            return told
        now = trio.current_time()
        entry.session, entry.stream = peer.session, peer.session.open_stream(now)
        entry.start = entry.written = start
        peer.session.stream_write(entry.stream, codec.stream_header(entry.machine.id, start), now)
        peer.wake()
        return told

    def _changed(self, peer: Peer, entry: Entry) -> list[ev.NodeEvent]:
        """A file changed since it was offered is not sent on (its hash would not match)."""
        try:
            info = os.stat(entry.path)
            changed = (info.st_size, info.st_mtime_ns) != (entry.machine.size, entry.mtime_ns)
        except OSError:
            changed = True
        if not changed or entry.machine.finished:
            return []
        return self._act(peer, entry, entry.machine.fail(f"{entry.path} changed or went since it was offered",
                                                         resumable=False))

    def _lost_stream(self, entry: Entry) -> None:
        if isinstance(entry.machine, Sending):
            entry.machine.stream_lost()
        entry.session = entry.stream = None

    def _stop_stream(self, peer: Peer, entry: Entry) -> None:
        if entry.stream is None:
            return
        if not entry.outgoing:
            self._refuse(peer, entry.stream)
        elif entry.session is peer.session:
            try:
                peer.session.reset_stream(entry.stream, trio.current_time())
            except LocalProtocolError:
                pass  # Gone already.
        self._lost_stream(entry)

    def _stream_reset(self, peer: Peer, stream_id: int) -> None:
        for entry in self._of(peer.name):
            if entry.stream == stream_id and (not entry.outgoing or entry.session is peer.session):
                self._lost_stream(entry)
        self._streams(peer).pop(stream_id, None)

    # --- Receiving ----------------------------------------------------------------------

    def _streams(self, peer: Peer) -> dict[int, Incoming]:
        session, streams = self._incoming.get(peer.name, (None, {}))
        if session is not peer.session:
            streams = {}
            self._incoming[peer.name] = (peer.session, streams)
        return streams

    def _stream_data(self, peer: Peer, stream_id: int, data: bytes) -> list[ev.NodeEvent]:
        incoming = self._streams(peer).setdefault(stream_id, Incoming())
        if incoming.entry is None:
            need = HEADER - len(incoming.header)
            incoming.header += data[:need]
            data = data[need:]
            if len(incoming.header) < HEADER:
                return []
            try:
                incoming.entry = self._bind(peer, stream_id, bytes(incoming.header))
            except RemoteProtocolError as exc:
                self._drop(peer, f"files: {exc}")
                self._refuse(peer, stream_id)
                return []
        entry = incoming.entry
        if entry.stream != stream_id or entry.machine.state != State.RECEIVING or not data:
            return []  # A stream a newer one replaced, or one whose transfer ended: nothing needed.
        return self._write(peer, entry, data)

    def _bind(self, peer: Peer, stream_id: int, header: bytes) -> Entry:
        tid, offset = codec.parse_stream_header_untrusted(header)
        entry = self._entries.get((peer.name, False, tid))
        if entry is None or entry.fd is None:
            raise RemoteProtocolError("a stream for no transfer we receive")
        machine = entry.machine
        assert isinstance(machine, Receiving)
        machine.stream_started(offset)
        if entry.stream is not None and entry.stream != stream_id:
            self._refuse(peer, entry.stream)  # The newest stream carries it now.
        entry.stream = stream_id
        return entry

    def _refuse(self, peer: Peer, stream_id: int) -> None:
        try:
            peer.session.reset_stream(stream_id, trio.current_time())
        except LocalProtocolError:
            pass  # Gone already.
        self._streams(peer).pop(stream_id, None)
        peer.wake()

    def _write(self, peer: Peer, entry: Entry, data: bytes) -> list[ev.NodeEvent]:
        machine = entry.machine
        assert isinstance(machine, Receiving) and entry.fd is not None and entry.digest is not None
        now = trio.current_time()
        try:
            at, out = machine.data(len(data), now)
        except RemoteProtocolError as exc:
            return self._act(peer, entry, machine.broken(str(exc)))
        try:
            disk.write_at(entry.fd, data, at)
        except OSError as exc:
            reason = f"cannot write {entry.part}.part: {exc.strerror or exc}"
            if exc.errno == errno.ENOSPC:
                reason = (
                    f"the disk is full: cannot save {entry.part} in {entry.path}; free some space, then accept again"
                )
            machine.not_written(at)
            return self._act(peer, entry, machine.fail(reason, resumable=True))
        if at <= entry.hashed < at + len(data):
            entry.digest.update(data[entry.hashed - at :])
            entry.hashed = at + len(data)
        if entry.hashed - entry.synced >= SYNC_EVERY:
            entry.synced = entry.hashed
            self._start_sync(peer, entry, entry.hashed)
        told: list[ev.NodeEvent] = []
        if machine.progress_due(now):
            told.append(ev.FileProgress(peer.name, entry.hex, machine.bytes, machine.size, machine.rate, False))
        return told + self._act(peer, entry, out)

    def _verify(self, peer: Peer, entry: Entry) -> list[ev.NodeEvent]:
        """Every byte is on disk: check the hash; the file takes its final name if it matches."""
        machine = entry.machine
        assert isinstance(machine, Receiving) and entry.digest is not None
        matched = entry.hashed == machine.size and entry.digest.digest() == machine.sha256
        final = ""
        if matched:
            try:
                assert entry.fd is not None
                os.fsync(entry.fd)
                final = str(disk.Downloads(entry.path).finish(entry.part))
            except (OSError, EnvironmentFailure) as exc:
                return self._act(peer, entry, machine.fail(f"cannot save {entry.part}: {exc}", resumable=True))
        told = self._act(peer, entry, machine.verified(matched))
        if matched:
            entry.part = os.path.basename(final)
            told.append(ev.FileReceived(peer.name, entry.hex, final, machine.size, machine.sha256.hex()))
        return told
