"""The reliability part on its own: a Sender and a Receiver, no paths, no crypto, no sockets."""

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from p2ptui.net import wire
from p2ptui.net.reliability import MAX_MESSAGE_BYTES, MessageTooLong, Receiver, RttEstimator, Sender

PEER = ("192.0.2.2", 2222)


def data(fragment, message_id=b"m0000001", seq=None):
    """The wire.Data a Sender's fragment becomes."""
    seq = fragment.seq if seq is None else seq
    return wire.Data(b"T" * 8, b"F" * 8, seq, fragment.message_id, fragment.last, fragment.payload)


def connected_sender(**kwargs):
    sender = Sender(**kwargs)
    assert sender.resume(0.0) == []
    return sender


# --- RFC 6298 -----------------------------------------------------------------------


def test_the_first_sample_sets_srtt_and_half_of_it_as_variance():
    timer = RttEstimator(initial=1.0, minimum=0.2, maximum=8.0)
    timer.sample(0.1)
    assert timer.srtt == pytest.approx(0.1) and timer.rttvar == pytest.approx(0.05)
    assert timer.rto == pytest.approx(0.3)  # srtt + 4 * rttvar (2.3)


def test_later_samples_smooth_with_alpha_one_eighth_and_beta_one_quarter():
    timer = RttEstimator(initial=1.0, minimum=0.0, maximum=60.0)
    timer.sample(1.0)
    timer.sample(3.0)
    assert timer.rttvar == pytest.approx(0.75 * 0.5 + 0.25 * 2.0)
    assert timer.srtt == pytest.approx(0.875 * 1.0 + 0.125 * 3.0)
    assert timer.rto == pytest.approx(timer.srtt + 4 * timer.rttvar)


def test_the_timeout_is_clamped_to_its_bounds():
    timer = RttEstimator(initial=1.0, minimum=0.2, maximum=8.0)
    timer.sample(0.001)
    assert timer.rto == 0.2
    timer.sample(100.0)
    assert timer.rto == 8.0


def test_a_timeout_backs_off_doubling_to_the_cap_and_a_new_ack_resets_it():
    sender = connected_sender(rto_initial=1.0, rto_max=8.0)
    (first,) = sender.send(b"m0000001", b"x", 0.0)
    assert sender.next_timeout() == 1.0
    gaps = []
    now = 0.0
    for _ in range(6):
        now = sender.next_timeout()
        (again,) = sender.handle_timeout(now)
        gaps.append(sender.next_timeout() - now)
    assert again is first and first.tries == 7
    assert gaps == [2.0, 4.0, 8.0, 8.0, 8.0, 8.0]  # 5.5: doubled, to the cap
    sender.send(b"m0000002", b"y", now)
    outcome = sender.ack_received((1,), 0, now + 0.5)  # the new one arrives: the path works
    assert outcome.delivered == [] and sender.timer.rto == pytest.approx(1.5)
    now = sender.next_timeout()
    (again,) = sender.handle_timeout(now)
    # 5.7: the back-off was forgotten; this timeout doubles once from the new RTO, not from 8 s.
    assert sender.next_timeout() - now == pytest.approx(3.0)


def test_karns_rule_takes_no_sample_from_a_retransmitted_fragment():
    sender = connected_sender(rto_initial=1.0)
    sender.send(b"m0000001", b"x", 0.0)
    sender.handle_timeout(1.0)
    sender.ack_received((0,), 1, 1.05)  # the first copy's ack, or the second's? Nobody knows.
    assert sender.timer.srtt is None and sender.timer.rtt is None
    sender.send(b"m0000002", b"y", 2.0)
    sender.ack_received((1,), 2, 2.1)
    assert sender.timer.rtt == pytest.approx(0.1)


# --- Fast retransmit ----------------------------------------------------------------


def test_three_later_acks_resend_a_lost_fragment_before_its_timer():
    sender = connected_sender(rto_initial=5.0)
    for n in range(5):
        sender.send(b"m%07d" % n, b"x", 0.0)
    assert sender.ack_received((1, 2), 0, 0.1).transmit == []  # two later: could be reordering
    (resent,) = sender.ack_received((3,), 0, 0.1).transmit
    assert resent.seq == 0 and resent.tries == 2
    assert sender.ack_received((4,), 0, 0.1).transmit == []  # once, not on every later ack


