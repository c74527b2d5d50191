"""The npm Firestore emulator (@firestore-emulator/server) for tests: installed, started, stopped.

Installed on first use into ~/.cache/p2ptui/firestore-emulator (or
$P2PTUI_TEST_CACHE/firestore-emulator). When the user already runs an
emulator and sets FIRESTORE_EMULATOR_HOST, the tests use that one instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from ..processes import free_port

PACKAGE = "@firestore-emulator/server@0.3.15"
LAUNCHER = Path(__file__).with_name("emulator.js")


def need_tool(tool: str) -> str:
    """The tool's path. Missing: a failure under CI (which installs it), else a skip."""
    path = shutil.which(tool)
    if path is None:
        message = f"{tool} is not installed; the Firestore emulator needs it"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def install_dir() -> Path:
    cache = Path(os.environ.get("P2PTUI_TEST_CACHE", Path.home() / ".cache" / "p2ptui"))
    return cache / "firestore-emulator"


def ensure_installed() -> Path:
    directory = install_dir()
    modules = directory / "node_modules"
    if not (modules / "@firestore-emulator" / "server" / "package.json").exists():
        npm = need_tool("npm")
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "package.json").write_text('{"private": true}\n')
        subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--loglevel=error", PACKAGE],
            cwd=directory,
            check=True,
            timeout=600,
        )
    return modules


class Emulator:
    """One emulator process on a fixed port, which can be stopped and started again."""

    def __init__(self) -> None:
        self.node = need_tool("node")
        self.modules = ensure_installed()
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.node, str(LAUNCHER), str(self.port)],
            env={**os.environ, "NODE_PATH": str(self.modules)},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()  # Blocks until it listens, or exits.
        if "listening" not in line:
            self.stop()
            raise RuntimeError(f"the Firestore emulator did not start: {line!r}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


@contextmanager
def running_emulator() -> Iterator[str]:
    """An emulator started for the block: its host:port."""
    emulator = Emulator()
    emulator.start()
    try:
        yield emulator.host
    finally:
        emulator.stop()
