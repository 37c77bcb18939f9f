"""``PredictorSampler``: predictor-guided search as an Optuna sampler."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from optuna.samplers import BaseSampler

from symtune.search import _compat
from symtune.search.samplers._background import BackgroundFit, fit_process, plain_copy
from symtune.search.samplers._config import (
    ROUND_ATTR,
    Assignment,
    ExactObjectives,
    PredictorSearchConfig,
)
from symtune.search.samplers._loop import completed_history, study_directions
from symtune.search.samplers._propose import propose_candidates

if TYPE_CHECKING:
    import optuna
    from optuna.distributions import BaseDistribution
    from optuna.trial import FrozenTrial, TrialState

    from symtune.spaces import Space

_log = logging.getLogger(__name__)
History = list[tuple[Assignment, tuple[float, ...]]]


class PredictorSampler(BaseSampler):
    """An Optuna sampler that proposes the predictor's front: predictor-guided search for
    any study, ``symtune.search`` studies on Ray workers included.

    Each ask takes the next assignment from the sampler's queue. Round 0 is
    ``config.n_initial`` random samples of ``space`` (fewer when the storage already holds
    completed trials: a resumed study); each later round is the front proposed by
    :func:`propose_candidates` (``config.batch_size`` assignments, never one proposed or
    scored before; one random sample, round 0, when the predicted front is all taken). The
    parameters a trial suggests come from that assignment; enqueued trials (``enqueue_trial``,
    symtune's retries) keep their own parameters, and parameters the assignment lacks come from
    ``fallback`` (default: a seeded ``RandomSampler``). Each trial it plans gets the user
    attribute ``predictor_round`` (``attr_predictor_round`` in ``Study.results()``).

    Use it wherever a sampler goes::

        from symtune.search.samplers import PredictorSampler

        study = create_study(space, objective, directions=["minimize", "minimize"],
                             sampler=PredictorSampler(space, exact_objectives={1: flops}))
        study.optimize(n_trials=200, workers=2)

    **The overlapped fit** (``config.overlap=True``). What a fit sees: with
    ``L = config.overlap_lag`` (default ``batch_size``), the fit of round ``r + 1`` sees every
    trial completed among those asked before the proposal ``L`` places before the end of
    round ``r`` (with the default: rounds ``<= r - 1``, all of them), plus the completed trials
    the storage held before this sampler's first ask. When it runs: as soon as round ``r`` is
    proposed and every trial it sees has finished (the sampler learns it in ``after_trial``),
    in the background on plain copies of that history: in a daemon thread
    (``config.fit_in="thread"``; it calls no Optuna storage, the driver's thread does all of
    that, but it calls ``exact_objectives``, which must then not share mutable state with
    the driver's other code, and it shares the driver's interpreter lock), or in one spawned
    process for the sampler (``"process"``: the space, regressor and exact objectives must
    pickle, and a script starting the study needs ``if __name__ == "__main__":``). Meanwhile
    the workers score round ``r``'s last ``L`` proposals, and an ask waits only if the fit is
    not ready when the queue runs dry (``fit_wait_seconds`` adds those waits up). What
    it costs: each fit lacks the latest ``L`` results; on the digits supernet (one subnet at a
    time, 3 seeds, 150 evaluations) the evaluations to 98% of the best front's hypervolume
    were 96 and twice not reached with ``L = 10``, 116, 126 and 59 with ``L = 4``, and 91, 86
    and 97 with the fit in the ask (``search_quality`` in
    ``benchmarks/support/predictor_throughput.py``).
    The set each fit sees is fixed by the seed and the order of the asks, so a run is
    reproducible for a given seed and worker count as long as the driver keeps at most ``L``
    trials in flight (symtune: 2 per worker, 16 for trials under 5 ms); if the queue runs dry
    while a trial the next fit must see is still running, the fit starts on the finished ones
    and a warning says the run is no longer reproducible. Trials of other processes sharing
    the study, asked after this sampler started, are not in any fit's history. An exception in
    a fit is raised in the ask that needs its round, as :class:`PredictorFitError` naming the
    round, with the fit's exception as its cause.

    With ``config.overlap=False`` (the default, as before the overlap) each fit runs in the ask
    that finds the queue empty, on every trial completed by then, while the workers wait;
    random samples fill the queue until ``n_initial`` trials are complete.

    ``config.n_rounds`` is not used: the study's ``n_trials`` sets the budget. A resumed study
    keeps its history (its stored completed trials) and numbers its rounds on.

    Args:
        space: the study's space (the one its objective suggests from).
        config: the predictor's options (:class:`PredictorSearchConfig`).
        exact_objectives: ``{objective index: fn(assignment) -> value}`` for objectives cheap
            to compute exactly in the driver (FLOPs, parameters); the others are predicted.
        fallback: the sampler for parameters outside the planned assignment.

    Attributes:
        proposals: ``(round, assignment)`` for every assignment this sampler planned, in
            order (round 0: random samples).
        fit_wait_seconds: seconds the asks spent waiting for background fits.
    """

    def __init__(
        self,
        space: Space,
        config: PredictorSearchConfig | None = None,
        *,
        exact_objectives: ExactObjectives | None = None,
        fallback: BaseSampler | None = None,
    ) -> None:
        from optuna.samplers import RandomSampler

        self.space = space
        self.config = config or PredictorSearchConfig()
        self.exact_objectives = dict(exact_objectives or {})
        self.fallback = fallback or RandomSampler(seed=self.config.seed)
        self.proposals: list[tuple[int, Assignment]] = []
        self.fit_wait_seconds = 0.0
        self._round = 0
        self._queue: list[tuple[int, Assignment]] = []
        self._plans: dict[int, Assignment] = {}
        self._rng = np.random.default_rng(self.config.seed)
        self._started = False
        self._first = 0  # the number of the first trial this sampler was asked for
        self._directions: list[str] = []
        self._prior: History = []  # completed before this sampler's first ask
        self._running: set[int] = set()  # numbers of trials asked here and not finished
        self._finished: dict[int, tuple[Assignment, tuple[float, ...]] | None] = {}
        self._numbers: list[int] = []  # the trial number of each proposal, in order
        self._cutoff: int | None = None  # proposal index the next fit stops before
        self._fit: BackgroundFit | None = None
        self._executor: Any = None  # the fit process (config.fit_in == "process")
        self._warned = False

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_fit"] = state["_executor"] = None  # threads and processes do not travel
        return state

    # -- the sampler interface ------------------------------------------------------------------

    def infer_relative_search_space(
        self, study: optuna.Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        return {}

    def sample_relative(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        return {}

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        if self.config.overlap:
            if not self._started:
                self._start(study, trial.number)
            self._running.add(trial.number)
        if "fixed_params" in trial.system_attrs:  # enqueued: runs with its own parameters
            return
        if not self._queue and self.config.overlap:
            self._refill(study)
        elif not self._queue:
            self._refill_now(study)
        round_, assignment = self._queue.pop(0)
        self._plans[trial.number] = assignment
        if self.config.overlap:
            self._numbers.append(trial.number)
            self._maybe_launch()
        storage = _compat.study_storage(study)
        storage.set_trial_user_attr(_compat.trial_id(trial), ROUND_ATTR, round_)

    def sample_independent(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        plan = self._plans.get(trial.number)
        if plan is not None and param_name in plan:
            value = plan[param_name]
            if _compat.distribution_contains(param_distribution, value):
                return value
        return self.fallback.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        import optuna

        self._plans.pop(trial.number, None)
        if not self.config.overlap or trial.number not in self._running:
            return
        self._running.discard(trial.number)
        pair = None
        if state == optuna.trial.TrialState.COMPLETE and values is not None:
            pair = (dict(trial.params), tuple(float(v) for v in values))
        self._finished[trial.number] = pair
        self._maybe_launch()

    def reseed_rng(self) -> None:
        self._rng = np.random.default_rng()
        self.fallback.reseed_rng()

    # -- the overlapped rounds -----------------------------------------------------------------

    def _start(self, study: optuna.Study, first: int) -> None:
        """At the first ask: the stored history, the round numbers so far, round 0."""
        self._started = True
        self._first = first
        self._directions = study_directions(study)
        stored = study.get_trials(deepcopy=False)
        self._prior = [
            (dict(t.params), tuple(float(v) for v in t.values))
            for t in stored
            if t.number < first and t.values is not None and t.state.name == "COMPLETE"
        ]
        rounds = (t.user_attrs.get(ROUND_ATTR) for t in stored)
        self._round = max((int(r) for r in rounds if r is not None), default=0)
        n_random = max(0, self.config.n_initial - len(self._prior))
        self._plan(0, [self._random() for _ in range(n_random)])

    def _random(self) -> Assignment:
        return self.space.sample(int(self._rng.integers(2**31 - 1)))

    def _plan(self, round_: int, batch: list[Assignment]) -> None:
        """Queue a round and schedule the fit of the next one."""
        self._queue += [(round_, a) for a in batch]
        self.proposals += [(round_, a) for a in batch]
        self._cutoff = len(self.proposals) - self.config.lag

    def _cutoff_number(self) -> int | None:
        """The trial number the scheduled fit's history stops before (``None``: not asked)."""
        assert self._cutoff is not None
        if self._cutoff <= 0:
            return self._first
        return self._numbers[self._cutoff] if self._cutoff < len(self._numbers) else None

    def _maybe_launch(self, *, force: bool = False) -> None:
        """Start the scheduled fit once every trial it sees has finished (or when forced)."""
        if self._cutoff is None or self._fit is not None:
            return
        cutoff = self._cutoff_number()
        waiting = [n for n in self._running if cutoff is None or n < cutoff]
        if not force and (cutoff is None or waiting):
            return
        if waiting and not self._warned:
            self._warned = True
            _log.warning(
                "PredictorSampler: the queue ran dry while %d trial(s) the next fit must see "
                "were still running; it fits on the finished ones, so this run is not "
                "reproducible (more trials in flight than overlap_lag=%d)",
                len(waiting),
                self.config.lag,
            )
        limit = float("inf") if cutoff is None else cutoff
        history = self._prior + [
            pair for n, pair in sorted(self._finished.items()) if n < limit and pair is not None
        ]
        self._cutoff = None
        self._fit = self._submit(plain_copy(history))

    def _submit(self, history: History) -> BackgroundFit:
        """Start the next round's fit (plain data in, assignments out) in the background."""
        round_ = self._round + 1
        if len(history) < 2:  # nothing to fit: the round explores at random
            return BackgroundFit(round_, list)
        config = dataclasses.replace(self.config, seed=self.config.seed + round_)
        args = (self.space, history, list(self._directions), config)
        kwargs = {
            "exact_objectives": self.exact_objectives,
            "exclude": [dict(a) for _, a in self.proposals],
        }
        if self.config.fit_in == "process":
            if self._executor is None:
                self._executor = fit_process(self)
            return BackgroundFit(round_, self._executor.submit(propose_candidates, *args, **kwargs))
        return BackgroundFit(round_, lambda: propose_candidates(*args, **kwargs))

    def _refill(self, study: optuna.Study) -> None:
        """The queue ran dry: take the running fit's round (waiting if need be)."""
        if self._fit is None:
            self._maybe_launch(force=True)
        assert self._fit is not None
        fit, self._fit = self._fit, None
        batch, waited = fit.result()
        self.fit_wait_seconds += waited
        if batch:
            self._round += 1
            self._plan(self._round, batch)
        else:  # too little history, or a predicted front all taken: explore
            self._plan(0, [self._random()])
        self._maybe_launch()

    # -- the fit in the ask (overlap=False) ----------------------------------------------------

    def _refill_now(self, study: optuna.Study) -> None:
        history = completed_history(study)
        batch: list[Assignment] = []
        if len(history) >= max(2, self.config.n_initial):
            if self._round == 0:  # a resumed study: number on from its stored rounds
                stored = (t.user_attrs.get(ROUND_ATTR) for t in study.get_trials(deepcopy=False))
                self._round = max((int(r) for r in stored if r is not None), default=0)
            config = dataclasses.replace(self.config, seed=self.config.seed + self._round + 1)
            batch = propose_candidates(
                self.space,
                history,
                study_directions(study),
                config,
                exact_objectives=self.exact_objectives,
            )
        if batch:
            self._round += 1
            round_ = self._round
        else:  # the initial sample, or a predicted front that is all scored: explore
            round_, batch = 0, [self._random()]
        self._queue += [(round_, a) for a in batch]
        self.proposals += [(round_, a) for a in batch]
