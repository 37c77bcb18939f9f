"""Multi-objective pruning: asynchronous successive halving on Pareto fronts (MOASHA).

:class:`ParetoPruner` is Optuna's ``SuccessiveHalvingPruner`` (ASHA) with one change: a rung
keeps the trials that rank best by non-dominated sorting, not the top fraction of one value
(Schmucker et al. 2021, arXiv 2106.12639; Syne Tune's ``MOASHA``). The rule of one rung is
the pure function :func:`rung_survivors`, testable alone.

The pruner keeps nothing in memory: every decision follows from the trial system attributes
in the storage (the reported vectors ``symtune:report:<step>`` and the rung markers
``symtune:rung:<r>``), so a resumed study decides as the first run would have, and pruners on
Ray workers of any node agree. It holds four integers, so it pickles.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeGuard

import numpy as np
import optuna
from optuna.study import StudyDirection

from symtune.search import _compat
from symtune.search._results import non_dominated_ranks
from symtune.search._trial import reported_values

if TYPE_CHECKING:
    from numpy.typing import ArrayLike
    from optuna.trial import FrozenTrial

RUNG_KEY = "symtune:rung:"
"""Prefix of the trial system attribute that marks a rung judged: ``symtune:rung:<r>`` holds
the trial's vector (as reported, one value per objective) when it was judged at rung ``r``."""


class ParetoPruner(optuna.pruners.BasePruner):
    """Asynchronous successive halving whose rungs keep the non-dominated trials.

        study = create_study(space, objective, directions=["minimize", "minimize"],
                             pruner=ParetoPruner(min_resource=1, reduction_factor=3))

    Rung ``r`` (0, 1, ...) is at step ``min_resource * reduction_factor **
    (min_early_stopping_rate + r)``, as in Optuna's ``SuccessiveHalvingPruner``. When a
    trial's last reported step reaches a rung it has not been judged at, the pruner stores
    its vector at that step there (trial system attribute ``symtune:rung:<r>``) and ranks the
    vectors of every trial with that marker (:func:`rung_order`): the trial goes on if fewer
    than ``max(1, population // reduction_factor)`` others rank strictly before it
    (:func:`survives`; ties go to the trial judged, as in Optuna's successive halving). No
    rung waits to fill: the first trial at a rung goes on, a later one is judged against
    those that reached it before (pruned or not). A retried trial (system attribute
    ``retry_history``) and its earlier attempts count once, as the first attempt's number,
    with the retry's own vector.

    In a study of several objectives the vectors are those of ``trial.report([v1, v2, ...],
    step)`` (``symtune:report:<step>``); in a one-objective study the intermediate values,
    so the pruner is Optuna's ASHA there. A
    vector reported with the first objective only cannot be judged: the trial is not pruned
    (with a warning, once per process). A vector with a NaN is pruned at the rung it
    reaches, as Optuna's ASHA does, and leaves no marker. A trial is pruned at a rung that
    fewer than ``bootstrap_count`` trials, itself included, have reached (Optuna's
    ``bootstrap_count`` does not count the trial itself: its ``b`` is this pruner's ``b + 1``).
    """

    judges_vectors = True
    """``TrialHandle.should_prune`` asks this pruner in studies of several objectives too."""

    def __init__(
        self,
        min_resource: int = 1,
        reduction_factor: int = 3,
        min_early_stopping_rate: int = 0,
        bootstrap_count: int = 0,
    ) -> None:
        self._min_resource = _check_int("min_resource", min_resource, 1)
        self._reduction_factor = _check_int("reduction_factor", reduction_factor, 2)
        self._min_early_stopping_rate = _check_int(
            "min_early_stopping_rate", min_early_stopping_rate, 0
        )
        self._bootstrap_count = _check_int("bootstrap_count", bootstrap_count, 0)

    def rung_resource(self, rung: int) -> int:
        """The step at which rung ``rung`` (0, 1, ...) judges a trial."""
        return self._min_resource * self._reduction_factor ** (self._min_early_stopping_rate + rung)

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        """Whether ``trial`` (read fresh from the storage) fails a rung it has just reached.

        Judges, in increasing order, every rung at or below the trial's last reported step
        that the trial has no marker for; writes each marker before judging at it; answers
        ``True`` at the first rung the trial does not survive.
        """
        directions = study.directions
        vectors = _trial_vectors(trial, len(directions))
        if not vectors:
            return False
        step = max(vectors)
        due, rung = [], 0
        while self.rung_resource(rung) <= step:
            if f"{RUNG_KEY}{rung}" not in trial.system_attrs:
                due.append(rung)
            rung += 1
        if not due:
            return False
        vector = vectors[step]
        values = [float(value) for value in vector if value is not None]
        if len(values) < len(vector):
            _warn_cannot_judge(trial.number, step, vector)
            return False
        if any(math.isnan(value) for value in values):
            return True
        return self._judge(study, trial, values, due, directions)

    def _judge(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        values: list[float],
        rungs: list[int],
        directions: Sequence[StudyDirection],
    ) -> bool:
        storage = _compat.study_storage(study)
        trial_id = _compat.trial_id(trial)
        own = _lineage(trial)
        trials: list[FrozenTrial] | None = None
        for rung in rungs:
            key = f"{RUNG_KEY}{rung}"
            storage.set_trial_system_attr(trial_id, key, values)
            if trials is None:
                trials = study.get_trials(deepcopy=False)
            population = _population(trials, key, own, len(values))
            population[own] = values
            if len(population) < self._bootstrap_count:
                return True
            numbers = sorted(population)
            vectors = [population[n] for n in numbers]
            if not survives(vectors, numbers, own, self._reduction_factor, directions):
                return True
        return False

    def __repr__(self) -> str:
        return (
            f"ParetoPruner(min_resource={self._min_resource}, "
            f"reduction_factor={self._reduction_factor}, "
            f"min_early_stopping_rate={self._min_early_stopping_rate}, "
            f"bootstrap_count={self._bootstrap_count})"
        )


