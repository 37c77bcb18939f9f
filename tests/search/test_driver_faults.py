"""The driver under faults: BaseExceptions in batches, poison trials, exit codes, studies that
can only fail, workers that cannot import the objective, and two drivers on one study."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState
from ray import cloudpickle

from symtune.search import Study, StudyError, create_study, load_study
from symtune.spaces import floatv

optuna.logging.set_verbosity(optuna.logging.WARNING)
cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import tests

pytestmark = [pytest.mark.ray, pytest.mark.usefixtures("ray_local")]

SPACE = {"x": floatv(0.0, 1.0)}
POISON = 0.5  # the parameter set that kills its worker


def make(tmp_path: Path, objective: Any, **kwargs: Any) -> Study:
    kwargs.setdefault("sampler", optuna.samplers.RandomSampler(seed=0))
    return create_study(SPACE, objective, storage=str(tmp_path / "s.journal"), **kwargs)


class Custom(BaseException):
    """A BaseException of the objective's own."""


def raises_in_a_batch(config: dict[str, Any], trial: Any) -> float:
    if trial.number == 30:
        raise KeyboardInterrupt("raised by the objective")
    if trial.number == 33:
        raise Custom("custom")
    return float(config["x"])


def test_a_base_exception_fails_only_its_own_trial_in_a_batch(tmp_path: Path) -> None:
    # Instant trials travel 8 per worker call from the first few on: 30 and 33 share batches.
    study = make(tmp_path, raises_in_a_batch)
    study.optimize(n_trials=60, workers=1)
    trials = study.trials
    failed = {t.number: t.user_attrs for t in trials if t.state == TrialState.FAIL}
    assert set(failed) == {30, 33}
    assert failed[30]["exception_type"] == "KeyboardInterrupt"
    assert failed[30]["fail_kind"] == "exception"  # the objective's: finished, not retried
    assert failed[33]["exception_type"] == "Custom"
    assert "in raises_in_a_batch" in failed[33]["exception_traceback"]
    assert sum(t.state == TrialState.COMPLETE for t in trials) == 58
    assert study.counts()["finished"] == 60


def poison_among_short(config: dict[str, Any], trial: Any) -> float:
    if config["x"] == POISON:
        if config["how"] == "os._exit":
            os._exit(3)  # the worker leaves a note: the driver knows which trial it was
        os.kill(os.getpid(), signal.SIGKILL)  # no note: the driver must find out
    return float(config["x"])


@pytest.mark.slow
@pytest.mark.parametrize("how", ["os._exit", "SIGKILL"])
def test_a_poison_parameter_set_spends_only_its_own_retries(tmp_path: Path, how: str) -> None:
    def enqueue_poison(study: Study, trial: optuna.trial.FrozenTrial) -> None:
        if trial.number == 24:  # well after batching began: it lands in a batch of 8
            study.optuna_study.enqueue_trial({"x": POISON})

    study = create_study(
        {**SPACE, "how": how},
        poison_among_short,
        storage=str(tmp_path / "s.journal"),
        sampler=optuna.samplers.RandomSampler(seed=0),
    )
    study.optimize(n_trials=80, workers=2, max_retries=2, callbacks=[enqueue_poison])
    trials = study.trials
    poison = [t for t in trials if t.params["x"] == POISON]
    healthy = [t for t in trials if t.params["x"] != POISON]
    completed = {t.params["x"] for t in healthy if t.state == TrialState.COMPLETE}
    assert {t.params["x"] for t in healthy} == completed  # every healthy set completed
    assert sum(t.state == TrialState.COMPLETE for t in trials) == 80
    assert all(t.state == TrialState.FAIL for t in poison)
    assert all(t.user_attrs["fail_kind"] == "worker died" for t in poison)
    counted = [t for t in poison if t.user_attrs["death_counted"]]
    assert len(counted) == 3  # its own three deaths: max_retries=2 retries, then dropped
    if how == "os._exit":
        assert all(t.user_attrs["worker_exit_code"] == 3 for t in counted)
        assert all("os._exit(3)" in t.user_attrs["fail_reason"] for t in counted)
        assert len(poison) == 3
        # The note names the poison trial: only the trials that ran before it in its batch
        # are re-run (their results died with the worker); those after it were sent again.
        assert len(healthy) - 80 <= 7
    else:  # its first death was in a batch, so nobody was blamed: one more attempt
        assert len(poison) == 4 and "retried alone" in poison[0].user_attrs["fail_reason"]
    for trial in healthy:  # a healthy set never spent a retry
        assert not trial.user_attrs.get("death_counted", False)
    # A death in a batch of 8 costs the trials on that worker (7, and 8 queued behind them)
    # one re-run each, not their budget: far from the 48 trials shared retries used to waste.
    assert len(healthy) - 80 <= 2 * 8


