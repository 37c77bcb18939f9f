"""Shared by every benchmark: the environment, figures with spread, and the report files.

DESIGN §7: each benchmark writes ``benchmarks/results/NAME.json`` and ``NAME.md``; the JSON holds
the environment, every figure with its spread, and one ``targets`` entry per target of its issue.
A missed target is reported, never raised.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

RESULTS = Path(__file__).resolve().parents[1] / "results"


def environment() -> dict[str, Any]:
    """Versions, CPU, GPU and threads: what a reader needs to compare figures."""
    versions: dict[str, str | None] = {}
    for package in ("symtune", "optuna", "ray", "torch", "numpy", "pandas", "scikit-learn"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    env: dict[str, Any] = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu": _cpu_name(),
        "cpu_count": os.cpu_count(),
        "versions": versions,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    try:
        import torch

        env["torch_threads"] = torch.get_num_threads()
        env["gpu"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except ImportError:
        env["gpu"] = None
    return env


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def spread(values: Sequence[float]) -> dict[str, Any]:
    """Mean, standard deviation, min, max and the raw values."""
    values = [float(v) for v in values]
    return {
        "mean": statistics.fmean(values),
        "std": statistics.stdev(values) if len(values) > 1 else 0.0,
        "min": min(values),
        "max": max(values),
        "values": values,
    }


@dataclass
class Report:
    """A benchmark's report; :meth:`write` produces the JSON and the Markdown files."""

    name: str
    mode: Literal["quick", "full"]
    description: str
    figures: dict[str, Any] = field(default_factory=dict)
    targets: list[dict[str, Any]] = field(default_factory=list)
    markdown: list[str] = field(default_factory=list)

    def target(
        self, name: str, value: float, target: float, better: Literal["lower", "higher"]
    ) -> bool:
        """Record a target of the issue; returns whether it is met."""
        met = value <= target if better == "lower" else value >= target
        self.targets.append(
            {"name": name, "value": value, "target": target, "better": better, "met": met}
        )
        return met

    def write(self) -> tuple[Path, Path]:
        RESULTS.mkdir(parents=True, exist_ok=True)
        env = environment()
        document = {
            "benchmark": self.name,
            "mode": self.mode,
            "description": self.description,
            "environment": env,
            "figures": self.figures,
            "targets": self.targets,
        }
        json_path = RESULTS / f"{self.name}.json"
        json_path.write_text(json.dumps(document, indent=2, default=_jsonable) + "\n")
        md_path = RESULTS / f"{self.name}.md"
        md_path.write_text(self._markdown(env))
        return json_path, md_path

    def _markdown(self, env: dict[str, Any]) -> str:
        lines = [f"# Benchmark: {self.name} ({self.mode} mode)", "", self.description, ""]
        lines += [
            f"Machine: {env['cpu']}, {env['cpu_count']} cores, GPU: {env.get('gpu') or 'none'}; "
            f"Python {env['python']}; "
            + ", ".join(f"{k} {v}" for k, v in env["versions"].items() if v),
            "",
            "## Targets",
            "",
            "| target | measured | goal | met |",
            "| --- | --- | --- | --- |",
        ]
        for t in self.targets:
            sign = "<=" if t["better"] == "lower" else ">="
            lines.append(
                f"| {t['name']} | {t['value']:.4g} | {sign} {t['target']:.4g} | "
                f"{'yes' if t['met'] else '**no**'} |"
            )
        lines += ["", *self.markdown, ""]
        return "\n".join(lines)


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    """A Markdown table; floats printed with 4 significant digits."""

    def cell(value: Any) -> str:
        return f"{value:.4g}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return lines


def _jsonable(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)
