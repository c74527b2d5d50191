"""One direction of one stream: the bytes, offsets, acknowledgements and flow
control of a reliable ordered byte stream (RFC 9000, 2-4), free of I/O.

`SendStream` holds what the application wrote until the peer acknowledges
it, hands out chunks to pack into packets (what was lost first, then new
bytes as far as the peer's limit allows), and takes back what a lost packet
carried. `RecvStream` takes chunks in any order, duplicates and overlaps
included, and gives the bytes back once each, in order; it says when the
peer's limit should grow (the credit is returned only once the owner
consumed what it was given).
"""

from __future__ import annotations

from .errors import RemoteProtocolError
from .ranges import RangeSet


class FlowControlError(RemoteProtocolError):
    """The peer sent past the limit we gave it, or changed a stream's final size."""


class SendStream:
    def __init__(self, max_data: int) -> None:
        self.max_data = max_data
        """The peer's limit: the offset we may send up to (MAX_STREAM_DATA)."""
        self._buffer = bytearray()
        self._base = 0  # The offset of _buffer[0]: everything below is acknowledged.
        self.written = 0
        self.next_offset = 0
        """The first byte never sent."""
        self._lost = RangeSet()  # Sent, then lost: to send again first.
        self._acked = RangeSet()
        self.fin = False  # The application wrote its last byte.
        self.fin_sent = False
        self.fin_acked = False
        self.reset = False
        self.blocked_at: int | None = None
        """The limit at which we last said we are blocked (STREAM_DATA_BLOCKED), once per limit."""

    @property
    def acked(self) -> int:
        """How far the peer has acknowledged every byte."""
        return self._base

    @property
    def unacknowledged(self) -> int:
        return self.written - self._base

    @property
    def done(self) -> bool:
        return self.reset or (self.fin and self.fin_acked and self._base == self.written)

    def write(self, data: bytes, fin: bool = False) -> None:
        self._buffer += data
        self.written += len(data)
        self.fin = self.fin or fin

    def has_data(self) -> bool:
        """Whether there is something to send now (flow control aside: see blocked)."""
        if self.reset:
            return False
        if self._lost:
            return True
        if self.next_offset < min(self.written, self.max_data):
            return True
        return self.fin and not self.fin_sent and self.next_offset == self.written

    def has_lost(self) -> bool:
        return bool(self._lost) and not self.reset

    def blocked(self) -> bool:
        """Whether new bytes wait only for the peer's limit."""
        return not self.reset and not self._lost and self.next_offset == self.max_data < self.written

    def take(self, size: int, credit: int) -> tuple[int, bytes, bool, int] | None:
        """(offset, data, fin, new bytes) of the next chunk of at most size bytes, new
        bytes at most credit (the connection's limit); None if nothing may go now."""
        if self.reset or size <= 0:
            return None
        for start, end in self._lost:
            end = min(end, start + size)
            self._lost.remove(start, end)
            fin = self.fin and end == self.written and not self.fin_sent
            self.fin_sent = self.fin_sent or fin
            return start, self._slice(start, end), fin, 0
        end = min(self.written, self.max_data, self.next_offset + size, self.next_offset + credit)
        start = self.next_offset
        fin = self.fin and end == self.written
        if end == start and not (fin and not self.fin_sent):
            return None
        self.next_offset = end
        self.fin_sent = self.fin_sent or fin
        return start, self._slice(start, end), fin, end - start

    def on_acked(self, offset: int, length: int, fin: bool) -> None:
        self._acked.add(offset, offset + length)
        self._lost.remove(offset, offset + length)  # Arrived after all: not again.
        self.fin_acked = self.fin_acked or fin
        base = self._acked.prefix(self._base) if self._acked else self._base
        if base > self._base:
            del self._buffer[: base - self._base]
            self._base = base
            self._acked.trim_below(base)

    def on_lost(self, offset: int, length: int, fin: bool) -> None:
        if self.reset:
            return
        for start, end in self._acked.gaps(max(offset, self._base), offset + length):
            self._lost.add(start, end)
        if fin and not self.fin_acked:
            self.fin_sent = False  # Goes again, with the last lost bytes or alone.

    def _slice(self, start: int, end: int) -> bytes:
        return bytes(self._buffer[start - self._base : end - self._base])


class RecvStream:
    def __init__(self, window: int) -> None:
        self.window = window
        self.limit = window
        """What we let the peer send up to (the last MAX_STREAM_DATA)."""
        self.delivered = 0
        """Every byte below has been handed to the owner."""
        self.consumed = 0
        """Every byte below the owner has used: the credit we return is counted from here."""
        self.final_size: int | None = None
        self._received = RangeSet()
        self._pieces: dict[int, bytes] = {}

    @property
    def finished(self) -> bool:
        return self.final_size is not None and self.delivered == self.final_size

    def receive(self, offset: int, data: bytes, fin: bool) -> int:
        """Take a chunk; returns the new bytes (flow control counts them). Raises
        FlowControlError past our limit or against the final size."""
        end = offset + len(data)
        if end > self.limit:
            raise FlowControlError(f"stream data up to {end} is past our limit {self.limit}")
        if self.final_size is not None and (end > self.final_size or (fin and end != self.final_size)):
            raise FlowControlError("stream data past its final size")
        if fin:
            if end < self._received_end():
                raise FlowControlError("a final size below data already received")
            self.final_size = end
        before = self._received_end()
        for start, stop in self._received.gaps(max(offset, self.delivered), end):
            self._pieces[start] = data[start - offset : stop - offset]
            self._received.add(start, stop)
        return max(self._received_end() - before, 0)

    def read(self) -> bytes:
        """The bytes now in order, each once."""
        out = []
        while (piece := self._pieces.pop(self.delivered, None)) is not None:
            out.append(piece)
            self.delivered += len(piece)
        self._received.trim_below(self.delivered)
        return b"".join(out)

    def consume(self, up_to: int) -> int | None:
        """The owner used everything below up_to: the new limit to tell the peer, when
        it has grown by half a window (fewer updates), else None."""
        self.consumed = max(self.consumed, up_to)
        if self.final_size is not None:
            return None
        if self.consumed + self.window - self.limit >= self.window // 2:
            self.limit = self.consumed + self.window
            return self.limit
        return None

    @property
    def highest(self) -> int:
        """The end of the furthest byte received."""
        return self._received_end()

    def _received_end(self) -> int:
        ranges = list(self._received)
        return max(ranges[-1][1], self.delivered) if ranges else self.delivered
