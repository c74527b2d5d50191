"""The details (F3) say what the node learned of its own network, in nat-check's words."""

from __future__ import annotations

import pytest

from p2ptui.details import HAIRPIN_NOT_MEASURED, details_rows, network_rows
from p2ptui.diagnostics import report_rows
from p2ptui.net import NatReport, PeerStatus, PortMapStatus, events
from p2ptui.net.nat import NatType
from p2ptui.net.netreport import NetReport, ServerCheck
from p2ptui.screens import DetailsScreen

from .fakecore import FakeCore, make_app
from .test_app_security import screen_text

S1, S2 = ("203.0.113.10", 3478), ("203.0.113.11", 3478)
PUBLIC = ("198.51.100.20", 40123)


def learned(portmap: PortMapStatus | None = None, servers=None, ipv6: str | None = None) -> NetReport:
    """What a node behind a cone NAT knows: two STUN servers, one answering."""
    if servers is None:
        servers = (ServerCheck(S1, "stun", 0.0123, PUBLIC), ServerCheck(S2, "stun", None, None))
    mapped = tuple(check.mapped for check in servers if check.mapped)
    nat = NatReport(NatType.SINGLE, mapped[0] if mapped else None, mapped)
    return NetReport(nat, None, portmap, tuple(servers), ipv6)


def test_the_block_says_each_fact_and_what_a_node_does_not_measure():
    rows = dict(network_rows(learned(ipv6="2001:db8:1::2")))
    assert rows["UDP"] == "yes"
    assert rows["public IPv4"] == PUBLIC[0] and rows["public IPv6"] == "2001:db8:1::2"
    assert rows["NAT type"] == NatReport(NatType.SINGLE, None, ()).words
    assert rows["hairpinning"] == HAIRPIN_NOT_MEASURED  # not "-", not "no": the node never tries
    assert rows["port mapping"] == "off"  # a row saying so, not a missing one
    assert rows[f"STUN {S1[0]}:{S1[1]}"] == "12.3 ms" and rows[f"STUN {S2[0]}:{S2[1]}"] == "no answer"


def test_the_block_words_are_nat_checks_where_they_overlap():
    status = PortMapStatus("10.0.1.1", ("pcp",), "pcp", ("203.0.113.101", 5000))
    report = learned(status)
    ours, theirs = network_rows(report), report_rows(report)
    assert [label for label, _ in ours] == [label for label, _ in theirs]
    assert [row for row in ours if row[0] != "hairpinning"] == [row for row in theirs if row[0] != "hairpinning"]
    assert dict(ours)["port mapping"] == "203.0.113.101:5000 by PCP (the router 10.0.1.1 answers PCP)"


def test_no_stun_server_is_not_measured_rather_than_blocked():
    rows = dict(network_rows(learned(servers=())))
    assert rows["UDP"].startswith("not measured")
    assert network_rows(None) == []


def test_the_connection_rows_leave_our_own_network_to_the_block():
    status = PortMapStatus("10.0.1.1", (), None, None)
    old = events.Details("bob", PeerStatus.CONNECTED, public_address=PUBLIC, nat="single", portmap=status)
    labels = [label for label, _ in details_rows(old)]
    assert {"your address", "your NAT", "port mapping"} <= set(labels)  # an older core: as before
    new = events.Details("bob", PeerStatus.CONNECTED, public_address=PUBLIC, nat="single", portmap=status,
                         peer_nat="cone", net_report=learned(status))
    rows = dict(details_rows(new))
    assert not {"your address", "your NAT", "port mapping"} & set(rows)
    assert rows["their NAT"] == "cone"


@pytest.mark.asyncio
async def test_the_details_screen_shows_your_network():
    core = FakeCore()
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f3")
        core.emit(events.Details("carol", PeerStatus.CONNECTED, path=events.PathKind.DIRECT, network="internet",
                                 net_report=learned(ipv6="2001:db8:1::2")))
        await pilot.pause()
        assert isinstance(app.screen, DetailsScreen)
        text = screen_text(app)
        assert "Your network" in text and "2001:db8:1::2" in text and "12.3 ms" in text
        assert HAIRPIN_NOT_MEASURED in text
        assert text.index("Connection with carol") < text.index("Your network") < text.index("Nothing dropped")
        # Longer than the screen now: the rows scroll, the way out stays in sight (it was pushed off).
        dialog, rows = app.screen.query_one("Vertical"), app.screen.query_one("VerticalScroll")
        close = app.screen.query_one("#close")
        assert rows.region.bottom <= close.region.y and close.region.bottom < dialog.region.bottom


@pytest.mark.asyncio
async def test_an_older_core_without_the_facts_shows_no_block():
    core = FakeCore()
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        core.emit(events.Details("carol", PeerStatus.ONLINE, public_address=PUBLIC))
        await pilot.pause()
        text = screen_text(app)
        assert "Connection with carol" in text and "Your network" not in text
        assert "198.51.100.20:40123" in text
