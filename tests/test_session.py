"""The connection state machine, driven by a simulated link: no sockets, no event loop.

Over 400 lines since before wire version 3: the session's surface (punching,
keys, paths, messages) on one simulated link; its parts have their own files
(test_session_paths, test_session_keys, test_channel_streams, ...).
"""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from p2ptui.net import frames as fr
from p2ptui.net import session as sess
from p2ptui.net import wire

from .fakenet import A_ADDR, A_RELAYED, B_ADDR, RELAY, Link, frames_of


def test_both_sides_connect_after_introduction():
    link = Link.pair()
    link.introduce()
    link.run(until=1.0)
    assert link.a.state == link.b.state == sess.State.CONNECTED
    assert link.a.path == B_ADDR and link.b.path == A_ADDR
    assert any(isinstance(e, sess.Connected) for e in link.events["a"])


def test_messages_flow_both_ways_and_are_acknowledged():
    link = Link.pair()
    link.introduce()
    link.a.send_message(b"m-a-0001", "hello b", link.now)  # queued before the path opens
    link.run(until=1.0)
    link.b.send_message(b"m-b-0001", "hello a", link.now)
    link.run(until=2.0)
    assert link.received("b") == ["hello b"]
    assert link.received("a") == ["hello a"]
    assert link.delivered("a") == [b"m-a-0001"]
    assert link.delivered("b") == [b"m-b-0001"]
    assert link.a.unacknowledged == link.b.unacknowledged == 0


def test_long_messages_are_fragmented_and_reassembled():
    text = "ü" * 20_000  # 40,000 bytes of UTF-8: many fragments, characters split across them
    link = Link.pair()
    link.introduce()
    link.a.send_message(b"long0001", text, link.now)
    link.run(until=2.0)
    assert link.received("b") == [text]
    assert link.delivered("a") == [b"long0001"]


def test_a_message_over_the_limit_is_refused():
    session = sess.Session()
    try:
        session.send_message(b"big00001", "x" * (sess.MAX_MESSAGE_BYTES + 1), 0.0)
    except sess.MessageTooLong as exc:
        assert "limit" in str(exc)
    else:
        raise AssertionError("no error")
    assert session.unacknowledged == 0


def test_punching_gives_up_at_the_deadline_with_a_reason():
    config = sess.SessionConfig(punch_timeout=5.0)
    link = Link.pair(config, a_to_b=False, b_to_a=False)
    link.introduce()
    link.run(until=4.9)
    assert link.a.state == sess.State.PROBING
    link.run(until=6.0)
    assert link.a.state == sess.State.FAILED
    (failed,) = [e for e in link.events["a"] if isinstance(e, sess.Failed)]
    assert "no answer" in failed.reason


def test_probing_is_bounded():
    config = sess.SessionConfig(punch_timeout=10.0)
    link = Link.pair(config, a_to_b=False, b_to_a=False)
    link.a.start(link.b.local_tag, [B_ADDR, ("192.0.2.9", 9)], 0.0)
    sent = 0
    now = 0.0
    while (timeout := link.a.next_timeout()) is not None:
        now = timeout
        link.a.handle_timeout(now)
        sent += len(link.a.datagrams_to_send())
    # Two candidates, gaps doubling from 50 ms to 1 s, over 10 s.
    assert 10 < sent < 40
    assert now <= 10.0 + 1e-9


def test_a_silent_path_is_lost_then_recovered_by_probing():
    config = sess.SessionConfig(keepalive_interval=1.0, path_timeout=3.0)
    link = Link.pair(config)
    link.introduce()
    link.run(until=1.0)
    assert link.a.state == sess.State.CONNECTED
    link.a_to_b = link.b_to_a = False  # the NAT mapping vanished
    link.run(until=5.0)
    assert any(isinstance(e, sess.PathLost) for e in link.events["a"])
    assert link.a.state == sess.State.PROBING
    link.a_to_b = link.b_to_a = True
    link.run(until=8.0)
    assert link.a.state == sess.State.CONNECTED


def test_keepalives_hold_an_idle_path_open():
    config = sess.SessionConfig(keepalive_interval=1.0, path_timeout=3.0)
    link = Link.pair(config)
    link.introduce()
    link.run(until=60.0)
    assert link.a.state == link.b.state == sess.State.CONNECTED
    assert not any(isinstance(e, sess.PathLost) for e in link.events["a"] + link.events["b"])


