"""Which of a peer's offered addresses may be probed: plain data, no network."""

import ipaddress

import pytest

from p2ptui.net.candidates import OwnNetworks, screen_untrusted

OURS = OwnNetworks((ipaddress.ip_network("10.0.2.0/24"), ipaddress.ip_network("fd00:1::/64")))


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        (("198.51.100.7", 4000), None),
        (("2001:db8::7", 4000), None),
        (("10.0.2.9", 4000), None),  # our own LAN
        (("fd00:1::9", 4000), None),
        (("127.0.0.1", 22), "loopback candidate"),
        (("::1", 22), "loopback candidate"),
        (("192.168.7.7", 80), "private candidate not on our networks"),
        (("10.9.9.9", 80), "private candidate not on our networks"),
        (("fd00:2::9", 80), "private candidate not on our networks"),
        (("0.0.0.0", 80), "unusable candidate (unspecified, multicast, link-local)"),
        (("224.0.0.251", 5353), "unusable candidate (unspecified, multicast, link-local)"),
        (("169.254.1.1", 80), "unusable candidate (unspecified, multicast, link-local)"),
        (("fe80::1", 80), "unusable candidate (unspecified, multicast, link-local)"),
        (("198.51.100.7", 0), "candidate port out of range"),
        (("not an ip", 80), "candidate not an IP address"),
    ],
)
def test_each_kind_of_address(address, reason):
    kept, refused = screen_untrusted([address], OURS)
    assert (kept, refused) == (([address], []) if reason is None else ([], [reason]))


def test_loopback_is_fair_when_we_listen_only_on_loopback():
    kept, refused = screen_untrusted([("127.0.0.1", 4000)], OwnNetworks(loopback=True))
    assert kept == [("127.0.0.1", 4000)] and refused == []


def test_the_order_of_the_kept_ones_is_the_offers():
    offered = [("198.51.100.7", 1), ("127.0.0.1", 2), ("10.0.2.9", 3)]
    assert screen_untrusted(offered, OURS)[0] == [("198.51.100.7", 1), ("10.0.2.9", 3)]
