"""The secure channel's contents, QUIC-shaped and free of I/O: streams, packing,
acknowledgements, loss recovery, congestion control and pacing.

A `Channel` owns both directions of one session's streams: stream 0 carries
chat messages, stream 1 control records, and the rest are bulk byte streams
the application opens. `packets()` packs what is due into packets of at most
`wire.MAX_INNER` bytes: an ACK, flow-control and reset frames, then chat and
control (first, so a message never waits behind a file), then the bulk
streams in turn; as many as the congestion window and the pacer allow.
`Recovery` (recovery.py) says which packets arrived or were lost; what a lost
packet carried goes again in new packets.

A chat message counts as delivered only when the peer says its application
KEPT it (DELIVERED, sent once the peer stored it), not when its packet
arrived: `commit()` is the owner saying "I stored what you handed me".

Stream ids: the API names our bulk streams 2w and the peer's 2w+1, where w is
the stream's number on the wire (frames.py: the frame type says whose it is).
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass

from . import frames as fr
from . import wire
from .congestion import MAX_DATAGRAM_SIZE, Pacer
from .errors import LocalProtocolError
from .ranges import RangeSet
from .records import MAX_MESSAGE_BYTES, MessageTooLong, RecordReader, encode_control, encode_message
from .recovery import Recovery, SentPacket
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
#: How much a bulk stream buffers unacknowledged before stream_room says 0.
SEND_BUFFER = 1024 * 1024
#: The packet number's bytes reserved in every packet (a varint up to 2**30).
_PN_ROOM = 4


@dataclass(slots=True)
class _Chat:
    """A chat message sent, until the peer kept it."""

    end: int  # The chat stream offset just past it.
    message_id: bytes
    record: bytes


class Channel:
    def __init__(self, *, initial_rtt: float, max_pto: float, dropped: Counter[str]) -> None:
        self.dropped = dropped
        self.recovery = Recovery(initial_rtt, max_pto)
        self.pacer = Pacer()
        self.events: list[Event] = []
        #: Whether ack-eliciting packets may go (the session is connected).
        self.sending = False
        self._chats: deque[_Chat] = deque()
        self._fresh()

    def _fresh(self) -> None:
        """Every stream and number anew (a new session, or the peer restarted)."""
        self._next_pn = 0
        self._received = RangeSet()  # Packet numbers that arrived (the newest MAX_ACK_RANGES runs).
        self._ack_needed = False
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
        self._gone_in: set[int] = set()  # The peer's bulk streams we reset or saw reset: late data is dropped.
        self._control: dict[tuple[type, int], fr.Frame] = {}  # Flow control and resets to send.
        self._chat_in = RecordReader(True, MAX_MESSAGE_BYTES, self.dropped)
        self._control_in = RecordReader(False, MAX_CONTROL_BYTES, self.dropped)
        self._kept = 0  # The chat offset the owner kept (stored): DELIVERED's.
        self._handed_chat: list[tuple[int, MessageReceived]] = []  # (end, event) since the last commit.
        self._held: list[tuple[int, MessageReceived]] = []
        self.holding = False
        self._control_end = 0

    # --- The application's side ----------------------------------------------------------

    @property
    def unacknowledged(self) -> int:
        """Chat messages the peer has not kept yet."""
        return len(self._chats)

    def send_message(self, message_id: bytes, data: bytes) -> None:
        if len(data) > MAX_MESSAGE_BYTES:
            raise MessageTooLong(f"message is {len(data)} bytes; the limit is {MAX_MESSAGE_BYTES}")
        record = encode_message(message_id, data)
        chat = self._out[CHAT]
        chat.write(record)
        self._chats.append(_Chat(chat.written, message_id, record))

    def send_control(self, app: int, payload: bytes) -> None:
        if len(payload) > MAX_CONTROL_BYTES:
            raise MessageTooLong(f"control record is {len(payload)} bytes; the limit is {MAX_CONTROL_BYTES}")
        self._out[CONTROL].write(encode_control(app, payload))

    def open_stream(self) -> int:
        wire_id, self._next_bulk = self._next_bulk, self._next_bulk + 1
        self._out[wire_id] = SendStream(BULK_STREAM_WINDOW)
        return 2 * wire_id

    def stream_room(self, stream_id: int) -> int:
        stream = self._outgoing(stream_id)
        if stream.reset or stream.fin:
            return 0
        room = min(stream.max_data - stream.written, SEND_BUFFER - stream.unacknowledged)
        return max(min(room, self._peer_max_data - self._sent_data + stream.next_offset - stream.written), 0)

    def stream_write(self, stream_id: int, data: bytes, *, fin: bool = False) -> None:
        stream = self._outgoing(stream_id)
        if stream.reset:
            return  # The peer stopped it meanwhile: StreamReset tells the owner.
        if stream.fin:
            raise LocalProtocolError(f"stream {stream_id} already ended")
        stream.write(data, fin)
        wire_id = stream_id // 2
        if wire_id not in self._turn:
            self._turn.append(wire_id)

    def stream_acked(self, stream_id: int) -> int:
        return self._outgoing(stream_id).acked

    def reset_stream(self, stream_id: int) -> None:
        wire_id = stream_id // 2
        if stream_id % 2 == 0:
            stream = self._outgoing(stream_id)
            if not stream.reset:
                stream.reset = True
                self._control[(fr.ResetStream, wire_id)] = fr.ResetStream(wire_id, stream.next_offset)
        elif wire_id >= FIRST_BULK and wire_id in self._in:
            del self._in[wire_id]
            self._gone_in.add(wire_id)
            self._control[(fr.StopSending, wire_id)] = fr.StopSending(wire_id)

    def _outgoing(self, stream_id: int) -> SendStream:
        stream = self._out.get(stream_id // 2) if stream_id % 2 == 0 and stream_id >= 2 * FIRST_BULK else None
        if stream is None:
            raise LocalProtocolError(f"no outgoing stream {stream_id}")
        return stream

    # --- What the peer sent ------------------------------------------------------------------

    def packet_received(self, pn: int, frames: tuple[fr.Frame, ...], now: float) -> bool:
        """Take one packet's frames; False if it was a duplicate (nothing done)."""
        if pn in self._received or (self._received and pn < next(iter(self._received))[0]):
            self.dropped["duplicate packet"] += 1
            return False
        self._received.add(pn, pn + 1)
        if len(self._received) > fr.MAX_ACK_RANGES:
            self._received.drop_lowest()
        if any(not isinstance(f, fr.NOT_ACK_ELICITING) for f in frames):
            self._ack_needed = True
            self._largest_at = now
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
            if sid < FIRST_BULK or sid in self._gone_in:
                self.dropped["data on a closed stream"] += 1
                return
            if len(self._in) >= 2 + 64:
                self.dropped["too many streams"] += 1
                return
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
                self._gone_in.add(sid)
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
        if sid < FIRST_BULK or sid in self._gone_in:
            return
        stream = self._in.pop(sid, None)
        self._gone_in.add(sid)
        if stream is not None:  # What it holds will never be read: its credit comes back.
            self._consumed_data += stream.highest - stream.consumed
        self.events.append(StreamReset(2 * sid + 1))

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

    # --- Sending ---------------------------------------------------------------------------

    def packets(self, now: float, *, probe: int = 0) -> list[tuple[int, tuple[fr.Frame, ...]]]:
        """The packets to send now, each (packet number, frames). probe: that many
        ack-eliciting packets go even past the congestion window (a PTO fired)."""
        out: list[tuple[int, tuple[fr.Frame, ...]]] = []
        cc = self.recovery.cc
        self.pacer.update(cc.cwnd, self.recovery.rtt.smoothed if self.recovery.rtt.has_sample else None, now)
        while True:
            room = wire.MAX_INNER - _PN_ROOM
            frames: list[fr.Frame] = []
            if self._ack_needed and self._received:
                ack = fr.Ack(self._received.highest_first(fr.MAX_ACK_RANGES), int((now - self._largest_at) * 1e6))
                frames.append(ack)
                room -= fr.ack_size(ack.ranges)
                self._ack_needed = False
            if self.sending:
                room = self._take_control(frames, room)
                may_send = probe > 0 or (cc.bytes_in_flight < cc.cwnd and self.pacer.allows(MAX_DATAGRAM_SIZE, now))
                if may_send:
                    room = self._take_streams(frames, room)
                if probe > 0 and not any(not isinstance(f, fr.NOT_ACK_ELICITING) for f in frames):
                    frames.append(fr.Ping())
                    room -= 1
            if not frames:
                return out
            probe -= 1
            out.append(self._sent(frames, wire.MAX_DATAGRAM - room, now))

    def next_pn(self) -> int:
        """A number for a packet sent outside packets() (a probe, a goodbye)."""
        pn, self._next_pn = self._next_pn, self._next_pn + 1
        return pn

    def _sent(self, frames: list[fr.Frame], size: int, now: float) -> tuple[int, tuple[fr.Frame, ...]]:
        pn = self.next_pn()
        eliciting: list[fr.Frame] = [f for f in frames if not isinstance(f, fr.NOT_ACK_ELICITING)]
        if eliciting:
            self.recovery.on_sent(SentPacket(pn, now, size, True, eliciting))
            self.pacer.on_sent(size)
        return pn, tuple(frames)

    def _take_control(self, frames: list[fr.Frame], room: int) -> int:
        for key, frame in list(self._control.items()):
            size = len(fr.encode_frame(frame))
            if size > room:
                break
            frames.append(frame)
            room -= size
            del self._control[key]
        return room

    def _take_streams(self, frames: list[fr.Frame], room: int) -> int:
        """Chat, then control, then the bulk streams in turn, as far as room goes."""
        for sid in (CHAT, CONTROL):
            room = self._take_stream(sid, self._out[sid], frames, room, credit=1 << 62)
        turns = len(self._turn)
        while turns and room > 16:
            turns -= 1
            sid = self._turn[0]
            stream = self._out.get(sid)
            if stream is None or not stream.has_data():
                self._turn.popleft()
                if stream is not None and stream.blocked() and stream.blocked_at != stream.max_data:
                    stream.blocked_at = stream.max_data
                    self._control[(fr.StreamDataBlocked, sid)] = fr.StreamDataBlocked(sid, stream.max_data)
                continue
            room = self._take_stream(sid, stream, frames, room, credit=self._peer_max_data - self._sent_data)
            self._turn.rotate(-1)
        return room

    def _take_stream(self, sid: int, stream: SendStream, frames: list[fr.Frame], room: int, *, credit: int) -> int:
        while stream.has_data():
            space = room - fr.stream_overhead(sid, stream.next_offset, room) - 1
            chunk = stream.take(space, max(credit, 0))
            if chunk is None:
                break
            offset, data, fin, new = chunk
            if sid >= FIRST_BULK:
                self._sent_data += new
                credit -= new
            frame = fr.Stream(sid, offset, data, fin)
            frames.append(frame)
            room -= fr.stream_overhead(sid, offset, len(data)) + len(data)
            if room <= 16:
                break
        return room

    # --- Time, paths and restarts ------------------------------------------------------------

    def next_timeout(self) -> float | None:
        if not self.sending:
            return None
        times = [self.recovery.next_timeout()]
        cc = self.recovery.cc
        if self._has_data() and cc.bytes_in_flight < cc.cwnd:
            times.append(self.pacer.next_send_time(MAX_DATAGRAM_SIZE))
        return min((t for t in times if t is not None), default=None)

    def handle_timeout(self, now: float) -> int:
        """Run the loss timer; returns how many probe packets to send (a PTO fired)."""
        if not self.sending:
            return 0
        lost, pto = self.recovery.on_timeout(now)
        self._lost(lost)
        if not pto:
            return 0
        # RFC 9002, 6.2.4: the probes carry the oldest data not acknowledged, if any.
        self._lost(self.recovery.oldest_unacked(2))
        return 2

    def _has_data(self) -> bool:
        """Whether something could go now but for the congestion window and the pacer."""
        credit = self._peer_max_data > self._sent_data
        return any(
            s.has_data() and (sid < FIRST_BULK or credit or s.has_lost()) for sid, s in self._out.items()
        )

    def path_changed(self) -> None:
        """A new path: what was in flight goes again on it, and the congestion
        controller starts over (RFC 9000, 9.4)."""
        self._lost(self.recovery.discard_all())
        self.recovery.cc.reset()
        self.pacer = Pacer()

    def restart(self) -> None:
        """The peer restarted with no memory of us: every stream but the chat is gone
        (StreamReset for each bulk one); every message not kept goes again, in order."""
        self.end_streams()
        self.recovery.discard_all()
        chats = list(self._chats)
        self._chats.clear()
        self._fresh()
        for chat in chats:
            self._out[CHAT].write(chat.record)
            self._chats.append(_Chat(self._out[CHAT].written, chat.message_id, chat.record))

    def end_streams(self) -> None:
        """The session is over for the bulk streams: StreamReset for each still open."""
        for sid, stream in self._out.items():
            if sid >= FIRST_BULK and not stream.reset and not stream.done:
                stream.reset = True
                self.events.append(StreamReset(2 * sid))
        for sid in list(self._in):
            if sid >= FIRST_BULK:
                del self._in[sid]
                self._gone_in.add(sid)
                self.events.append(StreamReset(2 * sid + 1))
