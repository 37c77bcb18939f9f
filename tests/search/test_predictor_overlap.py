"""PredictorSampler's overlapped fit: what each fit sees, reproducibility, errors, no waiting."""

from __future__ import annotations

import dataclasses
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest
from ray import cloudpickle

from symtune.search import create_study
from symtune.search.samplers import PredictorFitError, PredictorSampler, PredictorSearchConfig
from symtune.spaces import Space, intv, oneof

optuna.logging.set_verbosity(optuna.logging.WARNING)
cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import tests

SPACE = Space({f"x{i}": oneof([0, 1, 2, 3]) for i in range(4)} | {"k": intv(0, 4)})
SMALL: dict[str, Any] = {"population_size": 8, "generations": 3, "overlap": True}


def toy(assignment: dict[str, Any]) -> tuple[float, float]:
    x = np.array([assignment[f"x{i}"] for i in range(4)], dtype=float)
    return float(np.sum((3 - x) ** 1.5) + 0.3 * assignment["k"]), float(x.sum())


def toy_objective(config: dict[str, Any], trial: Any) -> tuple[float, float]:
    time.sleep(0.02)  # over 5 ms: sent one by one, at most 2 per worker in flight
    return toy(config)


class Recorder:
    """A regressor that records the rows it was fitted on and, when told, blocks in fit."""

    def __init__(self, log: list[int], gate: dict[str, threading.Event] | None = None) -> None:
        self.log, self.gate = log, gate

    def fit(self, x: np.ndarray, y: np.ndarray) -> Recorder:
        self.log.append(len(x))
        if self.gate is not None:
            self.gate["started"].set()
            if not self.gate["release"].wait(30):  # never hangs the suite
                self.gate["timed_out"].set()
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        return x.sum(axis=1)


def ask_tell(study: optuna.Study, count: int) -> list[optuna.trial.FrozenTrial]:
    for _ in range(count):
        trial = study.ask()
        study.tell(trial, toy(SPACE.suggest_params(trial)))
    return study.trials


def test_the_ask_does_not_wait_for_a_fit_started_early() -> None:
    gate = {name: threading.Event() for name in ("started", "release", "timed_out")}
    rows: list[int] = []
    config = PredictorSearchConfig(
        n_initial=6, batch_size=3, regressor=lambda: Recorder(rows, gate), **SMALL
    )
    study = optuna.create_study(
        directions=["minimize"] * 2, sampler=PredictorSampler(SPACE, config)
    )
    ask_tell(study, 3)
    held = study.ask()  # proposal 3 = 6 - overlap_lag: the fit of round 1 sees trials 0-2
    assert gate["started"].wait(30)  # it started in this ask, in the background
    study.tell(held, toy(SPACE.suggest_params(held)))
    trials = ask_tell(study, 2)  # round 0's last proposals: handed out while the fit blocks
    assert len(trials) == 6 and not gate["release"].is_set() and rows == [3]
    fits = [t for t in threading.enumerate() if t.name == "symtune-predictor-fit-1"]
    assert fits and all(t.daemon for t in fits)  # an ending study never hangs on it
    gate["release"].set()
    trials = ask_tell(study, 1)  # the queue ran dry: this ask takes the fit's round
    assert not gate["timed_out"].is_set() and rows[:2] == [3, 3]  # a regressor an objective
    assert [t.user_attrs["predictor_round"] for t in trials] == [0] * 6 + [1]


def test_each_fit_sees_the_trials_before_its_cutoff_whatever_the_order_of_results() -> None:
    rows: list[int] = []
    config = PredictorSearchConfig(
        n_initial=6, batch_size=3, overlap_lag=2, regressor=lambda: Recorder(rows), **SMALL
    )
    sampler = PredictorSampler(SPACE, config)
    study = optuna.create_study(directions=["minimize"] * 2, sampler=sampler)
    early = [study.ask() for _ in range(5)]  # proposals 0-4; the fit of round 1 sees 0-3
    for trial in reversed(early):  # results in another order than the asks
        study.tell(trial, toy(SPACE.suggest_params(trial)))
    ask_tell(study, 5)  # round 0's last, round 1 (3), the first of round 2
    # Two regressors a fit (2 objectives): round 1 on trials 0-3, round 2 on the trials
    # before proposal 9 - overlap_lag = 7 (started when trial 7 was asked, 0-6 being told).
    assert rows == [4, 4, 7, 7]
    assert [r for r, _ in sampler.proposals] == [0] * 6 + [1] * 3 + [2] * 3


