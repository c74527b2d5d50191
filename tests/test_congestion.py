"""Congestion control, loss recovery and pacing (RFC 9002): the parts alone, then
two sessions on the seeded fake network with a bottleneck and a changing delay."""

import hashlib
import math
import random

from p2ptui.net import frames as fr
from p2ptui.net import session as sess
from p2ptui.net.congestion import (
    INITIAL_WINDOW, MAX_DATAGRAM_SIZE, MINIMUM_WINDOW, PACING_QUANTUM, NewReno, Pacer,
)  # fmt: skip
from p2ptui.net.recovery import Recovery, SentPacket

from .fakenet import B_ADDR, Link, frames_of

# --- The parts alone ----------------------------------------------------------------------


def sent(recovery: Recovery, pn: int, at: float) -> None:
    recovery.on_sent(SentPacket(pn, at, MAX_DATAGRAM_SIZE, True, [fr.Ping()]))


def test_slow_start_grows_the_window_by_what_is_acknowledged():
    cc = NewReno()
    for _ in range(10):
        cc.on_sent(MAX_DATAGRAM_SIZE)
        cc.on_acked(MAX_DATAGRAM_SIZE, sent_at=0.0)
    assert cc.cwnd == INITIAL_WINDOW + 10 * MAX_DATAGRAM_SIZE and cc.bytes_in_flight == 0


