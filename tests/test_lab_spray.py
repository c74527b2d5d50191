"""The NAT lab: crossing a symmetric NAT against a port-restricted cone by spraying.

No relay is configured, so only spraying can connect these two (plain hole
punching fails for this pair: see test_lab.py's matrix). The attempt is run
20 times, each by a new `p2ptui ping` process (new sockets, new NAT
mappings) against one peer; the success rate and the time to connect are
reported, and the rate must clear a floor. The peer is a new process each
time too: what an earlier attempt left in the routers (the easy side's
probes open its NAT's filter for 30 s) must not help a later one.

The floor: with 256 sockets against 1,024 probes over the router's 64,512
ports, one attempt succeeds with p = 0.983 (spray.success_chance). For 20
independent attempts, 15 or fewer successes has probability about 2e-5,
so a floor of 16 fails only when something is wrong, not by bad luck.
"""

from __future__ import annotations

import json
import statistics

import pytest

from p2ptui.net import spray

from .test_lab import lab, peers  # noqa: F401 (fixtures)

pytestmark = pytest.mark.lab

ATTEMPTS = 20
FLOOR = 16


def test_spraying_crosses_a_symmetric_nat_against_a_port_restricted_cone(lab, peers, record_property):
    assert spray.success_chance(256, 1024) > 0.98  # the defaults the floor is argued from
    hard, easy = lab.nat("ra", "symmetric"), lab.nat("rb", "port-restricted")
    alice_host, bob_host = lab.lan_host(hard, "alice"), lab.lan_host(easy, "bob")
    results = []
    for attempt in range(ATTEMPTS):
        bob = peers.pipe(bob_host, "bob", "alice")
        bob.event("ready")
        ping = peers.run(
            alice_host, "ping", "bob", "-c", "1", "--timeout", "12", "--json",
            "--name", "alice", "--signal", peers.url, "--config-dir", str(peers.tmp_path / "alice"),
        )
        lines = [json.loads(line) for line in ping.drain(timeout=30) if line.startswith("{")]
        summary = next((line for line in lines if line.get("event") == "summary"), None)
        if summary and summary["received"] == 1:
            # Nothing else can have connected them: no relay, and plain punching fails here.
            assert summary["path"] == "direct" and summary["remote"].startswith(f"{easy.ip}:"), summary
            results.append(summary["connect_ms"])
        else:
            results.append(None)
        bob.stop()
    connected = [ms for ms in results if ms is not None]
    report = {
        "attempts": ATTEMPTS,
        "succeeded": len(connected),
        "connect_ms_median": round(statistics.median(connected)) if connected else None,
        "connect_ms_max": round(max(connected)) if connected else None,
    }
    record_property("spraying", json.dumps(report))
    print(f"\nspraying, symmetric against port-restricted: {json.dumps(report)}")
    assert len(connected) >= FLOOR, report