def test_an_exception_in_the_background_fit_surfaces_in_the_ask() -> None:
    class Broken:
        def fit(self, x: np.ndarray, y: np.ndarray) -> None:
            raise ValueError("no fit today")

    config = PredictorSearchConfig(n_initial=4, batch_size=2, regressor=Broken, **SMALL)
    study = optuna.create_study(
        directions=["minimize"] * 2, sampler=PredictorSampler(SPACE, config)
    )
    ask_tell(study, 4)  # round 0; the fit of round 1 failed meanwhile, in its thread
    with pytest.raises(PredictorFitError, match=r"fit of round 1 failed: ValueError: no fit") as e:
        study.ask()
    assert isinstance(e.value.__cause__, ValueError)


def test_overlap_options_are_checked() -> None:
    with pytest.raises(ValueError, match=r"`overlap_lag` must be None or an int >= 0.*-1"):
        PredictorSearchConfig(overlap_lag=-1)
    with pytest.raises(ValueError, match=r"`fit_in` must be 'thread' or 'process'.*'gpu'"):
        PredictorSearchConfig(fit_in="gpu")


def test_fits_in_a_process_propose_what_fits_in_a_thread_propose() -> None:
    config = PredictorSearchConfig(n_initial=6, batch_size=3, **SMALL)
    in_process = dataclasses.replace(config, fit_in="process")
    assert sequential_proposals(in_process, 9) == sequential_proposals(config, 9)


def sequential_proposals(config: PredictorSearchConfig, n_trials: int) -> list[Any]:
    sampler = PredictorSampler(SPACE, config)
    study = optuna.create_study(directions=["minimize"] * 2, sampler=sampler)
    study.optimize(lambda t: toy(SPACE.suggest_params(t)), n_trials=n_trials)
    return sampler.proposals


@pytest.mark.ray
@pytest.mark.usefixtures("ray_local")
def test_two_ray_runs_with_one_seed_propose_the_same_rounds(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = PredictorSearchConfig(n_initial=8, batch_size=5, seed=3, **SMALL)
    runs = []
    for name in ("a", "b"):
        sampler = PredictorSampler(SPACE, config)
        study = create_study(
            SPACE,
            toy_objective,
            name=name,
            directions=["minimize"] * 2,
            storage=str(tmp_path / f"{name}.journal"),
            sampler=sampler,
        )
        study.optimize(18, workers=2)
        by_number = sorted(study.trials, key=lambda t: t.number)
        assert [t.params for t in by_number] == [a for _, a in sampler.proposals]
        runs.append(sampler.proposals)
    assert runs[0] == runs[1]
    assert [r for r, _ in runs[0]] == [0] * 8 + [1] * 5 + [2] * 5
    assert runs[0] == sequential_proposals(config, 18)  # the same as one worker, in fact
    assert "not reproducible" not in caplog.text


@pytest.mark.ray
@pytest.mark.usefixtures("ray_local")
def test_a_failed_background_fit_stops_a_ray_study_with_its_message(tmp_path: Path) -> None:
    class Broken:
        def fit(self, x: np.ndarray, y: np.ndarray) -> None:
            raise ValueError("no fit today")

    config = PredictorSearchConfig(n_initial=4, batch_size=2, regressor=Broken, **SMALL)
    study = create_study(
        SPACE,
        toy_objective,
        name="broken",
        directions=["minimize"] * 2,
        storage=str(tmp_path / "broken.journal"),
        sampler=PredictorSampler(SPACE, config),
    )
    with pytest.raises(PredictorFitError, match=r"fit of round 1 failed: ValueError: no fit"):
        study.optimize(10, workers=2)
