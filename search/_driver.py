"""The driver loop of ``Study.optimize``: ask, dispatch to Ray workers, tell, survive faults.

One process owns the Optuna study. For each free worker it asks the sampler
(``optuna.Study.ask``), lets the space suggest the active parameters, and sends the
assignment to a worker actor; ``workers`` evaluations stay in flight, with no generation
barrier. As each evaluation returns, the driver tells the study (COMPLETE, PRUNED or FAIL)
and starts the next. A worker that dies (its process killed, its node lost) fails its trial
with the reason "worker died" and the parameters are retried on a fresh worker, spending
the retries of the trial that killed it only (:meth:`Driver._lost`); Ctrl-C
(``KeyboardInterrupt``) kills the workers, stores their trials as FAIL "interrupted" and
propagates. See :mod:`symtune.search._runs` for what "finished" means and for resuming.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from symtune.search import _compat, _runs
from symtune.search._driver_storage import DriverStorage
from symtune.search._errors import StudyError, one_line
from symtune.search._pool import Death, Slot, WorkerPool, describe_death
from symtune.search._trial import Outcome
from symtune.search._worker import Evaluator, TrialSettings, exception_outcome

if TYPE_CHECKING:
    from symtune.search._study import Study

_log = logging.getLogger("symtune.search")

Callback = Callable[["Study", FrozenTrial], None]


@dataclass(frozen=True)
class OptimizeOptions:
    """The arguments of :meth:`Study.optimize` (validated by :meth:`check`)."""

    n_trials: int | None = None
    workers: int = 1
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    timeout: float | None = None
    address: str | None = None
    max_retries: int = 2
    callbacks: tuple[Callback, ...] = ()
    show_progress: bool = False
    stop_after_failures: int | None = 5
    trial_timeout: float | None = None
    retry_timeouts: bool = False

    def check(self) -> None:
        """Raise :class:`StudyError` naming the first bad argument."""
        if self.n_trials is not None and not _is_int(self.n_trials, minimum=0):
            raise StudyError(
                f"`n_trials` must be None or an int >= 0, but got {self.n_trials!r} "
                "(in Study.optimize)"
            )
        if not _is_int(self.workers, minimum=1):
            raise StudyError(
                f"`workers` must be an int >= 1, but got {self.workers!r} (in Study.optimize)"
            )
        if not _is_int(self.max_retries, minimum=0):
            raise StudyError(
                f"`max_retries` must be an int >= 0, but got {self.max_retries!r} "
                "(in Study.optimize)"
            )
        if self.stop_after_failures is not None and not _is_int(
            self.stop_after_failures, minimum=1
        ):
            raise StudyError(
                "`stop_after_failures` must be None (never stop) or an int >= 1, but got "
                f"{self.stop_after_failures!r} (in Study.optimize)"
            )
        for name, value, low in (
            ("cpus_per_trial", self.cpus_per_trial, 0.0),
            ("gpus_per_trial", self.gpus_per_trial, 0.0),
        ):
            if not _is_real(value) or value < low:
                raise StudyError(
                    f"`{name}` must be a number >= 0, but got {value!r} (in Study.optimize)"
                )
        if self.timeout is not None and (not _is_real(self.timeout) or self.timeout <= 0):
            raise StudyError(
                f"`timeout` must be None or a number of seconds > 0, but got {self.timeout!r} "
                "(in Study.optimize)"
            )
        if self.trial_timeout is not None and (
            not _is_real(self.trial_timeout) or self.trial_timeout <= 0
        ):
            raise StudyError(
                "`trial_timeout` must be None or a number of seconds > 0, but got "
                f"{self.trial_timeout!r} (in Study.optimize)"
            )
        if not isinstance(self.retry_timeouts, bool):
            raise StudyError(
                f"`retry_timeouts` must be True or False, but got {self.retry_timeouts!r} "
                "(in Study.optimize)"
            )
        for callback in self.callbacks:
            if not callable(callback):
                raise StudyError(
                    f"every callback must be callable as callback(study, frozen_trial), but "
                    f"got {callback!r} (in Study.optimize)"
                )


def _is_int(value: Any, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _is_real(value: Any) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


PREFETCH_BELOW_S = 1.0
"""Evaluations shorter than this (moving average, seconds) get their next trial queued."""

BATCH_BELOW_S = 0.005
"""Evaluations shorter than this (moving average, seconds) are sent in batches."""

REFRESH_S = 1.0
"""How often (at least, in seconds) a driver re-counts the study's trials from the storage."""

