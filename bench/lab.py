"""Throughput across the NAT lab with 10% random loss on both routers.

Two `p2ptui pipe` processes behind port-restricted NATs in network
namespaces, the lab of tests/lab/ (root, iptables, conntrack needed).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from .report import Report, Result

ROOT = Path(__file__).resolve().parent.parent


def run(report: Report, quick: bool) -> None:
    name = "Throughput, one way, NAT lab with 10% loss"
    missing = [tool for tool in ("ip", "iptables", "conntrack") if shutil.which(tool) is None]
    if os.geteuid() != 0 or missing:
        report.skip(name, "needs root and " + ", ".join(missing or ["the lab's tools"]))
        return
    sys.path.insert(0, str(ROOT))
    from tests.lab import Lab, impair
    from tests.test_lab import Peers
    from tests.test_lab_secure import Events, follow

    count = 1000 if quick else 5000
    lab = Lab()
    try:
        with tempfile.TemporaryDirectory(prefix="p2ptui-bench-lab-") as scratch:
            peers = Peers(lab, Path(scratch))
            try:
                routers = lab.nat("ra"), lab.nat("rb")
                alice = peers.pipe(lab.lan_host(routers[0], "alice"), "alice", "bob")
                bob = peers.pipe(lab.lan_host(routers[1], "bob"), "bob", "alice")
                alice.event("connected")
                bob.event("connected")
                for router in routers:
                    impair.add_inbound_loss(router, 0.10)
                sent, received = Events(alice), Events(bob)
                started = time.perf_counter()
                alice.popen.stdin.write("".join(f"message {n:05d}\n" for n in range(count)))
                alice.popen.stdin.flush()
                if not follow([sent, received], lambda: len(sent["delivered"]) >= count, timeout=300):
                    report.skip(name, f"only {len(sent['delivered'])} of {count} delivered in time")
                    return
                rate = count / (time.perf_counter() - started)
                report.add(Result(name, rate, "msg/s", note=f"{count:,} messages through two pipes"))
            finally:
                peers.stop()
    finally:
        lab.close()
