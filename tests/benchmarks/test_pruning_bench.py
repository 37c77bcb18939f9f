"""benchmarks/pruning.py: the figures it reports, computed from hand-made trials (no study
runs here; nothing is timed).

What a reader of the report relies on: the hypervolume curve counts every trial's epochs
(pruned ones too) and only completed trials' points, in completion order and within the
budget; "epochs to reach" is the first point at the goal; a seed that never reaches it is
the worst in the median; and the replayed objective reports the table's curve epoch by epoch.
"""

from __future__ import annotations

import datetime as dt
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import pruning as bench  # noqa: E402
from support.learning_curves import Curves  # noqa: E402


def curves() -> Curves:
    error = np.array([[0.9, 0.5, 0.2], [0.8, 0.6, 0.4], [0.7, 0.3, 0.1]])
    return Curves(
        val_error=error,
        val_loss=error,
        params=np.array([100, 1000, 10000]),
        flops=np.zeros(3, dtype=int),
        assignments=({}, {}, {}),
        meta={},
    )


def trial(number: int, config: int, epochs: int, state: TrialState, error: float) -> Any:
    start = dt.datetime(2026, 1, 1)
    frozen = optuna.trial.create_trial(
        state=state,
        params={"config": config},
        distributions={"config": optuna.distributions.IntDistribution(0, 2)},
        user_attrs={"epochs": epochs, "error": error},
        values=[error, 1.0] if state == TrialState.COMPLETE else None,
    )
    frozen.number = number
    frozen.datetime_complete = start + dt.timedelta(seconds=number)
    return frozen


def test_the_hypervolume_curve_counts_pruned_epochs_and_completed_points() -> None:
    objective = bench.CurveObjective(curves(), scalar=False, epoch_s=0.0)
    trials = [
        trial(0, 0, 3, TrialState.COMPLETE, 0.2),
        trial(1, 1, 1, TrialState.PRUNED, 0.8),
        trial(2, 2, 3, TrialState.COMPLETE, 0.1),
        trial(3, 0, 3, TrialState.COMPLETE, 0.2),  # over the budget of 7 epochs: left out
    ]
    curve = bench.hypervolume_curve(trials, objective, budget=7)
    assert curve["epochs"] == [3, 4, 7]
    assert curve["complete"] == 3 and curve["pruned"] == 1  # counted over all stored trials
    reference = curve["reference_point"]
    assert reference == pytest.approx([1.1 * 0.4, 1.1])
    first = (reference[0] - 0.2) * (reference[1] - 0.0)  # network 0: the smallest, size 0
    assert curve["hypervolume"][:2] == pytest.approx([first, first])
    assert curve["hypervolume"][2] > first  # network 2 (error 0.1, the largest) adds some
    assert bench.hv_at(curve, 3.5) == pytest.approx(first) and bench.hv_at(curve, 2) == 0.0
    assert bench.epochs_to_reach(curve, curve["hypervolume"][2]) == 7
    assert bench.epochs_to_reach(curve, 10.0) is None


def test_a_seed_that_never_reaches_the_goal_counts_as_the_worst() -> None:
    assert bench._median([math.nan, 0.38, 0.2]) == pytest.approx(0.38)
    assert math.isnan(bench._median([math.nan, math.nan, 0.2]))
    assert bench._median([0.1, 0.3]) == pytest.approx(0.2)


class Recorder:
    def __init__(self, prune_at: int | None = None) -> None:
        self.reports: list[tuple[Any, int]] = []
        self.attrs: dict[str, Any] = {}
        self.prune_at = prune_at

    def report(self, value: Any, step: int) -> None:
        self.reports.append((value, step))

    def set_user_attr(self, key: str, value: Any) -> None:
        self.attrs[key] = value

    def should_prune(self) -> bool:
        return self.reports[-1][1] == self.prune_at


def test_the_objective_replays_a_curve_epoch_by_epoch() -> None:
    objective = bench.CurveObjective(curves(), scalar=False, epoch_s=0.0)
    recorder = Recorder()
    assert objective({"config": 2}, recorder) == (0.1, 10000.0)
    assert recorder.reports == [([0.7, 10000.0], 1), ([0.3, 10000.0], 2), ([0.1, 10000.0], 3)]
    assert recorder.attrs["epochs"] == 3
    pruned = Recorder(prune_at=2)
    with pytest.raises(optuna.TrialPruned):
        objective({"config": 1}, pruned)
    assert pruned.attrs["epochs"] == 2  # what the pruned trial spent
    scalar = bench.CurveObjective(curves(), scalar=True, epoch_s=0.0)
    assert scalar({"config": 0}, Recorder()) == pytest.approx(0.2 / 0.4 + 0.0)
