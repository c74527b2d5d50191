"""The static gates, run as tests so CI runs them: ruff (with McCabe 12) and
mypy in strict mode, both clean on the whole networking core."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Nothing in net/ is exempt; a file that must be is named here, with the reason.
EXEMPT: list[str] = []


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)


def tool(name: str) -> str:
    path = Path(sys.executable).parent / name
    if path.exists():
        return str(path)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: pip install -e '.[test]'")
    return found


def test_ruff_finds_nothing_in_net():
    result = run(tool("ruff"), "check", "net/", *[f"--extend-exclude={path}" for path in EXEMPT])
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_finds_nothing_in_the_tui():
    # Complexity (McCabe 12) and line length hold in tui/ too.
    result = run(tool("ruff"), "check", "tui/")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_finds_nothing_in_net():
    # Exempt files are still imported (and so checked for what others use of them),
    # but their own findings are not reported.
    result = run(tool("mypy"), *[f"--exclude=^{path}$" for path in EXEMPT], "net/")
    findings = [line for line in result.stdout.splitlines() if not any(line.startswith(p) for p in EXEMPT)]
    assert result.returncode == 0 or not [f for f in findings if ": error:" in f], result.stdout + result.stderr
