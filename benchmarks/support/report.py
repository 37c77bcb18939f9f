"""Shared by every benchmark: the environment, figures with spread, fits and the report files.

DESIGN §7: each benchmark writes ``NAME.json`` and ``NAME.md`` into its ``--out`` folder
(``benchmarks/results/`` by default); the JSON holds the environment, what ran (the setup and
how many repeats each system had), every figure with its spread, and one ``targets`` entry per
target of its issue. A missed target is reported, never raised. A spread of a single run is
"n/a" (``null`` in the JSON), never 0.
"""

from __future__ import annotations

import json
import math
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
NA = "n/a"


def environment(device: str | None = None) -> dict[str, Any]:
    """Versions, CPU, GPU, threads and the device used: what a reader needs to compare."""
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
        "device": device,
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


# -- figures ------------------------------------------------------------------------------------


def spread(values: Sequence[float]) -> dict[str, Any]:
    """Mean, standard deviation, min, max, ``n`` and the raw values.

    The standard deviation of one value is ``None`` ("n/a" in a report): one run has no
    spread, and 0 would claim it had none.
    """
    values = [float(v) for v in values]
    if not values:
        raise ValueError("spread() needs at least one value, but got none")
    return {
        "mean": statistics.fmean(values),
        "std": statistics.stdev(values) if len(values) > 1 else None,
        "min": min(values),
        "max": max(values),
        "n": len(values),
        "values": values,
    }


def fmt_spread(figure: dict[str, Any], digits: int = 4) -> str:
    """``mean ± std`` of a :func:`spread`, or ``mean ± n/a`` for a single run."""
    std = figure.get("std")
    shown = NA if std is None else f"{std:.{digits}f}"
    return f"{figure['mean']:.{digits}f} ± {shown}"


def linear_fit(ns: Sequence[float], walls: Sequence[float]) -> dict[str, Any]:
    """Least-squares fit ``wall = a + b * n`` over measured ``(n, wall)`` pairs.

    ``a`` is the start-up (seconds), ``b`` the marginal cost of one more trial (seconds);
    ``r2`` the coefficient of determination and ``residual_rms`` the root mean square of the
    residuals (seconds). With only two distinct sizes the line passes through their means, so
    ``r2`` says little; ``r2`` is ``None`` when every wall time is the same.
    """
    if len(ns) != len(walls):
        raise ValueError(f"linear_fit() needs as many sizes as times, but got {len(ns)} and "
                         f"{len(walls)}")  # fmt: skip
    if len(set(ns)) < 2:
        raise ValueError(f"linear_fit() needs at least two distinct sizes, but got {sorted(ns)}")
    xs, ys = [float(n) for n in ns], [float(w) for w in walls]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    a = my - b * mx
    residuals = [y - (a + b * x) for x, y in zip(xs, ys, strict=True)]
    ss_res = sum(r * r for r in residuals)
    ss_tot = sum((y - my) ** 2 for y in ys)
    return {
        "a_s": a,
        "b_ms": b * 1000,
        "r2": 1 - ss_res / ss_tot if ss_tot > 0 else None,
        "residual_rms_s": math.sqrt(ss_res / len(xs)),
        "points": len(xs),
        "sizes": sorted(set(ns)),
    }


def per_trial_ms(fit: dict[str, Any], n: int) -> float:
    """Overhead per trial at ``n`` trials from a :func:`linear_fit`: ``(a + b n) / n``, in ms."""
    return fit["a_s"] * 1000 / n + fit["b_ms"]


# -- the report ---------------------------------------------------------------------------------


@dataclass
class Report:
    """A benchmark's report; :meth:`write` produces the JSON and the Markdown files.

    ``setup`` is what ran (sizes, budgets, seeds, options) and ``repeats`` how many times each
    system was measured in this run (every peer as many times as symtune).
    """

    name: str
    mode: Literal["quick", "full"]
    description: str
    setup: dict[str, Any] = field(default_factory=dict)
    repeats: dict[str, int] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)
    targets: list[dict[str, Any]] = field(default_factory=list)
    markdown: list[str] = field(default_factory=list)
    device: str | None = None

    def target(
        self, name: str, value: float, target: float, better: Literal["lower", "higher"]
    ) -> bool:
        """Record a target of the issue; returns whether it is met."""
        met = value <= target if better == "lower" else value >= target
        self.targets.append(
            {"name": name, "value": value, "target": target, "better": better, "met": met}
        )
        return met

    def document(self) -> dict[str, Any]:
        """The JSON document (environment measured now)."""
        return {
            "benchmark": self.name,
            "mode": self.mode,
            "description": self.description,
            "command": ["python", *sys.argv],
            "environment": environment(self.device),
            "setup": self.setup,
            "repeats": self.repeats,
            "figures": self.figures,
            "targets": self.targets,
        }

    def write(self, out: Path | None = None) -> tuple[Path, Path]:
        """Write ``NAME.json`` and ``NAME.md`` into ``out`` (default ``benchmarks/results``)."""
        folder = RESULTS if out is None else Path(out)
        folder.mkdir(parents=True, exist_ok=True)
        document = self.document()
        json_path = folder / f"{self.name}.json"
        json_path.write_text(json.dumps(document, indent=2, default=_jsonable) + "\n")
        md_path = folder / f"{self.name}.md"
        md_path.write_text(self._markdown(document["environment"]))
        return json_path, md_path

    def _markdown(self, env: dict[str, Any]) -> str:
        lines = [f"# Benchmark: {self.name} ({self.mode} mode)", "", self.description, ""]
        lines += [
            f"Machine: {env['cpu']}, {env['cpu_count']} cores, GPU: {env.get('gpu') or 'none'}; "
            f"device: {env.get('device') or 'cpu'}; Python {env['python']}; "
            + ", ".join(f"{k} {v}" for k, v in env["versions"].items() if v),
            "",
        ]
        if self.repeats:
            lines += [
                "Repeats in this run (every peer as many as symtune; a spread of one run is "
                "n/a): " + ", ".join(f"{k} {v}" for k, v in self.repeats.items()) + ".",
                "",
            ]
        lines += [
            "## Targets",
            "",
        ]
        if self.targets:
            lines += ["| target | measured | goal | met |", "| --- | --- | --- | --- |"]
        else:
            lines.append("No issue names a target for this benchmark's figures.")
        for t in self.targets:
            sign = "<=" if t["better"] == "lower" else ">="
            lines.append(
                f"| {t['name']} | {t['value']:.4g} | {sign} {t['target']:.4g} | "
                f"{'yes' if t['met'] else '**no**'} |"
            )
        lines += ["", *self.markdown, ""]
        return "\n".join(lines)


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    """A Markdown table; floats printed with 4 significant digits, ``None`` as "n/a"."""

    def cell(value: Any) -> str:
        if value is None:
            return NA
        return f"{value:.4g}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return lines


def _jsonable(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)
