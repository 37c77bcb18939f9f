"""``PredictorSampler``: predictor-guided search as an Optuna sampler."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from optuna.samplers import BaseSampler

from symtune.search import _compat
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


class PredictorSampler(BaseSampler):
    """An Optuna sampler that proposes the predictor's front: predictor-guided search for
    any study, ``symtune.search`` studies on Ray workers included.

    Each ask takes the next assignment from the sampler's queue. When the queue is empty it
    is refilled: with random samples of ``space`` until the study has ``config.n_initial``
    completed trials (round 0), then with the front proposed by :func:`propose_candidates`,
    fitted on every completed trial so far (``config.batch_size`` assignments a round). The
    parameters a trial suggests come from that assignment; enqueued trials (``enqueue_trial``,
    symtune's retries) keep their own parameters, and parameters the assignment lacks come from
    ``fallback`` (default: a seeded ``RandomSampler``). Each trial it plans gets the user
    attribute ``predictor_round`` (``attr_predictor_round`` in ``Study.results()``).

    Use it wherever a sampler goes::

        from symtune.search.samplers import PredictorSampler

        study = create_study(space, objective, directions=["minimize", "minimize"],
                             sampler=PredictorSampler(space, exact_objectives={1: flops}))
        study.optimize(n_trials=200, workers=2)

    A driver that asks ahead of results (symtune keeps up to two trials per worker in flight,
    and sends trials shorter than 5 ms in batches of 8) starts a round while the last trials
    of the previous one still run; the refit happens in the driver, in the ask that finds the
    queue empty. ``config.n_rounds`` is not used: the
    study's ``n_trials`` sets the budget. A resumed study keeps its history: the refits use
    every completed trial in the storage.

    Args:
        space: the study's space (the one its objective suggests from).
        config: the predictor's options (:class:`PredictorSearchConfig`).
        exact_objectives: ``{objective index: fn(assignment) -> value}`` for objectives cheap
            to compute exactly in the driver (FLOPs, parameters); the others are predicted.
        fallback: the sampler for parameters outside the planned assignment.

    Attributes:
        proposals: ``(round, assignment)`` for every assignment this sampler planned, in
            order (round 0: random samples).
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
        self._round = 0
        self._queue: list[tuple[int, Assignment]] = []
        self._plans: dict[int, Assignment] = {}
        self._rng = np.random.default_rng(self.config.seed)

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
        if "fixed_params" in trial.system_attrs:  # enqueued: runs with its own parameters
            return
        if not self._queue:
            self._refill(study)
        round_, assignment = self._queue.pop(0)
        self._plans[trial.number] = assignment
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
        self._plans.pop(trial.number, None)

    def reseed_rng(self) -> None:
        self._rng = np.random.default_rng()
        self.fallback.reseed_rng()

    # -- proposals -------------------------------------------------------------------------------

    def _refill(self, study: optuna.Study) -> None:
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
            round_, batch = 0, [self.space.sample(int(self._rng.integers(2**31 - 1)))]
        self._queue += [(round_, a) for a in batch]
        self.proposals += [(round_, a) for a in batch]
