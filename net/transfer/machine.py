"""One transfer's states, for the sender (`Sending`) and the receiver (`Receiving`).

Free of I/O: fed the peer's records, byte counts, the user's choices and the
time; each call returns an `Out` (records to send, whether to start a stream
and from where, whether to stop it, whether the file is complete and wants its
hash checked). The trio part (app.py) reads and writes the files and the
streams. The states are the contract's (`events.Transfer.state`):

    sender:   waiting -> offered -> sending -> done
    receiver: offered -> receiving -> verifying -> done
    either, from any unfinished state: declined, cancelled, failed

Idempotent, so a lost record or session costs nothing: at every `Connected`
the sender offers again what is not finished and the receiver says again how
much it has (`Accept(have)`); a record already acted on is answered with the
same answer, or ignored. A sender streams from the `have` of the latest
`Accept` once its stream is gone (a new session, a reset): only what is
missing is sent again.

A failure the other side can fix (a full disk, an unreadable file, data that
broke the rules) is *resumable*: the `.part` stays, and an `Accept` (the
receiver accepting again) takes it up where it stopped.

Both halves stay in one module (just over 400 lines): they answer each other's
records, and the table of states above is read against both.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass, field

from ..errors import LocalProtocolError, RemoteProtocolError
from . import codec

log = logging.getLogger(__name__)

#: Seconds without progress, while connected, before a transfer says it stalled.
STALL_AFTER = 60.0
#: At most this many progress reports a second per transfer (and always one at the end).
PROGRESS_PER_SECOND = 4.0
#: How much a new rate measurement moves the smoothed one.
RATE_WEIGHT = 0.3


class State(enum.Enum):
    WAITING = "waiting"
    """The sender hashes the file, or waits for the peer to connect."""
    OFFERED = "offered"
    """Offered: waiting for the receiver's answer."""
    SENDING = "sending"
    RECEIVING = "receiving"
    VERIFYING = "verifying"
    """Every byte is on disk; the whole file's hash is being checked."""
    DONE = "done"
    FAILED = "failed"
    DECLINED = "declined"
    CANCELLED = "cancelled"


FINAL = frozenset({State.DONE, State.FAILED, State.DECLINED, State.CANCELLED})


@dataclass
class Out:
    """What a call asks of its owner."""

    records: list[codec.Record] = field(default_factory=list)
    start: int | None = None
    """Sender: open a new stream and send the file from this offset."""
    stop_stream: bool = False
    """Reset the transfer's stream, if it has one."""
    verify: bool = False
    """Receiver: every byte is there; check the hash, then call `verified`."""
    stalled: bool = False
    """The transfer just stalled: say so (its `reason` says why)."""