def test_fast_retransmit_waits_a_round_trip_since_the_last_send():
    sender = connected_sender(rto_initial=5.0)
    sender.send(b"m0000001", b"a", 0.0)
    sender.ack_received((0,), 1, 1.0)  # srtt is 1 s
    for n in range(2, 6):
        sender.send(b"m%07d" % n, b"x", 1.0)
    assert sender.ack_received((2, 3, 4), 1, 1.5).transmit == []  # sent 0.5 s ago: maybe just late


# --- Fragments, the window, delivery --------------------------------------------------


def test_messages_are_cut_into_fragments_the_last_one_marked():
    sender = connected_sender(fragment_size=10)
    fragments = sender.send(b"m0000001", b"a" * 25, 0.0)
    assert [len(f.payload) for f in fragments] == [10, 10, 5]
    assert [f.last for f in fragments] == [False, False, True]
    assert [f.seq for f in fragments] == [0, 1, 2]
    (empty,) = sender.send(b"m0000002", b"", 0.0)
    assert empty.last and empty.payload == b"" and empty.seq == 3


def test_a_message_over_the_limit_is_refused_and_not_queued():
    sender = connected_sender()
    with pytest.raises(MessageTooLong):
        sender.send(b"big00001", b"x" * (MAX_MESSAGE_BYTES + 1), 0.0)
    assert sender.unacknowledged == 0


def test_nothing_goes_out_until_resumed_and_then_everything_waiting_does():
    sender = Sender()
    assert sender.send(b"m0000001", b"early", 0.0) == []
    assert sender.next_timeout() is None and sender.handle_timeout(100.0) == []
    assert [f.payload for f in sender.resume(1.0)] == [b"early"]


def test_a_path_change_resends_everything_in_flight_at_once():
    sender = connected_sender(rto_initial=5.0)
    sender.send(b"m0000001", b"a", 0.0)
    sender.sending = False  # the path was lost
    assert [f.seq for f in sender.resume(1.0)] == [0]


def test_the_window_holds_at_most_max_in_flight():
    sender = connected_sender(max_in_flight=2)
    assert len(sender.send(b"m0000001", b"a", 0.0)) == 1
    assert len(sender.send(b"m0000002", b"b", 0.0)) == 1
    assert sender.send(b"m0000003", b"c", 0.0) == []
    assert [f.seq for f in sender.ack_received((0,), 1, 0.1).transmit] == [2]


def test_a_message_is_delivered_only_once_all_of_it_is_acknowledged_cumulatively():
    sender = connected_sender(fragment_size=1)
    sender.send(b"m0000001", b"abc", 0.0)
    assert sender.ack_received((0, 1, 2), 2, 0.1).delivered == []  # arrived, not all handed over
    assert sender.unacknowledged == 1
    assert sender.ack_received((), 3, 0.2).delivered == [b"m0000001"]
    assert sender.unacknowledged == 0 and sender.next_timeout() is None


def test_duplicate_and_impossible_acks_are_counted():
    sender = connected_sender()
    sender.send(b"m0000001", b"a", 0.0)
    sender.ack_received((0,), 1, 0.1)
    sender.ack_received((0,), 1, 0.2)
    sender.ack_received((), 99, 0.3)
    assert sender.dropped == {"duplicate ack": 1, "ack beyond what was sent": 1}


def test_a_restarted_peer_gets_every_unfinished_message_again_renumbered():
    sender = connected_sender(fragment_size=1)
    sender.send(b"m0000001", b"ab", 0.0)
    sender.send(b"m0000002", b"c", 0.0)
    sender.ack_received((0, 1), 2, 0.1)  # the first is delivered
    sender.restart()
    fragments = sender.resume(1.0)
    assert [(f.seq, f.payload) for f in fragments] == [(0, b"c")]


# --- The receiver ---------------------------------------------------------------------


def fragments_of(messages, size=4):
    sender = connected_sender(fragment_size=size)
    out = []
    for n, text in enumerate(messages):
        out += sender.send(b"m%07d" % n, text.encode(), 0.0)
    return [data(f) for f in out]


