"""One transfer's states, with no I/O: a sender and a receiver joined by hand."""

import pytest

from p2ptui.net import LocalProtocolError, RemoteProtocolError
from p2ptui.net.transfer import codec
from p2ptui.net.transfer.machine import STALL_AFTER, Receiving, Sending, State

TID = b"\x07" * 16
DIGEST = b"\x01" * 32
SIZE = 1000


def pair():
    sender = Sending(TID, "a.txt", SIZE, DIGEST)
    (offer,) = sender.offer().records
    assert isinstance(offer, codec.Offer)
    return sender, Receiving(offer.id, offer.name, offer.size, offer.sha256)


def test_offer_accept_stream_verify_done():
    sender, receiver = pair()
    (accept,) = receiver.accept(0, now=0).records
    start = sender.received(accept, now=0).start
    assert start == 0 and sender.state == State.SENDING
    receiver.stream_started(start)
    at, out = receiver.data(600, now=1)
    assert at == 0 and not out.verify and receiver.bytes == 600
    at, out = receiver.data(400, now=2)
    assert at == 600 and out.verify and receiver.state == State.VERIFYING
    (done,) = receiver.verified(True).records
    assert sender.received(done, now=3).stop_stream and sender.state == State.DONE


def test_after_a_reconnect_only_what_is_missing_is_sent_again():
    sender, receiver = pair()
    sender.received(receiver.accept(0, now=0).records[0], now=0)
    receiver.stream_started(0)
    receiver.data(300, now=1)
    sender.stream_lost()  # the session was replaced
    # Both re-announce; the offer is answered with what the receiver has.
    (again,) = sender.connected().records
    (answer,) = receiver.received(again).records
    assert answer == codec.Accept(TID, 300)
    assert receiver.connected().records == [codec.Accept(TID, 300)]
    assert sender.received(answer, now=2).start == 300
    assert sender.received(codec.Accept(TID, 300), now=2).start is None  # the stream runs: a repeat is ignored
    receiver.stream_started(300)
    assert receiver.data(700, now=3)[1].verify


def test_a_stream_that_would_leave_a_hole_or_overflow_is_refused():
    sender, receiver = pair()
    receiver.accept(0, now=0)
    with pytest.raises(RemoteProtocolError, match="past what we have"):
        receiver.stream_started(10)
    receiver.stream_started(0)
    receiver.data(SIZE - 1, now=1)
    with pytest.raises(RemoteProtocolError, match="past the offered size"):
        receiver.data(2, now=1)
    out = receiver.broken("data past the offered size")
    assert out.stop_stream and receiver.state == State.FAILED and receiver.resumable
    assert isinstance(out.records[0], codec.Stop)
    # The sender sees why; the receiver may take it up again from what it has.
    sender.received(codec.Accept(TID, 0), now=1)
    sender.received(out.records[0], now=1)
    assert sender.state == State.FAILED and "broke the protocol" in sender.reason
    assert receiver.accept(SIZE - 1, now=5).records == [codec.Accept(TID, SIZE - 1)]
    assert sender.received(codec.Accept(TID, SIZE - 1), now=5).start == SIZE - 1


def test_a_wrong_hash_fails_both_sides():
    sender, receiver = pair()
    sender.received(receiver.accept(SIZE - 1, now=0).records[0], now=0)
    receiver.stream_started(SIZE - 1)
    receiver.data(1, now=0)
    (done,) = receiver.verified(False).records
    sender.received(done, now=0)
    assert receiver.state == sender.state == State.FAILED
    assert "hash did not match" in sender.reason and "hash did not match" in receiver.reason
    assert sender.connected().records == []  # finished: nothing offered again
    # A late offer again (the sender missed the answer) is told the same.
    assert receiver.received(codec.Offer(TID, SIZE, DIGEST, "a.txt")).records == [codec.Done(TID, False)]


