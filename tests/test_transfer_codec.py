"""The files protocol's records and stream header: round trips, and bad bytes refused."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from p2ptui.net import LocalProtocolError, RemoteProtocolError
from p2ptui.net.transfer import codec

TID = bytes(range(16))


@pytest.mark.parametrize(
    "record",
    [
        codec.Offer(TID, 5 * 2**30, b"\x01" * 32, "holiday ünï.jpg"),
        codec.Accept(TID, 2**33 + 7),  # past 4 GiB
        codec.Decline(TID, "too large"),
        codec.Cancel(TID, ""),
        codec.Stop(TID, "the disk is full"),
        codec.Done(TID, True),
        codec.Done(TID, False),
    ],
)
def test_every_record_round_trips(record):
    assert codec.decode_untrusted(codec.encode(record)) == record


def test_the_stream_header_carries_offsets_past_4_gib():
    header = codec.stream_header(TID, 2**32 + 5)
    assert len(header) == codec.STREAM_HEADER.size
    assert codec.parse_stream_header_untrusted(header) == (TID, 2**32 + 5)


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        bytes([1]) + TID,  # an offer with no size or hash
        bytes([9]) + TID,  # an unknown kind
        bytes([2]) + TID + b"\x00" * 7,  # an accept cut short
        bytes([2]) + TID + b"\xff" * 8,  # past any file's end
        bytes([6]) + TID + b"\x02",  # done neither 0 nor 1
        bytes([1]) + TID + b"\x00" * 40 + b"\xff\xfe",  # a name not in UTF-8
        bytes([1]) + TID + b"\x00" * 40 + b"a" * (codec.MAX_NAME_BYTES + 1),
        bytes([3]) + TID + b"r" * (codec.MAX_REASON_BYTES + 1),
    ],
)
def test_malformed_records_are_remote_errors(payload):
    with pytest.raises(RemoteProtocolError):
        codec.decode_untrusted(payload)


@given(st.binary(max_size=120))
def test_any_bytes_decode_or_raise_only_remote_errors(payload):
    try:
        codec.decode_untrusted(payload)
    except RemoteProtocolError:
        pass


def test_a_stream_that_is_not_ours_is_refused():
    with pytest.raises(RemoteProtocolError):
        codec.parse_stream_header_untrusted(b"http" + TID + b"\x00" * 8)
    with pytest.raises(RemoteProtocolError):
        codec.parse_stream_header_untrusted(b"p2pf")


def test_we_never_encode_a_bad_record():
    with pytest.raises(LocalProtocolError):
        codec.encode(codec.Accept(b"short", 0))
    with pytest.raises(LocalProtocolError):
        codec.encode(codec.Offer(TID, 1, b"\x00" * 32, "x" * 2000))


def test_a_long_reason_is_cut_on_a_character_boundary():
    record = codec.decode_untrusted(codec.encode(codec.Stop(TID, "é" * 1000)))
    assert isinstance(record, codec.Stop) and set(record.reason) == {"é"}
    assert len(record.reason.encode()) <= codec.MAX_REASON_BYTES
