"""Study.optimize on a local Ray: the driver loop, its faults, resuming, pruning and GPUs."""

from __future__ import annotations

import math
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState
from ray import cloudpickle

from symtune.search import Study, StudyError, create_study
from symtune.spaces import floatv, oneof

optuna.logging.set_verbosity(optuna.logging.WARNING)
cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import tests

pytestmark = [pytest.mark.ray, pytest.mark.usefixtures("ray_local")]

SPACE = {"x": floatv(0.0, 1.0), "act": oneof(["relu", "tanh"])}


def make(tmp_path: Path, objective: Any, **kwargs: Any) -> Study:
    kwargs.setdefault("sampler", optuna.samplers.RandomSampler(seed=0))
    return create_study(SPACE, objective, storage=str(tmp_path / "s.journal"), **kwargs)


def quadratic(config: dict[str, Any], trial: Any) -> float:
    trial.set_user_attr("pid", os.getpid())
    time.sleep(0.01)
    return (config["x"] - 0.3) ** 2


def test_a_study_runs_on_workers_and_resumes_by_name(tmp_path: Path) -> None:
    seen: list[tuple[int, str, dict[str, int]]] = []

    def callback(study: Study, trial: optuna.trial.FrozenTrial) -> None:
        seen.append((trial.number, trial.state.name, study.counts()))

    study = make(tmp_path, quadratic, name="q")
    study.optimize(n_trials=6, workers=2, callbacks=[callback])
    frame = study.results()
    assert len(frame) == 6 and set(frame["state"]) == {"COMPLETE"}
    assert frame["value"].tolist() == pytest.approx([(x - 0.3) ** 2 for x in frame["x"]])
    import ray

    nodes = {(n["NodeManagerAddress"], n["NodeID"]) for n in ray.nodes() if n["Alive"]}
    assert set(zip(frame["node"], frame["node_id"], strict=True)) <= nodes
    assert frame["attr_pid"].notna().all()  # set on the worker, stored by the driver
    assert sorted(number for number, _, _ in seen) == list(range(6))
    assert seen[-1][2]["finished"] == 6 and seen[-1][2]["running"] == 0
    study.optimize(n_trials=6, workers=2)  # already there: nothing to run
    assert len(study.trials) == 6
    again = create_study(SPACE, quadratic, name="q", storage=str(tmp_path / "s.journal"))
    again.optimize(n_trials=8, workers=2)  # resumed by name: only the missing two
    assert len(again.trials) == 8 and again.counts()["finished"] == 8


def test_a_callback_can_enqueue_the_next_trials(tmp_path: Path) -> None:
    """What predictor-guided search relies on: trials enqueued by a callback run next."""

    def enqueue_once(study: Study, trial: optuna.trial.FrozenTrial) -> None:
        if trial.number == 0:
            study.optuna_study.enqueue_trial({"x": 0.123, "act": "tanh"})

    study = make(tmp_path, quadratic)
    study.optimize(n_trials=5, workers=1, callbacks=[enqueue_once])
    frame = study.results()
    enqueued = frame[frame["x"] == 0.123]
    assert len(enqueued) == 1 and enqueued["act"].item() == "tanh"
    assert enqueued["number"].item() <= 3  # at most the prefetched trials ran before it


def flaky(config: dict[str, Any], trial: Any) -> float:
    if trial.number % 3 == 1:
        raise ValueError(f"bad x={config['x']:.3f}")
    if trial.number % 3 == 2:
        return math.nan
    return float(config["x"])


def test_objective_failures_are_stored_and_the_study_goes_on(tmp_path: Path) -> None:
    study = make(tmp_path, flaky)
    study.optimize(n_trials=6, workers=2, show_progress=True)
    trials = study.trials
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.FAIL, TrialState.FAIL] * 2
    raised = trials[1].user_attrs
    assert raised["fail_kind"] == "exception"
    assert raised["exception_type"] == "ValueError"
    assert raised["exception_message"].startswith("bad x=")
    assert "in flaky" in raised["exception_traceback"]
    nan = trials[2].user_attrs
    assert nan["fail_kind"] == "invalid value" and "value=nan" in nan["fail_reason"]
    assert study.counts()["finished"] == 6 and study.counts()["failed"] == 4


def two_values(config: dict[str, Any], trial: Any) -> tuple[float, float]:
    return 1.0, 2.0


def test_an_objective_returning_the_wrong_shape_stops_with_a_clear_error(tmp_path: Path) -> None:
    study = make(tmp_path, two_values, metric_names=["loss"])
    with pytest.raises(StudyError, match=r"must return one number .*\['loss'\].* returned \(1"):
        study.optimize(n_trials=4, workers=1)
    assert study.trials[0].state == TrialState.FAIL
    assert all(t.state != TrialState.RUNNING for t in study.trials)


def reporting(config: dict[str, Any], trial: Any) -> float:
    for step in range(4):
        trial.report(config["x"] + step, step)
        if trial.should_prune():
            raise optuna.TrialPruned()
    return float(config["x"])


def test_reports_reach_the_study_and_the_pruner_prunes(tmp_path: Path) -> None:
    study = make(tmp_path, reporting, pruner=optuna.pruners.ThresholdPruner(upper=2.5))
    study.optimize(n_trials=6, workers=2)
    for trial in study.trials:
        x = trial.params["x"]
        if x + 3 > 2.5:  # pruned at step 2, or 3 if x is small
            assert trial.state == TrialState.PRUNED
            last = max(trial.intermediate_values)
            assert trial.intermediate_values[last] > 2.5
        else:
            assert trial.state == TrialState.COMPLETE
        assert all(v == pytest.approx(x + s) for s, v in trial.intermediate_values.items())


