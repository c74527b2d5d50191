"""The trio part of file transfer: a `PeerApp` on each peer's session.

`FilesApp` keeps every transfer's machine (machine.py) with what the machine
does not hold (entry.py: the file descriptors, the stream, the running hash).
It hears every session event (`session_event`: control records, stream data
and resets, Connected) and fills the outgoing streams once per pump
(`pumped`; the streams themselves are streams.py's). Hashing a whole file
(before offering it, or a `.part` an earlier run left) runs in a worker
thread (`trio.to_thread`), in the nursery of `run`.

What a peer sends that breaks the rules is dropped and counted (a record), or
stops the transfer with the reason on both sides (its data); the
conversation goes on either way.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path

import trio

from .. import events as ev
from .. import session_events as sess
from ..errors import ConfigError, EnvironmentFailure, LocalProtocolError, RemoteProtocolError
from ..peer import Peer
from ..state import State as SessionState
from . import codec, disk
from .entry import Entry, Incoming
from .jobs import Jobs
from .machine import Out, Receiving, Sending, State
from .store import Saved, TransferStore
from .streams import Streams

log = logging.getLogger(__name__)

#: Offers from one peer waiting for the user's answer; more are declined (a peer cannot flood us).
MAX_WAITING_OFFERS = 32


class FilesApp(Streams, Jobs):
    """Every transfer of the node, driven on its peers' sessions (a PeerApp)."""

    def __init__(
        self,
        store: TransferStore,
        emit: Callable[[ev.NodeEvent], Awaitable[None]],
        open_peer: Callable[[str], Peer],
        *,
        downloads: Path | None,
        max_file_size: int,
    ) -> None:
        self._store = store
        self._emit = emit
        self._open_peer = open_peer
        self.downloads = downloads
        self.max_file_size = max_file_size
        self._entries: dict[tuple[str, bool, bytes], Entry] = {}
        self._incoming: dict[str, tuple[object, dict[int, Incoming]]] = {}
        self._nursery: trio.Nursery | None = None
        #: The peers whose session was connected at their last pump.
        self._connected: set[str] = set()
        #: What the peers sent that broke the files protocol, by reason.
        self.dropped: Counter[str] = Counter()

    # --- The task ----------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Hold the worker jobs; take up what an earlier run left unfinished."""
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                for saved in self._store.unfinished():
                    self._load(saved)
                task_status.started()
                await trio.sleep_forever()
        finally:
            for entry in self._entries.values():
                self._close(entry)

    def _start(self, job: Callable[[Peer, Entry], Awaitable[None]], peer: Peer, entry: Entry) -> None:
        if self._nursery is None:
            raise LocalProtocolError("the files app is not running")
        self._nursery.start_soon(job, peer, entry)

    def _tell_soon(self, events: list[ev.NodeEvent]) -> None:
        """Events outside a pump (the user's call, a start): told from the nursery, in order."""
        if events and self._nursery is not None:
            self._nursery.start_soon(self._tell, events)

    async def _tell(self, events: list[ev.NodeEvent]) -> None:
        for event in events:
            await self._emit(event)

    # --- The application's API (Node's, through node_files.py) -----------------------

    def send_file(self, peer: Peer, path: str | os.PathLike[str]) -> str:
        """Offer path to peer once it is hashed; the transfer's id. Raises ConfigError
        for a path that is not a readable regular file."""
        file = Path(path).expanduser()
        try:
            file = file.resolve(strict=True)
            if not file.is_file():
                raise ConfigError(f"cannot send {path}: not a regular file")
            info = file.stat()
            os.close(os.open(file, os.O_RDONLY | os.O_CLOEXEC))
        except OSError as exc:
            raise ConfigError(f"cannot send {path}: {exc.strerror or exc}") from None
        tid = os.urandom(codec.ID_SIZE)
        name = disk.safe_name(file.name)
        entry = Entry(peer.name, Sending(tid, name, info.st_size, bytes(32)), str(file), info.st_mtime_ns)
        self._entries[(peer.name, True, tid)] = entry
        self._save(entry)
        self._start(self._hash_and_offer, peer, entry)
        return tid.hex()

    def accept(self, peer: Peer, transfer_id: str, directory: str | os.PathLike[str] | None) -> None:
        """Accept an offer (or take up one that failed resumably) into directory."""
        entry = self._entry(peer.name, transfer_id, outgoing=False)
        machine = entry.machine
        assert isinstance(machine, Receiving)
        if not (machine.state == State.OFFERED or machine.state == State.FAILED and machine.resumable):
            raise ConfigError(f"the transfer {transfer_id} is {machine.state.value}: nothing to accept")
        if entry.part:  # Taken up again: what is on disk is hashed first.
            entry.resuming = True
            self._start(self._resume, peer, entry)
            return
        try:
            downloads = disk.Downloads(directory or self.downloads or _default_downloads())
            entry.part, entry.fd = downloads.create_part(machine.name)
        except EnvironmentFailure as exc:
            raise ConfigError(str(exc)) from None
        entry.path, entry.digest, entry.hashed = str(downloads.directory), hashlib.sha256(), 0
        told = self._act(peer, entry, machine.accept(0, trio.current_time()))
        self._save(entry)
        self._tell_soon(told)

    def decline(self, peer: Peer, transfer_id: str) -> None:
        entry = self._entry(peer.name, transfer_id, outgoing=False)
        assert isinstance(entry.machine, Receiving)
        if entry.machine.state != State.OFFERED:
            raise ConfigError(f"the transfer {transfer_id} is {entry.machine.state.value}: nothing to decline")
        self._tell_soon(self._act(peer, entry, entry.machine.decline()))

    def cancel(self, peer: Peer, transfer_id: str) -> None:
        entry = self._find(peer.name, transfer_id)
        if entry is None or entry.machine.finished and not entry.machine.resumable:
            raise ConfigError(f"no transfer {transfer_id} with {peer.name} to cancel")
        self._tell_soon(self._act(peer, entry, entry.machine.cancel()))

    def holds(self, peer: str, transfer_id: str) -> bool:
        """Whether a transfer with peer by that id is not finished (or may be taken up)."""
        return self._find(peer, transfer_id) is not None

    def transfers(self, peer: str) -> list[ev.Transfer]:
        return [self._view(entry) for entry in self._of(peer)]

    def _view(self, entry: Entry) -> ev.Transfer:
        machine = entry.machine
        state = State.RECEIVING if entry.resuming else machine.state
        away = entry.peer not in self._connected
        if away and (state in (State.SENDING, State.RECEIVING) or state == State.OFFERED and entry.outgoing):
            state = State.WAITING  # For the peer to connect (an offer to us still waits for our answer).
        return ev.Transfer(
            entry.peer, entry.hex, machine.name, machine.size, entry.outgoing, state.value,
            machine.bytes, machine.rate, entry.path if entry.outgoing else entry.final_path(), machine.reason,
        )

    def _entry(self, peer: str, transfer_id: str, *, outgoing: bool) -> Entry:
        try:
            entry = self._entries.get((peer, outgoing, bytes.fromhex(transfer_id)))
        except ValueError:
            entry = None
        if entry is None:
            raise ConfigError(f"no transfer {transfer_id} with {peer}")
        return entry

    def _find(self, peer: str, transfer_id: str) -> Entry | None:
        for outgoing in (True, False):
            try:
                return self._entry(peer, transfer_id, outgoing=outgoing)
            except ConfigError:
                pass
        return None

    def _of(self, peer: str) -> list[Entry]:
        return [entry for entry in self._entries.values() if entry.peer == peer]

    # --- PeerApp ------------------------------------------------------------------------

    def session_event(self, peer: Peer, event: sess.Event) -> list[ev.NodeEvent]:
        """Every session event, in order, after the pump kept what it brings."""
        match event:
            case sess.Connected():
                told: list[ev.NodeEvent] = []
                for entry in self._of(peer.name):
                    if entry.outgoing and entry.session is not peer.session:
                        self._lost_stream(entry)
                    told += self._act(peer, entry, entry.machine.connected())
                return told
            case sess.ControlReceived(app=app, payload=payload) if app == sess.APP_FILES:
                try:
                    return self._record(peer, codec.decode_untrusted(payload))
                except RemoteProtocolError as exc:
                    self._drop(peer, f"files: {exc}")
            case sess.StreamData(stream_id=stream_id, data=data):
                return self._stream_data(peer, stream_id, data)
            case sess.StreamReset(stream_id=stream_id):
                self._stream_reset(peer, stream_id)
        return []

    def pumped(self, peer: Peer) -> list[ev.NodeEvent]:
        """Before the pump sends: fill the streams as far as their room allows; progress; stalls."""
        told: list[ev.NodeEvent] = []
        now = trio.current_time()
        connected = peer.session.state == SessionState.CONNECTED
        if connected:
            self._connected.add(peer.name)
        else:
            self._connected.discard(peer.name)
        for entry in self._of(peer.name):
            machine = entry.machine
            if isinstance(machine, Sending) and entry.stream is not None:
                if entry.session is not peer.session:
                    self._lost_stream(entry)
                else:
                    told += self._fill(peer, entry, now)
            if machine.moving and machine.progress_due(now):
                told.append(ev.FileProgress(peer.name, entry.hex, machine.bytes, machine.size, machine.rate,
                                            entry.outgoing))
            out = machine.tick(now, connected)
            if out.stalled:
                way = "to" if entry.outgoing else "from"
                told.append(ev.Error(f"{machine.name} ({way} {peer.name}): {machine.reason}", peer.name))
            told += self._act(peer, entry, out)
        return told

    def _drop(self, peer: Peer, why: str) -> None:
        log.info("%s: dropped: %s", peer.name, why)
        self.dropped["bad files record or stream"] += 1

    def _record(self, peer: Peer, record: codec.Record) -> list[ev.NodeEvent]:
        if isinstance(record, codec.Offer):
            entry = self._entries.get((peer.name, False, record.id))
            if entry is None:
                return self._offered(peer, record)
            assert isinstance(entry.machine, Receiving)
            return self._act(peer, entry, entry.machine.received(record))
        # Cancel and Stop go either way; the rest come from a receiver, to our sending side.
        outgoing = not isinstance(record, codec.Cancel | codec.Stop) or (peer.name, True, record.id) in self._entries
        entry = self._entries.get((peer.name, outgoing, record.id))
        if entry is None:
            self._answer_finished(peer, record)
            return []
        machine = entry.machine
        out = machine.received(record, trio.current_time()) if isinstance(machine, Sending) else machine.received(
            record
        )
        return self._act(peer, entry, out)

    def _offered(self, peer: Peer, offer: codec.Offer) -> list[ev.NodeEvent]:
        kept = self._store.get(peer.name, offer.id.hex(), False)
        if kept is not None:  # Finished (it missed our answer): the same answer again.
            answers: dict[str, codec.Record] = {"done": codec.Done(offer.id, True),
                                                "failed": codec.Done(offer.id, False),
                                                "declined": codec.Decline(offer.id, kept.reason)}
            self._send(peer, [answers.get(kept.state, codec.Cancel(offer.id, ""))])
            return []
        name = disk.safe_name(offer.name)
        receiving = Receiving(offer.id, name, offer.size, offer.sha256)
        entry = Entry(peer.name, receiving, "")
        waiting = sum(e.machine.state == State.OFFERED for e in self._of(peer.name) if not e.outgoing)
        reason = ""
        if offer.size > self.max_file_size:
            reason = f"too large: {offer.size:,} bytes, over the limit of {self.max_file_size:,} (max_file_size)"
        elif waiting >= MAX_WAITING_OFFERS:
            reason = f"too many offers waiting for an answer ({MAX_WAITING_OFFERS})"
        if reason:
            self._send(peer, receiving.decline(reason).records)
            self._save(entry)
            if waiting >= MAX_WAITING_OFFERS:
                self.dropped["file offer over the limit of those waiting"] += 1  # Counted, not told: a flood.
                return []
            return [ev.FileFailed(peer.name, entry.hex, f"{name} declined: {reason}", False)]
        self._entries[(peer.name, False, offer.id)] = entry
        self._save(entry)
        return [ev.FileOffered(peer.name, entry.hex, name, offer.size)]

    def _answer_finished(self, peer: Peer, record: codec.Record) -> None:
        """A record for a transfer we no longer hold: an Accept for one we ended is told so."""
        kept = self._store.get(peer.name, record.id.hex(), True)
        if kept is None:
            self._drop(peer, "files: a record for no transfer")
        elif isinstance(record, codec.Accept) and kept.state in ("cancelled", "failed"):
            self._send(peer, [codec.Cancel(record.id, kept.reason)])

    # --- What the machines ask for ------------------------------------------------------

    def _act(self, peer: Peer, entry: Entry, out: Out) -> list[ev.NodeEvent]:
        """Do what out asks; the events that follow (a transfer that ended, mostly)."""
        self._send(peer, out.records)
        told: list[ev.NodeEvent] = []
        if out.stop_stream:
            self._stop_stream(peer, entry)
        if out.start is not None:
            told += self._open_stream(peer, entry, out.start)
        if out.verify:
            told += self._verify(peer, entry)
        if not entry.machine.finished:
            entry.told = None
        elif entry.told != (entry.machine.state, entry.machine.reason):
            entry.told = (entry.machine.state, entry.machine.reason)
            told += self._ended(entry)
        return told

    def _ended(self, entry: Entry) -> list[ev.NodeEvent]:
        """The transfer is over, or failed resumably: what is kept, and the event."""
        machine = entry.machine
        self._close(entry)
        if machine.state == State.FAILED and machine.resumable:
            self._save(entry)  # Kept, to be taken up again.
            return [ev.FileFailed(entry.peer, entry.hex, machine.reason, entry.outgoing)]
        self._entries.pop((entry.peer, entry.outgoing, machine.id), None)
        if not entry.outgoing and entry.part and machine.state != State.DONE:
            try:  # Cancelled or damaged: no partial file stays behind.
                disk.Downloads(entry.path).remove_part(entry.part)
            except EnvironmentFailure as exc:
                log.warning("%s", exc)
        self._save(entry)
        if machine.state == State.DONE:
            told: list[ev.NodeEvent] = []
            if machine.progress_due(trio.current_time()):  # The 100% the peer's Done overtook.
                told.append(ev.FileProgress(entry.peer, entry.hex, machine.size, machine.size, machine.rate,
                                            entry.outgoing))
            return told + [ev.FileSent(entry.peer, entry.hex)] if entry.outgoing else told
        return [ev.FileFailed(entry.peer, entry.hex, machine.reason, entry.outgoing)]

    def _close(self, entry: Entry) -> None:
        if entry.fd is not None:
            os.close(entry.fd)
            entry.fd = None

    def _send(self, peer: Peer, records: list[codec.Record]) -> None:
        if not records:
            return
        now = trio.current_time()
        for record in records:
            try:
                peer.session.send_control(sess.APP_FILES, codec.encode(record), now)
            except LocalProtocolError as exc:  # A closed session: re-announced at the next Connected.
                log.debug("%s: not sent: %s", peer.name, exc)
        peer.wake()

    def _save(self, entry: Entry) -> None:
        machine = entry.machine
        state = machine.state.value
        if machine.state == State.FAILED and machine.resumable:
            state = State.SENDING.value if entry.outgoing else State.RECEIVING.value
        path = entry.path if entry.outgoing else entry.final_path()
        saved = Saved(entry.peer, entry.hex, entry.outgoing, machine.name, machine.size, machine.sha256.hex(),
                      path, state, machine.reason, entry.mtime_ns, entry.durable)
        try:
            self._store.save(saved)
        except EnvironmentFailure as exc:
            log.warning("%s", exc)  # Not kept: after a restart, this transfer is not taken up.


def _default_downloads() -> Path:
    import platformdirs

    return Path(platformdirs.user_downloads_dir())
