"""LAN discovery's formats: the signed announcement (forged, altered, stale, foreign
addresses) and the LAN signal carrying an offer or answer. Pure: no sockets."""

import ipaddress
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from p2ptui.net import lan_codec as codec
from p2ptui.net import stun, wire
from p2ptui.net.identity import Identity
from p2ptui.net.lan import lan_wanted
from p2ptui.net.signalling.messages import Answer, Offer, sign

NOW = 1_800_000_000.0
OURS = [ipaddress.ip_network("10.0.1.0/24"), ipaddress.ip_network("fd00::/64")]
IDENTITY = Identity.generate()


def txt(identity=IDENTITY, name="bob", port=40000, addresses=("10.0.1.3",), now=NOW):
    """The TXT properties as zeroconf hands them to a browser: bytes to bytes."""
    properties = codec.announce(identity, name, port, [ipaddress.ip_address(a) for a in addresses], now)
    return {key.encode(): value.encode() for key, value in properties.items()}


def parse(properties, now=NOW, networks=OURS):
    return codec.parse_announcement_untrusted(properties, now, networks)


def test_a_genuine_announcement_is_taken_whole():
    found = parse(txt(addresses=("10.0.1.3", "fd00::3")))
    assert (found.name, found.key, found.port) == ("bob", IDENTITY.public_key, 40000)
    assert found.addresses == ("10.0.1.3", "fd00::3")


def test_every_txt_value_fits_a_dns_string():
    properties = txt(name="b" * 32, addresses=[f"10.0.1.{n}" for n in range(100, 108)])
    assert all(len(key) + 1 + len(value) < 256 for key, value in properties.items())


@pytest.mark.parametrize(
    "field, value",
    [
        (b"name", b"mallory"),  # someone else's name on bob's signature
        (b"port", b"40001"),  # a port to redirect offers to
        (b"addrs", b"10.0.1.66"),  # an address of the forger's choosing
        (b"time", str(int(NOW) + 1).encode()),  # a replay made to look fresh
        (b"key", Identity.generate().public_key.encode()),  # a key the signature is not by
    ],
)
def test_an_altered_announcement_is_dropped(field, value):
    properties = txt()
    properties[field] = value
    with pytest.raises(codec.LanDataError, match="bad signature"):
        parse(properties)


def test_an_announcement_signed_by_another_key_is_dropped():
    forged = txt()
    forged[b"sig"] = txt(identity=Identity.generate())[b"sig"]
    with pytest.raises(codec.LanDataError, match="bad signature"):
        parse(forged)


@pytest.mark.parametrize("age", [codec.MAX_AGE + 1, -(codec.MAX_AGE + 1)])
def test_a_stale_announcement_is_dropped(age):
    with pytest.raises(codec.LanDataError, match="stale"):
        parse(txt(now=NOW - age))
    assert parse(txt(now=NOW - age / 2)).name == "bob"  # Within the bound, taken.


def test_addresses_off_our_networks_are_dropped_and_only_they():
    found = parse(txt(addresses=("10.0.1.3", "10.0.9.3", "203.0.113.5")))
    assert found.addresses == ("10.0.1.3",)


def test_an_announcement_with_no_address_on_our_networks_is_dropped():
    with pytest.raises(codec.LanDataError, match="no address on our networks"):
        parse(txt(addresses=("10.0.9.3", "203.0.113.5")))
    with pytest.raises(codec.LanDataError, match="no address on our networks"):
        parse(txt(), networks=[])  # We are on no network at all.


