"""The network report, pure: what the measurements say, as JSON and in words."""

from __future__ import annotations

from p2ptui.details import portmap_words
from p2ptui.diagnostics import report_lines, report_rows
from p2ptui.net import PortMapStatus
from p2ptui.net.netreport import ServerCheck, build_report

LOCAL = ("10.0.1.2", 5000)
S1, S2, T1 = ("203.0.113.10", 3478), ("203.0.113.11", 3478), ("203.0.113.12", 3478)


def test_a_cone_nat_with_a_pcp_router():
    checks = [
        ServerCheck(S1, "stun", 0.012, ("203.0.113.101", 5000)),
        ServerCheck(S2, "stun", 0.020, ("203.0.113.101", 5000)),
        ServerCheck(T1, "turn", None, None),
    ]
    status = PortMapStatus("10.0.1.1", ("pcp", "nat-pmp", "upnp"), None, None)
    report = build_report(LOCAL, checks, False, status)
    facts = report.to_json()
    assert facts["nat"] == "cone" and facts["mapping"] == "endpoint-independent"
    assert facts["udp"] is True and facts["ipv4"] == "203.0.113.101" and facts["ipv6"] is None
    assert facts["hairpinning"] is False
    assert facts["portmap"] == {"gateway": "10.0.1.1", "protocols": ["pcp", "nat-pmp", "upnp"]}
    assert [s["rtt_ms"] for s in facts["servers"]] == [12.0, 20.0, None]
    rows = dict(report_rows(report))
    assert rows["port mapping"] == "the router 10.0.1.1 answers PCP, NAT-PMP, UPnP"
    assert rows["TURN 203.0.113.12:3478"] == "no answer"
    assert rows["public IPv6"] == "none"


def test_a_symmetric_nat_is_told_by_two_servers_and_turn_does_not_count():
    checks = [
        ServerCheck(S1, "stun", 0.01, ("203.0.113.101", 40001)),
        ServerCheck(S2, "stun", 0.01, ("203.0.113.101", 40002)),
        # A TURN server seeing yet another port must not turn a single answer into "symmetric".
    ]
    assert build_report(LOCAL, checks, None, None).to_json()["mapping"] == "endpoint-dependent"
    single = build_report(LOCAL, [checks[0], ServerCheck(T1, "turn", 0.01, ("203.0.113.101", 9))], None, None)
    assert single.to_json()["nat"] == "single"


def test_nothing_answering_says_udp_is_blocked_and_skips_the_hairpin():
    report = build_report(LOCAL, [ServerCheck(S1, "stun", None, None)], True, None)
    assert report.udp is False and report.hairpinning is None
    assert dict(report_rows(report))["UDP"].startswith("no")
    assert dict(report_rows(report))["port mapping"] == "off"


def test_an_ipv6_server_gives_the_public_ipv6_and_never_a_nat_type():
    S6 = ("2001:db8::10", 3478)
    checks = [
        ServerCheck(S1, "stun", 0.01, ("203.0.113.101", 5000)),
        ServerCheck(S2, "stun", 0.01, ("203.0.113.101", 5000)),
        # IPv6 has no NAT: its own address and port must not make the IPv4 NAT "symmetric".
        ServerCheck(S6, "stun", 0.01, ("2001:db8:1::2", 5000)),
    ]
    facts = build_report(LOCAL, checks, None, None, host_ipv6="2001:db8:1::99").to_json()
    assert facts["nat"] == "cone" and facts["ipv4"] == "203.0.113.101"
    assert facts["ipv6"] == "2001:db8:1::2"  # what the server saw beats what the host guesses
    assert facts["servers"][2]["server"] == "[2001:db8::10]:3478"
    # With no IPv6 server, the host's own global IPv6 address (no NAT to cross).
    assert build_report(LOCAL, checks[:2], None, None, host_ipv6="2001:db8:1::99").public_ipv6 == "2001:db8:1::99"


def test_port_mapping_in_words():
    assert portmap_words(PortMapStatus(None, (), None, None)) == "no gateway found"
    assert portmap_words(PortMapStatus("10.0.1.1", (), None, None)) == "no answer from 10.0.1.1"
    mapped = PortMapStatus("10.0.1.1", ("pcp", "nat-pmp"), "pcp", ("203.0.113.101", 5000))
    assert portmap_words(mapped) == "203.0.113.101:5000 by PCP (the router 10.0.1.1 answers PCP, NAT-PMP)"


def test_the_details_pane_shows_the_port_mapping_on_or_off():
    from p2ptui.details import details_rows
    from p2ptui.net import PeerStatus, events

    off = dict(details_rows(events.Details("alice", PeerStatus.ONLINE)))
    assert off["port mapping"] == "off"  # As nat-check says it.
    status = PortMapStatus("10.0.1.1", ("nat-pmp",), "nat-pmp", ("203.0.113.101", 5000))
    rows = details_rows(events.Details("alice", PeerStatus.ONLINE, portmap=status))
    labels = [label for label, _ in rows]
    assert labels[labels.index("your NAT") + 1] == "port mapping"
    assert dict(rows)["port mapping"] == "203.0.113.101:5000 by NAT-PMP (the router 10.0.1.1 answers NAT-PMP)"


S6 = ("2001:db8::10", 3478)


def test_only_ipv6_answering_is_ipv6_only_with_no_nat_and_reachable():
    # Regression: "unknown (2 of 2 STUN servers answered)" and "NAT type: unknown", exit 1.
    checks = [
        ServerCheck(S1, "stun", None, None),
        ServerCheck(S6, "stun", 0.01, ("2001:db8:1::2", 5000)),
        ServerCheck(("2001:db8::10", 3479), "stun", 0.01, ("2001:db8:1::2", 5000)),
    ]
    report = build_report(LOCAL, checks, None, None)
    rows = dict(report_rows(report))
    assert rows["mapping"] == "unknown (0 of 1 IPv4 STUN servers answered)"
    assert rows["NAT type"].startswith("IPv6 only: no NAT")
    assert report.reachable and report.to_json()["description"].startswith("IPv6 only")
    only_v6 = build_report(LOCAL, checks[1:], None, None)
    assert dict(report_rows(only_v6))["mapping"] == "unknown (no IPv4 STUN server to ask)"
    # Nothing answering at all is still unknown, and not reachable.
    nothing = build_report(LOCAL, [ServerCheck(S1, "stun", None, None)], None, None)
    assert not nothing.reachable and dict(report_rows(nothing))["NAT type"].startswith("unknown")


def test_an_ipv6_server_not_asked_from_an_ipv4_socket_says_so():
    report = build_report(LOCAL, [ServerCheck(S6, "stun", None, None, not_asked="the socket is IPv4")], None, None)
    assert dict(report_rows(report))["STUN [2001:db8::10]:3478"] == "not asked: the socket is IPv4"
    assert report.to_json()["servers"][0]["not_asked"] == "the socket is IPv4"


def test_a_long_server_label_never_runs_into_its_value():
    # Regression: "STUN 127.0.0.1:27951:0.7 ms".
    checks = [ServerCheck(("127.0.0.1", 27951), "stun", 0.0007, ("127.0.0.1", 5000))]
    report = build_report(("127.0.0.1", 5000), checks, None, None)
    lines, rows = report_lines(report), report_rows(report)
    for line, (label, words) in zip(lines, rows, strict=True):
        assert line.startswith(f"{label}:") and line.endswith(f" {words}"), line
    assert len({len(line) - len(words) for line, (_, words) in zip(lines, rows)}) == 1  # one column
