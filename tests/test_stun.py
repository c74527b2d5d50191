"""STUN Binding on aioice's codec: request, response, and garbage."""

from hypothesis import given, settings
from hypothesis import strategies as st

from p2ptui.net import stun


def test_request_and_response_round_trip():
    txid, request = stun.binding_request()
    assert stun.looks_like_stun(request)
    parsed = stun.parse_untrusted(request)
    assert parsed == stun.BindingRequest(txid)
    response = stun.binding_response(parsed, ("203.0.113.7", 40001))
    assert stun.parse_untrusted(response) == stun.BindingResponse(txid, ("203.0.113.7", 40001))


def test_p2ptui_datagrams_do_not_look_like_stun():
    assert not stun.looks_like_stun(bytes([0xD2, 1, 1]) + b"\0" * 30)


@settings(max_examples=3000)
@given(st.binary(max_size=200))
def test_fuzz_raises_only_stun_error(data):
    try:
        stun.parse_untrusted(data)
    except stun.StunError:
        pass


@settings(max_examples=2000)
@given(st.integers(0, 40), st.binary(min_size=1, max_size=6))
def test_fuzz_mutated_responses_raise_only_stun_error(position, junk):
    txid, request = stun.binding_request()
    data = bytearray(stun.binding_response(stun.BindingRequest(txid), ("198.51.100.1", 9)))
    data[position : position + len(junk)] = junk
    try:
        stun.parse_untrusted(bytes(data))
    except stun.StunError:
        pass