def test_datagrams_with_a_wrong_or_stale_tag_are_dropped_and_counted():
    link = Link.pair()
    link.introduce()
    link.run(until=1.0)
    junk = b"\0" * 40
    stranger = wire.Transport(link.b.local_tag, b"stranger", 1, 0, junk)
    link.b.datagram_received(stranger, A_ADDR, link.now)
    misrouted = wire.Transport(b"not-mine", link.a.local_tag, 1, 0, junk)
    link.b.datagram_received(misrouted, A_ADDR, link.now)
    assert link.b.dropped["stale tag"] == 1
    assert link.b.dropped["wrong tag"] == 1
    assert link.b.events() == [] and link.received("b") == []
    assert link.b.state == sess.State.CONNECTED  # a good session is not torn down


def test_forged_and_replayed_datagrams_are_dropped_and_counted():
    link = Link.pair()
    link.introduce()
    link.run(until=1.0)
    link.a.send_message(b"real0001", "genuine", link.now)
    ((data, _),) = link.a.datagrams_to_send()
    genuine = wire.parse_untrusted(data)
    assert isinstance(genuine, wire.Transport)
    link.b.datagram_received(genuine, A_ADDR, link.now)
    link.b.datagram_received(genuine, A_ADDR, link.now)  # replayed
    flipped = bytearray(genuine.ciphertext)
    flipped[0] ^= 1
    forged = wire.Transport(genuine.to_tag, genuine.from_tag, genuine.key_id, genuine.counter + 1, bytes(flipped))
    link.b.datagram_received(forged, A_ADDR, link.now)
    assert [e.text for e in link.b.events() if isinstance(e, sess.MessageReceived)] == ["genuine"]
    assert link.b.dropped["replayed"] == 1
    assert link.b.dropped["failed authentication"] == 1
    assert link.b.state == sess.State.CONNECTED


def test_a_restarted_peer_gets_the_unacknowledged_messages_again():
    link = Link.pair()
    link.introduce()
    link.run(until=1.0)
    link.b_to_a = False  # acks from B are lost, so A keeps the message unacknowledged
    link.a.send_message(b"keep0001", "survives a restart", link.now)
    link.run(until=1.5)
    assert link.received("b") == ["survives a restart"]
    assert link.a.unacknowledged == 1
    # B restarts: a new instance with a new tag, introduced again through signalling.
    link.restart("b")
    link.b_to_a = True
    link.introduce()
    link.run(until=3.0)
    assert link.received("b") == ["survives a restart"]
    assert link.delivered("a") == [b"keep0001"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32),
    loss=st.floats(0.0, 0.4),
    duplicate=st.floats(0.0, 0.3),
    max_delay=st.floats(0.0001, 0.2),
    texts=st.lists(st.text(min_size=1, max_size=3000), min_size=1, max_size=15),
)
def test_everything_arrives_exactly_once_in_order(seed, loss, duplicate, max_delay, texts):
    config = sess.SessionConfig(punch_timeout=1000.0, path_timeout=1000.0)
    link = Link.pair(config, loss=loss, duplicate=duplicate, max_delay=max_delay, seed=seed)
    link.introduce()
    ids = [f"m{i:07d}".encode() for i in range(len(texts))]
    for message_id, text in zip(ids, texts):
        link.a.send_message(message_id, text, link.now)
    link.run(until=600.0)
    assert link.received("b") == texts
    assert sorted(link.delivered("a")) == sorted(ids)


def test_traffic_from_another_address_does_not_keep_a_dead_path_alive():
    # Regression: the peer's NAT remapped it; its keepalives still arrived, from a new
    # port, and kept the old path "alive" while our data to it went nowhere.
    config = sess.SessionConfig(keepalive_interval=1.0, path_timeout=3.0)
    link = Link.pair(config)
    link.introduce()
    link.run(until=1.0)
    link.a_to_b = False  # B's old address is gone...
    link.sources["b"] = ("192.0.2.2", 9999)  # ...and B's keepalives now come from a new port
    link.run(until=8.0)
    assert any(isinstance(e, sess.PathLost) for e in link.events["a"])


def test_a_peer_that_never_acknowledges_data_costs_bounded_retries_for_hours():
    # Regression: 2 ** tries overflowed a float after about 1,000 retransmissions.
    config = sess.SessionConfig(keepalive_interval=5.0, path_timeout=30.0)
    link = Link.pair(config)
    link.introduce()
    link.run(until=1.0)
    resends = 0

    def lose_acks(receiver, packet):
        # The peer answers probes on the path, and never acknowledges data.
        nonlocal resends
        resends += receiver == "b" and bool(frames_of(packet, fr.Stream))
        return receiver == "a" and not frames_of(packet, fr.Probe | fr.ProbeAck)

    link.drop_inner = lose_acks
    link.a.send_message(b"lost0001", "never acknowledged", link.now)
    link.run(until=5 * 3600)
    assert link.a.state == sess.State.CONNECTED and link.a.unacknowledged == 1
    # The probe timeout is capped at rto_max (8 s): about 5 h / 8 s tries, not fewer, and no overflow.
    assert 2000 < resends < 2400


