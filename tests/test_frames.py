"""The frame codec inside encrypted packets: round trips, and hostile input raising FrameError only."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from p2ptui.net import frames as fr

varints = st.integers(0, fr.VARINT_MAX)
small = st.integers(0, 2**40)


@st.composite
def ack_ranges(draw):
    count = draw(st.integers(1, fr.MAX_ACK_RANGES))
    high = draw(st.integers(count * 3, 2**40))
    ranges = []
    for _ in range(count):
        length = draw(st.integers(0, 3))
        low = max(high - length, 0)
        ranges.append((low, high))
        high = low - 2 - draw(st.integers(0, 3))
        if high < 0:
            break
    return tuple(ranges)


frames = st.one_of(
    st.builds(fr.Ping),
    st.builds(fr.Ack, ack_ranges(), small),
    st.builds(fr.ResetStream, small, small),
    st.builds(fr.StopSending, small),
    st.builds(fr.Stream, small, small, st.binary(max_size=200), st.booleans()),
    st.builds(fr.MaxData, varints),
    st.builds(fr.MaxStreamData, small, varints),
    st.builds(fr.DataBlocked, varints),
    st.builds(fr.StreamDataBlocked, small, varints),
    st.builds(fr.Delivered, varints),
    st.builds(fr.Probe, st.binary(min_size=8, max_size=8)),
    st.builds(fr.ProbeAck, st.binary(min_size=8, max_size=8)),
    st.builds(fr.CallMe),
    st.builds(fr.Goodbye),
)


@settings(max_examples=500)
@given(st.integers(0, 2**40), st.lists(frames, min_size=1, max_size=6))
def test_packets_round_trip(pn, packed):
    assert fr.parse_packet_untrusted(fr.encode_packet(pn, packed)) == (pn, tuple(packed))


@pytest.mark.parametrize("value", [0, 63, 64, 16383, 16384, 2**30 - 1, 2**30, fr.VARINT_MAX])
def test_varints_take_the_shortest_form(value):
    data = fr.encode_varint(value)
    assert len(data) == fr.varint_size(value)
    assert fr.parse_packet_untrusted(data + fr.encode_frame(fr.Ping()))[0] == value


def test_a_varint_out_of_range_is_refused_when_encoding():
    with pytest.raises(ValueError):
        fr.encode_varint(fr.VARINT_MAX + 1)
    with pytest.raises(ValueError):
        fr.encode_varint(-1)


@pytest.mark.parametrize(
    "data, error",
    [
        (b"", "truncated"),
        (b"\x00", "no frames"),
        (b"\x00\x3f", "unknown frame type"),
        (b"\x00\x08\x00\x00\x05abc", "truncated"),  # A stream frame promising 5 bytes, giving 3.
        (b"\x00\x02\x05\x00\x00\x09", "below zero"),  # An ack range reaching below packet 0.
        (b"\x00\x02\x40", "truncated"),
        (b"\x00\x30abc", "truncated"),  # A probe's txid cut short.
    ],
)
def test_hostile_packets_are_refused_with_a_reason(data, error):
    with pytest.raises(fr.FrameError, match=error):
        fr.parse_packet_untrusted(data)


def test_an_ack_with_too_many_ranges_is_refused():
    data = b"\x00\x02" + fr.encode_varint(1000) + b"\x00" + fr.encode_varint(fr.MAX_ACK_RANGES) + b"\x00"
    with pytest.raises(fr.FrameError, match="too many"):
        fr.parse_packet_untrusted(data + b"\x00\x00" * fr.MAX_ACK_RANGES)


@settings(max_examples=2000)
@given(st.binary(max_size=1300))
def test_random_bytes_raise_only_frame_error(data):
    try:
        fr.parse_packet_untrusted(data)
    except fr.FrameError:
        pass


@settings(max_examples=500)
@given(st.lists(frames, min_size=1, max_size=4), st.integers(0, 60), st.binary(min_size=1, max_size=4))
def test_mutated_packets_raise_only_frame_error(packed, position, junk):
    data = bytearray(fr.encode_packet(1, packed))
    position = min(position, len(data))
    data[position : position + len(junk)] = junk
    try:
        fr.parse_packet_untrusted(bytes(data))
    except fr.FrameError:
        pass
