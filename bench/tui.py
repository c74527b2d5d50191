"""The TUI: time to the first frame beside a bare Textual app with the same
widgets, and switching between two 100,000-message conversations.

Each measurement runs in a process of its own (`python -m bench.tui ...`),
so start-up is measured from the process's start and memory is the app's own.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from .report import Report, Result, percentile

ROOT = Path(__file__).resolve().parent.parent


def _rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


# --- In the child process ---------------------------------------------------------------


def first_frame(kind: str) -> None:
    """Run an app headless and exit at its first frame, printing FRAME."""

    def done(app) -> None:
        print("FRAME", flush=True)
        app.exit()

    if kind == "bare":
        from textual.app import App
        from textual.binding import Binding
        from textual.containers import Horizontal, Vertical
        from textual.widgets import Footer, RichLog, Static, TextArea

        class Bare(App):
            # The same widgets: the footer shows as many keys as p2ptui's does (each
            # is a widget of its own), with the palette on F2 as there.
            COMMAND_PALETTE_BINDING = "f2"
            BINDINGS = [
                Binding("ctrl+k", "bell", "Switch"),
                Binding("ctrl+q", "quit", "Quit"),
                Binding("f1", "bell", "Help"),
                Binding("ctrl+o", "bell", "Open"),
                Binding("f3", "bell", "Details"),
                Binding("f4", "bell", "Sidebar"),
            ]

            def compose(self):
                yield Static("status")
                with Horizontal():
                    yield Static("peers")
                    with Vertical():
                        yield RichLog()
                        yield TextArea()
                yield Footer()

            def on_mount(self) -> None:
                self.call_after_refresh(done, self)

        Bare().run(headless=True, size=(80, 24))
        return

    # The real command line, as a user starts it; only the app learns to stop
    # at its first frame. It is taught as it is imported, by the command line
    # itself (which imports the app only once it knows it runs the TUI), so
    # nothing is imported here that the command would import later.
    import importlib.abc
    import importlib.util

    def teach(module) -> None:
        from textual.app import App

        on_mount = module.P2PApp.on_mount

        def measured_on_mount(self) -> None:
            on_mount(self)
            self.call_after_refresh(done, self)

        module.P2PApp.on_mount = measured_on_mount
        module.P2PApp.run = lambda self, **kwargs: App.run(self, headless=True, size=(80, 24))

    class Teacher(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name != "p2ptui.app":
                return None
            sys.meta_path.remove(self)
            spec = importlib.util.find_spec(name)
            assert spec is not None and spec.loader is not None
            execute = spec.loader.exec_module

            def exec_module(module) -> None:
                execute(module)
                teach(module)

            spec.loader.exec_module = exec_module  # type: ignore[method-assign]
            return spec

    sys.meta_path.insert(0, Teacher())
    from p2ptui import launch

    with tempfile.TemporaryDirectory() as state:
        launch.main(["--name", "bench", "--config-dir", state, "--signal", f"tcp://127.0.0.1:{sys.argv[3]}",
                  "--bind", "127.0.0.1"])


def switching(count: int) -> None:
    """Two conversations of `count` messages each: how long a switch takes, and the memory."""
    import asyncio

    sys.path.insert(0, str(ROOT))
    from p2ptui.model import Line
    from tests.fakecore import FakeCore, make_app

    async def main() -> None:
        before = _rss_mib()
        app = make_app(FakeCore(), peers=("alice", "bob"))
        start = datetime(2026, 1, 1)
        async with app.run_test(size=(120, 40)) as pilot:
            for peer in ("alice", "bob"):
                conversation = app.conversations[peer]
                conversation.lines = [
                    Line(start + timedelta(seconds=30 * n), peer if n % 3 else "dana",
                         f"message {n} in a conversation that goes on and on", own=not n % 3, id=f"{n:016x}")
                    for n in range(count)
                ]
            times = []
            for n in range(6):
                started = time.perf_counter()
                app.select("alice" if n % 2 else "bob")
                await pilot.pause()
                times.append(time.perf_counter() - started)
            print(json.dumps({"switch": times[1:], "rss_mib": _rss_mib() - before}), flush=True)

    asyncio.run(main())


# --- In the benchmark process ----------------------------------------------------------------


def _first_frame_time(kind: str, port: int) -> float:
    started = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-m", "bench.tui", "frame", kind, str(port)], cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert child.stdout is not None
    for line in child.stdout:
        if line.strip() == "FRAME":
            elapsed = time.perf_counter() - started
            break
    else:
        raise RuntimeError(f"the {kind} app never drew a frame")
    child.wait(timeout=30)
    return elapsed


def run(report: Report, quick: bool, skip_switching: bool = False) -> None:
    from .signalling import _free_port

    rounds = 5 if quick else 15
    bare, ours = [], []
    for _ in range(rounds):  # interleaved, so both see the same machine
        bare.append(_first_frame_time("bare", _free_port()))
        ours.append(_first_frame_time("p2ptui", _free_port()))
    bare_p50, ours_p50 = percentile(bare, 0.5) * 1000, percentile(ours, 0.5) * 1000
    report.add(Result("TUI: process start to first frame", ours_p50, "ms", "bare Textual app, same widgets",
                      bare_p50, "within 1.25x", ours_p50 <= 1.25 * bare_p50))
    count = 100_000
    if skip_switching:
        report.skip("TUI: switching conversations", "left out (--only)")
        return
    child = subprocess.run([sys.executable, "-m", "bench.tui", "switch", str(count)], cwd=ROOT,
                           capture_output=True, text=True, timeout=900)
    if child.returncode != 0:
        report.skip("TUI: switching conversations", child.stderr.strip().splitlines()[-1][:200])
        return
    result = json.loads(child.stdout.strip().splitlines()[-1])
    switch = percentile(result["switch"], 0.5) * 1000
    report.add(Result(f"TUI: switch between two {count:,}-message conversations", switch, "ms",
                      goal="within 50 ms", met=switch <= 50))
    report.add(Result(f"TUI: memory with two {count:,}-message histories", result["rss_mib"], "MiB"))


if __name__ == "__main__":
    if sys.argv[1] == "frame":
        first_frame(sys.argv[2])
    else:
        switching(int(sys.argv[2]))