def test_a_peer_restarting_mid_message_gets_the_whole_message():
    # Regression: only the unacknowledged fragments were sent again, so the new
    # instance received the tail of a message and the sender reported it delivered.
    text = "A" * wire.MAX_INNER + "B" * wire.MAX_INNER + "C" * 10
    link = Link.pair()
    link.introduce()
    link.run(until=1.0)
    # B gets (and acknowledges) only the first packet of it, then dies.
    link.drop_inner = lambda receiver, p: receiver == "b" and any(f.offset > 0 for f in frames_of(p, fr.Stream))
    link.a.send_message(b"3frag001", text, link.now)
    link.run(until=1.5)
    assert link.a.unacknowledged == 1 and link.received("b") == []
    link.restart("b")  # knows nothing
    link.drop_inner = None
    link.introduce()
    link.run(until=5.0)
    assert link.received("b") == [text]
    assert link.delivered("a") == [b"3frag001"]


def test_a_dead_path_is_noticed_within_seconds_of_sending_on_it():
    link = Link.pair()  # the defaults: keepalive every 10 s, path_timeout 5 s
    link.introduce()
    link.run(until=1.0)
    link.a_to_b = link.b_to_a = False  # the path dies silently
    link.run(until=3.0)
    assert link.a.state == sess.State.CONNECTED  # nothing sent yet, nothing noticed
    link.a.send_message(b"probe001", "anyone there?", link.now)
    link.run(until=3.0 + link.a.config.path_timeout + 0.1)
    (lost,) = [e for e in link.events["a"] if isinstance(e, sess.PathLost)]
    assert lost.remote == B_ADDR and link.a.state == sess.State.PROBING
    assert link.a.unacknowledged == 1  # the message waits for the next path


def test_a_new_offer_while_connected_punches_toward_every_candidate():
    # Regression: a peer whose NAT forgot us offers again; we thought the path was
    # open and only noted its addresses, so nothing punched our NAT toward it.
    link = Link.pair()
    link.introduce()
    link.run(until=1.0)
    link.b.datagrams_to_send()
    link.b.start(link.a.local_tag, [A_ADDR, ("198.51.100.9", 4000)], link.now)
    probes = [(wire.parse_untrusted(d), address) for d, address in link.b.datagrams_to_send()]
    assert all(isinstance(packet, wire.Transport) for packet, _ in probes)  # encrypted probes
    assert {address for _, address in probes} == {A_ADDR, ("198.51.100.9", 4000)}
    assert link.b.state == sess.State.CONNECTED


def test_a_lan_path_is_preferred_when_it_answers_too():
    # Both the peer's public and its LAN address answer (a NAT that hairpins):
    # the session settles on the LAN one, whichever answered first.
    session = sess.Session()
    lan, public = ("192.168.1.20", 4000), ("203.0.113.50", 4000)
    session.start(b"P" * 8, [public, lan], 0.0, remote_static=sess.Session().static_public)
    probes = {address: wire.parse_untrusted(data).txid for data, address in session.datagrams_to_send()}
    session.datagram_received(wire.ProbeAck(session.local_tag, b"P" * 8, probes[public]), public, 0.01)
    assert session.path == public and session.state == sess.State.HANDSHAKE
    session.datagram_received(wire.ProbeAck(session.local_tag, b"P" * 8, probes[lan]), lan, 0.02)
    assert session.path == lan  # the handshake (and all after it) goes the LAN way


def test_unanswered_probes_are_forgotten_while_connected():
    # Regression: the probe table was pruned only while punching, so lost
    # keepalives piled up for as long as a session stayed open.
    config = sess.SessionConfig(keepalive_interval=1.0)
    link = Link.pair(config)
    link.introduce()
    link.run(until=1.0)
    acks = 0

    def lose_one_ack_in_three(receiver, packet):
        nonlocal acks
        if receiver == "a" and frames_of(packet, fr.ProbeAck):
            acks += 1
            return acks % 3 == 0
        return False

    link.drop_inner = lose_one_ack_in_three
    link.run(until=2000.0)
    assert acks > 1000
    assert link.a.state == sess.State.CONNECTED
    assert link.a.paths.probes_awaiting_answer < 100


