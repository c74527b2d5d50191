"""python -m bench [--quick] [--out DIR] [--firestore HOST:PORT]"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import trio

from . import files, groups, lab, lab_files, network, signalling, tui
from .report import Report

ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def _firestore_emulator(given: str | None) -> Iterator[str | None]:
    """The emulator given, else one of our own (the tests' npm one), else None."""
    if given is not None or shutil.which("node") is None:
        yield given
        return
    sys.path.insert(0, str(ROOT))
    from tests.firestore import running_emulator

    with running_emulator() as host:
        yield host


def main() -> int:
    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller counts: under two minutes on 2 cores")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results", help="where latest.md/.json go")
    parser.add_argument("--firestore", metavar="HOST:PORT", help="a Firestore emulator to measure setup through")
    parser.add_argument("--only", action="append", default=[], help="only: network, files, groups, server, tui, lab")
    args = parser.parse_args()
    report = Report(quick=args.quick)
    started = time.perf_counter()
    parts = args.only or ["network", "files", "groups", "lab", "tui", "server"]
    if "network" in parts:
        print("network (loopback):", flush=True)
        with _firestore_emulator(args.firestore) as firestore:
            trio.run(network.run, report, args.quick, firestore)
    if "files" in parts:
        print("files (loopback):", flush=True)
        trio.run(files.run, report, args.quick)
    if "groups" in parts:
        print("groups (loopback):", flush=True)
        trio.run(groups.run, report, args.quick)
    if "tui" in parts:
        print("TUI:", flush=True)
        tui.run(report, args.quick)
    if "server" in parts:
        print("signalling server:", flush=True)
        trio.run(signalling.run, report, args.quick)
    # The lab last: the kernel goes on tearing its namespaces down after it returns,
    # which would slow whatever ran next (the TUI's start-up by a third).
    if "lab" in parts:
        print("NAT lab:", flush=True)
        lab.run(report, args.quick)
        lab_files.run(report, args.quick)
    markdown, data = report.write(args.out)
    print(f"\n{report.markdown()}\nwritten to {markdown} and {data} in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
