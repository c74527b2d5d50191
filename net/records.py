"""The records carried on the chat stream (0) and the control stream (1), free of I/O.

    chat message   = message_id 8s | length varint | UTF-8 text
    control record = app varint    | length varint | payload

A `RecordReader` cuts an in-order byte stream into records; a record longer
than its limit (a peer's bug) is skipped, counted, never buffered.
"""

from __future__ import annotations

from collections import Counter

from . import wire
from .errors import ConfigError
from .frames import encode_varint

#: The largest message, in UTF-8 bytes, one send carries.
MAX_MESSAGE_BYTES = 64 * 1024


class MessageTooLong(ConfigError):
    """The application asked to send more than the limit (MAX_MESSAGE_BYTES, MAX_CONTROL_BYTES)."""


def encode_message(message_id: bytes, data: bytes) -> bytes:
    assert len(message_id) == wire.MESSAGE_ID_SIZE
    return message_id + encode_varint(len(data)) + data


def encode_control(app: int, payload: bytes) -> bytes:
    return encode_varint(app) + encode_varint(len(payload)) + payload


def _varint_at(data: bytearray, pos: int) -> tuple[int, int] | None:
    """(value, position after it), or None if the buffer ends first."""
    if pos >= len(data):
        return None
    size = 1 << (data[pos] >> 6)
    if pos + size > len(data):
        return None
    return int.from_bytes(data[pos : pos + size], "big") & ((1 << (8 * size - 2)) - 1), pos + size


class RecordReader:
    """Records out of an in-order byte stream. `head_size` 8: a chat message's id;
    0: a control record's app is a varint (read as the head)."""

    def __init__(self, chat: bool, limit: int, dropped: Counter[str]) -> None:
        self.chat, self.limit, self.dropped = chat, limit, dropped
        self.buffer = bytearray()
        self.offset = 0
        """The stream offset of buffer[0]."""
        self._skip = 0  # Bytes of an oversize record still to pass over.

    def feed(self, data: bytes) -> None:
        self.buffer += data

    def next(self) -> tuple[bytes | int, bytes] | None:
        """The next whole record ((message id or app), body), or None until more comes."""
        while True:
            if self._skip:
                n = min(self._skip, len(self.buffer))
                self._consume(n)
                self._skip -= n
                if self._skip:
                    return None
            buf = self.buffer
            if self.chat:
                if len(buf) < wire.MESSAGE_ID_SIZE:
                    return None
                head: bytes | int = bytes(buf[: wire.MESSAGE_ID_SIZE])
                pos = wire.MESSAGE_ID_SIZE
            else:
                got = _varint_at(buf, 0)
                if got is None:
                    return None
                head, pos = got
            got = _varint_at(buf, pos)
            if got is None:
                return None
            length, pos = got
            if length > self.limit:
                self.dropped["oversize message" if self.chat else "oversize control record"] += 1
                self._consume(pos)
                self._skip = length
                continue
            if len(buf) < pos + length:
                return None
            body = bytes(buf[pos : pos + length])
            self._consume(pos + length)
            return head, body

    def _consume(self, n: int) -> None:
        del self.buffer[:n]
        self.offset += n
