"""Files across the NAT lab on a path like a home uplink: 20 Mbit/s, 50 ms, then 1% loss.

Two `p2ptui pipe` processes behind port-restricted NATs (tests/lab/shaped.py:
a token bucket on each router's WAN, 25 ms held on each way in, 1% of UDP
dropped on each way in), the file sent with `/send` and accepted with
`--accept-files`, timed from the command to `file-received` (hash checked):
once with no loss, once with it. The share of the bottleneck is the figure;
plain TCP (the kernel's CUBIC) across the same routers, with the same loss,
is measured beside it.
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
    name = f"File throughput, NAT lab: {RATE} Mbit/s, {2 * ONE_WAY_MS} ms round trip"
    missing = [tool for tool in ("ip", "iptables", "conntrack", "tc", "ethtool") if shutil.which(tool) is None]
    if os.geteuid() != 0 or missing:
        report.skip(name, "needs root and " + ", ".join(missing or ["the lab's tools"]))
        return
    sys.path.insert(0, str(ROOT))
    from tests.lab import Lab
    from tests.lab.shaped import add_loss, shaped_path, tcp_rate
    from tests.test_lab import Peers

    size = (8 if quick else 32) << 20
    lab = Lab()
    try:
        with tempfile.TemporaryDirectory(prefix="p2ptui-bench-labfiles-") as scratch:
            path = shaped_path(lab, mbit=RATE, one_way_ms=ONE_WAY_MS)
            peers = Peers(lab, Path(scratch))
            try:
                alice = peers.pipe(path.hosts[0], "alice", "bob")
                inbox = Path(scratch) / "inbox"
                inbox.mkdir()
                bob = peers.pipe(path.hosts[1], "bob", "alice", "--accept-files", str(inbox))
                alice.event("connected", timeout=60)
                bob.event("connected", timeout=60)
                clean = _send(alice, bob, Path(scratch) / "clean.bin", size)
                add_loss(path, LOSS)
                lossy = _send(alice, bob, Path(scratch) / "lossy.bin", size)
            finally:
                peers.stop()
            tcp = tcp_rate(path, size)
        note = f"{size >> 20} MB, command to verified arrival"
        for loss, rate in ((0.0, clean), (LOSS, lossy)):
            if rate is None:
                report.skip(f"{name}, {loss:.0%} loss", "the file did not arrive in time")
            else:
                report.add(Result(f"{name}, {loss:.0%} loss", rate / MBIT, "Mbit/s", "the bottleneck", RATE,
                                  "at least 0.80x", rate >= 0.8 * RATE * MBIT, note=note))
        report.add(Result(f"Plain TCP (CUBIC), the same lab path, {LOSS:.0%} loss", tcp / MBIT, "Mbit/s",
                          "the bottleneck", RATE, note=f"{size >> 20} MB"))
    finally:
        lab.close()


def _send(alice, bob, source: Path, size: int) -> float | None:
    """Bytes a second of one file, alice's /send to bob's verified file-received."""
    sys.path.insert(0, str(ROOT))
    from tests.test_lab_secure import Events, follow

    data = os.urandom(size)
    source.write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    received = Events(bob)
    received.read()
    before = len(received["file-received"])
    started = time.perf_counter()
    alice.send(f"/send {source}")

    def arrived() -> bool:
        return len(received["file-received"]) > before

    if not follow([received], arrived, timeout=20 * size / (RATE * MBIT)):
        return None
    elapsed = time.perf_counter() - started
    if received["file-received"][before]["sha256"] != digest:
        raise RuntimeError("the file arrived with another hash")
    return size / elapsed