def test_a_lost_fragment_is_resent_when_later_ones_are_acknowledged_not_after_its_timer():
    # Regression, from the lab at 30% loss: a lost fragment waited out a timer
    # that had backed off to seconds, while everything after it was acknowledged.
    link = Link.pair()
    link.introduce()
    link.run(until=1.0)
    lost = []

    def lose_first_copy_of_seq_0(receiver, packet):
        if receiver == "b" and any(f.offset == 0 for f in frames_of(packet, fr.Stream)) and not lost:
            lost.append(packet)
            return True
        return False

    link.drop_inner = lose_first_copy_of_seq_0
    for n in range(6):
        link.a.send_message(b"fast%04d" % n, f"message {n}", link.now)
    started = link.now
    link.run(until=started + 0.05)  # far less than the 200 ms minimum timeout
    assert lost and link.received("b") == [f"message {n}" for n in range(6)]


# --- Relayed paths ----------------------------------------------------------------


def _connected_at(link, side):
    return [e for e in link.events[side] if isinstance(e, sess.Connected)]


def test_with_no_direct_path_the_relay_takes_over_after_the_relay_delay():
    link = Link.pair(a_to_b=False, b_to_a=False)
    link.introduce(relay=True)
    link.a.send_message(b"relay001", "over the relay", link.now)
    link.run(until=1.9)
    # Direct is tried alone first: nothing has gone through the relay yet.
    assert link.a.state == sess.State.PROBING
    assert link.received("b") == []
    link.run(until=3.0)
    assert link.a.state == link.b.state == sess.State.CONNECTED
    assert link.a.path == sess.Via(RELAY, B_ADDR) and link.a.relayed
    assert link.b.path == A_RELAYED and link.b.relayed  # B talks straight to A's relay
    assert link.received("b") == ["over the relay"]
    assert link.delivered("a") == [b"relay001"]


def test_when_the_nat_types_rule_out_direct_the_relay_is_used_at_once():
    link = Link.pair(a_to_b=False, b_to_a=False)
    link.introduce(relay=True, relay_now=True)
    link.run(until=0.5)
    assert link.a.state == link.b.state == sess.State.CONNECTED
    assert link.a.relayed and link.b.relayed


def test_a_working_direct_path_never_touches_the_relay():
    link = Link.pair()
    link.introduce(relay=True)
    link.run(until=5.0)
    assert link.a.path == B_ADDR and link.b.path == A_ADDR
    assert not link.a.relayed and not link.b.relayed
    assert not any(isinstance(route, sess.Via) for route in link.routes["a"])


def test_a_relayed_conversation_moves_to_a_direct_path_when_one_opens_losing_nothing():
    config = sess.SessionConfig(direct_retry_interval=5.0)
    link = Link.pair(config, a_to_b=False, b_to_a=False)
    link.introduce(relay=True)
    link.run(until=3.0)
    assert link.a.relayed and link.b.relayed
    sent = []
    for i in range(40):  # Messages in flight all through the move.
        link.a.send_message(f"move{i:04d}".encode(), f"a{i}", link.now)
        link.b.send_message(f"back{i:04d}".encode(), f"b{i}", link.now)
        sent.append(i)
        if i == 10:
            link.a_to_b = link.b_to_a = True  # The NATs now let direct traffic through.
        link.run(until=link.now + 0.25)
    link.run(until=link.now + 6.0)
    assert link.a.path == B_ADDR and link.b.path == A_ADDR
    assert not link.a.relayed and not link.b.relayed
    assert link.received("b") == [f"a{i}" for i in sent]  # all, once, in order
    assert link.received("a") == [f"b{i}" for i in sent]
    assert link.a.unacknowledged == link.b.unacknowledged == 0
    # The move was announced: a Connected for the direct path after the relayed one.
    assert _connected_at(link, "a")[-1].remote == B_ADDR


def test_the_upgrade_asks_the_peer_to_punch_at_the_same_time():
    config = sess.SessionConfig(direct_retry_interval=5.0)
    link = Link.pair(config, a_to_b=False, b_to_a=False)
    link.introduce(relay=True)
    link.run(until=3.0)
    seen = []
    link.drop_inner = lambda side, packet: seen.extend((side, type(f).__name__) for f in frames_of(packet, object))
    link.run(until=9.0)
    # Each side asked the other (over the relay) to probe its direct addresses.
    assert ("b", "CallMe") in seen and ("a", "CallMe") in seen


