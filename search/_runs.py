"""Runs, finished trials, stale trials and retries: what survives a crash, and how.

Every ``Study.optimize`` call is a *run* with a random id. The run writes a record into the
study's system attributes (``symtune:run:<id>``: host, pid, start, heartbeat, end) and
stamps each trial it starts with its id (trial system attribute ``symtune:trial``). When a
run starts, every RUNNING trial whose run is no longer alive (ended, its process gone, or
no heartbeat for :data:`STALE_AFTER_S` seconds) is *stale*: it is failed with the reason
"stale" and retried.

A trial is **finished** when it is COMPLETE, PRUNED, or FAILED because of the objective (it
raised, or returned NaN/inf). Infrastructure failures (the worker died, the run was
interrupted, the trial went stale) are not finished: their parameters are retried, up to
``max_retries`` times, each retry a new trial linked to the first attempt by the user
attributes ``retry_of`` (the first attempt's number) and ``retries`` (1, 2, ...), and by
Optuna's own retry system attributes ``failed_trial`` and ``retry_history``. A trial whose
parameters the space could not suggest (``fail_kind`` "suggest failed": the driver's problem,
e.g. a storage that refuses a changed distribution) is not finished either, and not retried:
the run stops with a ``StudyError``. ``n_trials`` in ``Study.optimize`` counts finished trials
only.

A trial's ``max_retries`` are spent by its own deaths only. When a worker dies, the trial it
was running is to blame (user attribute ``death_counted: true``); trials that merely shared
the worker (queued behind it, or in the same batch of short trials when it cannot be told
which one killed the worker) are retried without spending their budget (``death_counted:
false``; trials known not to have started are sent again as they are, with no failed
record), and every retry after a death is sent to a worker alone, so its next death tells.
The budget spent so far travels with each retry (system attribute ``symtune:deaths``).
Interrupted and stale trials (Ctrl-C, SIGTERM, a driver that died) do not spend it: that is
not the trial's doing, and a trial preempted again and again goes on from its checkpoint
each time. A trial over ``trial_timeout`` spends it when ``retry_timeouts`` asks for a retry.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from symtune.search import _compat
from symtune.search._errors import one_line

_log = logging.getLogger("symtune.search")

STAMP_KEY = "symtune:trial"
DEATHS_KEY = "symtune:deaths"
RUN_KEY_PREFIX = "symtune:run:"
STALE_AFTER_S = 60.0
"""A run whose heartbeat is older than this (seconds) is considered dead."""
HEARTBEAT_S = 10.0
"""How often a running driver refreshes its run record (seconds)."""

EXCEPTION = "exception"
INVALID_VALUE = "invalid value"
WORKER_DIED = "worker died"
INTERRUPTED = "interrupted"
STALE = "stale"
SUGGEST_FAILED = "suggest failed"
TIMEOUT = "timeout"
"""Over ``trial_timeout``: finished (the objective's failure), unless retried when asked
(``retry_timeouts=True``: user attribute ``timeout_retried``), then like a worker death."""
INFRASTRUCTURE_FAILURES = frozenset({WORKER_DIED, INTERRUPTED, STALE})
"""Failures whose parameters are retried (see :func:`reconcile`); never finished."""
NOT_FINISHED_FAILURES = INFRASTRUCTURE_FAILURES | {SUGGEST_FAILED}
"""Every ``fail_kind`` that does not count as finished: the infrastructure failures, and a
trial that never got parameters (``SUGGEST_FAILED``, not retried)."""

_ACTIVE_RUNS: set[str] = set()  # runs driven by this process right now


def is_finished(trial: FrozenTrial) -> bool:
    """Whether ``trial`` counts towards ``n_trials`` (see the module docstring): COMPLETE,
    PRUNED, or FAIL because of the objective; not a FAIL of the infrastructure (worker died,
    interrupted, stale) nor one whose parameters could not be suggested ("suggest failed")."""
    if trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
        return True
    if trial.state == TrialState.FAIL:
        kind = trial.user_attrs.get("fail_kind")
        if kind == TIMEOUT:
            return not trial.user_attrs.get("timeout_retried", False)
        return kind not in NOT_FINISHED_FAILURES
    return False


@dataclass
class Counts:
    """Trial counts of a study; ``finished = complete + pruned + failed``.

    ``failed`` counts objective failures; ``infra_failed`` the infrastructure failures
    (worker died, interrupted, stale) whose parameters are retried instead; ``suggest_failed``
    the trials whose parameters the space could not suggest (not finished, not retried).
    """

    complete: int = 0
    pruned: int = 0
    failed: int = 0
    infra_failed: int = 0
    running: int = 0
    suggest_failed: int = 0

    @property
    def finished(self) -> int:
        return self.complete + self.pruned + self.failed

    def add(self, trial: FrozenTrial, sign: int = 1) -> None:
        """Count (``sign=1``) or uncount (``sign=-1``) one trial in its current state."""
        if trial.state == TrialState.COMPLETE:
            self.complete += sign
        elif trial.state == TrialState.PRUNED:
            self.pruned += sign
        elif trial.state == TrialState.FAIL:
            if is_finished(trial):
                self.failed += sign
            elif trial.user_attrs.get("fail_kind") == SUGGEST_FAILED:
                self.suggest_failed += sign
            else:
                self.infra_failed += sign
        elif trial.state == TrialState.RUNNING:
            self.running += sign

    def as_dict(self) -> dict[str, int]:
        return {
            "finished": self.finished,
            "complete": self.complete,
            "failed": self.failed,
            "pruned": self.pruned,
            "running": self.running,
            "infra_failed": self.infra_failed,
            "suggest_failed": self.suggest_failed,
        }

    @classmethod
    def of(cls, trials: list[FrozenTrial]) -> Counts:
        counts = cls()
        for trial in trials:
            counts.add(trial)
        return counts


@dataclass
class Run:
    """One driver run of a study: its id and its record in the study's system attributes."""

    storage: optuna.storages.BaseStorage
    study_id: int
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    last_heartbeat: float = 0.0

    @property
    def key(self) -> str:
        return RUN_KEY_PREFIX + self.run_id

    def start(self) -> None:
        now = time.time()
        record = {"host": socket.gethostname(), "pid": os.getpid(), "started": now}
        self._write({**record, "heartbeat": now, "ended": None})
        self._record = record
        self.last_heartbeat = time.monotonic()
        _ACTIVE_RUNS.add(self.run_id)

    def heartbeat(self, *, force: bool = False) -> None:
        """Refresh the record if :data:`HEARTBEAT_S` passed (cheap to call every loop)."""
        if force or time.monotonic() - self.last_heartbeat >= HEARTBEAT_S:
            self._write({**self._record, "heartbeat": time.time(), "ended": None})
            self.last_heartbeat = time.monotonic()

    def end(self) -> None:
        """Mark the run ended in its record (a record that cannot be written is logged: a later
        run then finds this one gone by its pid or heartbeat instead)."""
        _ACTIVE_RUNS.discard(self.run_id)
        now = time.time()
        try:
            self._write({**self._record, "heartbeat": now, "ended": now})
        except Exception as exc:  # broad: called in a ``finally``, it must not hide the run's error
            _log.warning("the end of run %s could not be recorded: %s", self.run_id, one_line(exc))

    def stamp(self, node: str, node_id: str) -> dict[str, Any]:
        """The system attribute that marks a trial as started by this run on ``node``."""
        return {"run": self.run_id, "node": node, "node_id": node_id}

    def _write(self, record: dict[str, Any]) -> None:
        self.storage.set_study_system_attr(self.study_id, self.key, record)


def run_is_alive(run_id: str, record: dict[str, Any] | None, now: float | None = None) -> bool:
    """Whether the run ``run_id`` (with its stored ``record``) may still be driving trials."""
    if record is None or record.get("ended"):
        return False
    now = time.time() if now is None else now
    if record.get("host") == socket.gethostname():
        pid = record.get("pid")
        if pid == os.getpid():
            return run_id in _ACTIVE_RUNS
        if isinstance(pid, int) and not _pid_alive(pid):
            return False
    return now - float(record.get("heartbeat", 0.0)) < STALE_AFTER_S


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stale_reason(
    trial: FrozenTrial, runs: dict[str, dict[str, Any]], now: float | None = None
) -> str | None:
    """Why a RUNNING ``trial`` is stale, or ``None`` if its run may still be alive."""
    now = time.time() if now is None else now
    stamp = trial.system_attrs.get(STAMP_KEY)
    if not isinstance(stamp, dict):
        start = trial.datetime_start.timestamp() if trial.datetime_start else 0.0
        if now - start < STALE_AFTER_S:
            return None
        return f"stale: RUNNING since {trial.datetime_start} and started by no symtune run"
    run_id = str(stamp.get("run"))
    record = runs.get(run_id)
    if run_is_alive(run_id, record, now):
        return None
    if record is None:
        return f"stale: its run {run_id} left no record"
    where = f"pid {record.get('pid')} on {record.get('host')}"
    if record.get("ended"):
        return f"stale: its run {run_id} ({where}) ended without finishing it"
    return f"stale: its run {run_id} ({where}) is gone (no heartbeat, or the process died)"


def run_records(storage: optuna.storages.BaseStorage, study_id: int) -> dict[str, dict[str, Any]]:
    """``{run id: record}`` of every run of the study."""
    attrs = storage.get_study_system_attrs(study_id)
    return {
        key[len(RUN_KEY_PREFIX) :]: value
        for key, value in attrs.items()
        if key.startswith(RUN_KEY_PREFIX) and isinstance(value, dict)
    }


def fail_trial(
    storage: optuna.storages.BaseStorage,
    trial_id: int,
    kind: str,
    reason: str,
    extra: dict[str, Any] | None = None,
) -> bool:
    """Store a RUNNING trial as FAIL with ``fail_kind``/``fail_reason`` user attributes.

    Returns ``False`` (and changes nothing) if somebody else finished the trial first.
    """
    try:
        for key, value in {"fail_kind": kind, "fail_reason": reason, **(extra or {})}.items():
            storage.set_trial_user_attr(trial_id, key, value)
        storage.set_trial_state_values(trial_id, TrialState.FAIL)
    except (optuna.exceptions.UpdateFinishedTrialError, RuntimeError):
        return False
    return True


def retry_chain(trial: FrozenTrial) -> list[int]:
    """Numbers of all attempts of ``trial``'s parameters so far, ``trial`` included."""
    history = trial.system_attrs.get("retry_history")
    earlier = list(history) if isinstance(history, list) else []
    return [*earlier, trial.number]


def spent_retries(trial: FrozenTrial) -> int:
    """How much of its ``max_retries`` budget ``trial``'s parameters spent before it ran."""
    spent = trial.system_attrs.get(DEATHS_KEY)
    if isinstance(spent, int) and not isinstance(spent, bool):
        return spent
    return len(retry_chain(trial)) - 1  # a retry of an older symtune: every attempt counted


def enqueue_retry(
    study: optuna.Study, trial: FrozenTrial, max_retries: int, counted: bool = True
) -> bool:
    """Enqueue a new trial with ``trial``'s parameters, if retries are left; see module doc.

    ``counted``: whether ``trial``'s failure spends one of its retries.
    """
    chain = retry_chain(trial)
    spent = spent_retries(trial) + int(counted)
    if spent > max_retries:
        _log.warning(
            "trial %d's parameters are not retried again: their attempts %s used all "
            "max_retries=%d (pass a larger max_retries to optimize, or symtune run "
            "--max-retries, to go on)",
            trial.number,
            chain,
            max_retries,
        )
        return False
    study.add_trial(
        optuna.trial.create_trial(
            state=TrialState.WAITING,
            params=trial.params,
            distributions=trial.distributions,
            user_attrs={"retry_of": chain[0], "retries": len(chain)},
            system_attrs={"failed_trial": trial.number, "retry_history": chain, DEATHS_KEY: spent},
        )
    )
    return True


def _spends_a_retry(trial: FrozenTrial) -> bool:
    """Whether ``trial``'s failure spends one of its parameters' ``max_retries``: a death it
    caused, or a timeout; not an interruption (Ctrl-C, SIGTERM) or a driver that died
    (stale), which are not the trial's doing: a job preempted again and again goes on from
    its checkpoint every time."""
    kind = trial.user_attrs.get("fail_kind")
    if kind in (INTERRUPTED, STALE):
        return False
    return bool(trial.user_attrs.get("death_counted", True))


def reconcile(
    study: optuna.Study, storage: optuna.storages.BaseStorage, study_id: int, max_retries: int
) -> list[int]:
    """Fail stale RUNNING trials and enqueue retries that are due; return the stale numbers.

    Called when a run starts. Infrastructure failures without a retry yet (for instance a
    trial interrupted by Ctrl-C, or one that went stale just now) get one, if
    ``max_retries`` allows.
    """
    runs = run_records(storage, study_id)
    now = time.time()
    trials = study.get_trials(deepcopy=False)
    stale = []
    for trial in trials:
        if trial.state != TrialState.RUNNING:
            continue
        reason = stale_reason(trial, runs, now)
        if reason is not None and fail_trial(storage, _compat.trial_id(trial), STALE, reason):
            stale.append(trial.number)
    if stale:
        trials = study.get_trials(deepcopy=False)
    retried = {t.system_attrs.get("failed_trial") for t in trials}
    for trial in trials:
        if (
            trial.state == TrialState.FAIL
            and not is_finished(trial)
            and trial.user_attrs.get("fail_kind") in INFRASTRUCTURE_FAILURES | {TIMEOUT}
            and trial.number not in retried
        ):
            enqueue_retry(study, trial, max_retries, _spends_a_retry(trial))
    return stale