def exits(config: dict[str, Any], trial: Any) -> float:
    if trial.number == 0:
        sys.exit(7)
    if trial.number == 1:
        os._exit(3)
    if trial.number == 2:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)
    if trial.number == 3:
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(0.05)
    return float(config["x"])


@pytest.mark.slow
def test_a_dead_worker_s_exit_code_and_signal_are_kept(tmp_path: Path) -> None:
    study = make(tmp_path, exits)
    study.optimize(n_trials=2, workers=1, max_retries=0)
    by_number = {t.number: t.user_attrs for t in study.trials}
    sys_exit, os_exit, sigterm, sigkill = (by_number[n] for n in range(4))
    assert sys_exit["worker_exit_code"] == 7 and "SystemExit(7)" in sys_exit["fail_reason"]
    assert os_exit["worker_exit_code"] == 3 and "os._exit(3)" in os_exit["fail_reason"]
    assert sigterm["worker_signal"] == "SIGTERM" and "SIGTERM" in sigterm["fail_reason"]
    assert "worker_exit_code" not in sigkill
    assert "without an exit status" in sigkill["fail_reason"]
    for attrs in (sys_exit, os_exit, sigterm, sigkill):
        assert attrs["fail_reason"].startswith("worker died: ")
        assert "\n" not in attrs["fail_reason"] and "Some common causes" not in attrs["fail_reason"]


def two_values_slowly(config: dict[str, Any], trial: Any) -> tuple[float, float]:
    time.sleep(2.0 if trial.number == 0 else 6.0)  # both workers busy when 0 returns
    return 1.0, 2.0


def test_an_error_that_stops_the_driver_is_quoted_once(tmp_path: Path) -> None:
    study = make(tmp_path, two_values_slowly, metric_names=["loss"])
    with pytest.raises(StudyError, match="must return one number") as caught:
        study.optimize(n_trials=4, workers=2)
    assert "StudyError" not in str(caught.value)
    reasons = [t.user_attrs.get("fail_reason", "") for t in study.trials]
    interrupted = [r for r in reasons if r.startswith("interrupted")]
    assert interrupted and all("StudyError: StudyError" not in r for r in interrupted)
    assert all("(StudyError: the objective must return" in r for r in interrupted)


def typo(config: dict[str, Any], trial: Any) -> float:
    return tpyo  # type: ignore[name-defined]  # noqa: F821 - the typo under test


@pytest.mark.slow
def test_a_study_that_can_only_fail_stops_with_the_exception(tmp_path: Path) -> None:
    study = make(tmp_path, typo)
    with pytest.raises(StudyError, match=r"first 5 trials .* NameError: name 'tpyo' is not"):
        study.optimize(n_trials=200, workers=2)  # the default: stop after 5
    # What was in flight may finish too: 2 workers x 2 calls x 8 instant trials.
    assert 5 <= study.counts()["finished"] <= 5 + 2 * 2 * 8
    assert study.counts()["running"] == 0
    with pytest.raises(StudyError, match=r"first 2 trials"):
        study.optimize(n_trials=200, workers=1, stop_after_failures=2)
    before = study.counts()["finished"]
    study.optimize(n_trials=before + 8, workers=2, stop_after_failures=None)  # never stops
    assert study.counts()["finished"] == study.counts()["failed"] == before + 8


def fails_after_three(config: dict[str, Any], trial: Any) -> float:
    if trial.number >= 3:
        raise ValueError("from trial 3 on")
    return float(config["x"])


def test_failures_after_a_first_success_do_not_stop_the_study(tmp_path: Path) -> None:
    study = make(tmp_path, fails_after_three)
    study.optimize(n_trials=12, workers=1, stop_after_failures=2)
    assert study.counts()["finished"] == 12 and study.counts()["failed"] == 9


@pytest.mark.parametrize("bad", [0, -1, 2.5, "5", True])
def test_stop_after_failures_is_checked(tmp_path: Path, bad: Any) -> None:
    with pytest.raises(StudyError, match="`stop_after_failures` must be None"):
        make(tmp_path, typo).optimize(n_trials=1, stop_after_failures=bad)


MODULE = """
def objective(config, trial):
    return config["x"]
"""


