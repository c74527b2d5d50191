"""NAT-PMP (RFC 6886) and PCP (RFC 6887) codecs, on hand-built bytes; the gateway lookup."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from p2ptui.net import RemoteProtocolError
from p2ptui.net.portmap import natpmp, pcp
from p2ptui.net.portmap.gateway import default_gateway_untrusted

NONCE = bytes(range(12))
MAPPED_V4 = bytes(10) + b"\xff\xff"


def test_natpmp_requests_are_laid_out_as_rfc_6886_says():
    assert natpmp.public_address_request() == b"\x00\x00"
    # version 0, opcode 1 (UDP), reserved, internal 5000, suggested 6000, lifetime 7200
    assert natpmp.map_request(5000, 6000, 7200) == bytes.fromhex("0001 0000 1388 1770 00001c20")
    assert natpmp.delete_request(5000) == bytes.fromhex("0001 0000 1388 0000 00000000")


def test_natpmp_answers_parse():
    public = bytes.fromhex("0080 0000 00000010") + bytes([203, 0, 113, 101])
    assert natpmp.parse_response_untrusted(public) == natpmp.PublicAddressResponse(0, 16, "203.0.113.101")
    mapped = bytes.fromhex("0081 0000 00000011 1388 1771 00000e10")
    assert natpmp.parse_response_untrusted(mapped) == natpmp.MapResponse(0, 17, 5000, 6001, 3600)


def test_a_natpmp_error_answer_may_be_only_the_header():
    assert natpmp.parse_response_untrusted(bytes.fromhex("0081 0003 00000001")).result == 3
    assert natpmp.parse_response_untrusted(bytes.fromhex("0080 0001 00000000")).result == 1


@pytest.mark.parametrize(
    "data",
    [b"", b"\x00", bytes.fromhex("0080 0000 00000010"), bytes.fromhex("0181 0000 00000011 1388 1771 00000e10"),
     bytes.fromhex("0001 0000 1388 1770 00001c20"), bytes.fromhex("0081 0000 00000011 1388")],
)
def test_natpmp_rejects_what_is_not_an_answer(data):
    with pytest.raises(natpmp.NatPmpError):
        natpmp.parse_response_untrusted(data)


def test_pcp_map_request_is_laid_out_as_rfc_6887_says():
    request = pcp.map_request("10.0.1.2", NONCE, 5000, 7200, ("203.0.113.101", 5000))
    assert len(request) == 60
    assert request[:8] == bytes.fromhex("02 01 0000 00001c20")
    assert request[8:24] == MAPPED_V4 + bytes([10, 0, 1, 2])
    assert request[24:36] == NONCE
    assert request[36:40] == bytes([17, 0, 0, 0])
    assert request[40:44] == struct.pack("!HH", 5000, 5000)
    assert request[44:] == MAPPED_V4 + bytes([203, 0, 113, 101])
    assert pcp.announce_request("10.0.1.2") == bytes.fromhex("02 00 0000 00000000") + MAPPED_V4 + bytes([10, 0, 1, 2])
    with pytest.raises(ValueError):
        pcp.map_request("10.0.1.2", b"short", 5000, 0)


def pcp_answer(opcode, result=0, lifetime=7200, body=b""):
    return struct.pack("!BBBBII12x", 2, 0x80 | opcode, 0, result, lifetime, 99) + body


def test_pcp_answers_parse():
    assert pcp.parse_response_untrusted(pcp_answer(0)) == pcp.Response(0, 0, 7200, 99)
    body = NONCE + bytes([17, 0, 0, 0]) + struct.pack("!HH", 5000, 40000) + MAPPED_V4 + bytes([203, 0, 113, 7])
    answer = pcp.parse_response_untrusted(pcp_answer(1, body=body))
    assert answer == pcp.MapResponse(1, 0, 7200, 99, NONCE, 5000, 40000, "203.0.113.7")
    # An error may come without the MAP data.
    assert pcp.parse_response_untrusted(pcp_answer(1, result=8, lifetime=30)).result == 8


@pytest.mark.parametrize(
    "data",
    [b"", pcp_answer(0)[:-4], pcp_answer(0) + b"\x00", b"\x02\x00" + bytes(22),  # a request
     pcp_answer(5), pcp_answer(1), b"\x00\x80" + bytes(22),
     pcp_answer(1, body=NONCE + bytes([6, 0, 0, 0]) + bytes(20))],  # TCP
)
def test_pcp_rejects_what_is_not_an_answer(data):
    with pytest.raises(pcp.PcpError):
        pcp.parse_response_untrusted(data)


@given(st.binary(max_size=1200))
def test_any_bytes_parse_or_raise_the_one_error(data):
    for parse in (natpmp.parse_response_untrusted, pcp.parse_response_untrusted):
        try:
            parse(data)
        except RemoteProtocolError:
            pass


ROUTES = """Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t0001000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
wlan0\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0
eth0\t00000000\t0101000A\t0003\t0\t0\t100\t00000000\t0\t0\t0
junk line
eth1\tXYZ\t0101000A\t0003\t0\t0\t1\t00000000\t0\t0\t0
"""


def test_the_default_gateway_is_the_lowest_metric_default_route():
    assert default_gateway_untrusted(ROUTES) == "10.0.1.1"
    assert default_gateway_untrusted(ROUTES.splitlines()[0] + "\n") is None
    assert default_gateway_untrusted("") is None
