"""A file across the NAT lab on a path like a home uplink: 20 Mbit/s, 50 ms, 1% loss.

Two `p2ptui pipe` processes behind port-restricted NATs (tests/lab/shaped.py:
a token bucket on each router's WAN, 25 ms held on each way in, 1% of UDP
dropped on each way in), the file sent with `/send` and accepted with
`--accept-files`, timed from the command to `file-received` (hash checked).
The share of the bottleneck is the figure; plain TCP (the kernel's CUBIC)
across the same routers, with the same loss, is measured beside it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from .report import Report, Result

ROOT = Path(__file__).resolve().parent.parent
MBIT = 1_000_000 / 8
RATE, ONE_WAY_MS, LOSS = 20, 25, 0.01


def run(report: Report, quick: bool) -> None:
    name = f"File throughput, NAT lab: {RATE} Mbit/s, {2 * ONE_WAY_MS} ms round trip, {LOSS:.0%} loss"
    missing = [tool for tool in ("ip", "iptables", "conntrack", "tc") if shutil.which(tool) is None]
    if os.geteuid() != 0 or missing:
        report.skip(name, "needs root and " + ", ".join(missing or ["the lab's tools"]))
        return
    sys.path.insert(0, str(ROOT))
    from tests.lab import Lab
    from tests.lab.shaped import add_loss, shaped_path, tcp_rate
    from tests.test_lab import Peers
    from tests.test_lab_secure import Events, follow

    size = (8 if quick else 32) << 20
    lab = Lab()
    try:
        with tempfile.TemporaryDirectory(prefix="p2ptui-bench-labfiles-") as scratch:
            path = shaped_path(lab, mbit=RATE, one_way_ms=ONE_WAY_MS)
            add_loss(path, LOSS)
            tcp = tcp_rate(path, size)
            source, inbox = Path(scratch) / "file.bin", Path(scratch) / "inbox"
            data = os.urandom(size)
            source.write_bytes(data)
            digest = hashlib.sha256(data).hexdigest()
            inbox.mkdir()
            peers = Peers(lab, Path(scratch))
            try:
                alice = peers.pipe(path.hosts[0], "alice", "bob")
                bob = peers.pipe(path.hosts[1], "bob", "alice", "--accept-files", str(inbox))
                alice.event("connected", timeout=60)
                bob.event("connected", timeout=60)
                received = Events(bob)
                started = time.perf_counter()
                alice.send(f"/send {source}")
                if not follow([received], lambda: bool(received["file-received"]), timeout=10 * size / (RATE * MBIT)):
                    report.skip(name, f"the file did not arrive in time ({received['file-failed']})")
                    return
                elapsed = time.perf_counter() - started
                if received["file-received"][0]["sha256"] != digest:
                    raise RuntimeError("the file arrived with another hash")
            finally:
                peers.stop()
        rate = size / elapsed / MBIT
        report.add(Result(name, rate, "Mbit/s", "the bottleneck", RATE, "at least 0.80x", rate >= 0.8 * RATE,
                          note=f"{size >> 20} MB, command to verified arrival"))
        report.add(Result("Plain TCP (CUBIC), the same lab path", tcp / MBIT, "Mbit/s", "the bottleneck", RATE,
                          note=f"{size >> 20} MB"))
    finally:
        lab.close()
