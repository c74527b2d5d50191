"""python -m bench [--quick] [--out DIR] [--firestore HOST:PORT]"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import trio

from . import network, signalling, tui
from .report import Report

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller counts: under two minutes on 2 cores")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results", help="where latest.md/.json go")
    parser.add_argument("--firestore", metavar="HOST:PORT", help="a Firestore emulator to measure setup through")
    parser.add_argument("--only", action="append", default=[], help="run only these parts (network, server, tui, lab)")
    args = parser.parse_args()
    report = Report(quick=args.quick)
    started = time.perf_counter()
    parts = args.only or ["network", "tui", "server"]
    if "network" in parts:
        print("network (loopback):", flush=True)
        trio.run(network.run, report, args.quick, args.firestore)
    if "tui" in parts:
        print("TUI:", flush=True)
        tui.run(report, args.quick)
    if "server" in parts:
        print("signalling server:", flush=True)
        trio.run(signalling.run, report, args.quick)
    markdown, data = report.write(args.out)
    print(f"\n{report.markdown()}\nwritten to {markdown} and {data} in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
