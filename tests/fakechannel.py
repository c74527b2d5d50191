"""Two FilesApps joined by an in-memory channel with the contract's session surface.

`FakeSession` has what a PeerApp uses of a Session (send_control, open_stream,
stream_room, stream_write, stream_acked, reset_stream, state); `Link.step()`
carries each side's control records and stream bytes to the other as the
session events the real one makes (ControlReceived, StreamData, StreamReset),
then pumps both apps, as the node's pump does. Nothing is lost or reordered
here; a test freezes the streams (`carry_streams = False`) to make a peer
stall, or replaces a session to act out a restart.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import trio

from p2ptui.net import LocalProtocolError
from p2ptui.net import session_events as sess
from p2ptui.net.state import State
from p2ptui.net.transfer.app import FilesApp
from p2ptui.net.transfer.store import TransferStore

#: Bytes a stream may hold unacknowledged: what stream_room offers at most.
WINDOW = 64 * 1024
#: The most carried of one stream per step.
PER_STEP = 32 * 1024


@dataclass
class _Out:
    pending: bytearray = field(default_factory=bytearray)
    written: int = 0
    acked: int = 0
    fin: bool = False
    fin_sent: bool = False
    reset: bool = False


class FakeSession:
    def __init__(self) -> None:
        self.state = State.CONNECTED
        self.control: list[tuple[int, bytes]] = []
        self.streams: dict[int, _Out] = {}
        self.resets_in: list[int] = []
        self._next = 2
        #: Every byte ever given to stream_write, headers included.
        self.stream_bytes = 0

    def send_control(self, app: int, payload: bytes, now: float) -> None:
        if self.state == State.CLOSED:
            raise LocalProtocolError("closed")
        self.control.append((app, payload))

    def open_stream(self, now: float) -> int:
        stream_id, self._next = self._next, self._next + 2
        self.streams[stream_id] = _Out()
        return stream_id

    def _out(self, stream_id: int) -> _Out:
        if stream_id not in self.streams:
            raise LocalProtocolError(f"no stream {stream_id}")
        return self.streams[stream_id]

    def stream_room(self, stream_id: int) -> int:
        out = self._out(stream_id)
        return 0 if out.reset or out.fin else max(0, WINDOW - (out.written - out.acked))

    def stream_write(self, stream_id: int, data: bytes, now: float, *, fin: bool = False) -> None:
        out = self._out(stream_id)
        if out.reset:
            return
        out.pending += data
        out.written += len(data)
        out.fin = fin
        self.stream_bytes += len(data)

    def stream_acked(self, stream_id: int) -> int:
        return self._out(stream_id).acked

    def reset_stream(self, stream_id: int, now: float) -> None:
        if stream_id % 2 == 0:
            self._out(stream_id).reset = True
        else:
            self.resets_in.append(stream_id)


class FakePeer:
    def __init__(self, name: str) -> None:
        self.name = name
        self.session = FakeSession()
        self.wakes = 0

    def wake(self) -> None:
        self.wakes += 1


class Side:
    """One node's files app, the peer it sees, and every event it told."""

    def __init__(self, name: str, peer_name: str, state_dir, downloads, max_file_size: int = 2**40) -> None:
        self.name = name
        self.peer = FakePeer(peer_name)
        self.store = TransferStore(state_dir)
        self.events: list[object] = []
        self.app = FilesApp(self.store, self._emit, lambda name: self.peer, downloads=downloads,
                            max_file_size=max_file_size)
        self.seen = 0

    async def _emit(self, event: object) -> None:
        self.events.append(event)

    def of(self, kind: type) -> list:
        return [e for e in self.events if isinstance(e, kind)]


class Link:
    def __init__(self, a: Side, b: Side) -> None:
        self.a, self.b = a, b
        self.carry_streams = True

    def swap(self, side: Side, new: Side) -> None:
        if side is self.a:
            self.a = new
        else:
            self.b = new

    def _carry(self, source: Side, target: Side) -> None:
        sending, receiving = source.peer.session, target.peer.session
        events: list[sess.Event] = [sess.ControlReceived(app, payload) for app, payload in sending.control]
        sending.control.clear()
        for stream_id, out in sending.streams.items():
            if stream_id + 1 in receiving.resets_in and not out.reset:
                out.reset = True  # The receiver stopped it.
                source.events += source.app.session_event(source.peer, sess.StreamReset(stream_id))
                continue
            if out.reset:
                if out.pending or not out.fin_sent:
                    out.pending.clear()
                    out.fin_sent = True
                    events.append(sess.StreamReset(stream_id + 1))
                continue
            if not self.carry_streams or not (out.pending or out.fin and not out.fin_sent):
                continue
            chunk = bytes(out.pending[:PER_STEP])
            del out.pending[:PER_STEP]
            fin = out.fin and not out.pending
            out.fin_sent = fin
            out.acked += len(chunk)
            events.append(sess.StreamData(stream_id + 1, chunk, fin))
        for event in events:
            target.events += target.app.session_event(target.peer, event)

    def step(self) -> None:
        for side in (self.a, self.b):
            side.events += side.app.pumped(side.peer)
        self._carry(self.a, self.b)
        self._carry(self.b, self.a)

    async def run_until(self, done, steps: int = 10_000) -> None:
        """Step (letting the apps' worker threads finish) until done() or the steps run out."""
        for _ in range(steps):
            if done():
                return
            self.step()
            # Real time for the apps' worker threads (hashing, syncing): on the autojump
            # clock the virtual sleep below passes at once, and on an idle machine the
            # steps could run out before a thread is even scheduled.
            time.sleep(0.0002)
            await trio.sleep(0.001)
        raise AssertionError("the transfer never got there")

    def connected(self) -> None:
        """Both sessions (again) up: Connected on each side."""
        for side in (self.a, self.b):
            side.events += side.app.session_event(side.peer, sess.Connected(("127.0.0.1", 1), 0.001))
