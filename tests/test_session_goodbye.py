"""A peer that quits says so: GOODBYE, encrypted, a few copies, and the other side
closes at once instead of waiting out a path timeout."""

import pytest

from p2ptui.net import frames as fr
from p2ptui.net import session as sess
from p2ptui.net import wire

from .fakenet import A_ADDR, Link, frames_of

TAGS = (b"T" * 8, b"F" * 8)


def connected(config=None):
    link = Link.pair(config)
    link.introduce()
    link.run(until=1.0)
    assert link.a.state == link.b.state == sess.State.CONNECTED
    return link


def test_a_goodbye_reaches_the_peer_which_closes_and_says_the_peer_left():
    link = connected()
    link.a.close(link.now)
    assert link.a.state == sess.State.CLOSED
    link.run(until=link.now + 0.1)
    assert sess.PeerLeft() in link.events["b"]
    assert link.b.state == sess.State.CLOSED
    assert not any(isinstance(e, sess.PeerLeft) for e in link.events["a"])


def test_close_sends_a_bounded_number_of_copies_a_few_ms_apart_then_nothing():
    link = connected(sess.SessionConfig(goodbye_copies=3, goodbye_interval=0.005))
    link.b_to_a = link.a_to_b = False  # nothing arrives: count what leaves
    start = len(link.sent["a"])
    closed_at = link.now
    link.a.close(closed_at)
    times = [closed_at]
    while (at := link.a.next_timeout()) is not None:
        link.a.handle_timeout(at)
        times.append(at)
    assert times == pytest.approx([closed_at, closed_at + 0.005, closed_at + 0.010])
    link.run(until=link.now + 3600.0)
    sent = link.sent["a"][start:]
    assert len(sent) == 3 and all(d[2] == wire.Kind.TRANSPORT for d in sent)  # encrypted
    assert link.routes["a"][start:] == [link.a.path] * 3


def test_a_lost_goodbye_is_made_up_for_by_the_next_copy():
    link = connected()
    lost = []

    def lose_two(receiver, packet):
        if receiver == "b" and frames_of(packet, fr.Goodbye) and len(lost) < 2:
            lost.append(packet)
            return True
        return False

    link.drop_inner = lose_two
    link.a.close(link.now)
    link.run(until=link.now + 0.1)
    assert len(lost) == 2
    assert link.events["b"].count(sess.PeerLeft()) == 1 and link.b.state == sess.State.CLOSED


def test_after_the_peer_left_nothing_probes_keeps_alive_or_loses_a_path():
    config = sess.SessionConfig(keepalive_interval=1.0, path_timeout=3.0)
    link = connected(config)
    link.b.send_message(b"queued01", "for the peer's next instance", link.now)
    link.b_to_a = False  # so it is not acknowledged before the goodbye
    link.a.close(link.now)
    link.run(until=link.now + 0.1)
    assert link.b.state == sess.State.CLOSED
    sent_before = len(link.sent["b"])
    assert link.b.next_timeout() is None
    link.run(until=link.now + 600.0)
    assert len(link.sent["b"]) == sent_before
    assert not any(isinstance(e, sess.PathLost | sess.Failed) for e in link.events["b"])
    assert link.b.unacknowledged == 1  # it stays queued for a new Session


def test_a_forged_goodbye_is_dropped_counted_and_changes_nothing():
    link = connected()
    link.a.close(link.now)
    ((datagram, _), *_) = link.a.datagrams_to_send()
    genuine = wire.parse_untrusted(datagram)
    flipped = bytearray(genuine.ciphertext)
    flipped[0] ^= 1
    forged = wire.Transport(genuine.to_tag, genuine.from_tag, genuine.key_id, genuine.counter, bytes(flipped))
    link.b.datagram_received(forged, A_ADDR, link.now)
    assert link.b.dropped["failed authentication"] == 1
    assert link.b.state == sess.State.CONNECTED and link.b.events() == []


def test_a_goodbye_from_the_peers_previous_instance_is_dropped():
    link = connected()
    old_a = link.a
    old_a.close(link.now)
    captured = [wire.parse_untrusted(d) for d, _ in old_a.datagrams_to_send()]
    # A comes back (a new instance, a new tag) and connects again.
    link.restart("a")
    link.introduce()
    link.run(until=link.now + 1.0)
    assert link.b.state == sess.State.CONNECTED
    for replayed in captured:
        link.b.datagram_received(replayed, A_ADDR, link.now)
    assert link.b.dropped["stale tag"] == len(captured) == 1
    assert link.b.state == sess.State.CONNECTED
    assert sess.PeerLeft() not in link.b.events()


def test_the_later_copies_reach_a_closed_session_and_are_counted():
    link = connected()
    link.a.close(link.now)
    link.run(until=link.now + 0.1)
    assert link.b.dropped["closed"] == 2
    assert link.events["b"].count(sess.PeerLeft()) == 1


def test_closing_before_the_handshake_sends_nothing():
    session = sess.Session()
    session.start(b"P" * 8, [A_ADDR], 0.0)
    session.datagrams_to_send()
    session.close(0.1)
    session.close(0.2)  # twice is harmless
    assert session.state == sess.State.CLOSED
    assert session.datagrams_to_send() == [] and session.next_timeout() is None


def test_goodbye_travels_only_encrypted():
    to_tag, from_tag = TAGS
    packet = wire.Frames(to_tag, from_tag, 7, (fr.Goodbye(),))
    assert wire.parse_inner_untrusted(to_tag, from_tag, wire.encode_inner(packet)) == packet
    cleartext = bytes([wire.MAGIC, wire.VERSION, 9]) + to_tag + from_tag  # Version 2's GOODBYE kind.
    with pytest.raises(wire.WireError, match="cleartext"):
        wire.parse_untrusted(cleartext)
    with pytest.raises(ValueError):
        wire.encode(packet)  # type: ignore[arg-type]
    with pytest.raises(wire.WireError):
        wire.parse_inner_untrusted(to_tag, from_tag, wire.encode_inner(packet) + b"x")
