"""What every storage must hold up to (a journal file, SQLite and PostgreSQL, through the
``storage_url`` fixture): resuming a study, a killed worker, a killed driver.

The PostgreSQL cases need ``$SYMTUNE_TEST_POSTGRESQL_URL`` (``.ci/run`` starts a server on
127.0.0.1 and sets it) and are skipped with that reason without it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState
from ray import cloudpickle

from symtune.search import TornTailWarning, create_study, load_study
from symtune.spaces import floatv, oneof

optuna.logging.set_verbosity(optuna.logging.WARNING)
cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import tests

pytestmark = [pytest.mark.ray, pytest.mark.usefixtures("ray_local")]

SPACE = {"x": floatv(0.0, 1.0), "act": oneof(["relu", "tanh"])}


def square(config: dict[str, Any], trial: Any) -> float:
    return (config["x"] - 0.3) ** 2


def complete(trials: list[optuna.trial.FrozenTrial]) -> list[optuna.trial.FrozenTrial]:
    return [t for t in trials if t.state == TrialState.COMPLETE]


def test_a_study_resumes_by_name_with_every_trial(storage_url: str) -> None:
    sampler = optuna.samplers.RandomSampler(seed=0)
    study = create_study(SPACE, square, name="r", storage=storage_url, sampler=sampler)
    study.optimize(n_trials=4, workers=2)
    first = [(t.number, t.params, t.value) for t in study.trials]
    again = create_study(SPACE, square, name="r", storage=storage_url)
    again.optimize(n_trials=7, workers=2)  # only the missing three run
    trials = again.trials
    assert len(complete(trials)) == 7 == len(trials)
    assert [(t.number, t.params, t.value) for t in trials[:4]] == first
    assert all(t.value == pytest.approx((t.params["x"] - 0.3) ** 2) for t in trials)
    loaded = load_study("r", storage_url)  # and a reader sees the same, space included
    assert [t.value for t in loaded.trials] == [t.value for t in trials]
    assert loaded.space is not None and loaded.counts()["finished"] == 7


def killed_once(config: dict[str, Any], trial: Any) -> float:
    marker = Path(config["marker"])
    if trial.number == 1 and not marker.exists():
        marker.touch()
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(0.05)
    return float(config["x"])


def test_a_killed_worker_is_retried_with_the_same_params(storage_url: str, tmp_path: Path) -> None:
    space = {**SPACE, "marker": str(tmp_path / "killed")}
    sampler = optuna.samplers.RandomSampler(seed=1)
    study = create_study(space, killed_once, name="k", storage=storage_url, sampler=sampler)
    study.optimize(n_trials=5, workers=2, max_retries=2)
    trials = study.trials
    died = trials[1]
    assert died.state == TrialState.FAIL and died.user_attrs["fail_kind"] == "worker died"
    (retry,) = [t for t in trials if t.user_attrs.get("retry_of") == 1]
    assert retry.state == TrialState.COMPLETE and retry.params == died.params
    assert retry.user_attrs["retries"] == 1
    assert study.counts()["finished"] == 5 and len(complete(trials)) == 5


DEAD_DRIVER = """
import sys, time
from pathlib import Path
import optuna
from symtune.search import create_study
from symtune.spaces import floatv

def objective(config, trial):
    Path(config["marker"]).touch()
    time.sleep(60)
    return config["x"]

space = {"x": floatv(0.0, 1.0), "marker": sys.argv[2]}
study = create_study(space, objective, name="victim", storage=sys.argv[1],
                     sampler=optuna.samplers.RandomSampler(seed=0))
study.optimize(n_trials=4, workers=2, address=sys.argv[3])
"""


def quick(config: dict[str, Any], trial: Any) -> float:
    return float(config["x"])


@pytest.mark.slow
def test_trials_of_a_killed_driver_are_found_stale_and_retried(
    storage_url: str, tmp_path: Path
) -> None:
    import ray

    marker = tmp_path / "running"
    (tmp_path / "driver.py").write_text(DEAD_DRIVER)
    address = ray.get_runtime_context().gcs_address
    driver = subprocess.Popen(
        [sys.executable, str(tmp_path / "driver.py"), storage_url, str(marker), address],
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 90
    while not marker.exists():
        assert driver.poll() is None, driver.stderr.read().decode()[-2000:]  # type: ignore[union-attr]
        assert time.monotonic() < deadline, "the driver never started a trial"
        time.sleep(0.1)
    driver.kill()  # SIGKILL: no chance to clean up
    driver.wait()
    space = {"x": floatv(0.0, 1.0), "marker": str(marker)}
    study = create_study(space, quick, name="victim", storage=storage_url)
    left = {t.number: t.params for t in study.trials if t.state == TrialState.RUNNING}
    assert left
    study.optimize(n_trials=4, workers=2)
    trials = study.trials
    stale = {t.number: t.params for t in trials if t.user_attrs.get("fail_kind") == "stale"}
    assert stale == left
    for number, params in stale.items():
        (retry,) = [t for t in trials if t.user_attrs.get("retry_of") == number]
        assert retry.params == params and retry.state == TrialState.COMPLETE
    assert study.counts()["finished"] == 4 and study.counts()["running"] == 0


def test_a_journal_with_a_torn_tail_resumes_with_every_finished_trial(tmp_path: Path) -> None:
    """A crash mid-record: the next run cuts the torn bytes off and goes on (issue 9.1)."""
    path = tmp_path / "study.journal"
    study = create_study(SPACE, square, name="t", storage=str(path))
    study.optimize(n_trials=4, workers=2)
    values = [t.value for t in study.trials]
    with path.open("ab") as file:
        file.write(b'{"op_code":6,"worker_id":"gone","trial_id":4,"sta\x00\x00')
    with pytest.warns(TornTailWarning):
        again = create_study(SPACE, square, name="t", storage=str(path))
    again.optimize(n_trials=6, workers=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error", TornTailWarning)
        trials = load_study("t", str(path)).trials
    assert [t.value for t in trials[:4]] == values and len(complete(trials)) == 6
