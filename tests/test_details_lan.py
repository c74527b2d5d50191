"""The details (F3) of a peer first met on the LAN say so, beside the verification."""

from p2ptui.details import details_rows
from p2ptui.net import PeerStatus, events


def test_a_first_contact_over_the_lan_is_said_under_verified():
    rows = details_rows(events.Details("bob", PeerStatus.CONNECTED, fingerprint="ab", first_contact_lan=True))
    labels = [label for label, _ in rows]
    assert labels[labels.index("verified") + 1] == "first contact"
    assert "LAN" in dict(rows)["first contact"] and "/verify" in dict(rows)["first contact"]
    plain = details_rows(events.Details("bob", PeerStatus.CONNECTED, fingerprint="ab"))
    assert "first contact" not in [label for label, _ in plain]


def test_port_mapping_off_is_said_under_your_nat():
    # Regression: with port mapping off, F3 had no "port mapping" row at all; nat-check says "off".
    rows = details_rows(events.Details("bob", PeerStatus.CONNECTED, nat="no NAT"))
    labels = [label for label, _ in rows]
    assert labels[labels.index("your NAT") + 1] == "port mapping"
    assert dict(rows)["port mapping"] == "off"
