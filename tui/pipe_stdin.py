"""`pipe`'s standard input as bursts of lines: what arrived together goes together.

Lines that arrive at once (a script writing many, or a paste) are handed over
as one list, so the pipe stores them with `Node.send_many`: one SQLite
transaction for the burst, not one commit a line. The read blocks in a thread
that cancellation may abandon: an error or a timeout must end the pipe even
while stdin stays open and silent.
"""

from __future__ import annotations

import codecs
import os
import sys

import trio

#: The most bytes one read takes: a burst is at most this much text.
READ_SIZE = 1 << 16


class LineSplitter:
    """Bytes in, whole lines out (without their line ending); a line cut between two
    reads waits for its end. Invalid UTF-8 becomes U+FFFD, never an exception."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""

    def feed(self, data: bytes) -> list[str]:
        *lines, self._pending = (self._pending + self._decoder.decode(data)).split("\n")
        return [line.removesuffix("\r") for line in lines]

    def end(self) -> list[str]:
        """Stdin ended: the last line, if it had no line ending."""
        tail = (self._pending + self._decoder.decode(b"", final=True)).removesuffix("\r")
        self._pending = ""
        return [tail] if tail else []


def _read_some() -> bytes:
    # The file descriptor itself: whatever is there (b"" at the end). Not sys.stdin's
    # buffer, whose lock an abandoned read would hold while the interpreter exits.
    return os.read(sys.stdin.fileno(), READ_SIZE)


async def read_bursts(send: trio.MemorySendChannel[list[str]]) -> None:
    """Send stdin's lines, a burst at a time, until it ends; then close send."""
    splitter = LineSplitter()
    async with send:
        while data := await trio.to_thread.run_sync(_read_some, abandon_on_cancel=True):
            if lines := splitter.feed(data):
                await send.send(lines)
        if lines := splitter.end():
            await send.send(lines)