def test_out_of_order_fragments_are_delivered_in_order_once():
    packets = fragments_of(["hello", "world"])  # 2 + 2 fragments
    receiver = Receiver()
    got = []
    for packet in [packets[3], packets[1], packets[2], packets[1], packets[0]]:
        got += receiver.data_received(packet, PEER)
    assert got == [(b"m0000000", "hello"), (b"m0000001", "world")]
    assert receiver.expected == 4
    assert receiver.dropped == {"duplicate data": 1}


def test_acks_wait_to_be_taken_then_cover_a_burst_per_source_in_chunks():
    receiver = Receiver()
    other = ("203.0.113.9", 9)
    packets = fragments_of(["x" * 400], size=4)  # 100 fragments
    for packet in packets[:70]:
        receiver.data_received(packet, PEER)
    receiver.data_received(packets[70], other)
    acks = receiver.take_acks()
    assert [(source, len(seqs)) for source, seqs, _ in acks] == [(PEER, 64), (PEER, 6), (other, 1)]
    assert all(cumulative == 71 for _, _, cumulative in acks)
    assert receiver.take_acks() == []  # each is acknowledged once


def test_duplicates_are_acknowledged_again_since_the_first_ack_may_have_been_lost():
    receiver = Receiver()
    (packet,) = fragments_of(["hi"])
    receiver.data_received(packet, PEER)
    receiver.take_acks()
    assert receiver.data_received(packet, PEER) == []
    assert receiver.take_acks() == [(PEER, (0,), 1)]


def test_fragments_beyond_the_window_are_dropped_unacknowledged():
    receiver = Receiver(window=4)
    packets = fragments_of(["x" * 40], size=4)
    assert receiver.data_received(packets[5], PEER) == []
    assert receiver.dropped["beyond window"] == 1 and receiver.take_acks() == []


def test_an_oversize_message_is_discarded_and_the_next_one_still_arrives():
    receiver = Receiver(window=100_000)
    size = wire.MAX_FRAGMENT
    sender = connected_sender(fragment_size=size, max_in_flight=100_000)
    # What a hostile peer could send: more than the limit in one message.
    big = [data(f) for f in sender.send(b"big00001", b"x" * MAX_MESSAGE_BYTES, 0.0)]
    extra = wire.Data(b"T" * 8, b"F" * 8, big[-1].seq, b"big00001", False, b"x" * size)
    tail = wire.Data(b"T" * 8, b"F" * 8, big[-1].seq + 1, b"big00001", True, b"x")
    after = wire.Data(b"T" * 8, b"F" * 8, big[-1].seq + 2, b"next0001", True, b"fine")
    got = []
    for packet in [*big[:-1], extra, tail, after]:
        got += receiver.data_received(packet, PEER)
    assert got == [(b"next0001", "fine")]
    assert receiver.dropped["oversize message"] == 1


def test_characters_split_across_fragments_come_back_whole():
    text = "ü€" * 10
    receiver = Receiver()
    got = []
    for packet in fragments_of([text], size=3):
        got += receiver.data_received(packet, PEER)
    assert got == [(b"m0000000", text)]


def test_a_reset_receiver_starts_from_zero():
    receiver = Receiver()
    for packet in fragments_of(["one", "two"]):
        receiver.data_received(packet, PEER)
    receiver.reset()
    assert receiver.expected == 0 and receiver.take_acks() == []
    assert receiver.data_received(fragments_of(["new"])[0], PEER) == [(b"m0000000", "new")]


@settings(max_examples=200, deadline=None)
@given(
    texts=st.lists(st.text(max_size=40), min_size=1, max_size=8),
    seed=st.integers(0, 2**32),
    duplicates=st.integers(0, 20),
)
def test_any_order_with_duplicates_delivers_each_message_exactly_once_in_order(texts, seed, duplicates):
    packets = fragments_of(texts, size=5)
    rng = random.Random(seed)
    arrivals = packets + [rng.choice(packets) for _ in range(duplicates)]
    rng.shuffle(arrivals)
    receiver = Receiver()
    got = []
    for packet in arrivals:
        got += receiver.data_received(packet, PEER)
    assert [text for _, text in got] == texts
    assert receiver.expected == len(packets)