class _Machine:
    outgoing = False

    def __init__(self, transfer_id: bytes, name: str, size: int, sha256: bytes, state: State) -> None:
        if len(transfer_id) != codec.ID_SIZE or not 0 <= size <= codec.MAX_SIZE:
            raise LocalProtocolError("a bad transfer")
        self.id = transfer_id
        self.name = name
        self.size = size
        self.sha256 = sha256
        self.state = state
        self.reason = ""
        #: A failure the other side can recover from by accepting again; the .part stays.
        self.resumable = False
        #: Bytes the receiver has (receiver) or has acknowledged (sender).
        self.bytes = 0
        self.rate = 0.0
        self._progress_at: float | None = None
        self._progress_bytes = 0
        self._told_bytes = -1
        self._moved_at: float | None = None
        self._stalled = False

    @property
    def finished(self) -> bool:
        return self.state in FINAL

    def _change(self, new: State, reason: str = "", *, resumable: bool = False) -> None:
        """The one place the state changes; an unfinished one only (else LocalProtocolError)."""
        if self.finished:
            raise LocalProtocolError(f"transfer {self.id.hex()} is {self.state.value} already")
        log.debug("transfer %s: %s -> %s", self.id.hex(), self.state.value, new.value)
        self.state, self.reason, self.resumable = new, reason, resumable

    def _revive(self, new: State) -> None:
        """A resumable failure taken up again."""
        if not (self.state == State.FAILED and self.resumable):
            raise LocalProtocolError(f"transfer {self.id.hex()} cannot be resumed")
        log.debug("transfer %s: failed -> %s (resumed)", self.id.hex(), new.value)
        self.state, self.reason, self.resumable = new, "", False

    def cancel(self, reason: str = "") -> Out:
        """The user cancels (either side): an unfinished transfer, or one that failed
        resumably (else LocalProtocolError)."""
        if self.state == State.FAILED and self.resumable:
            self._revive(State.CANCELLED)
            self.reason = reason or "cancelled"
            return Out([codec.Cancel(self.id, reason)], stop_stream=True)
        self._change(State.CANCELLED, reason or "cancelled")
        return Out([codec.Cancel(self.id, reason)], stop_stream=True)

    def fail(self, reason: str, *, resumable: bool) -> Out:
        """Our side cannot go on (the disk, the file): the peer is told, with the reason.
        A resumable failure may fail again (taking it up did not work)."""
        if self.state == State.FAILED and self.resumable:
            self._revive(State.FAILED)
            self.reason, self.resumable = reason, resumable
        else:
            self._change(State.FAILED, reason, resumable=resumable)
        record: codec.Record = codec.Stop(self.id, reason) if resumable else codec.Cancel(self.id, reason)
        return Out([record], stop_stream=True)

    # --- Progress and stalls ---------------------------------------------------------

    @property
    def moving(self) -> bool:
        return self.state in (State.SENDING, State.RECEIVING)

    def progress_due(self, now: float) -> bool:
        """Whether to report progress now: at most PROGRESS_PER_SECOND a second, and
        always once when every byte is there. Updates the smoothed rate when it is."""
        if self.bytes == self._told_bytes:
            return False
        last = self._progress_at
        if last is not None and now - last < 1 / PROGRESS_PER_SECOND and self.bytes < self.size:
            return False
        if last is not None and now > last:
            measured = (self.bytes - self._progress_bytes) / (now - last)
            self.rate = measured if self.rate == 0 else self.rate + RATE_WEIGHT * (measured - self.rate)
        self._progress_at, self._progress_bytes, self._told_bytes = now, self.bytes, self.bytes
        return True

    def _moved(self, now: float) -> None:
        self._moved_at = now
        if self._stalled:
            self._stalled = False
            if self.reason.startswith("stalled"):
                self.reason = ""

    def tick(self, now: float, connected: bool) -> Out:
        """The time passes: a moving transfer with no progress for STALL_AFTER seconds
        while connected stalls (said once, until it moves again)."""
        if not self.moving or not connected:
            self._moved_at = None  # The clock starts when the path is up again.
            return Out()
        if self._moved_at is None:
            self._moved_at = now
        if self._stalled or now - self._moved_at < STALL_AFTER:
            return Out()
        self._stalled = True
        self.reason = f"stalled: nothing moved for {STALL_AFTER:g} s"
        return Out(self._stall_records(), stalled=True)

    def next_timeout(self) -> float | None:
        if not self.moving or self._stalled or self._moved_at is None:
            return None
        return self._moved_at + STALL_AFTER

    def _stall_records(self) -> list[codec.Record]:
        return []


