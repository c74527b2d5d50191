"""The channel's state and how it takes what the peer sent, free of I/O.

Split from channel.py (which passed 400 lines) along one seam, as session.py
is from session_machine.py: this module holds the streams, the packet
numbers received, the flow-control counters, and every reaction to the
peer's frames (stream data, acks, losses, DELIVERED, resets) and to the
owner's commit; `channel.Channel` is the surface the session calls (the
application's streams, packing, timers, paths and restarts).
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass

from . import frames as fr
from .congestion import Pacer
from .ranges import RangeSet
from .records import MAX_MESSAGE_BYTES, RecordReader
from .recovery import MAX_ACK_DELAY, Recovery, SentPacket
from .session_events import (
    MAX_CONTROL_BYTES,
    ControlReceived,
    Event,
    MessageDelivered,
    MessageReceived,
    StreamData,
    StreamReset,
)  # fmt: skip
from .streams import FlowControlError, RecvStream, SendStream

CHAT, CONTROL, FIRST_BULK = 0, 1, 2
#: Receive windows: chat and control hold a few whole records; bulk streams a round trip's worth.
CHAT_WINDOW = 512 * 1024
BULK_STREAM_WINDOW = 1024 * 1024
CONNECTION_WINDOW = 4 * 1024 * 1024
#: The most bulk streams the peer may have open at once (and how far ahead of the
#: lowest id it has not used yet it may number a new one).
MAX_STREAMS = 64
#: How much a bulk stream buffers unacknowledged before stream_room says 0.
SEND_BUFFER = 1024 * 1024


@dataclass(slots=True)
class ChatSent:
    """A chat message sent, until the peer kept it."""

    end: int  # The chat stream offset just past it.
    message_id: bytes
    record: bytes


class ChannelState:
    """Both directions' streams and what the peer's frames do to them. Use `channel.Channel`."""

    def __init__(self, *, initial_rtt: float, max_pto: float, dropped: Counter[str]) -> None:
        self.dropped = dropped
        self.recovery = Recovery(initial_rtt, max_pto)
        self.pacer = Pacer()
        self.events: list[Event] = []
        #: Whether ack-eliciting packets may go (the session is connected).
        self.sending = False
        self._chats: deque[ChatSent] = deque()
        self._fresh()

    def _fresh(self) -> None:
        """Every stream and number anew (a new session, or the peer restarted)."""
        self._next_pn = 0
        self._received = RangeSet()  # Packet numbers that arrived (the newest MAX_ACK_RANGES runs).
        self._ack_needed = False  # Stream data arrived: acknowledge with the next datagrams.
        self._ack_due: float | None = None  # Only other frames: the ack may wait to ride along.
        self._largest_at = 0.0
        self._out: dict[int, SendStream] = {CHAT: SendStream(CHAT_WINDOW), CONTROL: SendStream(CHAT_WINDOW)}
        self._in: dict[int, RecvStream] = {CHAT: RecvStream(CHAT_WINDOW), CONTROL: RecvStream(CHAT_WINDOW)}
        self._next_bulk = FIRST_BULK
        self._turn: deque[int] = deque()  # Bulk streams with something to send, in turn.
        self._peer_max_data = CONNECTION_WINDOW
        self._sent_data = 0  # New bulk bytes sent, against the peer's MAX_DATA.
        self._limit = CONNECTION_WINDOW  # What we let the peer send on bulk streams.
        self._received_data = 0
        self._consumed_data = 0
        self._handed: set[int] = set()  # Bulk streams with bytes handed over since the last commit.
        # Every stream the peer opened: one seen and no longer in _in is closed (late data dropped).
        self._seen_in = RangeSet()
        self._control: dict[tuple[type, int], fr.Frame] = {}  # Flow control and resets to send.
        self._chat_in = RecordReader(True, MAX_MESSAGE_BYTES, self.dropped)
        self._control_in = RecordReader(False, MAX_CONTROL_BYTES, self.dropped)
        self._kept = 0  # The chat offset the owner kept (stored): DELIVERED's.
        self._handed_chat: list[tuple[int, MessageReceived]] = []  # (end, event) since the last commit.
        self._held: list[tuple[int, MessageReceived]] = []
        self.holding = False
        self._control_end = 0


    # --- What the peer sent ------------------------------------------------------------------

    def packet_received(self, pn: int, frames: tuple[fr.Frame, ...], now: float) -> bool:
        """Take one packet's frames; False if it was a duplicate (nothing done)."""
        if pn in self._received or (self._received and pn < next(iter(self._received))[0]):
            self.dropped["duplicate packet"] += 1
            return False
        self._received.add(pn, pn + 1)
        if len(self._received) > fr.MAX_ACK_RANGES:
            self._received.drop_lowest()
        if any(isinstance(f, fr.Stream) for f in frames):
            self._ack_needed = True
            self._largest_at = now
        elif any(not isinstance(f, fr.NOT_ACK_ELICITING) for f in frames):
            # An ack or DELIVERED alone need not be answered at once: the ack rides with
            # the next datagram we send, or goes alone after MAX_ACK_DELAY (RFC 9000, 13.2.1).
            self._largest_at = now
            if self._ack_due is None:
                self._ack_due = now + MAX_ACK_DELAY
        for frame in frames:
            try:
                self._frame_received(frame, now)
            except FlowControlError:
                self.dropped["flow control violated"] += 1
        return True

    def _frame_received(self, frame: fr.Frame, now: float) -> None:
        match frame:
            case fr.Stream(stream_id=sid, offset=offset, data=data, fin=fin):
                self._stream_received(sid, offset, data, fin)
            case fr.Ack(ranges=ranges, delay=delay):
                self._ack_received(ranges, delay / 1e6, now)
            case fr.Delivered(offset=offset):
                self._delivered(offset)
            case fr.MaxData(limit=limit):
                self._peer_max_data = max(self._peer_max_data, limit)
            case fr.MaxStreamData(stream_id=sid, limit=limit):
                if (stream := self._out.get(sid)) is not None:
                    stream.max_data = max(stream.max_data, limit)
            case fr.ResetStream(stream_id=sid, final_size=size):
                self._peer_reset(sid, size)
            case fr.StopSending(stream_id=sid):
                stream = self._out.get(sid)
                if sid >= FIRST_BULK and stream is not None and not stream.reset:
                    stream.reset = True
                    self._control[(fr.ResetStream, sid)] = fr.ResetStream(sid, stream.next_offset)
                    self.events.append(StreamReset(2 * sid))

    def _stream_received(self, sid: int, offset: int, data: bytes, fin: bool) -> None:
        stream = self._in.get(sid)
        if stream is None:
            if sid < FIRST_BULK or sid in self._seen_in:
                self.dropped["data on a closed stream"] += 1
                return
            if not self._may_open(sid):
                self.dropped["too many streams"] += 1
                return
            self._seen_in.add(sid, sid + 1)
            stream = self._in[sid] = RecvStream(BULK_STREAM_WINDOW)
        new = stream.receive(offset, data, fin)
        if sid >= FIRST_BULK:
            self._received_data += new
            if self._received_data > self._limit:
                raise FlowControlError("bulk data past the connection's limit")
        got = stream.read()
        if sid == CHAT:
            self._chat_in.feed(got)
            self._take_chats()
        elif sid == CONTROL:
            self._control_in.feed(got)
            while (record := self._control_in.next()) is not None:
                app, payload = record
                assert isinstance(app, int)
                self.events.append(ControlReceived(app, payload))
            self._control_end = self._control_in.offset
        elif got or stream.finished:
            self.events.append(StreamData(2 * sid + 1, got, stream.finished))
            self._handed.add(sid)
            if stream.finished:
                del self._in[sid]
                self._consume_bulk(sid, stream)

    def _take_chats(self) -> None:
        while (record := self._chat_in.next()) is not None:
            message_id, body = record
            assert isinstance(message_id, bytes)
            entry = (self._chat_in.offset, MessageReceived(message_id, body.decode("utf-8", errors="replace")))
            if self.holding:
                self._held.append(entry)
            else:
                self._handed_chat.append(entry)
                self.events.append(entry[1])

    def _peer_reset(self, sid: int, size: int) -> None:
        stream = self._in.pop(sid, None)
        if stream is None:
            if sid >= FIRST_BULK and sid not in self._seen_in and self._may_open(sid):
                self._seen_in.add(sid, sid + 1)  # Reset before any byte came: nobody knew of it.
            return
        # What it holds will never be read: its credit comes back.
        self._consumed_data += stream.highest - stream.consumed
        self.events.append(StreamReset(2 * sid + 1))

    def _may_open(self, sid: int) -> bool:
        """Whether the peer may open stream sid now: at most MAX_STREAMS open, and ids
        close to the ones it used (so what we remember of closed streams stays small)."""
        ahead = sid < self._seen_in.prefix(FIRST_BULK) + MAX_STREAMS
        return ahead and len(self._in) < 2 + MAX_STREAMS

    def _delivered(self, offset: int) -> None:
        if offset > self._out[CHAT].written:
            self.dropped["ack beyond what was sent"] += 1
            return
        while self._chats and self._chats[0].end <= offset:
            self.events.append(MessageDelivered(self._chats.popleft().message_id))

    def _ack_received(self, ranges: tuple[tuple[int, int], ...], delay: float, now: float) -> None:
        if ranges[0][1] >= self._next_pn:
            self.dropped["ack beyond what was sent"] += 1
            return
        acked, lost = self.recovery.on_ack(ranges, delay, now)
        for packet in acked:
            for frame in packet.frames:
                if isinstance(frame, fr.Stream) and (stream := self._out.get(frame.stream_id)) is not None:
                    stream.on_acked(frame.offset, len(frame.data), frame.fin)
        self._lost(lost)

    def _lost(self, packets: list[SentPacket]) -> None:
        """What lost packets carried goes again (the newest value, for flow control)."""
        for packet in packets:
            for frame in packet.frames:
                match frame:
                    case fr.Stream(stream_id=sid, offset=offset, data=data, fin=fin):
                        if (stream := self._out.get(sid)) is not None and not stream.reset:
                            stream.on_lost(offset, len(data), fin)
                            if sid >= FIRST_BULK and sid not in self._turn:
                                self._turn.append(sid)
                    case fr.ResetStream(stream_id=sid) | fr.StopSending(stream_id=sid):
                        self._control.setdefault((type(frame), sid), frame)
                    case fr.MaxStreamData(stream_id=sid) if sid in self._in:
                        self._control[(fr.MaxStreamData, sid)] = fr.MaxStreamData(sid, self._in[sid].limit)
                    case fr.MaxData():
                        self._control[(fr.MaxData, 0)] = fr.MaxData(self._limit)
                    case fr.Delivered():
                        self._control[(fr.Delivered, 0)] = fr.Delivered(self._kept)

    # --- The owner kept what it was handed ---------------------------------------------------

    def commit(self) -> None:
        """The owner stored every message and wrote every byte handed over so far: say so
        (DELIVERED) and give the credit back."""
        if self._handed_chat:
            self._kept = self._handed_chat[-1][0]
            self._handed_chat.clear()
            self._control[(fr.Delivered, 0)] = fr.Delivered(self._kept)
            self._credit(CHAT, self._in[CHAT], self._kept)
        if self._control_end:
            self._credit(CONTROL, self._in[CONTROL], self._control_end)
        for sid in self._handed:
            if (stream := self._in.get(sid)) is not None:
                self._consume_bulk(sid, stream)
        self._handed.clear()

    def _consume_bulk(self, sid: int, stream: RecvStream) -> None:
        self._consumed_data += stream.delivered - stream.consumed
        if stream.delivered > stream.consumed and sid in self._in:
            self._credit(sid, stream, stream.delivered)
        else:
            stream.consumed = stream.delivered
        if self._consumed_data + CONNECTION_WINDOW - self._limit >= CONNECTION_WINDOW // 2:
            self._limit = self._consumed_data + CONNECTION_WINDOW
            self._control[(fr.MaxData, 0)] = fr.MaxData(self._limit)

    def _credit(self, sid: int, stream: RecvStream, up_to: int) -> None:
        limit = stream.consume(up_to)
        if limit is not None:
            self._control[(fr.MaxStreamData, sid)] = fr.MaxStreamData(sid, limit)

    def take_back(self) -> None:
        """The owner could not store the messages handed since the last commit (a full
        disk): they wait, unacknowledged, until hand_over_again."""
        self._held = self._handed_chat + self._held
        self._handed_chat = []
        self.holding = True

    def hand_over_again(self) -> list[MessageReceived]:
        self.holding = False
        self._handed_chat, self._held = self._held, []
        return [event for _, event in self._handed_chat]
