"""Predictor-guided search on a plain Optuna study: enqueue a round, or run the whole loop."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from symtune.search.samplers._config import (
    ROUND_ATTR,
    Assignment,
    ExactObjectives,
    PredictorSearchConfig,
    PredictorSearchResult,
)
from symtune.search.samplers._propose import propose_candidates

if TYPE_CHECKING:
    import optuna

    from symtune.spaces import Space


def completed_history(study: optuna.Study) -> list[tuple[Assignment, tuple[float, ...]]]:
    """``(params, values)`` of every COMPLETE trial of ``study``."""
    import optuna

    return [
        (dict(t.params), tuple(float(v) for v in t.values))
        for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    ]


def study_directions(study: optuna.Study) -> list[str]:
    """``"minimize"`` / ``"maximize"`` for each of ``study``'s objectives."""
    return ["minimize" if d.name == "MINIMIZE" else "maximize" for d in study.directions]


def enqueue_predicted_front(
    study: optuna.Study,
    space: Space,
    config: PredictorSearchConfig | None = None,
    *,
    exact_objectives: ExactObjectives | None = None,
    round_: int = 1,
) -> list[Assignment]:
    """Fit on ``study``'s completed trials and enqueue the predicted front; return it.

    The enqueued trials run next through whatever drives the study (``study.optimize``,
    ``symtune.search``, or ask-and-tell), as long as its objective suggests parameters with
    ``space.suggest`` / ``space.suggest_params``. Each carries the user attribute
    ``predictor_round`` (``round_``).
    """
    candidates = propose_candidates(
        space,
        completed_history(study),
        study_directions(study),
        config,
        exact_objectives=exact_objectives,
    )
    for assignment in candidates:
        study.enqueue_trial(assignment, user_attrs={ROUND_ATTR: round_})
    return candidates


def _enqueue_initial(
    study: optuna.Study, space: Space, config: PredictorSearchConfig, *, count_waiting: bool
) -> int:
    """Enqueue random samples until ``config.n_initial`` trials are complete (or waiting)."""
    import optuna

    states: tuple[optuna.trial.TrialState, ...] = (optuna.trial.TrialState.COMPLETE,)
    if count_waiting:
        states += (optuna.trial.TrialState.WAITING,)
    missing = config.n_initial - len(study.get_trials(deepcopy=False, states=states))
    rng = np.random.default_rng(config.seed)
    for _ in range(max(0, missing)):
        study.enqueue_trial(space.sample(int(rng.integers(2**31 - 1))), user_attrs={ROUND_ATTR: 0})
    return max(0, missing)


def _run_batch(
    study: optuna.Study,
    space: Space,
    evaluate: Callable[[list[Assignment]], Sequence[Sequence[float]]],
    count: int,
) -> tuple[list[Assignment], list[tuple[float, ...]]]:
    trials = [study.ask() for _ in range(count)]
    batch = [space.suggest_params(t) for t in trials]
    values = [tuple(float(x) for x in v) for v in evaluate(batch)]
    if len(values) != len(batch):
        raise ValueError(
            f"`evaluate` must return one value tuple per assignment, but got {len(values)} "
            f"for {len(batch)}"
        )
    for trial, v in zip(trials, values, strict=True):
        study.tell(trial, list(v))
    return batch, values


def predictor_guided_search(
    study: optuna.Study,
    space: Space,
    evaluate: Callable[[list[Assignment]], Sequence[Sequence[float]]],
    config: PredictorSearchConfig | None = None,
    *,
    exact_objectives: ExactObjectives | None = None,
) -> PredictorSearchResult:
    """Run the predictor-guided loop on an Optuna study with ask-and-tell.

    Args:
        study: a multi-objective (or single-objective) Optuna study; its completed trials
            count as history, and every real evaluation is recorded in it.
        space: the space whose ``suggest_params`` defines the trials' parameters.
        evaluate: scores a batch of assignments for real, e.g. with
            ``Supernet.score_many``; returns one tuple of objective values per assignment, in
            the study's objective order.
        config: the options (:class:`PredictorSearchConfig`).
        exact_objectives: ``{objective index: fn(assignment) -> value}`` for objectives that
            are cheap to compute exactly (FLOPs, parameters); those are not predicted.

    Returns:
        what was evaluated in this call, with the round of each evaluation.
    """
    config = config or PredictorSearchConfig()
    result = PredictorSearchResult()
    missing = _enqueue_initial(study, space, config, count_waiting=False)
    if missing > 0:
        batch, values = _run_batch(study, space, evaluate, missing)
        result.assignments += batch
        result.values += values
        result.rounds += [0] * len(batch)
    for round_ in range(1, config.n_rounds + 1):
        enqueued = enqueue_predicted_front(
            study, space, config, exact_objectives=exact_objectives, round_=round_
        )
        if not enqueued:
            break
        batch, values = _run_batch(study, space, evaluate, len(enqueued))
        result.assignments += batch
        result.values += values
        result.rounds += [round_] * len(batch)
    return result