class Sending(_Machine):
    """Our file, offered to the peer."""

    outgoing = True

    def __init__(self, transfer_id: bytes, name: str, size: int, sha256: bytes) -> None:
        super().__init__(transfer_id, name, size, sha256, State.WAITING)
        #: A stream carries the file now (the app says when it is gone).
        self.streaming = False

    def offered_before(self) -> None:
        """An earlier run offered it (and maybe sent some): the receiver's next Accept says how far."""
        if self.state != State.WAITING:
            raise LocalProtocolError("offered twice")
        self._change(State.OFFERED)

    def offer(self) -> Out:
        """The file is hashed: offer it."""
        if self.state != State.WAITING:
            raise LocalProtocolError("offered twice")
        self._change(State.OFFERED)
        return Out([self._offer()])

    def _offer(self) -> codec.Offer:
        return codec.Offer(self.id, self.size, self.sha256, self.name)

    def connected(self) -> Out:
        """The channel is (again) up: offer again what is not finished."""
        if self.state in (State.OFFERED, State.SENDING):
            return Out([self._offer()])
        return Out()

    def stream_lost(self) -> None:
        """The stream is gone (reset, or its session replaced): the next Accept starts another."""
        self.streaming = False

    def acked(self, sent: int, now: float) -> None:
        """How many of the file's bytes the peer has acknowledged in all."""
        if sent > self.bytes:
            self.bytes = min(sent, self.size)
            self._moved(now)

    def received(self, record: codec.Record, now: float) -> Out:
        """A record from the receiver. Raises RemoteProtocolError for one that breaks the rules."""
        match record:
            case codec.Accept(have=have):
                return self._accepted(have, now)
            case codec.Decline(reason=reason):
                if self.state == State.OFFERED:
                    self._change(State.DECLINED, f"declined{': ' + reason if reason else ''}")
                    return Out(stop_stream=True)
            case codec.Cancel(reason=reason):
                if not self.finished:
                    self._change(State.CANCELLED, f"cancelled by the peer{': ' + reason if reason else ''}")
                    return Out(stop_stream=True)
            case codec.Stop(reason=reason):
                if self.state == State.SENDING:
                    self.streaming = False
                    self._change(State.FAILED, f"the peer stopped: {reason}", resumable=True)
                    return Out(stop_stream=True)
            case codec.Done(verified=verified):
                return self._done(verified)
            case codec.Offer():
                raise RemoteProtocolError("an offer for a transfer of ours")
        return Out()  # Late or repeated: acted on already.

    def _done(self, verified: bool) -> Out:
        if self.state == State.FAILED and self.resumable:
            self._revive(State.SENDING)  # The receiver had it all: the failure ends here.
        if self.state not in (State.SENDING, State.OFFERED):
            return Out()  # Told before.
        if verified:
            self.bytes = self.size
            self._change(State.DONE)
        else:
            self._change(State.FAILED, "the file arrived damaged: its hash did not match")
        return Out(stop_stream=True)

    def _accepted(self, have: int, now: float) -> Out:
        if have > self.size:
            raise RemoteProtocolError("an accept past the end of the file")
        if self.state in (State.CANCELLED, State.FAILED) and not self.resumable:
            return Out([codec.Cancel(self.id, self.reason)])  # It missed our cancel: told again.
        if self.state == State.FAILED and self.resumable:
            self._revive(State.SENDING)
        elif self.state == State.OFFERED:
            self._change(State.SENDING)
        elif self.state != State.SENDING or self.streaming:
            return Out()  # Repeated, while the stream runs: it carries on.
        self.streaming = True
        self.bytes = have
        self._moved(now)
        return Out(start=have)