def test_losing_the_relay_loses_the_path_at_once():
    link = Link.pair(a_to_b=False, b_to_a=False)
    link.introduce(relay=True)
    link.run(until=3.0)
    assert link.a.relayed
    link.a.set_relays((), link.now)
    assert link.a.state == sess.State.PROBING
    assert any(isinstance(e, sess.PathLost) for e in link.a.events())


def test_a_dead_relay_is_noticed_and_the_path_comes_back_with_it():
    link = Link.pair(a_to_b=False, b_to_a=False)
    link.introduce(relay=True)
    link.run(until=3.0)
    link.relay_up = False
    link.a.send_message(b"dead0001", "into a dead relay", link.now)
    link.run(until=link.now + 6.0)
    assert any(isinstance(e, sess.PathLost) for e in link.events["a"])
    link.relay_up = True
    link.a.start(link.b.local_tag, [B_ADDR], link.now, link.b.static_public)  # signalling again
    link.b.start(link.a.local_tag, [A_ADDR], link.now, link.a.static_public, remote_relays=[A_RELAYED])
    link.run(until=link.now + 4.0)
    assert link.a.state == sess.State.CONNECTED and link.a.relayed
    assert link.received("b") == ["into a dead relay"]


def test_when_the_relay_answers_first_the_punch_goes_on_and_wins():
    # relay_now (the NAT types said direct was unlikely), yet a direct path opens a
    # second later: long before the first periodic retry (60 s), it is found.
    link = Link.pair(a_to_b=False, b_to_a=False)
    link.introduce(relay=True, relay_now=True)
    link.run(until=0.5)
    assert link.a.relayed and link.b.relayed
    link.a_to_b = link.b_to_a = True
    link.run(until=5.0)
    assert link.a.path == B_ADDR and link.b.path == A_ADDR


def test_a_late_wakeup_after_the_punch_deadline_does_not_spin_the_driver():
    link = Link.pair(a_to_b=False, b_to_a=False)
    link.introduce(relay=True, relay_now=True)
    link.run(until=0.5)
    assert link.a.relayed
    late = link.a.config.punch_timeout + 0.01  # the driver woke up only after the punch (from 0) ended
    link.a.handle_timeout(late)
    assert link.a.next_timeout() > late  # not a time already past, again and again


def test_a_probe_answer_counts_only_from_where_the_probe_went():
    # Someone who sees the peer's answers (the relay's operator) copies one to us
    # from an address of their own, ahead of the real one: we must not move there.
    link = Link.pair(a_to_b=False, b_to_a=False)
    link.introduce(relay=True, relay_now=True)
    link.run(until=0.5)
    assert link.a.relayed
    txid = link.a.ping(link.now)
    link.a.datagrams_to_send()
    ack = wire.Frames(link.a.local_tag, link.b.local_tag, 1000, (fr.ProbeAck(txid),))
    forged = link.b.keys.seal(ack)  # the peer's genuine, encrypted answer
    link.a.datagram_received(wire.parse_untrusted(wire.encode(forged)), ("203.0.113.66", 4444), link.now)
    assert link.a.path == sess.Via(RELAY, B_ADDR) and link.a.relayed
    assert link.a.dropped["probe answer from elsewhere"] == 1
    assert not any(isinstance(e, sess.Connected) for e in link.a.events())


def test_reallocated_relays_never_crowd_out_the_peers_own_addresses():
    session = sess.Session()
    peer = sess.Session()
    for n in range(20):  # the peer's relay reallocated 20 times, each offer naming the new one
        relay = ("198.51.100.1", 50000 + n)
        session.start(peer.local_tag, [B_ADDR, ("10.0.0.2", 2222)], float(n), peer.static_public, remote_relays=[relay])
        assert B_ADDR in session.candidates and ("10.0.0.2", 2222) in session.candidates
        assert relay in session.candidates and relay in session.remote_relays
    assert len(session.candidates) <= session.config.max_candidates
    assert len(session.remote_relays) == sess.MAX_REMOTE_RELAYS  # old ones remembered, boundedly


def test_a_burst_of_probes_keeps_the_probe_table_bounded():
    session = sess.Session()
    session.start(sess.Session().local_tag, [B_ADDR], 0.0)
    for port in range(20_000):
        session.probe(("192.0.2.2", 1024 + port % 60_000), 0.001 * port)
    assert session.paths.probes_awaiting_answer <= sess.MAX_PROBES
