"""Runs, stale trials and retries, without Ray: the bookkeeping that makes resuming safe."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from symtune.search import _runs
from symtune.search._driver_storage import DriverStorage
from symtune.search._storage import open_storage

optuna.logging.set_verbosity(optuna.logging.WARNING)


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def record(**kw: Any) -> dict[str, Any]:
    now = time.time()
    return {
        "host": socket.gethostname(),
        "pid": dead_pid(),
        "started": now,
        "heartbeat": now,
        "ended": None,
        **kw,
    }


def test_a_run_is_alive_only_while_its_process_and_heartbeat_are() -> None:
    now = time.time()
    assert not _runs.run_is_alive("a", None, now)
    assert not _runs.run_is_alive("a", record(ended=now), now)
    assert not _runs.run_is_alive("a", record(), now)  # its process is gone
    other_host = record(host="elsewhere", pid=1)
    assert _runs.run_is_alive("a", other_host, now)
    assert not _runs.run_is_alive("a", other_host, now + _runs.STALE_AFTER_S + 1)
    mine = record(pid=__import__("os").getpid())
    assert not _runs.run_is_alive("not-active", mine, now)  # this process, but no such run


@pytest.fixture()
def study(tmp_path: Path) -> tuple[optuna.Study, optuna.storages.BaseStorage, int]:
    storage, _ = open_storage(str(tmp_path / "r.journal"))
    ostudy = optuna.create_study(storage=storage, study_name="r")
    return ostudy, storage, storage.get_study_id_from_name("r")


def running(study: optuna.Study, x: float, stamp: dict[str, Any] | None) -> int:
    study.add_trial(
        create_trial(
            state=TrialState.RUNNING,
            params={"x": x},
            distributions={"x": FloatDistribution(0, 1)},
            system_attrs={_runs.STAMP_KEY: stamp} if stamp else {},
        )
    )
    return study.trials[-1].number


def test_reconcile_fails_stale_trials_and_retries_them_with_the_same_params(
    study: tuple[optuna.Study, optuna.storages.BaseStorage, int],
) -> None:
    ostudy, storage, study_id = study
    storage.set_study_system_attr(study_id, _runs.RUN_KEY_PREFIX + "dead", record())
    live = _runs.Run(storage, study_id)
    live.start()
    try:
        stale = running(ostudy, 0.25, {"run": "dead", "node": "n", "node_id": "i"})
        kept = running(ostudy, 0.75, live.stamp("n", "i"))
        assert _runs.reconcile(ostudy, storage, study_id, max_retries=2) == [stale]
        trials = ostudy.trials
        # A second reconcile neither fails nor retries anything again.
        assert _runs.reconcile(ostudy, storage, study_id, max_retries=2) == []
        assert len(ostudy.trials) == len(trials)
    finally:
        live.end()
    assert trials[stale].state == TrialState.FAIL
    assert trials[stale].user_attrs["fail_kind"] == "stale"
    assert "pid" in trials[stale].user_attrs["fail_reason"]
    assert trials[kept].state == TrialState.RUNNING  # its run is alive
    retry = trials[-1]
    assert retry.state == TrialState.WAITING and retry.params == {"x": 0.25}
    assert retry.user_attrs == {"retry_of": stale, "retries": 1}
    assert optuna.storages.RetryFailedTrialCallback.retried_trial_number(retry) == stale
    assert not _runs.is_finished(trials[stale])


def test_retries_stop_after_max_retries(
    study: tuple[optuna.Study, optuna.storages.BaseStorage, int],
) -> None:
    ostudy, storage, _ = study
    number = running(ostudy, 0.5, None)
    for attempt in range(1, 4):
        trial = ostudy.trials[number]
        _runs.fail_trial(storage, trial._trial_id, _runs.WORKER_DIED, "worker died: test")
        retried = _runs.enqueue_retry(ostudy, ostudy.trials[number], max_retries=2)
        if attempt <= 2:
            assert retried
            retry = ostudy.trials[-1]
            assert retry.user_attrs == {"retry_of": 0, "retries": attempt}
            assert retry.system_attrs["retry_history"] == list(range(0, 2 * attempt, 2))
            ostudy.add_trial(
                create_trial(
                    state=TrialState.RUNNING,
                    params=retry.params,
                    distributions=retry.distributions,
                    system_attrs=retry.system_attrs,
                )
            )
            number = ostudy.trials[-1].number
        else:
            assert not retried


def test_unstamped_running_trials_are_stale_only_when_old(
    study: tuple[optuna.Study, optuna.storages.BaseStorage, int],
) -> None:
    ostudy, _, _ = study
    running(ostudy, 0.1, None)
    trial = ostudy.trials[0]
    assert _runs.stale_reason(trial, {}) is None
    later = time.time() + _runs.STALE_AFTER_S + 5
    assert "no symtune run" in str(_runs.stale_reason(trial, {}, later))


def test_driver_storage_skips_the_waiting_scan_until_a_trial_is_enqueued(
    study: tuple[optuna.Study, optuna.storages.BaseStorage, int],
) -> None:
    ostudy, storage, study_id = study
    calls: list[Any] = []
    inner_get = storage.get_all_trials

    def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs.get("states"))
        return inner_get(*args, **kwargs)

    storage.get_all_trials = spy  # type: ignore[method-assign]
    driver = DriverStorage(storage, study_id)
    driver.stamp = {"run": "r1", "node": "n", "node_id": "i"}
    view = optuna.Study(study_name="r", storage=driver)
    for _ in range(3):
        view.ask()
    waiting_scans = [c for c in calls if c == (TrialState.WAITING,)]
    assert len(waiting_scans) == 1  # the first ask looked; the next two did not
    assert all(t.system_attrs[_runs.STAMP_KEY]["run"] == "r1" for t in ostudy.trials)
    view.enqueue_trial({"x": 0.5})
    popped = view.ask()
    assert popped.number == 3 and len([c for c in calls if c == (TrialState.WAITING,)]) == 2
