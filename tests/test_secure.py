"""The secure channel: the handshake inside Session, rekeying, replay windows,
rate limits, and hostile datagrams. Sessions meet over the simulated link."""

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from p2ptui.net import secure, wire
from p2ptui.net import session as sess

from .fakenet import A_ADDR, B_ADDR, Link


def connected_pair(config: sess.SessionConfig | None = None) -> Link:
    link = Link.pair(config)
    link.introduce()
    link.run(until=1.0)
    assert link.a.state == link.b.state == sess.State.CONNECTED
    return link


def test_the_session_connects_only_through_the_handshake():
    link = connected_pair()
    assert link.a.secure and link.b.secure
    initiator = link.a if link.a.keys.is_initiator() else link.b
    responder = link.b if initiator is link.a else link.a
    assert not responder.keys.is_initiator()  # exactly one side starts it
    assert initiator.keys.current.send_cipher.key == responder.keys.current.receive_cipher.key


def test_a_peer_with_another_key_never_gets_a_session():
    link = Link.pair(sess.SessionConfig(punch_timeout=3.0))
    impostor = sess.Session().static_public  # B believes A has this key
    link.b.start(link.a.local_tag, [A_ADDR], 0.0, impostor)
    link.a.start(link.b.local_tag, [B_ADDR], 0.0, link.b.static_public)
    link.run(until=10.0)
    assert link.a.state == link.b.state == sess.State.FAILED
    failed = [e for e in link.events["a"] + link.events["b"] if isinstance(e, sess.Failed)]
    assert any("handshake" in e.reason for e in failed)
    assert not any(isinstance(e, sess.Connected) for e in link.events["a"] + link.events["b"])


def test_a_forged_handshake_response_does_not_spoil_the_real_one():
    link = Link.pair()
    initiator, responder = (link.a, link.b) if link.a.static_public < link.b.static_public else (link.b, link.a)
    link.introduce()
    while initiator.state != sess.State.HANDSHAKE:
        link.run(until=link.now + 0.0005)
    # Someone who knows both tags (the signalling service, say) answers first.
    forged = wire.HandshakeResp(initiator.local_tag, responder.local_tag, bytes(48))
    initiator.datagram_received(forged, initiator.path, link.now)
    assert initiator.dropped["bad handshake"] == 1
    link.run(until=1.0)
    assert initiator.state == responder.state == sess.State.CONNECTED


def test_sessions_rekey_without_losing_or_repeating_a_message():
    link = connected_pair(sess.SessionConfig(rekey_after=5.0, keepalive_interval=1.0))
    first_key = link.a.keys.current.send_cipher.key
    initiator = link.a if link.a.keys.is_initiator() else link.b
    responder = link.b if initiator is link.a else link.a
    sent = []
    for second in range(2, 30):
        message_id = b"rk%06d" % second
        link.a.send_message(message_id, f"message {second}", link.now)
        sent.append(f"message {second}")
        link.run(until=float(second))
    assert link.a.keys.current.send_cipher.key != first_key
    assert link.received("b") == sent
    assert not any(isinstance(e, sess.PathLost) for e in link.events["a"] + link.events["b"])
    # An old initiation, replayed, starts nothing.
    name = "a" if initiator is link.a else "b"
    captured = [d for d in link.sent[name] if d[2] == wire.Kind.HANDSHAKE_INIT]
    assert len(captured) >= 4  # the first handshake and a rekey every 5 s
    responder.datagram_received(wire.parse_untrusted(captured[0]), initiator.path, link.now)
    assert responder.dropped["replayed handshake"] == 1


def test_replay_window_accepts_each_counter_once():
    window = secure.ReplayWindow()
    rng = random.Random(7)
    seen = set()
    for _ in range(20_000):
        counter = rng.randrange(0, 30_000)
        fresh = window.check(counter)
        if fresh:
            window.record(counter)
            assert counter not in seen
            seen.add(counter)
        else:
            assert counter in seen or counter <= window.top - window.SIZE
    window.record(2**63)  # a jump far ahead clears everything behind
    assert not window.check(2**63) and window.check(2**63 + 1)


def test_handshake_messages_are_rate_limited_per_source_and_per_conversation():
    limiter = secure.RateLimiter(rate=10.0, burst=20.0)
    flood = sum(limiter.allow("203.0.113.66", b"conv-one", 0.0) for _ in range(1000))
    assert flood == 20
    assert limiter.allow("198.51.100.7", b"conv-two", 0.0)  # a real peer elsewhere still gets through
    # Spoofed sources aimed at one conversation cost that conversation only;
    # a global bucket would have let them starve everyone.
    spoofed = sum(limiter.allow(f"10.0.{n // 250}.{n % 250}", b"conv-three", 0.0) for n in range(1000))
    assert spoofed == 20
    assert limiter.allow("198.51.100.8", b"conv-four", 0.0)
    assert limiter.allow("203.0.113.66", b"conv-one", 2.0)  # the flooder, later, at the rate


@settings(max_examples=10_000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from([wire.Kind.HANDSHAKE_INIT, wire.Kind.HANDSHAKE_RESP, wire.Kind.TRANSPORT, wire.Kind.PROBE]),
    body=st.binary(max_size=300),
    mutate=st.booleans(),
)
def test_fuzz_hostile_datagrams_never_raise_nor_break_a_session(kind, body, mutate):
    link = _FUZZ_LINK
    header = bytes([wire.MAGIC, wire.VERSION, kind]) + link.a.local_tag + link.b.local_tag
    datagram = header + body
    if mutate and _FUZZ_SAMPLES:  # or a genuine datagram with a few bytes changed
        sample = bytearray(random.Random(len(body)).choice(_FUZZ_SAMPLES))
        for index, value in enumerate(body[:4]):
            sample[(value * 7 + index) % len(sample)] ^= value or 1
        datagram = bytes(sample)
    try:
        packet = wire.parse_untrusted(datagram)
    except wire.WireError:
        return
    link.a.datagram_received(packet, B_ADDR, link.now)
    assert link.a.state == sess.State.CONNECTED


def _fuzz_link() -> tuple[Link, list[bytes]]:
    link = connected_pair()
    samples = []
    link.b.send_message(b"fuzz0001", "a genuine message", link.now)
    link.b.ping(link.now)
    link.run(until=2.0)
    samples += link.sent["b"]
    init = link.a.keys.initiation or link.b.keys.initiation
    if init is not None:
        samples.append(init.message)
    return link, samples


_FUZZ_LINK, _FUZZ_SAMPLES = _fuzz_link()


def test_an_initiation_before_the_peers_key_is_kept_not_dropped():
    # The initiator's message 1 can overtake the offer or answer that carries its
    # key; dropping it cost a 200 ms retransmission on every such connect.
    link = Link.pair()
    a_starts = link.a.static_public < link.b.static_public
    initiator, responder = (link.a, link.b) if a_starts else (link.b, link.a)
    initiator_addr, responder_addr = (A_ADDR, B_ADDR) if a_starts else (B_ADDR, A_ADDR)
    responder.start(initiator.local_tag, [initiator_addr], 0.0)  # its key not known yet
    initiator.start(responder.local_tag, [responder_addr], 0.0, responder.static_public)
    link.run(until=0.01)
    assert initiator.state == sess.State.HANDSHAKE and responder.keys.holds_early_initiation
    responder.start(initiator.local_tag, [initiator_addr], link.now, initiator.static_public)
    link.run(until=0.02)
    assert initiator.state == responder.state == sess.State.CONNECTED