class Receiving(_Machine):
    """A file the peer offered us."""

    def __init__(self, transfer_id: bytes, name: str, size: int, sha256: bytes) -> None:
        super().__init__(transfer_id, name, size, sha256, State.OFFERED)
        #: Where the next byte of the current stream goes.
        self._position: int | None = None

    def accept(self, have: int, now: float) -> Out:
        """The user accepts (or takes up a resumable failure); have: bytes already on disk."""
        if not 0 <= have <= self.size:
            raise LocalProtocolError("more on disk than was offered")
        if self.state == State.FAILED:
            self._revive(State.RECEIVING)
        else:
            if self.state != State.OFFERED:
                raise LocalProtocolError(f"transfer {self.id.hex()} is {self.state.value}, not offered")
            self._change(State.RECEIVING)
        self.bytes, self._position = have, None
        self._moved(now)
        if have == self.size:
            self._change(State.VERIFYING)
            return Out(verify=True)
        return Out([codec.Accept(self.id, have)])

    def decline(self, reason: str = "") -> Out:
        if self.state != State.OFFERED:
            raise LocalProtocolError(f"transfer {self.id.hex()} is {self.state.value}, not offered")
        self._change(State.DECLINED, reason or "declined")
        return Out([codec.Decline(self.id, reason)])

    def connected(self) -> Out:
        """The channel is (again) up: say how much we have."""
        if self.state == State.RECEIVING:
            # A stream that survived (a path move in one session) goes on; a new one binds anew.
            return Out([codec.Accept(self.id, self.bytes)])
        return Out()

    def _stall_records(self) -> list[codec.Record]:
        # The sender's stream may be gone without our knowing: ask again (ignored if it runs).
        return [codec.Accept(self.id, self.bytes)]

    def received(self, record: codec.Record) -> Out:
        """A record from the sender. Raises RemoteProtocolError for one that breaks the rules."""
        match record:
            case codec.Offer(size=size, sha256=digest):
                if (size, digest) != (self.size, self.sha256):
                    raise RemoteProtocolError("an offer again, for another file under the same id")
                return Out(self._answer_again())
            case codec.Cancel(reason=reason):
                if not self.finished:
                    self._change(State.CANCELLED, f"cancelled by the peer{': ' + reason if reason else ''}")
                    return Out(stop_stream=True)
            case codec.Stop(reason=reason):
                if self.state == State.RECEIVING:
                    self._change(State.FAILED, f"the peer stopped: {reason}", resumable=True)
                    return Out(stop_stream=True)
            case codec.Accept() | codec.Decline() | codec.Done():
                raise RemoteProtocolError("a receiver's record from the sender")
        return Out()

    def _answer_again(self) -> list[codec.Record]:
        match self.state:
            case State.RECEIVING:
                return [codec.Accept(self.id, self.bytes)]
            case State.DONE:
                return [codec.Done(self.id, True)]
            case State.DECLINED:
                return [codec.Decline(self.id, "")]
            case State.CANCELLED:
                return [codec.Cancel(self.id, "")]
            case State.FAILED if not self.resumable:
                return [codec.Done(self.id, False)]
        return []  # Offered (the user has not answered), verifying, or waiting to be taken up.

    def stream_started(self, offset: int) -> None:
        """A stream for this transfer begins at offset. Raises RemoteProtocolError if that
        leaves a hole, or if we are not receiving."""
        if self.state != State.RECEIVING:
            raise RemoteProtocolError(f"a stream for a transfer that is {self.state.value}")
        if offset > self.bytes:
            raise RemoteProtocolError("a stream from past what we have")
        self._position = offset

    def data(self, length: int, now: float) -> tuple[int, Out]:
        """length bytes of the stream arrived: where they go in the file (the caller writes
        them there), and what follows. Raises RemoteProtocolError past the offered size."""
        if self._position is None or self.state != State.RECEIVING:
            raise RemoteProtocolError("file data with no stream for it")
        at = self._position
        if at + length > self.size:
            raise RemoteProtocolError("data past the offered size")
        self._position = at + length
        if self._position > self.bytes:
            self.bytes = self._position
            self._moved(now)
        if self.bytes == self.size:
            self._change(State.VERIFYING)
            return at, Out(verify=True, stop_stream=False)
        return at, Out()

    def not_written(self, at: int) -> None:
        """The bytes from at on did not reach the disk (it is full): they are not ours yet."""
        self.bytes = min(self.bytes, at)
        self._position = min(self._position or at, at)

    def verified(self, matched: bool) -> Out:
        """The whole file's hash was checked."""
        if self.state != State.VERIFYING:
            raise LocalProtocolError("not verifying")
        if matched:
            self._change(State.DONE)
        else:
            self._change(State.FAILED, "the file arrived damaged: its hash did not match")
        return Out([codec.Done(self.id, matched)])

    def broken(self, reason: str) -> Out:
        """The sender broke the rules (data past the size, a hole): stop, keep the .part."""
        return self.fail(f"the sender broke the protocol: {reason}", resumable=True)
