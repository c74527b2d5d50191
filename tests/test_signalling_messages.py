"""Offers, answers and presence from untrusted dicts; the line framing."""

from dataclasses import replace

import pytest

from p2ptui.net import Identity, LocalProtocolError, wire
from p2ptui.net.signalling import parse_signal_url
from p2ptui.net.signalling.messages import (
    Answer,
    Offer,
    Presence,
    SignallingDataError,
    parse_address_untrusted,
    sign,
    signature_valid,
    valid_name,
)
from p2ptui.net.signalling.protocol import LineBuffer, SignallingProtocolError, decode_untrusted

IDENTITY = Identity.generate()
KEY = IDENTITY.public_key
OFFER = sign(Offer(
    id="0" * 32,
    sender="alice",
    sender_key=KEY,
    receiver="bob",
    sender_ip="203.0.113.5",
    receiver_ip="198.51.100.7",
    port=40000,
    tag="11" * 8,
    candidates=(("203.0.113.5", 40000), ("10.0.0.2", 40000)),
    expires=1_900_000_000.0,
    relays=(("198.51.100.1", 50000),),
    nat="symmetric",
), IDENTITY)
ANSWER = sign(
    Answer("0" * 32, "bob", KEY, "alice", "198.51.100.7", 41000, "22" * 8, (("::1", 5),), 1_900_000_000.0),
    IDENTITY,
)


def test_offer_answer_presence_round_trip():
    assert Offer.from_dict_untrusted(OFFER.to_dict()) == OFFER
    assert Answer.from_dict_untrusted(ANSWER.to_dict()) == ANSWER
    presence = Presence("bob", True, KEY, ("198.51.100.7", 41000))
    assert Presence.from_dict_untrusted(presence.to_dict()) == presence


def test_signatures_cover_every_field_and_the_kind():
    assert signature_valid(OFFER) and signature_valid(ANSWER)
    assert OFFER.nonce != sign(OFFER, IDENTITY).nonce  # a fresh nonce each time
    for field, value in [
        ("port", 1), ("candidates", (("203.0.113.66", 1),)), ("expires", 2e9), ("nonce", "0" * 32),
        ("relays", (("203.0.113.66", 1),)), ("nat", "open"), ("wire", 4),
    ]:
        assert not signature_valid(replace(OFFER, **{field: value}))
    other = Identity.generate()
    assert not signature_valid(replace(OFFER, sender_key=other.public_key))
    with pytest.raises(LocalProtocolError):
        sign(OFFER, other)  # a record must name the key that signs it: our bug


@pytest.mark.parametrize(
    "change",
    [
        {"sender": None},
        {"sender": "x" * 100},
        {"sender": "[@click=app.quit]"},
        {"port": 0},
        {"port": 70000},
        {"port": True},
        {"port": "40000"},
        {"sender_ip": "not an ip"},
        {"sender_ip": "1" * 10_000},
        {"tag": "zz" * 8},
        {"sender_key": "ab"},
        {"candidates": ["1.2.3.4:5"] * 9},
        {"candidates": ["1.2.3.4"]},
        {"candidates": "1.2.3.4:5"},
        {"expires": "soon"},
        {"expires": float("nan")},
        {"relays": ["1.2.3.4:5"] * 9},
        {"relays": "1.2.3.4:5"},
        {"nat": "friendly"},
        {"nat": 3},
    ],
)
def test_malformed_offers_raise_signalling_data_error(change):
    data = {**OFFER.to_dict(), **change}
    with pytest.raises(SignallingDataError):
        Offer.from_dict_untrusted(data)


def test_records_name_our_wire_version_and_one_without_it_is_version_2():
    assert OFFER.wire == ANSWER.wire == wire.VERSION and OFFER.to_dict()["wire"] == wire.VERSION
    # As a p2ptui of wire version 2 signs it: no field at all.
    old = sign(replace(OFFER, wire=2), IDENTITY)
    data = old.to_dict()
    assert "wire" not in data
    parsed = Offer.from_dict_untrusted(data)
    assert parsed.wire == 2 and signature_valid(parsed)
    with pytest.raises(SignallingDataError, match="wire"):
        Offer.from_dict_untrusted({**OFFER.to_dict(), "wire": "3"})


def test_offers_from_before_relays_still_parse():
    data = OFFER.to_dict()
    del data["relays"], data["nat"]
    offer = Offer.from_dict_untrusted(data)
    assert offer.relays == () and offer.nat == "unknown"


@pytest.mark.parametrize("data", [None, [], "offer", 7])
def test_non_objects_are_refused(data):
    with pytest.raises(SignallingDataError):
        Offer.from_dict_untrusted(data)


def test_line_buffer_splits_and_skips_overlong_lines():
    buffer = LineBuffer(max_line=10)
    assert buffer.feed(b'{"op":') == []
    assert buffer.feed(b'1}\n\n{"a"\n') == [b'{"op":1}', b'{"a"']
    assert buffer.feed(b"x" * 11) == [] and buffer.overlong == 1


@pytest.mark.parametrize("line", [b"not json", b"[1]", b'{"op": 5}', b"[" * 100_000])
def test_bad_lines_raise_protocol_error(line):
    with pytest.raises(SignallingProtocolError):
        decode_untrusted(line)


@pytest.mark.parametrize(
    "url, error",
    [("http://x", "expected"), ("tcp://host", "HOST:PORT"), ("tcp://h:99999", "bad"), ("firestore://", "PROJECT")],
)
def test_bad_signal_urls_say_what_is_wrong(url, error):
    with pytest.raises(ValueError, match=error):
        parse_signal_url(url)


def test_signal_urls():
    assert str(parse_signal_url("tcp://127.0.0.1:7878")) == "tcp://127.0.0.1:7878"
    assert parse_signal_url("firestore://demo-p2ptui").project == "demo-p2ptui"


@pytest.mark.parametrize("name", ["alice\n", "\nalice", "al ice", "", "-alice", "a" * 33, "ålice", "alice\u202e"])
def test_invalid_names(name):
    # Regression: "$" let a trailing newline through, so "alice\n" passed for a new name.
    assert not valid_name(name)


@pytest.mark.parametrize("address", ["1.2.3.4:\u00b2", "1.2.3.4:\u0663", "1.2.3.4:", "1.2.3.4", ":80", "[::1]:0"])
def test_bad_addresses_raise_signalling_data_error(address):
    with pytest.raises(SignallingDataError):
        parse_address_untrusted(address)


def test_a_tag_in_a_record_is_as_long_as_on_the_wire():
    from p2ptui.net import wire
    from p2ptui.net.signalling.messages import TAG_HEX_LENGTH

    assert TAG_HEX_LENGTH == wire.TAG_SIZE * 2


def test_the_records_wire_version_is_the_datagrams():
    from p2ptui.net import wire
    from p2ptui.net.signalling.messages import WIRE_VERSION

    assert WIRE_VERSION == wire.VERSION


def test_the_tuis_first_frame_imports_no_core():
    """The app's module loads without the datagram format, trio or sqlite3 (they come
    with the core, in its thread, after the first frame): a `wire` import here once
    cost the first frame 11 ms."""
    import subprocess
    import sys

    heavy = ("trio", "sqlite3", "p2ptui.net.wire", "p2ptui.net.frames", "p2ptui.net.node")
    code = f"import sys, p2ptui.app; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"