def rung_survivors(
    vectors: ArrayLike,
    numbers: Sequence[int],
    reduction_factor: int,
    directions: Sequence[str | StudyDirection] | None = None,
) -> set[int]:
    """The numbers of the trials that survive a rung holding ``vectors`` (one row a trial).

    The first ``max(1, len(vectors) // reduction_factor)`` of :func:`rung_order`.
    ``numbers`` names the rows (distinct ints: trial numbers, or a retried trial's first
    number); ``directions`` as in :func:`~symtune.search.non_dominated_ranks`.
    """
    rf = _check_int("reduction_factor", reduction_factor, 2, "rung_survivors")
    order = rung_order(vectors, numbers, directions)
    return set(order[: max(1, len(order) // rf)])


def survives(
    vectors: ArrayLike,
    numbers: Sequence[int],
    judged: int,
    reduction_factor: int,
    directions: Sequence[str | StudyDirection] | None = None,
) -> bool:
    """Whether trial ``judged`` (one of ``numbers``) goes on from a rung holding ``vectors``.

    It goes on when fewer than ``max(1, len(vectors) // reduction_factor)`` of the others
    rank strictly before it by (non-dominated front, crowding distance): ties go to the trial
    being judged, as Optuna's successive halving promotes a value equal to its cut-off. So a
    trial that no earlier trial at the rung dominates, and that is as spread as the best of
    them, is not pruned because it came later.
    """
    rf = _check_int("reduction_factor", reduction_factor, 2, "survives")
    keys = _rank_keys(vectors, numbers, directions)
    if judged not in keys:
        raise ValueError(f"`judged` must be one of `numbers`, but got {judged!r} (in survives)")
    ahead = sum(1 for number, key in keys.items() if number != judged and key < keys[judged])
    return ahead < max(1, len(keys) // rf)


def _rank_keys(
    vectors: ArrayLike,
    numbers: Sequence[int],
    directions: Sequence[str | StudyDirection] | None,
) -> dict[int, tuple[int, float]]:
    """``{number: (front index, -crowding distance)}``: smaller is better."""
    costs = _costs(vectors, directions)
    ids = _numbers(numbers, len(costs))
    ranks = non_dominated_ranks(costs)
    crowding = np.zeros(len(costs))
    for front in np.unique(ranks):
        members = np.flatnonzero(ranks == front)
        crowding[members] = _crowding(costs[members], [ids[i] for i in members])
    return {ids[i]: (int(ranks[i]), -float(crowding[i])) for i in range(len(costs))}


def rung_order(
    vectors: ArrayLike,
    numbers: Sequence[int],
    directions: Sequence[str | StudyDirection] | None = None,
) -> list[int]:
    """``numbers`` ranked best first: by non-dominated front (Deb's sort; front 0 is the
    Pareto front), then by crowding distance within the front (largest first), then by
    number (smallest first).

    Crowding distance (NSGA-II) in a front: a front of one or two points is all ``inf``; else,
    per objective whose values in the front are not all equal, the points sorted by that
    objective (ties by number) give the first and last ``inf`` and each other point
    ``(next - previous) / (max - min)`` of that objective, summed over the objectives (an
    infinite range counts an infinite gap as 1, a finite one as 0).
    """
    keys = _rank_keys(vectors, numbers, directions)
    return sorted(keys, key=lambda number: (*keys[number], number))


def _crowding(costs: np.ndarray, numbers: Sequence[int]) -> np.ndarray:
    n, m = costs.shape
    if n <= 2:
        return np.full(n, math.inf)
    distance = np.zeros(n)
    for k in range(m):
        column = costs[:, k]
        low, high = float(column.min()), float(column.max())
        if not high > low:
            continue  # an objective on which the front does not vary tells nothing
        order = sorted(range(n), key=lambda i: (column[i], numbers[i]))
        distance[order[0]] = distance[order[-1]] = math.inf
        span = high - low
        for j in range(1, n - 1):
            before, after = float(column[order[j - 1]]), float(column[order[j + 1]])
            gap = 0.0 if after == before else after - before
            distance[order[j]] += gap / span if math.isfinite(span) else float(math.isinf(gap))
    return distance


def _costs(vectors: ArrayLike, directions: Sequence[str | StudyDirection] | None) -> np.ndarray:
    """``vectors`` as an ``(n, m)`` array of losses (maximised objectives negated)."""
    costs = np.asarray(vectors, dtype=float)
    if costs.ndim == 1:
        costs = costs.reshape(-1, 1)
    if costs.ndim != 2 or costs.shape[1] == 0 or np.isnan(costs).any():
        raise ValueError(
            "`vectors` must be an (n, m) array of numbers, none NaN, one row a trial, but got "
            f"shape {costs.shape} (in rung_order)"
        )
    if directions is None:
        return costs
    names = [d.name.lower() if isinstance(d, StudyDirection) else d for d in directions]
    if len(names) != costs.shape[1] or any(d not in ("minimize", "maximize") for d in names):
        raise ValueError(
            f"`directions` must be 'minimize' or 'maximize' for each of the {costs.shape[1]} "
            f"objectives, but got {list(directions)!r} (in rung_order)"
        )
    return costs * np.array([1.0 if d == "minimize" else -1.0 for d in names])


def _numbers(numbers: Sequence[int], n: int) -> list[int]:
    ids = [int(number) for number in numbers]
    if len(ids) != n or len(set(ids)) != n:
        raise ValueError(
            f"`numbers` must be {n} distinct ints, one per row of `vectors`, but got "
            f"{list(numbers)!r} (in rung_order)"
        )
    return ids


def _trial_vectors(trial: FrozenTrial, objectives: int) -> dict[int, list[float | None]]:
    """The trial's vector per step: the reported vectors, or (one objective) its values."""
    if objectives == 1:
        return {step: [value] for step, value in trial.intermediate_values.items()}
    return reported_values(trial)


def _lineage(trial: FrozenTrial) -> int:
    """The number of the first attempt of ``trial``'s parameters (itself unless a retry)."""
    history = trial.system_attrs.get("retry_history")
    if isinstance(history, list) and history and isinstance(history[0], int):
        return history[0]
    return trial.number


def _population(trials: Sequence[FrozenTrial], key: str, own: int, m: int) -> dict[int, Any]:
    """Lineage -> vector at the rung ``key`` of every other lineage that has a marker there
    (the first attempt's marker, when several attempts carry one); malformed markers skipped."""
    population: dict[int, Any] = {}
    for other in sorted(trials, key=lambda t: t.number):
        vector = other.system_attrs.get(key)
        lineage = _lineage(other)
        if lineage == own or lineage in population or not _is_vector(vector, m):
            continue
        population[lineage] = [float(value) for value in vector]
    return population


def _is_vector(value: Any, m: int) -> TypeGuard[list[float]]:
    return (
        isinstance(value, list)
        and len(value) == m
        and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and not math.isnan(v)
            for v in value
        )
    )


def _check_int(name: str, value: Any, low: int, where: str = "ParetoPruner") -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"`{name}` must be an int >= {low}, but got {value!r} (in {where})")
    if value < low:
        raise ValueError(f"`{name}` must be an int >= {low}, but got {value!r} (in {where})")
    return int(value)


_warned_cannot_judge = False


def _warn_cannot_judge(number: int, step: int, vector: Sequence[float | None]) -> None:
    global _warned_cannot_judge
    if _warned_cannot_judge:
        return
    _warned_cannot_judge = True
    warnings.warn(
        f"ParetoPruner cannot judge trial {number} at step {step}: its report {vector!r} has "
        "no value for some objectives, so it is not pruned; report one value per objective "
        "(`trial.report([v1, v2, ...], step)`) for the pruner to judge it (warned once)",
        UserWarning,
        stacklevel=3,
    )
