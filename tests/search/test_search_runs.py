"""Runs, stale trials and retries, without Ray: the bookkeeping that makes resuming safe."""

from __future__ import annotations

import logging
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


def test_a_death_that_is_not_counted_spends_no_retry(
    study: tuple[optuna.Study, optuna.storages.BaseStorage, int],
) -> None:
    ostudy, storage, _ = study
    number = running(ostudy, 0.5, None)
    for counted in (False, False, True, True, False, True):
        trial = ostudy.trials[number]
        _runs.fail_trial(storage, trial._trial_id, _runs.WORKER_DIED, "worker died: test")
        retried = _runs.enqueue_retry(ostudy, ostudy.trials[number], 2, counted)
        if not retried:
            break
        retry = ostudy.trials[-1]
        ostudy.add_trial(
            create_trial(
                state=TrialState.RUNNING,
                params=retry.params,
                distributions=retry.distributions,
                user_attrs=retry.user_attrs,
                system_attrs=retry.system_attrs,
            )
        )
        number = ostudy.trials[-1].number
    # Two deaths that were somebody else's, then three of its own: the third is one too many.
    chain = [t for t in ostudy.trials if t.state == TrialState.FAIL]
    assert len(chain) == 6 and not retried
    assert [_runs.spent_retries(t) for t in chain] == [0, 0, 0, 1, 2, 2]


def test_interruptions_and_dead_drivers_spend_no_retry(
    study: tuple[optuna.Study, optuna.storages.BaseStorage, int], caplog: pytest.LogCaptureFixture
) -> None:
    """A batch job preempted again and again goes on each time (found by the issue 12 probe:
    the fourth Ctrl-C dropped a checkpointed trial's parameters without a word)."""
    ostudy, storage, study_id = study
    running(ostudy, 0.5, None)
    for kind in (_runs.INTERRUPTED, _runs.STALE, _runs.INTERRUPTED, _runs.INTERRUPTED):
        trial = [t for t in ostudy.trials if t.state == TrialState.RUNNING][-1]
        _runs.fail_trial(storage, trial._trial_id, kind, f"{kind}: test")
        _runs.reconcile(ostudy, storage, study_id, max_retries=1)
        (waiting,) = [t for t in ostudy.trials if t.state == TrialState.WAITING]
        assert waiting.params == {"x": 0.5} and _runs.spent_retries(waiting) == 0
        ostudy.ask()  # the retry starts: RUNNING
    trial = [t for t in ostudy.trials if t.state == TrialState.RUNNING][-1]
    _runs.fail_trial(storage, trial._trial_id, _runs.WORKER_DIED, "worker died: test")
    with caplog.at_level(logging.WARNING, logger="symtune.search"):
        assert not _runs.enqueue_retry(ostudy, ostudy.trials[-1], 0)  # its own death: spent
    assert "used all max_retries=0" in caplog.text and "--max-retries" in caplog.text


# -- start-up: no Ray for nothing, and no notice about Ray's tokens -------------------------------


def constant(config: Any, trial: Any) -> float:
    return 0.0


def test_rerunning_a_finished_study_starts_no_ray(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from symtune.search import _optimize, create_study
    from symtune.spaces import floatv

    study = create_study({"x": floatv(0.0, 1.0)}, constant, storage=str(tmp_path / "s.journal"))
    for x in (0.1, 0.2, 0.3):
        study.optuna_study.add_trial(
            create_trial(value=x, params={"x": x}, distributions={"x": FloatDistribution(0, 1)})
        )
    storage, study_id = study.storage, study.study_id
    storage.set_study_system_attr(study_id, _runs.RUN_KEY_PREFIX + "dead", record())
    left = running(study.optuna_study, 0.4, {"run": "dead", "node": "n", "node_id": "i"})

    def no_ray(address: Any) -> Any:
        raise AssertionError("Ray was started")

    monkeypatch.setattr(_optimize, "ray_session", no_ray)
    study.optimize(n_trials=3)  # three finished: nothing to run
    study.optimize(n_trials=2)
    assert study.trials[left].user_attrs["fail_kind"] == "stale"  # reconciled all the same
    with pytest.raises(AssertionError, match="Ray was started"):
        study.optimize(n_trials=4)


def test_ray_s_token_notice_is_dropped_only_for_a_local_ray_symtune_starts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import logging

    import ray
    from ray._private.authentication import authentication_token_setup

    from symtune.search import _ray

    seen: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record.getMessage())

    logger = logging.getLogger(_ray.TOKEN_NOTICE_LOGGER)
    assert authentication_token_setup.logger is logger  # where Ray 2.60 logs the notice
    handler = Keep()
    logger.addHandler(handler)
    monkeypatch.setattr(logger, "level", logging.WARNING)  # whatever Ray in this process set
    monkeypatch.setattr(logger, "disabled", False)  # a Ray started earlier disables old loggers
    monkeypatch.setattr(logger, "_cache", {})  # what isEnabledFor remembered of other levels
    # ray.init's own notice, without starting anything (Ray 2.60 calls this on a local start).
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(
        ray, "init", lambda **_: authentication_token_setup._warn_token_auth_enabled()
    )
    monkeypatch.setattr(ray, "shutdown", lambda: None)
    monkeypatch.setattr(ray.util, "get_node_ip_address", lambda: "127.0.0.1")
    monkeypatch.setattr(_ray, "check_address", lambda address: None)
    try:
        with _ray.ray_session(None):
            pass
        assert seen == []
        with _ray.ray_session("10.0.0.5:6379"):  # a cluster keeps Ray's notices
            pass
        assert len(seen) == 1 and seen[0].startswith(_ray.TOKEN_NOTICE)
    finally:
        logger.removeHandler(handler)


