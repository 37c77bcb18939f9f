"""Predictor-guided search on a toy two-objective problem."""

from __future__ import annotations

import numpy as np
import optuna
import pytest

from symtune.hypernets._predictor import (
    PredictorSearchConfig,
    enqueue_predicted_front,
    non_dominated_ranks,
    predictor_guided_search,
    propose_candidates,
)
from symtune.spaces import Space, intv, oneof

optuna.logging.set_verbosity(optuna.logging.WARNING)

LEVELS = [0, 1, 2, 3, 4]
SPACE = Space({f"x{i}": oneof(LEVELS) for i in range(6)} | {"k": intv(0, 4)})
WEIGHTS = np.array([3.0, 2.5, 2.0, 1.5, 1.0, 0.5])


def toy(assignment: dict) -> tuple[float, float]:
    """'Error' falls and 'cost' rises with each level, at different rates per parameter."""
    x = np.array([assignment[f"x{i}"] for i in range(6)], dtype=float)
    error = float(np.sum(WEIGHTS * (4 - x) ** 1.5) + 0.3 * assignment["k"])
    cost = float(np.sum(x * WEIGHTS[::-1]) + 0.1 * (4 - assignment["k"]))
    return error, cost


def hypervolume(points: list[tuple[float, float]], reference: tuple[float, float]) -> float:
    """2-D hypervolume (both minimised) by sweeping the non-dominated points."""
    front = sorted({p for p in points if p[0] < reference[0] and p[1] < reference[1]})
    volume, best_cost = 0.0, reference[1]
    for error, cost in front:
        if cost < best_cost:
            volume += (reference[0] - error) * (best_cost - cost)
            best_cost = cost
    return volume


def test_non_dominated_ranks() -> None:
    values = np.array([[1, 5], [2, 2], [5, 1], [3, 3], [6, 6]])
    assert non_dominated_ranks(values, ["minimize", "minimize"]).tolist() == [0, 0, 0, 1, 2]
    assert non_dominated_ranks(values, ["maximize", "maximize"]).tolist() == [1, 2, 1, 1, 0]


def evaluate(batch: list[dict]) -> list[tuple[float, float]]:
    return [toy(a) for a in batch]


def test_predictor_loop_enqueues_and_beats_random_search() -> None:
    config = PredictorSearchConfig(
        n_initial=16, batch_size=8, n_rounds=4, population_size=24, generations=12
    )
    study = optuna.create_study(directions=["minimize", "minimize"])
    result = predictor_guided_search(study, SPACE, evaluate, config)
    budget = len(result.assignments)
    assert budget == 16 + 4 * 8 and len(study.trials) == budget
    assert result.rounds.count(0) == 16
    guided = [t for t in study.trials if t.user_attrs.get("symtune_predictor")]
    assert len(guided) == 4 * 8
    assert all(toy(t.params) == pytest.approx(tuple(t.values)) for t in study.trials)
    reference = (120.0, 60.0)
    initial = hypervolume(result.values[:16], reference)
    final = hypervolume(result.values, reference)
    rng = np.random.default_rng(1)
    random = hypervolume(
        [toy(SPACE.sample(int(rng.integers(1 << 30)))) for _ in range(budget)], reference
    )
    assert final > initial
    assert final > random


def test_enqueued_front_runs_through_study_optimize() -> None:
    study = optuna.create_study(directions=["minimize", "minimize"])
    study.optimize(lambda t: toy(SPACE.suggest_params(t)), n_trials=12)
    config = PredictorSearchConfig(batch_size=5, population_size=10, generations=4)
    enqueued = enqueue_predicted_front(study, SPACE, config)
    assert 1 <= len(enqueued) <= 5
    study.optimize(lambda t: toy(SPACE.suggest_params(t)), n_trials=len(enqueued))
    assert [t.params for t in study.trials[12:]] == enqueued
    seen = [t.params for t in study.trials[:12]]
    assert not any(a in seen for a in enqueued)


def test_exact_objectives_are_computed_not_predicted() -> None:
    history = [(a, toy(a)) for a in (SPACE.sample(i) for i in range(10))]
    calls: list[dict] = []

    def cost(a: dict) -> float:
        calls.append(a)
        return toy(a)[1]

    config = PredictorSearchConfig(batch_size=4, population_size=8, generations=3, regressor="gbr")
    proposed = propose_candidates(
        SPACE, history, ["minimize", "minimize"], config, exact_objectives={1: cost}
    )
    assert calls and 1 <= len(proposed) <= 4
    with pytest.raises(ValueError, match="match the 1 directions"):
        propose_candidates(SPACE, history, ["minimize"], config)


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="`batch_size >= 2`"):
        PredictorSearchConfig(batch_size=1)
    with pytest.raises(ValueError, match="`regressor` must be"):
        PredictorSearchConfig(regressor="svm")


def test_non_dominated_ranks_match_brute_force_peeling() -> None:
    rng = np.random.default_rng(0)
    values = rng.integers(0, 5, (120, 3)).astype(float)
    directions = ["minimize", "maximize", "minimize"]
    costs = values * np.array([1.0, -1.0, 1.0])
    remaining, expected, rank = list(range(len(values))), np.zeros(len(values), int), 0
    while remaining:
        front = [
            i
            for i in remaining
            if not any(
                (costs[j] <= costs[i]).all() and (costs[j] < costs[i]).any() for j in remaining
            )
        ]
        expected[front] = rank
        remaining = [i for i in remaining if i not in front]
        rank += 1
    assert non_dominated_ranks(values, directions).tolist() == expected.tolist()
