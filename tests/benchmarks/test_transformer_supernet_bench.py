"""benchmarks/transformer_supernet.py: its hypervolume figure, its worker pool and its report
path, made small (no supernet is trained here; nothing is timed).

What a reader of the report relies on: "evaluations to 98% of the true front's hypervolume"
counts the leading evaluations whose front first reaches the goal; the pool runs a
higher-priority task before queued ones and returns every result; the report carries the
issue's five CPU targets with met/missed, says the CUDA phase did not run on a machine without
one, and writes the JSON, the Markdown and the plot.
"""

from __future__ import annotations

import json
import math
import operator
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("matplotlib")

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import transformer_supernet as bench  # noqa: E402
from support import lm_supernet as workers  # noqa: E402


def test_evaluations_to_reach_counts_the_leading_evaluations_of_the_first_front_to_reach() -> None:
    reference = (4.0, 4.0)
    values = [(3.0, 3.0), (3.5, 3.5), (1.0, 3.0), (3.0, 1.0), (1.0, 1.0)]
    # fronts: 1 -> area 1; the dominated point adds nothing; then 3, 5, and 9 (the best)
    assert workers.hypervolume(values[:1], reference) == pytest.approx(1.0)
    assert workers.hypervolume(values, reference) == pytest.approx(9.0)
    assert bench.evaluations_to_reach(values, 3.0, reference) == 3
    assert bench.evaluations_to_reach(values, 5.0, reference) == 4
    assert bench.evaluations_to_reach(values, 9.5, reference) is None
    assert workers.pareto(values) == [(1.0, 1.0)]
    assert workers.hypervolume([(5.0, 1.0)], reference) == 0.0  # outside the reference point


def test_goals_stop_once_every_goal_is_reached() -> None:
    goals = workers.Goals([((4.0, 4.0), 3.0), ((2.0, 2.0), 1.0)])
    for point in [(3.0, 3.0), (1.0, 3.0)]:
        goals.add(point)
    assert goals.reached == [2, None]
    goals.add((1.0, 1.0))
    assert goals.reached == [2, 3]


def test_the_pool_runs_a_higher_priority_task_before_queued_ones() -> None:
    with workers.Pool(1) as pool:
        pool.submit("first", 5, operator.add, 1, 2)  # handed to the free worker at once
        pool.submit("later", 5, operator.mul, 3, 4)
        pool.submit("urgent", 0, operator.sub, 9, 1)
        results = pool.wait(["later", "urgent", "first"])
        timings = dict(pool.timings)
        with pytest.raises(ValueError, match="already used"):
            pool.submit("first", 0, operator.add, 0, 0)
        with pytest.raises(ValueError, match="no task was submitted"):
            pool.wait(["missing"])
    assert results == {"later": 12, "urgent": 8, "first": 3}
    assert timings["first"].start <= timings["urgent"].start <= timings["later"].start


def _fake_measured() -> bench.Measured:
    mode = bench.MODES["quick"]
    rng = np.random.default_rng(0)
    sample = [bench.SPACE.sample(i) for i in range(40)]
    sample.append(workers.blank_supernet().largest_assignment())
    rows = []
    for a in {workers.key(a): a for a in sample}.values():
        params = 20_000 * a["width"] // 32 * a["depth"] + 1_000 * a["blocks[0].heads"]
        loss = 2.0 + 60_000 / params + 0.05 * float(rng.random())
        rows.append({"assignment": a, "bits": loss / math.log(2), "loss": loss,
                     "params": params, "seconds": 0.03})  # fmt: skip
    values = [(r["bits"], float(r["params"])) for r in rows]
    searches = {m: [{"values": values[s:] + values[:s], "scored": {}, "stopped_early": False}
                    for s in range(3)] for m in ("predictor", "nsga2", "random")}  # fmt: skip

    def standalone(row: dict[str, Any], converged: bool) -> dict[str, Any]:
        loss = row["loss"] - 0.3
        return {"assignment": row["assignment"], "loss": loss, "bits": loss / math.log(2),
                "error": 0.5, "epochs": 3, "best_epoch": 2, "converged": converged,
                "val_losses": [loss], "seconds": 40.0}  # fmt: skip

    ranking = [standalone(row, i % 2 == 0) for i, row in enumerate(rows[:6])]
    members = [standalone(row, True) for row in rows[6:8]]
    for member, row in zip(members, rows[6:8], strict=True):
        member["supernet_bits"], member["params"] = row["bits"], row["params"]
    timing = workers.Timing(0.0, 1.0, 1.0)
    tags = ["train:supernet", "train:largest", "score:0", "search:nsga2:0", "ranking:0", "front:0"]
    return bench.Measured(
        "quick", mode, {"python_version": "3.11", "files": {"train": 1, "val": 1, "test": 1},
                        "bytes": {"train": 10, "val": 5, "test": 5}, "train_windows": 1024,
                        "val_windows": 256, "context": 64},
        {"seconds": 20.0, "steps": 128, "largest_loss": [3.0], "mean_loss": [3.2]},
        {"seconds": 10.0, "steps": 128, "val_bits": 3.9},
        rows, searches, ranking, [r["params"] * 64 for r in rows[:6]], members,
        dict.fromkeys(tags, timing), {"data": 0.1},
    )  # fmt: skip


def test_the_report_carries_the_targets_and_says_cuda_did_not_run(tmp_path: Path) -> None:
    measured = _fake_measured()
    report = bench.build_report(measured)
    json_path, md_path = report.write(tmp_path)
    document = json.loads(json_path.read_text())
    assert document["benchmark"] == "transformer_supernet" and document["mode"] == "quick"
    targets = {t["name"]: t for t in document["targets"]}
    assert len(targets) == 5  # the CUDA target only when CUDA was measured
    ratio = targets["supernet training / largest subnet alone (wall time)"]
    assert ratio["value"] == pytest.approx(2.0) and ratio["met"] is True
    ranking = document["figures"]["ranking"]
    assert len(ranking["standalone_scores"]) == 6 and ranking["converged"].count(True) == 3
    assert document["figures"]["scoring_cost"]["ratio"] == pytest.approx(0.03 / 40.0)
    search = document["figures"]["search"]["study"]
    assert search["median_evaluations_to_goal"]["predictor"] >= 1
    assert document["figures"]["cuda"]["measured"] is False
    text = md_path.read_text()
    assert "Converged 3/6; 3 hit the cap" in text
    assert "not run: " in text
    png = tmp_path / "front.png"
    bench.plot(png, measured.values, measured.members, bench.ranking_result(measured))
    assert png.stat().st_size > 0