def test_decline_and_cancel_from_either_side():
    sender, receiver = pair()
    (decline,) = receiver.decline("no thanks").records
    sender.received(decline, now=0)
    assert sender.state == State.DECLINED and sender.reason == "declined: no thanks"
    sender, receiver = pair()
    sender.received(receiver.accept(0, now=0).records[0], now=0)
    (cancel,) = receiver.cancel().records
    assert sender.received(cancel, now=0).stop_stream and sender.state == State.CANCELLED
    sender, receiver = pair()
    (cancel,) = sender.cancel().records
    assert receiver.received(cancel).stop_stream and receiver.state == State.CANCELLED
    with pytest.raises(LocalProtocolError):
        receiver.cancel()  # finished already
    # A late offer for a cancelled transfer is answered with the cancel again.
    assert receiver.received(codec.Offer(TID, SIZE, DIGEST, "a.txt")).records == [codec.Cancel(TID, "")]


def test_an_offer_reusing_an_id_for_another_file_is_refused():
    _, receiver = pair()
    with pytest.raises(RemoteProtocolError):
        receiver.received(codec.Offer(TID, SIZE + 1, DIGEST, "a.txt"))


def test_records_from_the_wrong_side_are_refused():
    sender, receiver = pair()
    with pytest.raises(RemoteProtocolError):
        receiver.received(codec.Accept(TID, 0))
    with pytest.raises(RemoteProtocolError):
        sender.received(codec.Offer(TID, SIZE, DIGEST, "x"), now=0)
    with pytest.raises(RemoteProtocolError):
        sender.received(codec.Accept(TID, SIZE + 1), now=0)


def test_a_stall_is_said_once_while_connected_and_clears_when_data_comes():
    sender, receiver = pair()
    receiver.accept(0, now=0)
    receiver.stream_started(0)
    assert not receiver.tick(STALL_AFTER * 5, connected=False).stalled  # not while the path is down
    assert not receiver.tick(100.0, connected=True).stalled  # the clock starts now
    assert receiver.next_timeout() == 100.0 + STALL_AFTER
    out = receiver.tick(100.0 + STALL_AFTER, connected=True)
    assert out.stalled and out.records == [codec.Accept(TID, 0)] and "stalled" in receiver.reason
    assert not receiver.tick(100.0 + 2 * STALL_AFTER, connected=True).stalled  # said once
    receiver.data(10, now=200.0)
    assert receiver.reason == "" and receiver.state == State.RECEIVING


def test_progress_is_reported_at_most_four_times_a_second_and_always_at_the_end():
    sender, receiver = pair()
    sender.received(receiver.accept(0, now=0).records[0], now=0)
    told = []
    for step in range(1, 101):  # 10 bytes every 10 ms: one second
        sender.acked(step * 10, now=step / 100)
        if sender.progress_due(step / 100):
            told.append(sender.bytes)
    assert told[-1] == SIZE and len(told) <= 5
    assert 900 <= sender.rate <= 1100  # bytes a second, smoothed


def test_a_file_already_whole_on_disk_goes_straight_to_verifying():
    _, receiver = pair()
    out = receiver.accept(SIZE, now=0)
    assert out.verify and out.records == [] and receiver.state == State.VERIFYING


def test_sizes_past_4_gib():
    sender = Sending(TID, "big", 5 * 2**30, DIGEST)
    sender.offer()
    assert sender.received(codec.Accept(TID, 2**32 + 1), now=0).start == 2**32 + 1


def test_a_reconnect_within_one_session_keeps_the_running_stream():
    sender, receiver = pair()
    sender.received(receiver.accept(0, now=0).records[0], now=0)
    receiver.stream_started(0)
    receiver.data(100, now=1)
    # Connected again (a move from a relay to a direct path): both re-announce.
    assert sender.received(receiver.connected().records[0], now=2).start is None  # the stream carries on
    assert receiver.data(100, now=2)[0] == 100  # and its bytes still land where they belong