def test_workers_that_cannot_import_the_objective_give_one_line(tmp_path: Path) -> None:
    # The module is importable here (after Ray started), not on the workers.
    name = f"ghost_{os.getpid()}_{time.monotonic_ns()}"
    (tmp_path / f"{name}.py").write_text(MODULE)
    sys.path.insert(0, str(tmp_path))
    try:
        module = __import__(name)
        storage = str(tmp_path / "s.journal")
        study = create_study(SPACE, module.objective, name="ghostly", storage=storage)
        with pytest.raises(StudyError) as caught:
            study.optimize(n_trials=2, workers=1)
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop(name, None)
    message = str(caught.value)
    assert message.startswith(f"Ray workers cannot import module '{name}' needed by the")
    assert "\n" not in message and len(message) < 400
    assert "ghostly" not in [s.study_name for s in study.storage.get_all_studies()]  # removed
    with pytest.raises(StudyError, match=r"no longer in its storage.*create_study again"):
        study.optimize(n_trials=2)


# -- two drivers on one study --------------------------------------------------------------------

TWO_DRIVERS = """
import json, sys, time
from pathlib import Path
import optuna
from symtune.search import create_study
from symtune.spaces import floatv

storage, folder, me, address = sys.argv[1:5]
OTHER = "b" if me == "a" else "a"

def objective(config, trial):
    Path(folder, "up-" + me).touch()
    deadline = time.monotonic() + 60
    while not Path(folder, "up-" + OTHER).exists() and time.monotonic() < deadline:
        time.sleep(0.02)  # both drivers run trials at the same time
    time.sleep(0.03)
    return config["x"]

seen = []
def callback(study, trial):
    seen.append(study.counts()["finished"])

study = create_study({"x": floatv(0.0, 1.0)}, objective, name="shared", storage=storage,
                     sampler=optuna.samplers.RandomSampler())
study.optimize(n_trials=40, workers=2, address=address, callbacks=[callback])
Path(folder, "seen-" + me).write_text(json.dumps(seen))
"""


@pytest.mark.slow
def test_two_drivers_on_one_study_end_at_n_trials(tmp_path: Path, storage_url: str) -> None:
    import ray

    create_study(SPACE, quick, name="shared", storage=storage_url)  # no creation race
    script = tmp_path / "driver.py"
    script.write_text(textwrap.dedent(TWO_DRIVERS))
    address = ray.get_runtime_context().gcs_address
    drivers = [
        subprocess.Popen(
            [sys.executable, str(script), storage_url, str(tmp_path), me, address],
            stderr=subprocess.PIPE,
        )
        for me in ("a", "b")
    ]
    for driver in drivers:
        _, err = driver.communicate(timeout=240)
        assert driver.returncode == 0, err.decode()[-3000:]
    study = create_study(SPACE, quick, name="shared", storage=storage_url)
    finished = study.counts()["finished"]
    in_flight_bound = 2 * 2 * 2  # drivers x workers x prefetch depth (trials are not batched)
    assert 40 <= finished <= 40 + in_flight_bound
    for me in ("a", "b"):  # each driver's counts included the other's trials
        seen = __import__("json").loads((tmp_path / f"seen-{me}").read_text())
        assert seen and seen[-1] >= 40 - in_flight_bound and max(seen) > len(seen)


def quick(config: dict[str, Any], trial: Any) -> float:
    return float(config["x"])


TYPO_STUDY = """
from symtune.search import StudySpec
from symtune.spaces import Space, floatv


def objective(config, trial):
    return confg["x"]  # noqa: F821


STUDY = StudySpec(name="typo", space=Space({"x": floatv(0.0, 1.0)}), objective=objective)
"""


def test_symtune_run_stops_after_the_failures_it_is_told(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from symtune.search.cli import main

    (tmp_path / "typo_study.py").write_text(TYPO_STUDY)
    storage = str(tmp_path / "s.journal")
    common = [str(tmp_path / "typo_study.py"), "--no-progress", "--storage", storage]
    code = main(["run", *common, "--trials", "40", "--stop-after-failures", "2"])
    err = capsys.readouterr().err
    assert code == 2 and "first 2 trials" in err and "NameError: name 'confg'" in err
    assert main(["run", *common, "--trials", "60", "--stop-after-failures", "0"]) == 0  # never
    assert load_study("typo", storage=storage).counts()["failed"] == 60
    assert main(["run", *common, "--stop-after-failures", "-1"]) == 2
    assert "--stop-after-failures must be >= 0" in capsys.readouterr().err
