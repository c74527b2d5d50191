"""Real p2ptui processes for end-to-end tests, always cleaned up."""

from __future__ import annotations

import json
import os
import queue
import socket
import subprocess
import sys
import threading
from pathlib import Path

COMMAND = [sys.executable, "-m", "p2ptui"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Process:
    """A p2ptui process whose stdout lines are read by a thread, so reads can time out."""

    def __init__(
        self, args: list[str], *, stdin=subprocess.PIPE, env: dict | None = None, wrapper: list[str] = ()
    ):
        # wrapper: a command prefix, e.g. ["ip", "netns", "exec", NAMESPACE] in the NAT lab.
        self.popen = subprocess.Popen(
            [*wrapper, *COMMAND, *args],
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, **(env or {})},
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        #: Every line read so far, so a test can look back at what it skipped.
        self.history: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def line(self, timeout: float = 15.0) -> str | None:
        line = self.lines.get(timeout=timeout)
        if line is not None:
            self.history.append(line)
        return line

    def events_seen(self, name: str) -> list[dict]:
        """Every JSON event called name among the lines read so far."""
        found = []
        for line in self.history:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict) and event.get("event") == name:
                found.append(event)
        return found

    def drain(self, timeout: float = 15.0) -> list[str]:
        """Every line left, once the process has ended (or the timeout passed)."""
        lines = []
        while (line := self.line(timeout)) is not None:
            lines.append(line)
        return lines

    def wait_for_line(self, fragment: str, timeout: float = 15.0) -> str:
        seen = []
        while (line := self.line(timeout)) is not None:
            seen.append(line)
            if fragment in line:
                return line
        raise AssertionError(f"{fragment!r} never came; output: {seen}")

    def event(self, name: str, timeout: float = 15.0) -> dict:
        """The next JSON event called name, skipping others."""
        seen = []
        while (line := self.line(timeout)) is not None:
            seen.append(line)
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if event.get("event") == name:
                return event
        raise AssertionError(f"no {name!r} event; output: {seen}")

    def send(self, text: str) -> None:
        assert self.popen.stdin is not None
        self.popen.stdin.write(text + "\n")
        self.popen.stdin.flush()

    def close_stdin(self) -> None:
        assert self.popen.stdin is not None
        self.popen.stdin.close()

    def wait(self, timeout: float = 30.0) -> int:
        return self.popen.wait(timeout=timeout)

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(timeout=10)


class Processes:
    """Starts processes for one test and ends every one of them afterwards."""

    def __init__(self, tmp_path: Path):
        self.tmp_path = tmp_path
        self.started: list[Process] = []

    def start(self, *args: str, **kwargs) -> Process:
        process = Process(list(args), **kwargs)
        self.started.append(process)
        return process

    def server(self, *extra: str, names: str = ":memory:", wrapper: list[str] = ()) -> str:
        """A signalling server on loopback; names: its --names file (never the user's)."""
        port = free_port()
        process = self.start(
            "signal-server", "--port", str(port), "--names", names, *extra, stdin=subprocess.DEVNULL, wrapper=wrapper
        )
        process.wait_for_line("signalling server on")
        return f"tcp://127.0.0.1:{port}"

    def pipe(self, name: str, peer: str, url: str, *extra: str, env: dict | None = None) -> Process:
        return self.start(
            "pipe", "--name", name, "--peer", peer, "--signal", url,
            # Every test's datagrams stay on loopback.
            "--config-dir", str(self.tmp_path / name), "--bind", "127.0.0.1", *extra, env=env,
        )

    def stop_all(self) -> None:
        for process in self.started:
            process.stop()
