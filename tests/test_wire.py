"""The datagram format: round trips, and bad input raising WireError only."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from p2ptui.net import frames as fr
from p2ptui.net import wire

TAG_A, TAG_B = b"A" * 8, b"B" * 8

PACKETS = [
    wire.Probe(TAG_A, TAG_B, b"12345678"),
    wire.ProbeAck(TAG_A, TAG_B, b"12345678"),
    wire.HandshakeInit(TAG_A, TAG_B, b"i" * 104),
    wire.HandshakeResp(TAG_A, TAG_B, b"r" * 48),
    wire.Transport(TAG_A, TAG_B, 3, 2**64 - 2, b"c" * 100),
]
INNER = [
    wire.Frames(TAG_A, TAG_B, 0, (fr.Probe(b"12345678"),)),
    wire.Frames(TAG_A, TAG_B, 7, (fr.Stream(0, 0, "héllo".encode()),)),
    wire.Frames(TAG_A, TAG_B, 2**30 - 1, (fr.Stream(5, 2**40, b"x" * (wire.MAX_INNER - 20), fin=True),)),
    wire.Frames(TAG_A, TAG_B, 1, (fr.Ack(((40, 42),), 25), fr.Delivered(99), fr.Stream(1, 3, b"ctl"))),
    wire.Frames(TAG_A, TAG_B, 2, (fr.Ack(tuple((n * 10, n * 10 + 3) for n in range(fr.MAX_ACK_RANGES, 0, -1))),)),
    wire.Frames(TAG_A, TAG_B, 3, (fr.CallMe(), fr.Ping(), fr.MaxData(2**50), fr.MaxStreamData(4, 9))),
    wire.Frames(TAG_A, TAG_B, 4, (fr.ResetStream(4, 100), fr.StopSending(5), fr.StreamDataBlocked(4, 8))),
]


@pytest.mark.parametrize("packet", PACKETS, ids=lambda p: type(p).__name__)
def test_round_trip(packet):
    data = wire.encode(packet)
    assert len(data) <= wire.MAX_DATAGRAM
    assert wire.is_ours(data)
    assert wire.parse_untrusted(data) == packet


@pytest.mark.parametrize("packet", INNER, ids=lambda p: type(p).__name__)
def test_inner_round_trip_fits_a_datagram_once_encrypted(packet):
    data = wire.encode_inner(packet)
    assert len(data) + wire.TRANSPORT_OVERHEAD <= wire.MAX_DATAGRAM
    assert wire.parse_inner_untrusted(TAG_A, TAG_B, data) == packet


def test_frames_never_travel_in_the_clear():
    with pytest.raises(ValueError):
        wire.encode(INNER[1])  # type: ignore[arg-type]
    # Version 2's DATA (3) and CALL_ME (8) kinds, in the clear: refused, never parsed.
    cleartext = bytes([wire.MAGIC, wire.VERSION, 3]) + TAG_A + TAG_B + wire.encode_inner(INNER[1])
    with pytest.raises(wire.WireError, match="cleartext"):
        wire.parse_untrusted(cleartext)
    with pytest.raises(wire.WireError, match="cleartext"):
        wire.parse_untrusted(bytes([wire.MAGIC, wire.VERSION, 8]) + TAG_A + TAG_B)


@pytest.mark.parametrize(
    "data, error",
    [
        (b"", "too short"),
        (bytes([wire.MAGIC, 9, 1]) + b"\0" * 24, "unknown version"),
        (bytes([0x00, 1, 1]) + b"\0" * 24, "not a p2ptui datagram"),
        (bytes([wire.MAGIC, wire.VERSION, 99]) + b"\0" * 24, "unknown kind"),
        (wire.encode(PACKETS[0])[:-1], "wrong length"),
        (wire.encode(PACKETS[1]) + b"x", "wrong length"),
        (bytes([wire.MAGIC, wire.VERSION, wire.Kind.TRANSPORT]) + b"\0" * 30, "too short"),
        (bytes([wire.MAGIC, wire.VERSION, wire.Kind.HANDSHAKE_INIT]) + b"\0" * 20, "handshake"),
        (b"\xd2" * (wire.MAX_DATAGRAM + 1), "over"),
    ],
)
def test_bad_datagrams_are_refused_with_a_reason(data, error):
    with pytest.raises(wire.WireError, match=error):
        wire.parse_untrusted(data)


def test_unknown_frame_types_are_refused():
    data = wire.encode_inner(INNER[1]) + bytes([0x3F])
    with pytest.raises(wire.WireError, match="unknown frame type"):
        wire.parse_inner_untrusted(TAG_A, TAG_B, data)


def test_encode_refuses_an_oversize_packet():
    with pytest.raises(ValueError):
        wire.encode_inner(wire.Frames(TAG_A, TAG_B, 0, (fr.Stream(0, 0, b"x" * wire.MAX_INNER),)))


@settings(max_examples=10_000)
@given(st.binary(max_size=1300))
def test_fuzz_random_bytes_raise_only_wire_error(data):
    try:
        wire.parse_untrusted(data)
    except wire.WireError:
        pass
    try:
        wire.parse_inner_untrusted(TAG_A, TAG_B, data)
    except wire.WireError:
        pass


@settings(max_examples=3000)
@given(st.sampled_from(PACKETS), st.integers(0, 40), st.binary(min_size=1, max_size=4))
def test_fuzz_mutated_packets_raise_only_wire_error(packet, position, junk):
    data = bytearray(wire.encode(packet))
    position = min(position, len(data))
    data[position : position + len(junk)] = junk
    try:
        wire.parse_untrusted(bytes(data))
    except wire.WireError:
        pass
