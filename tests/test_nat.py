"""NAT classification from what STUN servers saw: a pure function."""

import pytest

from p2ptui.net.nat import NatType, classify, network_of
from p2ptui.net import nat

LOCAL = ("10.0.0.2", 5000)


@pytest.mark.parametrize(
    "mapped, nat_type, independent",
    [
        ([], NatType.UNKNOWN, None),
        ([LOCAL, LOCAL], NatType.OPEN, True),
        ([("203.0.113.1", 5000)], NatType.SINGLE, None),
        ([("203.0.113.1", 5000), ("203.0.113.1", 5000)], NatType.CONE, True),
        ([("203.0.113.1", 5000), ("203.0.113.1", 61234)], NatType.SYMMETRIC, False),
    ],
)
def test_classify(mapped, nat_type, independent):
    report = classify(LOCAL, mapped)
    assert report.nat_type == nat_type
    assert report.endpoint_independent is independent
    assert report.public == (mapped[0] if mapped else None)
    assert report.words  # plain words for every type


@pytest.mark.parametrize(
    "ip, network",
    [("127.0.0.1", "local"), ("::1", "local"), ("10.1.2.3", "lan"), ("192.168.1.9", "lan"),
     ("172.20.0.1", "lan"), ("fd00::1", "lan"), ("203.0.113.5", "internet"), ("8.8.8.8", "internet")],
)
def test_network_of(ip, network):
    assert network_of(ip) == network


@pytest.mark.parametrize(
    "ours, theirs, unlikely",
    [
        ("symmetric", "symmetric", True),
        ("symmetric", "cone", True),  # unless the cone is full or address-restricted: relay at once, punch alongside
        ("cone", "single", False),
        ("symmetric", "open", False),
        ("cone", "cone", False),
        ("unknown", "symmetric", True),
        ("unknown", "unknown", False),
    ],
)
def test_which_nat_pairs_go_to_the_relay_at_once(ours, theirs, unlikely):
    assert nat.direct_unlikely(ours, theirs) is unlikely
    assert nat.direct_unlikely(theirs, ours) is unlikely