def killed_in_a_batch(config: dict[str, Any], trial: Any) -> float:
    marker = Path(config["marker"])
    if trial.number == 40 and not marker.exists():
        marker.touch()
        os.kill(os.getpid(), signal.SIGKILL)
    return float(config["x"])


def test_a_worker_killed_during_a_batch_of_short_trials_loses_none_of_them(
    tmp_path: Path,
) -> None:
    # Instant trials travel to workers in batches; trial 40 runs well after batching began.
    space = {**SPACE, "marker": str(tmp_path / "killed")}
    study = create_study(
        space,
        killed_in_a_batch,
        storage=str(tmp_path / "s.journal"),
        sampler=optuna.samplers.RandomSampler(seed=1),
    )
    study.optimize(n_trials=80, workers=2, max_retries=1)
    trials = study.trials
    died = [t for t in trials if t.user_attrs.get("fail_kind") == "worker died"]
    assert died and any(t.number == 40 for t in died)
    for trial in died:  # every trial of the lost batch is retried with its params
        (retry,) = [t for t in trials if t.user_attrs.get("retry_of") == trial.number]
        assert retry.state == TrialState.COMPLETE and retry.params == trial.params
    assert study.counts()["finished"] == 80
    assert sum(t.state == TrialState.COMPLETE for t in trials) == 80


def slow(config: dict[str, Any], trial: Any) -> float:
    time.sleep(0.3)
    return float(config["x"])


def test_ctrl_c_fails_in_flight_trials_keeps_the_rest_and_resume_retries_them(
    tmp_path: Path,
) -> None:
    def interrupt(study: Study, trial: optuna.trial.FrozenTrial) -> None:
        if study.counts()["finished"] >= 2:
            raise KeyboardInterrupt

    study = make(tmp_path, slow)
    with pytest.raises(KeyboardInterrupt):
        study.optimize(n_trials=8, workers=2, callbacks=[interrupt])
    states = [t.state for t in study.trials]
    assert states.count(TrialState.COMPLETE) >= 2
    assert TrialState.RUNNING not in states
    interrupted = [t for t in study.trials if t.user_attrs.get("fail_kind") == "interrupted"]
    assert interrupted and all(t.state == TrialState.FAIL for t in interrupted)
    assert study.counts()["finished"] == states.count(TrialState.COMPLETE)
    study.optimize(n_trials=4, workers=2)
    assert study.counts()["finished"] == 4
    for trial in interrupted:  # their parameters ran again, linked to them
        retries = [t for t in study.trials if t.user_attrs.get("retry_of") == trial.number]
        assert len(retries) == 1 and retries[0].params == trial.params


def test_timeout_stops_starting_trials(tmp_path: Path) -> None:
    study = make(tmp_path, slow)
    started = time.monotonic()
    study.optimize(timeout=4.0, workers=2)  # counted from the call: worker start-up included
    assert time.monotonic() - started < 4.0 + 3.0
    counts = study.counts()
    assert counts["finished"] >= 1 and counts["running"] == 0
    assert counts["finished"] == len(study.trials)


def on_gpu(config: dict[str, Any], trial: Any) -> float:
    import ray

    trial.set_user_attr("start", time.time())
    trial.set_user_attr("device", str(trial.device))
    trial.set_user_attr("gpu_ids", [str(i) for i in ray.get_gpu_ids()])
    time.sleep(0.6)
    trial.set_user_attr("end", time.time())
    return float(config["x"])


@pytest.mark.slow
def test_half_gpu_trials_share_one_gpu_and_a_third_waits(tmp_path: Path) -> None:
    study = make(tmp_path, on_gpu)
    study.optimize(n_trials=3, workers=3, gpus_per_trial=0.5)  # the test Ray has 1 GPU
    first, second, third = (t.user_attrs for t in study.trials)
    assert first["start"] < second["end"] and second["start"] < first["end"]  # overlap
    assert third["start"] >= min(first["end"], second["end"])  # waited for a free half
    assert {a["device"] for a in (first, second, third)} == {"cuda:0"}
    assert first["gpu_ids"] == second["gpu_ids"] == ["0"]
    cpu = make(tmp_path, on_gpu, name="cpu")
    cpu.optimize(n_trials=1, workers=1)
    assert cpu.trials[0].user_attrs["device"] == "cpu"


def test_resources_no_node_has_are_refused(tmp_path: Path) -> None:
    with pytest.raises(StudyError, match="gpus_per_trial=2"):
        make(tmp_path, quadratic).optimize(n_trials=1, gpus_per_trial=2)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"workers": 0}, "`workers` must be an int >= 1"),
        ({"n_trials": -1}, "`n_trials`"),
        ({"gpus_per_trial": -0.5}, "`gpus_per_trial`"),
        ({"timeout": 0}, "`timeout`"),
        ({"callbacks": [3]}, "callable"),
        ({"address": "127.0.0.1:1"}, "does not answer"),
        ({"address": "not an address"}, "host:port"),
    ],
)
def test_bad_optimize_arguments(tmp_path: Path, kwargs: dict[str, Any], fragment: str) -> None:
    with pytest.raises(StudyError, match=fragment):
        make(tmp_path, quadratic).optimize(**{"n_trials": 1, **kwargs})
