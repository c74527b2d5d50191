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

from dataclasses import dataclass

from . import frames as fr
from . import wire
from .channel_state import (
    BULK_STREAM_WINDOW,
    CHAT,
    CHAT_WINDOW,
    CONNECTION_WINDOW,
    CONTROL,
    FIRST_BULK,
    MAX_STREAMS,
    SEND_BUFFER,
    ChannelState,
    ChatSent,
)  # fmt: skip
from .congestion import MAX_DATAGRAM_SIZE, Pacer
from .errors import LocalProtocolError
from .records import MAX_MESSAGE_BYTES, MessageTooLong, encode_control, encode_message
from .recovery import Recovery, SentPacket
from .session_events import MAX_CONTROL_BYTES, StreamReset
from .streams import SendStream

__all__ = [
    "BULK_STREAM_WINDOW", "CHAT", "CHAT_WINDOW", "CONNECTION_WINDOW", "CONTROL", "FIRST_BULK", "MAX_STREAMS",
    "SEND_BUFFER", "Channel", "Congestion",
]  # fmt: skip

#: The packet number's bytes reserved in every packet (a varint up to 2**30).
_PN_ROOM = 4


@dataclass(frozen=True, slots=True)
class Congestion:
    """The congestion controller and round-trip estimate as they stand (for Details and tests)."""

    cwnd: int
    ssthresh: float
    bytes_in_flight: int
    smoothed_rtt: float
    min_rtt: float | None
    pacing_rate: float
    """Bytes a second; inf until a round trip is measured."""


class Channel(ChannelState):
    """One session's channel: what the application, the session's timers and its paths call."""

    # --- The application's side ----------------------------------------------------------

    @property
    def unacknowledged(self) -> int:
        """Chat messages the peer has not kept yet."""
        return len(self._chats)

    @property
    def congestion(self) -> Congestion:
        cc, rtt = self.recovery.cc, self.recovery.rtt
        return Congestion(cc.cwnd, cc.ssthresh, cc.bytes_in_flight, rtt.smoothed, rtt.min_rtt, self.pacer.rate)

    def send_message(self, message_id: bytes, data: bytes) -> None:
        if len(data) > MAX_MESSAGE_BYTES:
            raise MessageTooLong(f"message is {len(data)} bytes; the limit is {MAX_MESSAGE_BYTES}")
        record = encode_message(message_id, data)
        chat = self._out[CHAT]
        chat.write(record)
        self._chats.append(ChatSent(chat.written, message_id, record))

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
            self._control[(fr.StopSending, wire_id)] = fr.StopSending(wire_id)

    def _outgoing(self, stream_id: int) -> SendStream:
        stream = self._out.get(stream_id // 2) if stream_id % 2 == 0 and stream_id >= 2 * FIRST_BULK else None
        if stream is None:
            raise LocalProtocolError(f"no outgoing stream {stream_id}")
        return stream

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
            ack = None
            if (self._ack_needed or self._ack_due is not None) and self._received:
                ack = fr.Ack(self._received.highest_first(fr.MAX_ACK_RANGES), int((now - self._largest_at) * 1e6))
                room -= fr.ack_size(ack.ranges)
            if self.sending:
                room = self._take_control(frames, room)
                may_send = probe > 0 or (cc.bytes_in_flight < cc.cwnd and self.pacer.allows(MAX_DATAGRAM_SIZE, now))
                if may_send:
                    room = self._take_streams(frames, room)
                if probe > 0 and not any(not isinstance(f, fr.NOT_ACK_ELICITING) for f in frames):
                    frames.append(fr.Ping())
                    room -= 1
            due = self._ack_needed or (self._ack_due is not None and now >= self._ack_due)
            if ack is not None and (frames or due):
                frames.insert(0, ack)
                self._ack_needed, self._ack_due = False, None
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
            return None  # A delayed ack waits for the path (datagrams_to_send takes it then).
        times = [self.recovery.next_timeout(), self._ack_due]
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
        # Its packet numbers start again at 0: loss detection and congestion control start
        # over too, or every new packet sits below the old largest acknowledged and is
        # declared lost at the next ack (sent twice, the window halved again and again).
        self.recovery = Recovery(self.recovery.rtt.initial, self.recovery.max_pto)
        self.pacer = Pacer()
        chats = list(self._chats)
        self._chats.clear()
        self._fresh()
        for chat in chats:
            self._out[CHAT].write(chat.record)
            self._chats.append(ChatSent(self._out[CHAT].written, chat.message_id, chat.record))

    def end_streams(self) -> None:
        """The session is over for the bulk streams: StreamReset for each still open."""
        for sid, stream in self._out.items():
            if sid >= FIRST_BULK and not stream.reset and not stream.done:
                stream.reset = True
                self.events.append(StreamReset(2 * sid))
        for sid in list(self._in):
            if sid >= FIRST_BULK:
                del self._in[sid]
                self.events.append(StreamReset(2 * sid + 1))