@pytest.mark.parametrize(
    "change",
    [
        {b"v": b"2"},
        {b"v": None},
        {b"name": b"-bad"},
        {b"name": None},
        {b"key": b"zz" * 32},
        {b"port": b"0"},
        {b"port": b"65536"},
        {b"port": b"\xb2"},
        {b"port": "²".encode()},
        {b"addrs": b""},
        {b"addrs": b"10.0.1.3,not-an-ip"},
        {b"addrs": b",".join([b"10.0.1.3"] * 9)},
        {b"time": b"-1"},
        {b"time": b"9" * 40},
        {b"sig": b"00"},
        {b"sig": b"x" * 300},
    ],
)
def test_a_malformed_announcement_raises_only_lan_data_error(change):
    properties = {**txt(), **change}
    with pytest.raises(codec.LanDataError):
        parse(properties)


@settings(max_examples=2000, deadline=None)
@given(st.dictionaries(st.sampled_from([b"v", b"name", b"key", b"port", b"addrs", b"time", b"sig", b"x"]),
                       st.one_of(st.none(), st.binary(max_size=300))))
def test_hostile_txt_properties_never_raise_anything_else(properties):
    try:
        parse({**txt(), **properties})
    except codec.LanDataError:
        pass


# --- LAN signals ------------------------------------------------------------------


def offer(**changes):
    fields = dict(
        id="ab" * 16, sender="bob", sender_key=IDENTITY.public_key, receiver="alice", sender_ip="10.0.1.3",
        receiver_ip="10.0.1.2", port=40000, tag="cd" * 8,
        candidates=tuple((f"10.0.1.{n}", 40000) for n in range(3, 11)), expires=time.time() + 30,
    )
    return sign(Offer(**{**fields, **changes}), IDENTITY)


def test_an_offer_and_an_answer_cross_in_one_datagram_unchanged():
    sent_offer = offer()
    answer = sign(
        Answer(offer_id=sent_offer.id, sender="alice", sender_key=IDENTITY.public_key, receiver="bob",
               sender_ip="10.0.1.2", port=40001, tag="ef" * 8, candidates=(("10.0.1.2", 40001),),
               expires=time.time() + 30),
        IDENTITY,
    )
    for record in (sent_offer, answer):
        datagram = codec.encode_signal(record)
        assert len(datagram) <= codec.MAX_SIGNAL_BYTES  # The largest offer (8 candidates) fits.
        assert codec.parse_signal_untrusted(datagram) == record


def test_a_lan_signal_is_neither_stun_nor_a_p2ptui_packet():
    datagram = codec.encode_signal(offer())
    assert codec.looks_like_signal(datagram)
    assert not wire.is_ours(datagram) and not stun.looks_like_stun(datagram)
    assert not codec.looks_like_signal(wire.encode(wire.Probe(b"t" * 8, b"f" * 8, b"i" * 8)))


@pytest.mark.parametrize(
    "datagram",
    [
        codec.SIGNAL_PREFIX,
        codec.SIGNAL_PREFIX + b"[]",
        codec.SIGNAL_PREFIX + b'{"kind": "presence", "record": {}}',
        codec.SIGNAL_PREFIX + b'{"kind": "offer", "record": {"id": 1}}',
        codec.SIGNAL_PREFIX + b"[" * 100_000,
        codec.SIGNAL_PREFIX + b" " * codec.MAX_SIGNAL_BYTES,
        b"p2ptui-lan 2\n{}",
    ],
)
def test_a_malformed_lan_signal_raises_only_lan_data_error(datagram):
    with pytest.raises(codec.LanDataError):
        codec.parse_signal_untrusted(datagram)


@settings(max_examples=2000, deadline=None)
@given(st.binary(max_size=1300))
def test_hostile_lan_signals_never_raise_anything_else(tail):
    try:
        codec.parse_signal_untrusted(codec.SIGNAL_PREFIX + tail)
    except codec.LanDataError:
        pass


@pytest.mark.parametrize(
    "bind, wanted",
    [("0.0.0.0", True), ("::", True), ("10.0.1.2", True), ("127.0.0.1", False), ("::1", False)],
)
def test_lan_discovery_runs_unless_the_chat_socket_is_on_loopback(bind, wanted):
    assert lan_wanted(True, bind) is wanted
    assert lan_wanted(False, bind) is False
