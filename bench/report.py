"""Results, and the Markdown table and JSON file they are written as."""

from __future__ import annotations

import json
import platform
import statistics
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


@dataclass
class Result:
    name: str
    value: float
    unit: str
    reference: str = ""
    """What the value is compared with, in words."""
    reference_value: float | None = None
    goal: str = ""
    met: bool | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.reference_value in (None, 0):
            return None
        return self.value / self.reference_value


@dataclass
class Report:
    quick: bool
    results: list[Result] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def add(self, result: Result) -> None:
        print(f"  {result.name}: {_number(result.value)} {result.unit}"
              + (f" (reference {_number(result.reference_value)})" if result.reference_value is not None else ""),
              flush=True)
        self.results.append(result)

    def skip(self, name: str, why: str) -> None:
        print(f"  {name}: not run: {why}", flush=True)
        self.skipped.append((name, why))

    def machine(self) -> str:
        cpus = _cpu_model()
        return f"{platform.system()} {platform.release()}, {cpus}, Python {platform.python_version()}"

    def markdown(self) -> str:
        when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        lines = [
            f"Run {when} on {self.machine()}, {'quick' if self.quick else 'full'} mode.",
            "",
            "| Benchmark | p2ptui | Reference (same run) | Ratio | Goal | Met |",
            "|---|---|---|---|---|---|",
        ]
        for r in self.results:
            reference = f"{r.reference}: {_number(r.reference_value)} {r.unit}" if r.reference else ""
            ratio = "" if r.ratio is None else f"{r.ratio:.2f}x" if r.ratio >= 0.1 else f"{r.ratio:.2g}x"
            met = {True: "yes", False: "**no**", None: ""}[r.met]
            value = f"{_number(r.value)} {r.unit}" + (f" ({r.note})" if r.note else "")
            lines.append(f"| {r.name} | {value} | {reference} | {ratio} | {r.goal} | {met} |")
        for name, why in self.skipped:
            lines.append(f"| {name} | not run: {why} | | | | |")
        return "\n".join(lines) + "\n"

    def write(self, directory: Path) -> tuple[Path, Path]:
        directory.mkdir(parents=True, exist_ok=True)
        markdown, data = directory / "latest.md", directory / "latest.json"
        markdown.write_text(self.markdown())
        data.write_text(json.dumps(
            {
                "machine": self.machine(),
                "quick": self.quick,
                "results": [{**asdict(r), "ratio": r.ratio} for r in self.results],
                "skipped": [{"name": n, "why": w} for n, w in self.skipped],
            },
            indent=2,
        ) + "\n")
        return markdown, data


def summary(values: list[float]) -> dict[str, float]:
    return {
        "p50": percentile(values, 0.5),
        "p99": percentile(values, 0.99),
        "mean": statistics.fmean(values),
    }


def _number(value: float | None) -> str:
    if value is None:
        return ""
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                import os

                return f"{os.cpu_count()} x {model}"
    except OSError:
        pass
    return platform.machine()