# -- what a dead worker's error says --------------------------------------------------------------

RAY_HEAD = (
    "The actor died unexpectedly before finishing this task.\n\tclass_name: Evaluator\n"
    "\tactor_id: 582b\n\tpid: 7142\n\tnamespace: ns\n\tip: 127.0.0.1\n"
    "The actor is dead because its worker process has died. Worker exit type: SYSTEM_ERROR "
    "Worker exit detail: "
)
COMMON_CAUSES = (
    " Some common causes include: (1) the process was killed by the OOM killer due to high "
    "memory usage, (2) ray stop --force was called, or (3) the worker crashed unexpectedly due "
    "to SIGSEGV or another unexpected error."
)


def test_a_dead_worker_is_described_in_one_line_with_its_exit_code_and_signal() -> None:
    from symtune.search._pool import describe_death

    exited = describe_death(
        RuntimeError(RAY_HEAD + "Worker exits unexpectedly. Worker exits with an exit code 7.")
    )
    assert exited.exit_code == 7 and exited.signal is None
    assert "exit code 7" in exited.reason and "pid 7142 on 127.0.0.1" in exited.reason
    lost = describe_death(
        RuntimeError(
            RAY_HEAD
            + "Worker unexpectedly exits with a connection error code 2. End of file."
            + COMMON_CAUSES
        )
    )
    assert lost.exit_code is None and lost.signal is None  # not the SIGSEGV of the advice
    assert "without an exit status" in lost.reason and "\n" not in lost.reason
    noted = describe_death(
        RuntimeError(RAY_HEAD + "Worker unexpectedly exits with a connection error code 2."),
        {"how": "os._exit(3)", "exit_code": 3},
    )
    assert noted.attrs() == {"worker_exit_code": 3}
    assert noted.reason == "os._exit(3) (exit code 3) (pid 7142 on 127.0.0.1)"
    sigterm = describe_death(RuntimeError(RAY_HEAD), {"how": "The process receives a SIGTERM"})
    assert sigterm.attrs() == {"worker_signal": "SIGTERM"}


def test_a_worker_that_cannot_import_the_objective_is_one_line() -> None:
    from symtune.search._pool import start_failure

    ray_text = (
        "The actor died because of an error raised in its creation task, ray::Evaluator."
        "__init__() (pid=1, ip=127.0.0.1)\n  At least one of the input arguments for this task "
        "could not be computed:\nray.exceptions.RaySystemError: System error: No module named "
        "'helpers'\ntraceback: Traceback (most recent call last):\n          ^^^^^\n"
        "ModuleNotFoundError: No module named 'helpers'"
    )
    message = start_failure(RuntimeError(ray_text), "s")
    assert message.startswith(
        "Ray workers cannot import module 'helpers' needed by the objective/space: "
        "ModuleNotFoundError: No module named 'helpers'"
    )
    assert "\n" not in message


def test_a_local_ray_is_always_a_new_one_of_our_own(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Without ``address="local"``, ``ray.init()`` joins a cluster that ``ray start`` left on
    this machine (somebody else's, possibly on the network address); and the token file a
    local start writes must not be readable by other users."""
    import ray

    from symtune.search import _ray

    token = tmp_path / ".ray" / "auth_token"
    calls: list[dict[str, Any]] = []

    def fake_init(**kwargs: Any) -> None:
        calls.append(kwargs)
        token.parent.mkdir()
        token.write_text("secret")
        token.chmod(0o644)  # what Ray 2.60 leaves under the usual umask

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", fake_init)
    monkeypatch.setattr(ray, "shutdown", lambda: None)
    monkeypatch.setattr(Path, "home", lambda: tmp_path)
    with _ray.ray_session(None) as host:
        assert host == "127.0.0.1"
    assert calls[0]["address"] == "local" and calls[0]["_node_ip_address"] == "127.0.0.1"
    assert token.stat().st_mode & 0o777 == 0o600
