"""The channel's streams over a simulated link: control records, bulk byte
streams with flow control, priority of chat over bulk, resets."""

import hashlib
import random
from collections import Counter

from p2ptui.net import frames as fr
from p2ptui.net import session as sess
from p2ptui.net.channel import BULK_STREAM_WINDOW, Channel

from .fakenet import Link, frames_of


def connected(**kwargs) -> Link:
    link = Link.pair(**kwargs)
    link.introduce()
    link.run(until=1.0)
    assert link.a.state == link.b.state == sess.State.CONNECTED
    return link


def of(link: Link, side: str, kind: type) -> list:
    return [e for e in link.events[side] if isinstance(e, kind)]


def received_bytes(link: Link, side: str, stream_id: int) -> bytes:
    return b"".join(e.data for e in of(link, side, sess.StreamData) if e.stream_id == stream_id)


def pump_stream(link: Link, stream_id: int, data: bytes, until: float, step: float = 0.01) -> None:
    """Write data to A's stream as fast as stream_room allows, running the link meanwhile."""
    sent = 0
    while link.now < until:
        room = link.a.stream_room(stream_id)
        if sent < len(data) and room:
            chunk = data[sent : sent + room]
            sent += len(chunk)
            link.a.stream_write(stream_id, chunk, link.now, fin=sent == len(data))
        link.run(until=link.now + step)


def test_control_records_arrive_once_in_order():
    link = connected()
    for n in range(50):
        link.a.send_control(sess.APP_FILES if n % 2 else sess.APP_GROUPS, b"record %d" % n, link.now)
    link.run(until=2.0)
    records = of(link, "b", sess.ControlReceived)
    assert [(r.app, r.payload) for r in records] == [
        (sess.APP_FILES if n % 2 else sess.APP_GROUPS, b"record %d" % n) for n in range(50)
    ]


def test_a_control_record_over_the_limit_is_refused():
    link = connected()
    try:
        link.a.send_control(sess.APP_FILES, b"x" * (sess.MAX_CONTROL_BYTES + 1), link.now)
    except sess.MessageTooLong:
        pass
    else:
        raise AssertionError("no error")
    link.a.send_control(sess.APP_FILES, b"x" * sess.MAX_CONTROL_BYTES, link.now)
    link.run(until=3.0)
    assert [len(r.payload) for r in of(link, "b", sess.ControlReceived)] == [sess.MAX_CONTROL_BYTES]


def test_a_bulk_stream_arrives_whole_and_in_order_over_a_lossy_link():
    link = connected(loss=0.1, duplicate=0.05, max_delay=0.02, seed=7)
    data = random.Random(1).randbytes(3_000_000)
    stream = link.a.open_stream(link.now)
    pump_stream(link, stream, data, until=120.0)
    incoming = of(link, "b", sess.StreamData)
    assert incoming and incoming[-1].fin and all(not e.fin for e in incoming[:-1])
    their_id = incoming[0].stream_id
    assert hashlib.sha256(received_bytes(link, "b", their_id)).digest() == hashlib.sha256(data).digest()
    assert link.a.stream_acked(stream) == len(data)


def test_a_receiver_that_does_not_consume_stops_the_sender_at_its_window():
    # Channels joined directly: the receiver acknowledges every packet, but its owner
    # never says it consumed what it was handed (commit), so no credit goes back.
    sender = Channel(initial_rtt=0.01, max_pto=8.0, dropped=Counter())
    receiver = Channel(initial_rtt=0.01, max_pto=8.0, dropped=Counter())
    sender.sending = receiver.sending = True
    stream = sender.open_stream()
    written, now = 0, 0.0
    for _ in range(2000):
        room = sender.stream_room(stream)
        if room:
            sender.stream_write(stream, b"z" * min(room, 50_000))
            written += min(room, 50_000)
        for pn, frames in sender.packets(now):
            receiver.packet_received(pn, frames, now)
        for pn, frames in receiver.packets(now):  # Acks only: no commit.
            sender.packet_received(pn, frames, now)
        now += 0.001
    got = sum(len(e.data) for e in receiver.events if isinstance(e, sess.StreamData))
    assert got == written == BULK_STREAM_WINDOW
    assert sender.stream_acked(stream) == written and sender.stream_room(stream) == 0
    receiver.commit()  # The owner wrote it all: credit comes back, and the sender goes on.
    for pn, frames in receiver.packets(now):
        sender.packet_received(pn, frames, now)
    assert sender.stream_room(stream) > 0


def test_chat_overtakes_a_bulk_transfer():
    link = connected()
    stream = link.a.open_stream(link.now)
    link.a.stream_write(stream, b"b" * 500_000, link.now)
    link.a.send_message(b"urgent01", "chat goes first", link.now)
    datagrams = link.a.datagrams_to_send(link.now)
    assert datagrams
    first = link.b.keys.open(sess.wire.parse_untrusted(datagrams[0][0]))
    streams = [f.stream_id for f in frames_of(first, fr.Stream)]
    assert streams[0] == 0  # The chat stream, before any bulk bytes.
    link.run(until=5.0)
    assert link.received("b") == ["chat goes first"]


def test_resetting_a_stream_tells_the_peer_and_stops_the_bytes():
    link = connected()
    stream = link.a.open_stream(link.now)
    link.a.stream_write(stream, b"x" * 10_000, link.now)
    link.run(until=2.0)
    their_id = of(link, "b", sess.StreamData)[0].stream_id
    link.a.reset_stream(stream, link.now)
    link.a.stream_write(stream, b"ignored", link.now)  # After a reset: harmless, nothing goes.
    link.run(until=3.0)
    assert of(link, "b", sess.StreamReset) == [sess.StreamReset(their_id)]
    assert len(received_bytes(link, "b", their_id)) == 10_000
    assert link.a.stream_room(stream) == 0


def test_the_receiver_can_cancel_a_stream_it_is_given():
    link = connected()
    stream = link.a.open_stream(link.now)
    link.a.stream_write(stream, b"x" * 5_000, link.now)
    link.run(until=2.0)
    their_id = of(link, "b", sess.StreamData)[0].stream_id
    link.b.reset_stream(their_id, link.now)
    link.run(until=3.0)
    assert of(link, "a", sess.StreamReset) == [sess.StreamReset(stream)]
    assert link.a.stream_room(stream) == 0


def test_a_peer_restart_resets_every_stream_and_resends_undelivered_chat():
    link = connected()
    stream = link.a.open_stream(link.now)
    link.a.stream_write(stream, b"x" * 5_000, link.now)
    link.run(until=2.0)
    link.b_to_a = link.a_to_b = False
    link.a.send_message(b"later001", "after the restart", link.now)
    link.run(until=3.0)
    link.restart("b")
    link.b_to_a = link.a_to_b = True
    link.introduce()
    link.run(until=6.0)
    assert sess.StreamReset(stream) in of(link, "a", sess.StreamReset)
    assert link.received("b") == ["after the restart"]
    assert link.delivered("a") == [b"later001"]


def test_several_small_messages_share_one_datagram():
    link = connected()
    before = len(link.sent["a"])
    for n in range(20):
        link.a.send_message(b"small%03d" % n, f"hi {n}", link.now)
    link.run(until=2.0)
    assert link.received("b") == [f"hi {n}" for n in range(20)]
    assert len(link.sent["a"]) - before < 5  # Not one datagram each.