MAX_BATCH = 8
"""At most this many trials per worker call. A Ray actor call costs about a millisecond of CPU
on each side (measured on 2 cores); for trivial objectives that is most of a trial's cost, so
short trials travel together. Each trial is still asked, stored and told one by one."""

TIMEOUT_GRACE_S = 5.0
"""A trial over ``trial_timeout`` stops by itself at its next ``report``, ``should_prune`` or
``save_checkpoint``; one that does not return this many seconds later has its worker killed."""


@dataclass
class _InFlight:
    slot: Slot
    trial: optuna.Trial
    number: int
    params: dict[str, Any]
    solo: bool = False  # a retry after a death: sent in a call of its own
    sent_at: float = 0.0  # time.monotonic() when sent to its worker


@dataclass
class Driver:
    """Runs one ``optimize`` call of ``study`` (see the module docstring).

    Prefetching: when evaluations are short (a moving average under
    :data:`PREFETCH_BELOW_S`), each worker is sent its next trial before the current one
    returns, so the Ray round trip and the driver's ask/tell overlap with evaluation
    instead of leaving the worker idle (measured with two workers and 200 trials of a
    100 ms objective, once the workers had started: efficiency 0.94-0.95 without, 0.96-0.98
    with). With longer evaluations there is little to gain and the sampler would only decide
    each trial earlier, so it is off.

    Several drivers may share a study: ``n_trials`` is the study's total, so the driver
    refreshes its counts from the storage (every :data:`REFRESH_S` seconds, and before each
    start once it may be within a few batches of the end) and starts a trial only while the
    study's finished trials plus its own in flight stay under ``n_trials``. The study then
    ends at ``n_trials`` plus at most the trials the drivers had in flight when it was
    reached. "May be near the end" costs nothing to know: each new trial's number tells how
    many trials other drivers created since the one before, and those may have finished.
    """

    study: Study
    storage: DriverStorage
    optuna_study: optuna.Study
    run: _runs.Run
    options: OptimizeOptions
    proxy: Any  # a StudyLink (symtune.search._relay): how workers reach the study
    counts: _runs.Counts
    on_trial: Sequence[Callback] = ()
    _pool: WorkerPool | None = None
    _inflight: dict[Any, list[_InFlight]] = field(default_factory=dict)
    _n_inflight: int = 0  # trials in the batches of _inflight
    _deaths_in_a_row: int = 0
    _deadline: float = math.inf
    _next_refresh: float = -math.inf
    _max_number: int = -1  # the newest trial number seen
    _others_since: int = 0  # trials created by other drivers since the last refresh (seen)
    _notify: bool = True
    _interrupted: bool = False  # Ctrl-C: results still arriving are "interrupted"
    _waiting_since: float = 0.0
    _eval_time: float = math.inf  # moving average of evaluation seconds
    _asking: list[int] = field(default_factory=list)  # trials asked, not yet sent to a worker
    _solo: set[int] = field(default_factory=set)  # ids of enqueued retries to send alone
    _held: list[_InFlight] = field(default_factory=list)  # asked retries awaiting an idle worker
    _redo: list[_InFlight] = field(default_factory=list)  # lost before they started: resend
    _streak: tuple[str, str] | None = None  # the exception every trial so far failed with
    _streak_n: int = 0  # -1 once a trial of this run ended otherwise

    # -- the loop ----------------------------------------------------------------------------

    def execute(self) -> None:
        """Run trials until ``n_trials`` are finished, the timeout passes, or an error."""
        import ray

        if self.options.timeout is not None:
            self._deadline = time.monotonic() + self.options.timeout
        self._refresh_counts()
        if not self._may_start():
            return
        self._pool = self._start_pool(ray)
        try:
            self._loop(ray, self._pool)
        except BaseException as exc:  # whatever stops the loop: in-flight trials are stored first
            self._abort(ray, exc)
            raise
        finally:
            self._pool.kill_all()

    def _loop(self, ray: Any, pool: WorkerPool) -> None:
        self._waiting_since = time.monotonic()
        while True:
            self._fill(pool)
            if not (self._inflight or self._held or self._redo or self._may_start()):
                return
            waitables = [*self._inflight, *pool.pings()]
            if not waitables:
                raise RuntimeError("no trial in flight and no worker starting: nothing to wait for")
            remaining = min(self._deadline, self._next_expiry()) - time.monotonic()
            timeout = min(1.0, remaining) if remaining > 0 else 1.0
            ready, _ = ray.wait(waitables, num_returns=1, timeout=timeout)
            self.run.heartbeat()
            for ref in ready:
                if ref in self._inflight:
                    self._finish(ray, ref)
                elif pool.is_ping(ref):
                    pool.on_ping(ref, self.study.name)
            self._expire(ray)
            self._warn_if_stuck(ray, pool)

    def _may_start(self) -> bool:
        if time.monotonic() >= self._deadline:
            return False
        n_trials = self.options.n_trials
        if n_trials is None:
            return True
        return self.counts.finished + self._n_inflight + len(self._asking) < n_trials

    def _fill(self, pool: WorkerPool) -> None:
        for slot in pool.free(1):  # idle workers take the held retries first
            if not self._held:
                break
            self._send(slot, [self._held.pop(0)])
        timed = self.options.trial_timeout is not None  # a trial's clock starts when sent
        depth = 2 if self._eval_time < PREFETCH_BELOW_S and not timed else 1
        size = MAX_BATCH if self._eval_time < BATCH_BELOW_S and not timed else 1
        for _ in range(depth):
            for slot in pool.free(depth):
                self._maybe_refresh(size)
                if not self._redo and not self._may_start():
                    return
                self._start_batch(slot, size)

    def _maybe_refresh(self, size: int) -> None:
        """Refresh the counts when due, and before every start near the end (see the class
        docstring): the other drivers' trials count too."""
        n_trials = self.options.n_trials
        margin = 2 * size  # a couple of batches
        near = n_trials is not None and (
            self.counts.finished + self._others_since + self._n_inflight + margin >= n_trials
        )
        if near or time.monotonic() >= self._next_refresh:
            self._refresh_counts()

    def _refresh_counts(self) -> None:
        """Re-count the study's trials from the storage (every driver's), in place.

        One read of every trial, without copies: measured at 5,000 trials on the 2-core
        development machine, a median of 2 ms on a journal file (it reads only the records
        appended since) and 3 ms on SQLite (Optuna's cached storage reads only new and
        unfinished trials). The next refresh waits at least 20 times as long as this one took.
        """
        started = time.monotonic()
        trials = self.storage.get_all_trials(self.study.study_id, deepcopy=False)
        fresh = _runs.Counts.of(trials)
        fresh.running = max(0, fresh.running - len(self._asking))  # counted when sent
        vars(self.counts).update(vars(fresh))
        self._max_number = max(self._max_number, len(trials) - 1)
        self._others_since = 0
        took = time.monotonic() - started
        self._next_refresh = time.monotonic() + max(REFRESH_S, 20 * took)

    # -- workers -----------------------------------------------------------------------------

    def _start_pool(self, ray: Any) -> WorkerPool:
        study = self.study
        try:
            payload = ray.put((study.space, study.objective, study.pruner))
        except Exception as exc:  # the user's objects' pickling (a __reduce__) may raise anything
            raise StudyError(
                "the space, objective and pruner must be picklable (cloudpickle) to reach Ray "
                f"workers, but pickling failed: {one_line(exc)}"
            ) from None
        opts = self.options
        remote = ray.remote(Evaluator).options(
            num_cpus=opts.cpus_per_trial,
            num_gpus=opts.gpus_per_trial,
            max_restarts=0,
            max_task_retries=0,
            scheduling_strategy="SPREAD",
        )
        names = list(study.metric_names)
        left = math.inf if opts.n_trials is None else opts.n_trials - self.counts.finished
        size = int(max(1, min(opts.workers, left)))  # no idle workers for a short run
        settings = TrialSettings(study.checkpoint_root, opts.trial_timeout)
        return WorkerPool(
            ray, lambda: remote.remote(payload, self.proxy, study.name, names, settings), size
        )

    def _warn_if_stuck(self, ray: Any, pool: WorkerPool) -> None:
        if self._inflight or any(slot.started for slot in pool.slots):
            self._waiting_since = time.monotonic()
        elif time.monotonic() - self._waiting_since > 60:
            _log.warning(
                "no Ray worker has started for 60 s: each needs %s CPU and %s GPU; the cluster "
                "has %s available",
                self.options.cpus_per_trial,
                self.options.gpus_per_trial,
                ray.available_resources(),
            )
            self._waiting_since = time.monotonic()

    # -- trials ------------------------------------------------------------------------------

    def _start_batch(self, slot: Slot, size: int) -> None:
        """Ask up to ``size`` trials and send them to ``slot`` in one call. A retry after a
        death travels alone, to a worker with nothing else to do: it waits in ``_held``
        unless ``slot`` is idle (see :meth:`_lost`)."""
        batch: list[_InFlight] = []
        while True:
            item = self._redo.pop(0) if self._redo else self._ask(slot)
            if not item.solo:
                batch.append(item)
            elif batch or slot.busy:
                self._held.append(item)
            else:
                self._send(slot, [item])
                return
            if len(batch) >= size or not (self._redo or self._may_start()):
                break
        if batch:
            self._send(slot, batch)

    def _send(self, slot: Slot, batch: list[_InFlight]) -> None:
        for item in batch:
            item.slot = slot
            item.sent_at = time.monotonic()
        items = [(item.number, _compat.trial_id(item.trial), item.params) for item in batch]
        ref = slot.actor.run_batch.remote(items)
        slot.calls.append(ref)
        if batch[0].solo:
            slot.exclusive = ref
        self._inflight[ref] = batch
        self._n_inflight += len(batch)
        for item in batch:
            self._asking.remove(_compat.trial_id(item.trial))
        self.counts.running += len(batch)

    def _ask(self, slot: Slot) -> _InFlight:
        stamp = self.run.stamp(slot.node, slot.node_id)
        self.storage.stamp = stamp
        created_before = self.storage.last_created
        trial = self.optuna_study.ask()
        trial_id = _compat.trial_id(trial)
        self._asking.append(trial_id)
        if self.storage.last_created == created_before:  # a WAITING trial was popped
            self.storage.set_trial_system_attr(trial_id, _runs.STAMP_KEY, stamp)
        elif trial.number > self._max_number:  # numbers in between: created by others
            self._others_since += max(0, trial.number - self._max_number - 1)
            self._max_number = trial.number
        try:
            params = self.study.space.suggest_params(trial)
        except Exception as exc:  # the space's (or Optuna's) failure, stored and raised below:
            # the driver's failure, not the objective's, so the trial is not finished
            _runs.fail_trial(
                self.storage, trial_id, _runs.SUGGEST_FAILED, one_line(exc, first_line=True)
            )
            self._asking.remove(trial_id)
            raise StudyError(
                f"the space could not suggest parameters for trial {trial.number}: "
                f"{one_line(exc, first_line=True)}"
            ) from exc
        solo = trial_id in self._solo
        self._solo.discard(trial_id)
        return _InFlight(slot, trial, trial.number, params, solo)

    def _pop(self, ref: Any) -> list[_InFlight]:
        batch = self._inflight.pop(ref)
        slot = batch[0].slot
        slot.calls.remove(ref)
        if slot.exclusive is ref:
            slot.exclusive = None
        self._n_inflight -= len(batch)
        self.counts.running -= len(batch)
        return batch

    def _finish(self, ray: Any, ref: Any) -> None:
        slot = self._inflight[ref][0].slot
        try:
            outcomes: list[Outcome] = ray.get(ref)
        except ray.exceptions.RayTaskError as exc:  # the call itself failed (not a trial)
            batch = self._pop(ref)
            cause = exc.cause if exc.cause is not None else exc
            self._replace(slot)
            self._told(batch, [exception_outcome(cause) for _ in batch])
            return
        except ray.exceptions.RayError as exc:  # the actor died: its process, or its node
            self._lost(ray, slot, exc)
            return
        self._deaths_in_a_row = 0
        self._told(self._pop(ref), outcomes)

    def _told(self, batch: list[_InFlight], outcomes: list[Outcome]) -> None:
        """Store every outcome of a batch, then notify, then stop if one says so."""
        error: StudyError | None = None
        told = []
        for item, outcome in zip(batch, outcomes, strict=True):
            if outcome.ended > outcome.started:
                took = outcome.ended - outcome.started
                self._eval_time = (
                    took if math.isinf(self._eval_time) else (0.8 * self._eval_time + 0.2 * took)
                )
            told.append(self._tell(item, outcome))
            if outcome.fatal:
                error = error or StudyError(outcome.fail_reason)
            else:
                error = error or self._only_failures(item, outcome)
        for frozen, outcome in zip(told, outcomes, strict=True):
            if not outcome.fatal:
                self._notify_trial(frozen)
        if error is not None:
            raise error

    def _only_failures(self, item: _InFlight, outcome: Outcome) -> StudyError | None:
        """The error that stops a run whose first trials all failed alike (see
        ``stop_after_failures`` in :meth:`Study.optimize`), once they are that many."""
        limit = self.options.stop_after_failures
        if limit is None or self._streak_n < 0:
            return None
        if outcome.state != "fail" or outcome.fail_kind != _runs.EXCEPTION:
            self._streak_n = -1
            return None
        exception = outcome.exception or {}
        key = (exception.get("type", ""), exception.get("message", ""))
        if self._streak is not None and key != self._streak:
            self._streak_n = -1
            return None
        self._streak, self._streak_n = key, self._streak_n + 1
        if self._streak_n < limit:
            return None
        return StudyError(
            f"the first {self._streak_n} trials of this run all failed with the same exception, "
            f"so the study stops (stop_after_failures={limit}): {outcome.fail_reason} (trial "
            f"{item.number}'s traceback is in its user attribute exception_traceback)"
        )

    def _replace(self, slot: Slot) -> None:
        if self._pool is not None:
            self._pool.replace(slot)

    def _tell(self, item: _InFlight, outcome: Outcome) -> FrozenTrial:
        trial_id = _compat.trial_id(item.trial)
        attrs = dict(outcome.user_attrs)
        kind = outcome.fail_kind
        if self._interrupted and (outcome.exception or {}).get("type") == "KeyboardInterrupt":
            kind = _runs.INTERRUPTED  # the driver's Ctrl-C may have reached the worker too
        if outcome.state == "fail":
            attrs.update(fail_kind=kind, fail_reason=outcome.fail_reason)
            if outcome.exception:
                attrs.update({f"exception_{k}": v for k, v in outcome.exception.items()})
        retry = kind == _runs.TIMEOUT and self._retries_timeout(trial_id)
        if retry:
            attrs["timeout_retried"] = True
        if outcome.state == "complete":
            state, values = TrialState.COMPLETE, outcome.values
        else:
            state = TrialState.PRUNED if outcome.state == "pruned" else TrialState.FAIL
            values = None
        try:
            for key, value in attrs.items():
                _set_user_attr(self.storage, trial_id, key, value)
            _tell(self.optuna_study, item.trial, values, state)
        except (optuna.exceptions.UpdateFinishedTrialError, ValueError) as exc:
            if self.storage.get_trial(trial_id).state == TrialState.RUNNING:
                raise
            _log.warning(  # another process decided it was stale meanwhile (a stalled driver)
                "trial %d was finished by another process before its result arrived: %s",
                item.number,
                exc,
            )
        frozen = self.storage.get_trial(trial_id)
        self.counts.add(frozen)
        if retry and frozen.state == TrialState.FAIL:
            _runs.enqueue_retry(self.optuna_study, frozen, self.options.max_retries)
        return frozen

    # -- time limits -------------------------------------------------------------------------

    def _retries_timeout(self, trial_id: int) -> bool:
        """Whether a trial over ``trial_timeout`` is retried: only when asked, and while its
        parameters have retries left (``max_retries``)."""
        if not self.options.retry_timeouts:
            return False
        spent = _runs.spent_retries(self.storage.get_trial(trial_id))
        return spent + 1 <= self.options.max_retries

    def _next_expiry(self) -> float:
        """When the first in-flight trial's worker is due to be killed (``math.inf``: never)."""
        limit = self.options.trial_timeout
        if limit is None or not self._inflight:
            return math.inf
        first = min(batch[0].sent_at for batch in self._inflight.values())
        return first + limit + TIMEOUT_GRACE_S

    def _expire(self, ray: Any) -> None:
        """Kill the workers of trials that are over ``trial_timeout`` and did not stop by
        themselves (see :data:`TIMEOUT_GRACE_S`); store those trials as FAIL "timeout"."""
        limit = self.options.trial_timeout
        if limit is None:
            return
        now = time.monotonic()
        for ref, batch in list(self._inflight.items()):
            if ref not in self._inflight or now < batch[0].sent_at + limit + TIMEOUT_GRACE_S:
                continue
            slot = batch[0].slot
            later = [r for r in slot.calls if r is not ref]  # queued behind it: never started
            timed_out = self._pop(ref)
            for other in later:
                unstarted = self._pop(other)
                self._redo.extend(unstarted)
                self._asking.extend(_compat.trial_id(item.trial) for item in unstarted)
            self._replace(slot)  # kills the worker
            outcomes = []
            for item in timed_out:
                elapsed = now - item.sent_at
                reason = (
                    f"timeout: trial {item.number} ran {elapsed:.1f} s, over "
                    f"trial_timeout={limit:g} s, and did not return, so its worker was killed"
                )
                outcome = Outcome("fail", fail_kind=_runs.TIMEOUT, fail_reason=reason)
                outcome.user_attrs["elapsed_s"] = round(elapsed, 3)
                outcomes.append(outcome)
            self._told(timed_out, outcomes)

    # -- deaths ------------------------------------------------------------------------------

    def _lost(self, ray: Any, slot: Slot, exc: BaseException) -> None:
        """A worker died: store what it finished, fail the rest, and retry them fairly.

        Which of its trials killed it? A worker's death note names the trial it was
        evaluating when it called ``os._exit`` or raised ``SystemExit``: that trial is to
        blame (its death counts against its ``max_retries``); the trials that ran before it
        (their results lost with the worker) were bystanders, and those after it never
        started, so they are simply sent again, the same trials. A worker killed by a
        signal leaves no note; then a trial alone on the worker is to
        blame, and of several trials nobody can tell which (a call's reply may be lost with
        its worker even after it finished, so the call order does not tell either): each is
        retried alone, without counting, and the next death tells. A retry after a death
        always travels alone, to a worker with nothing else to do.
        """
        refs = list(slot.calls)  # in the order sent, which is the order they ran in
        killed_by_us = slot.killed
        self._replace(slot)
        if not killed_by_us:
            self._count_death(slot, exc)
        from symtune.search._ray import read_death_note

        death = describe_death(exc, read_death_note(getattr(exc, "actor_id", None)))
        ray.wait(refs, num_returns=len(refs), timeout=10.0)  # the dead actor's calls fail fast
        lost: list[_InFlight] = []
        for ref in refs:
            batch = self._pop(ref)
            try:
                outcomes = ray.get(ref, timeout=0)
            except ray.exceptions.RayError:  # lost with the worker (or not returned in time)
                lost.extend(batch)
                continue
            self._told(batch, outcomes)
        if not lost:
            return
        blamed = [item for item in lost if item.number == death.trial]
        if blamed:  # the trials after it never started: send them again, as they are
            at = lost.index(blamed[0])
            lost, unstarted = lost[: at + 1], lost[at + 1 :]
            self._redo.extend(unstarted)
            self._asking.extend(_compat.trial_id(item.trial) for item in unstarted)
        elif len(lost) == 1 and not killed_by_us:
            blamed = lost
        if blamed or killed_by_us:
            rest = [item for item in lost if not blamed or item.number != blamed[0].number]
            self._worker_died(blamed, death, "alone")
            self._worker_died(rest, death, "bystander", blamed[0].number if blamed else None)
        else:
            self._worker_died(lost, death, "shared")

    def _worker_died(
        self, batch: list[_InFlight], death: Death, role: str, killer: int | None = None
    ) -> None:
        """Fail ``batch`` as "worker died" and retry it; ``role`` is "alone" (its death counts),
        "shared" (on the worker with others, and nobody knows who killed it) or "bystander"
        (trial ``killer`` killed it, or the driver replaced it)."""
        numbers = [item.number for item in batch]
        frozens = []
        for item in batch:
            trial_id = _compat.trial_id(item.trial)
            reason = f"worker died: {death.reason}"
            if role == "shared":
                others = [str(n) for n in numbers if n != item.number]
                were = f"trial {others[0]} was" if len(others) == 1 else "trials {} were"
                reason += (
                    f"; {were.format(', '.join(others))} on that worker too and which one "
                    "ended it cannot be told, so each is retried alone, and this death does "
                    "not count against its retries"
                )
            elif role == "bystander":
                cause = (
                    f"trial {killer} ended that worker"
                    if killer is not None
                    else "the driver replaced that worker after a failed call"
                )
                reason += (
                    f"; {cause}, so this trial is retried, and this death does not count "
                    "against its retries"
                )
            extra = {**death.attrs(), "death_counted": role == "alone"}
            _runs.fail_trial(self.storage, trial_id, _runs.WORKER_DIED, reason, extra)
            frozen = self.storage.get_trial(trial_id)
            self.counts.add(frozen)
            retried = _runs.enqueue_retry(
                self.optuna_study, frozen, self.options.max_retries, role == "alone"
            )
            if retried and (role != "bystander" or item.solo):
                self._solo.add(self.storage.last_created)
            frozens.append(frozen)
        for frozen in frozens:
            self._notify_trial(frozen)

    def _count_death(self, slot: Slot, exc: BaseException) -> None:
        """Stop the study when worker calls keep dying (a call may carry a batch of trials)."""
        self._deaths_in_a_row += 1
        limit = max(10, 3 * self.options.workers * (self.options.max_retries + 1))
        if self._deaths_in_a_row > limit:
            raise StudyError(
                f"{self._deaths_in_a_row} worker calls in a row lost their Ray worker (last: on "
                f"node {slot.node or '?'}, {describe_death(exc).reason}); stopping the study"
            )

    def _notify_trial(self, frozen: FrozenTrial) -> None:
        if not self._notify:
            return
        for callback in self.on_trial:
            callback(self.study, frozen)
        if self.options.callbacks:
            # A user callback may have enqueued trials (``study.optuna_study.enqueue_trial``,
            # e.g. a predictor's next proposals): the next ask looks for them at once.
            self.storage.expect_waiting()

    # -- stopping ----------------------------------------------------------------------------

    def _collect_finished(self, ray: Any) -> None:
        """While stopping, store the in-flight trials that already finished (the rest are
        killed and failed as "interrupted" by :meth:`_abort`)."""
        try:
            done, _ = ray.wait(list(self._inflight), num_returns=len(self._inflight), timeout=0)
            for ref in done:
                if ref in self._inflight:
                    self._finish(ray, ref)
        except (KeyboardInterrupt, StudyError) as exc:  # a second Ctrl-C, or a fatal result
            _log.debug("stopped collecting finished trials: %s", one_line(exc))
        except Exception:  # broad: the driver is stopping, so the in-flight trials must be
            # failed as "interrupted" whatever went wrong here; what it was is logged
            _log.warning(
                "while stopping, storing the trials that had finished failed; the trials still "
                "in flight are failed as interrupted",
                exc_info=True,
            )

    def _abort(self, ray: Any, cause: BaseException) -> None:
        """Keep what finished, then kill in-flight work and fail it as "interrupted"."""
        self._notify = False
        self._interrupted = isinstance(cause, KeyboardInterrupt)
        reason = (
            "interrupted"
            if self._interrupted
            else f"interrupted: the driver stopped ({one_line(cause, first_line=True)})"
        )
        if self._inflight:
            self._collect_finished(ray)
        for batch in self._inflight.values():
            ray.kill(batch[0].slot.actor, no_restart=True)
            for item in batch:
                trial_id = _compat.trial_id(item.trial)
                if _runs.fail_trial(self.storage, trial_id, _runs.INTERRUPTED, reason):
                    self.counts.running -= 1
                    self.counts.infra_failed += 1
        self._inflight.clear()
        self._n_inflight = 0
        for trial_id in self._asking:  # stopped between ask and dispatch (or held)
            _runs.fail_trial(self.storage, trial_id, _runs.INTERRUPTED, reason)
        self._asking.clear()
        self._held.clear()
        self._redo.clear()


def _tell(
    study: optuna.Study, trial: optuna.Trial, values: list[float] | None, state: TrialState
) -> None:
    """``study.tell`` without its final deep copy of the trial (measured: a third of its cost;
    see :func:`symtune.search._compat.tell_without_copy`)."""
    _compat.tell_without_copy(study, trial, values, state)


def _set_user_attr(storage: DriverStorage, trial_id: int, key: str, value: Any) -> None:
    try:
        storage.set_trial_user_attr(trial_id, key, value)
    except (TypeError, ValueError):  # not JSON-serialisable: keep a readable form
        storage.set_trial_user_attr(trial_id, key, repr(value))
