"""Predictor-guided search on a toy two-objective problem."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest
from ray import cloudpickle

from symtune.search import create_study, non_dominated_ranks
from symtune.search.samplers import (
    PredictorSampler,
    PredictorSearchConfig,
    enqueue_predicted_front,
    predictor_guided_search,
    propose_candidates,
)
from symtune.spaces import Space, intv, oneof

optuna.logging.set_verbosity(optuna.logging.WARNING)
cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import tests

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
    rounds = [t.user_attrs["predictor_round"] for t in study.trials]
    assert rounds == result.rounds == [0] * 16 + [r for r in (1, 2, 3, 4) for _ in range(8)]
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
    with pytest.raises(ValueError, match="`selection` must be 'hypervolume' or 'spread'"):
        PredictorSearchConfig(selection="crowding")


def test_hypervolume_selection_picks_the_largest_predicted_gains_first() -> None:
    from symtune.search.samplers._propose import _greedy_hypervolume

    real = np.array([[0.5, 0.5], [0.2, 0.9], [0.9, 0.2]])
    predicted = np.array(
        [
            [0.6, 0.6],  # dominated by the real front: never picked
            [0.45, 0.45],  # a small gain, gone once [0.3, 0.3] is picked
            [0.3, 0.3],  # the largest gain
            [0.31, 0.31],  # large alone, but dominated once [0.3, 0.3] is picked
            [0.1, 0.95],  # extends the front at one end
        ]
    )
    directions = ["minimize", "minimize"]
    picks = _greedy_hypervolume(real, predicted, np.arange(5), directions, k=5)
    assert picks == [2, 4]  # then nothing adds volume: propose_candidates fills up by spread
    maximised = _greedy_hypervolume(-real, -predicted, np.arange(5), ["maximize"] * 2, k=5)
    assert maximised == picks  # maximised objectives are handled by their sign


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


def toy_objective(config: dict[str, Any], trial: Any) -> tuple[float, float]:
    time.sleep(0.02)  # slow enough that the driver sends trials one by one, not in batches
    return toy(config)


def test_the_sampler_proposes_the_predicted_front_in_plain_optuna() -> None:
    config = PredictorSearchConfig(n_initial=12, batch_size=6, population_size=16, generations=5)
    sampler = PredictorSampler(SPACE, config)
    study = optuna.create_study(directions=["minimize"] * 2, sampler=sampler)
    study.enqueue_trial({"x0": 2, "x1": 2, "x2": 2, "x3": 2, "x4": 2, "x5": 2, "k": 2})
    study.optimize(lambda t: toy(SPACE.suggest_params(t)), n_trials=48)
    rounds = [t.user_attrs.get("predictor_round") for t in study.trials]
    assert rounds[0] is None and study.trials[0].params["x0"] == 2  # enqueued: left alone
    assert rounds[1:12] == [0] * 11  # random until 12 trials are complete
    guided = [int(r) for r in rounds[12:] if r is not None]
    assert len(guided) == 36 and min(guided) >= 1 and guided == sorted(guided)
    assert [a for _, a in sampler.proposals] == [t.params for t in study.trials[1:]]
    planned = {(r, tuple(sorted(a.items()))) for r, a in sampler.proposals}
    assert len({a for _, a in planned}) == len(planned) == 47  # no subnet scored twice
    reference = (120.0, 60.0)
    values = [tuple(t.values) for t in study.trials]
    rng = np.random.default_rng(1)
    random = [toy(SPACE.sample(int(rng.integers(1 << 30)))) for _ in range(48)]
    assert hypervolume(values, reference) > hypervolume(random, reference)


@pytest.mark.ray
@pytest.mark.usefixtures("ray_local")
def test_the_sampler_drives_a_study_on_ray_workers_and_resumes(tmp_path: Path) -> None:
    storage = str(tmp_path / "p.journal")
    config = PredictorSearchConfig(n_initial=10, batch_size=6, population_size=16, generations=5)

    def make() -> Any:
        return create_study(
            SPACE,
            toy_objective,
            name="p",
            directions=["minimize"] * 2,
            storage=storage,
            sampler=PredictorSampler(SPACE, config),
        )

    study = make()
    study.optimize(28, workers=2)
    frame = study.results()
    assert len(frame) == 28 and set(frame["state"]) == {"COMPLETE"}
    rounds = frame["attr_predictor_round"].tolist()
    first = rounds.index(1)
    assert 10 <= first <= 10 + 2 * 2 + 1  # the driver asks up to 2 trials per worker ahead
    assert set(rounds[:first]) == {0} and min(rounds[first:]) >= 1
    for trial in study.trials:  # scored by the objective on the workers
        assert tuple(trial.values) == pytest.approx(toy(trial.params))
    resumed = make()  # a fresh sampler: the stored trials are its history
    resumed.optimize(34, workers=2)
    later = resumed.results()["attr_predictor_round"].tolist()
    assert len(later) == 34 and min(later[28:]) > max(rounds)  # rounds number on


def test_proposals_skip_scored_subnets_whose_values_came_back_as_floats() -> None:
    """A storage may hand an int back as a float (``1.0``): the same subnet, not a new one."""
    space = Space({"a": oneof([0, 1, 2]), "k": intv(0, 2)})
    every = [{"a": a, "k": k} for a in range(3) for k in range(3)]
    history = [
        ({"a": float(c["a"]), "k": float(c["k"])}, (float(c["a"] + c["k"]), float(-c["a"])))
        for c in every[:-1]
    ]
    config = PredictorSearchConfig(batch_size=4, population_size=8, generations=3)
    proposed = propose_candidates(space, history, ["minimize", "minimize"], config)
    assert [p for p in proposed if p != every[-1]] == []


def test_the_two_objective_hypervolume_sweep_matches_the_general_algorithm() -> None:
    from symtune.search import hypervolume_of_losses
    from symtune.search.samplers._propose import _hypervolume

    rng = np.random.default_rng(0)
    reference = np.array([1.0, 1.0])
    for size in (1, 2, 5, 30):
        points = rng.random((size, 2)) * 0.99  # inside the reference point
        points[0] = points[-1]  # a duplicate
        expected = hypervolume_of_losses(points, reference)
        assert _hypervolume(points, reference) == pytest.approx(expected, rel=1e-12)
    assert _hypervolume(np.array([[1.5, 0.2]]), reference) == 0.0  # outside: adds nothing