def test_a_loss_halves_the_window_once_per_round_trip():
    cc = NewReno()
    cc.cwnd = 100_000
    cc.on_lost([MAX_DATAGRAM_SIZE], largest_sent_at=1.0, now=1.1)
    assert cc.cwnd == cc.ssthresh == 50_000
    cc.on_lost([MAX_DATAGRAM_SIZE], largest_sent_at=1.05, now=1.2)  # Sent before recovery began.
    assert cc.cwnd == 50_000
    cc.on_acked(MAX_DATAGRAM_SIZE, sent_at=1.0)  # No growth in recovery either.
    assert cc.cwnd == 50_000
    for _ in range(50_000 // MAX_DATAGRAM_SIZE + 1):  # Congestion avoidance: one datagram a window.
        cc.on_acked(MAX_DATAGRAM_SIZE, sent_at=2.0)
    assert cc.cwnd == 50_000 + MAX_DATAGRAM_SIZE
    cc.on_lost([MAX_DATAGRAM_SIZE], largest_sent_at=2.0, now=2.1)  # A new loss, after recovery.
    assert cc.cwnd == (50_000 + MAX_DATAGRAM_SIZE) // 2


def test_a_packet_three_behind_an_acknowledged_one_is_lost_and_the_pto_backs_off():
    recovery = Recovery(initial_rtt=0.1, max_pto=60.0)
    for pn in range(5):
        sent(recovery, pn, 0.0)
    acked, lost = recovery.on_ack(((4, 4),), 0.0, 0.05)
    assert [p.pn for p in acked] == [4] and [p.pn for p in lost] == [0, 1]
    assert recovery.rtt.latest == 0.05
    # 2 and 3 wait for the time threshold: 9/8 of the round trip after they were sent.
    assert recovery.next_timeout() == 0.0 + 9 / 8 * 0.05
    lost, probe = recovery.on_timeout(recovery.next_timeout())
    assert [p.pn for p in lost] == [2, 3] and not probe
    sent(recovery, 5, 1.0)
    first = recovery.next_timeout() - 1.0
    _, probe = recovery.on_timeout(recovery.next_timeout())
    assert probe
    second = recovery.next_timeout() - (1.0 + first)
    assert math.isclose(second, 2 * first)


def test_persistent_congestion_collapses_the_window():
    recovery = Recovery(initial_rtt=0.1, max_pto=60.0)
    sent(recovery, 0, 0.0)
    recovery.on_ack(((0, 0),), 0.0, 0.1)  # A first RTT sample: 100 ms.
    for pn in range(1, 40):  # Then a long silence: packets every 50 ms, none acknowledged...
        sent(recovery, pn, 0.1 + pn * 0.05)
    sent(recovery, 40, 3.0)
    _, lost = recovery.on_ack(((40, 40),), 0.0, 3.1)  # ...until the path comes back.
    assert len(lost) == 39
    assert recovery.cc.cwnd == MINIMUM_WINDOW


def test_the_pacer_spreads_a_window_over_the_round_trip():
    pacer = Pacer(burst=2 * MAX_DATAGRAM_SIZE)
    pacer.update(cwnd=120_000, srtt=0.1, now=0.0)  # 1.5 MB/s
    sent_at = []
    now = 0.0
    while len(sent_at) < 20:
        if pacer.allows(MAX_DATAGRAM_SIZE, now):
            pacer.on_sent(MAX_DATAGRAM_SIZE)
            sent_at.append(now)
        else:
            now = pacer.next_send_time(MAX_DATAGRAM_SIZE)
    # After the burst, at the window's rate (1200 bytes every 0.8 ms), a few datagrams
    # at a time (one wakeup per PACING_QUANTUM), never the whole window at once.
    assert sent_at[1] == 0.0 < sent_at[2]
    assert math.isclose(sent_at[-1] - sent_at[1], 18 * MAX_DATAGRAM_SIZE / 1.5e6, rel_tol=0.1)
    assert max(sent_at.count(t) for t in sent_at[2:]) <= PACING_QUANTUM // MAX_DATAGRAM_SIZE


# --- Two sessions on the fake network --------------------------------------------------------


def connected(**kwargs) -> Link:
    link = Link.pair(**kwargs)
    link.introduce()
    link.run(until=1.0)
    assert link.a.state == link.b.state == sess.State.CONNECTED
    return link


class Transfer:
    """Bulk bytes from A to B, written as stream_room allows."""

    def __init__(self, link: Link, size: int) -> None:
        self.link, self.data, self.sent = link, random.Random(size).randbytes(size), 0
        self.stream = link.a.open_stream(link.now)

    def run(self, until: float, step: float = 0.01, watch=lambda link: None) -> None:
        link = self.link
        while link.now < until:
            room = link.a.stream_room(self.stream)
            if self.sent < len(self.data) and room:
                chunk = self.data[self.sent : self.sent + room]
                self.sent += len(chunk)
                link.a.stream_write(self.stream, chunk, link.now, fin=self.sent == len(self.data))
            link.run(until=link.now + step)
            watch(link)

    def arrived(self) -> bytes:
        return b"".join(e.data for e in self.link.events["b"] if isinstance(e, sess.StreamData))


def test_slow_start_then_a_loss_halves_the_window_on_a_bottleneck():
    link = connected(rate=2_000_000, queue_bytes=60_000, delay=0.02, max_delay=0.0, seed=3)
    transfer = Transfer(link, 8_000_000)
    windows = []
    transfer.run(until=8.0, step=0.002, watch=lambda link: windows.append(link.a.congestion))
    first_loss = next(i for i, w in enumerate(windows) if w.ssthresh < math.inf)
    before = max(w.cwnd for w in windows[:first_loss])
    # Slow start: from the initial window to several times it before the queue overflowed...
    assert windows[0].cwnd <= 4 * INITIAL_WINDOW < before
    # ...then the window was halved (from where it stood as the loss was seen), not collapsed.
    assert before // 2 - 2 * MAX_DATAGRAM_SIZE <= windows[first_loss].ssthresh <= before
    assert min(w.cwnd for w in windows[first_loss:]) > MINIMUM_WINDOW
    assert hashlib.sha256(transfer.arrived()).digest() == hashlib.sha256(transfer.data).digest()
    # The bottleneck moved 2 MB/s; the transfer used most of it.
    assert link.a.stream_acked(transfer.stream) == len(transfer.data)


def test_persistent_congestion_on_the_link_collapses_the_window_and_loses_nothing():
    config = sess.SessionConfig(path_timeout=30.0, keepalive_interval=30.0)
    link = connected(config=config, delay=0.01, max_delay=0.0, seed=5)
    transfer = Transfer(link, 4_000_000)
    transfer.run(until=1.08, step=0.001)
    assert link.a.congestion.cwnd > 4 * INITIAL_WINDOW and link.a.congestion.bytes_in_flight
    link.a_to_b = link.b_to_a = False  # Dark for longer than three probe timeouts...
    transfer.run(until=4.0)
    link.a_to_b = link.b_to_a = True
    windows = []
    transfer.run(until=8.0, step=0.001, watch=lambda link: windows.append(link.a.congestion.cwnd))
    assert min(windows) == MINIMUM_WINDOW  # ...so the window starts over.
    transfer.run(until=60.0)
    assert transfer.arrived() == transfer.data


def test_a_round_trip_that_changes_mid_run_is_tracked():
    link = connected(delay=0.01, max_delay=0.0001, seed=9)
    for n in range(20):
        link.a.send_message(b"near%04d" % n, "x", link.now)
        link.run(until=link.now + 0.1)
    assert abs(link.a.congestion.smoothed_rtt - 0.02) < 0.005
    link.delay = 0.05  # The path got longer.
    for n in range(40):
        link.a.send_message(b"far%05d" % n, "x", link.now)
        link.run(until=link.now + 0.3)
    congestion = link.a.congestion
    assert abs(congestion.smoothed_rtt - 0.1) < 0.01
    assert congestion.min_rtt is not None and congestion.min_rtt < 0.03  # The minimum remembers.
    assert link.a.rtt is not None and abs(link.a.rtt - 0.1) < 0.01


def test_a_move_from_relay_to_direct_loses_nothing_and_restarts_the_window():
    config = sess.SessionConfig(direct_retry_interval=3.0)
    link = Link.pair(config, a_to_b=False, b_to_a=False, max_delay=0.0)
    link.introduce(relay=True)
    link.run(until=3.0)
    assert link.a.relayed
    transfer = Transfer(link, 3_000_000)
    for n in range(5):
        link.a.send_message(b"relay%03d" % n, f"over the relay {n}", link.now)
    transfer.run(until=4.0)
    link.a_to_b = link.b_to_a = True  # Direct opens: the next retry finds it.
    moved = []

    def watch(link):
        if not moved and not link.a.relayed:
            moved.append(link.a.congestion)

    transfer.run(until=9.0, step=0.001, watch=watch)
    assert moved and link.a.path == B_ADDR
    assert moved[0].cwnd <= INITIAL_WINDOW + 4 * MAX_DATAGRAM_SIZE  # Started over on the new path.
    for n in range(5):
        link.a.send_message(b"direct%02d" % n, f"direct {n}", link.now)
    transfer.run(until=30.0)
    assert transfer.arrived() == transfer.data
    assert link.received("b") == [f"over the relay {n}" for n in range(5)] + [f"direct {n}" for n in range(5)]
    assert link.a.unacknowledged == 0


def test_acks_and_delivery_ride_with_a_reply():
    link = connected()
    link.a.send_message(b"ping0001", "from a", link.now)
    seen = []
    link.drop_inner = lambda side, packet: seen.append((side, packet)) and False
    link.run(until=1.001)  # B has it, and (its owner kept it) answers at once...
    assert link.received("b") == ["from a"]
    link.b.send_message(b"pong0001", "from b", link.now)
    link.run(until=2.0)
    # ...and B's ack and DELIVERED for A's message share a datagram with B's reply, or precede it.
    answers = [p for side, p in seen if side == "a" and frames_of(p, fr.Delivered)]
    assert answers and frames_of(answers[0], fr.Ack)
    assert link.received("a") == ["from b"] and link.delivered("a") == [b"ping0001"]
