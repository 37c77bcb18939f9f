"""The learning-curve table of ``benchmarks/pruning.py`` (``benchmarks/support/learning_curves``).

What the pruning benchmark relies on: the committed table loads as ``(C, E)`` curves of
validation error in [0, 1] with positive parameter counts, and they are real learning curves
(the error falls with epochs, a Pareto front against parameters has several points); the
generator writes a table the loader reads back, the same for the same seed; a missing table
is an error that says how to make it. Nothing here times anything.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

from support.learning_curves import (  # noqa: E402
    DEFAULT_PATH,
    CurvesConfig,
    generate,
    load_curves,
    non_dominated,
    summarize,
)


def test_the_committed_table_is_c_by_e_curves_of_errors_with_parameter_counts() -> None:
    curves = load_curves()
    c, e = curves.val_error.shape
    assert (c, e) == (curves.meta["n_configs"], curves.meta["epochs"])
    assert e == 27 and c >= 100
    assert curves.val_loss.shape == (c, e)
    assert curves.params.shape == curves.flops.shape == (c,)
    assert len(curves.assignments) == c
    assert len({json.dumps(a, sort_keys=True) for a in curves.assignments}) == c  # distinct
    assert np.all((curves.val_error >= 0) & (curves.val_error <= 1))
    assert np.all(curves.params > 0) and np.all(curves.flops > 0)
    assert DEFAULT_PATH.stat().st_size < 1_000_000


def test_the_committed_curves_fall_with_epochs_and_leave_a_front() -> None:
    curves = load_curves()
    summary = summarize(curves)
    assert np.median(curves.val_error[:, -1]) < np.median(curves.val_error[:, 0])
    assert summary["fell_1_to_E"] > 0.8
    assert summary["front_at_E"] >= 4


def test_non_dominated_against_a_brute_force_oracle() -> None:
    rng = np.random.default_rng(0)
    points = rng.integers(0, 5, size=(30, 2)).astype(float)  # ties and duplicates
    oracle = [not any(np.all(q <= p) and np.any(q < p) for q in points) for p in points]
    assert non_dominated(points).tolist() == oracle


def test_the_generator_writes_a_table_the_loader_reads_and_repeats_it(tmp_path: Path) -> None:
    config = CurvesConfig(n_configs=2, epochs=2, seed=5)
    table = generate(config)
    path = tmp_path / "curves.json"
    path.write_text(json.dumps(table))
    curves = load_curves(path)
    assert curves.val_error.shape == (2, 2)
    assert curves.meta["config"]["seed"] == 5
    assert [r["train_seed"] for r in table["configs"]] == [5, 6]
    assert generate(config)["configs"] == table["configs"]  # same seed, same curves


def test_a_missing_table_names_its_path_and_the_generator(tmp_path: Path) -> None:
    missing = tmp_path / "none.json"
    with pytest.raises(FileNotFoundError, match=r"none\.json.*learning_curves\.py --out"):
        load_curves(missing)


def test_a_curve_of_the_wrong_length_is_refused(tmp_path: Path) -> None:
    row = {"assignment": {}, "params": 10, "flops": 20, "val_error": [0.5, 0.4], "val_loss": [1.0]}
    table = {"meta": {"epochs": 1}, "configs": [row]}
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(table))
    with pytest.raises(ValueError, match=r"meta\.epochs=1.*bad\.json"):
        load_curves(path)


@pytest.mark.parametrize("bad", [{"n_configs": 0}, {"epochs": 1.5}, {"lr": 0.0}])
def test_bad_generator_options_name_the_rule(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must hold"):
        CurvesConfig(**bad)  # type: ignore[arg-type]
