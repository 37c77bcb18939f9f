"""The pure step of predictor-guided search: history in, the next assignments out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from symtune.search._results import hypervolume_of_losses, non_dominated_ranks
from symtune.search.samplers._config import (
    Assignment,
    ExactObjectives,
    PredictorSearchConfig,
)
from symtune.search.samplers._inner_nsga2 import inner_search
from symtune.search.samplers._model import ObjectiveModel
from symtune.spaces import assignment_key

if TYPE_CHECKING:
    from symtune.spaces import Space


def _spread(values: np.ndarray, k: int) -> list[int]:
    """``k`` row indices spread evenly along the first objective."""
    order = np.argsort(values[:, 0], kind="stable")
    if len(order) <= k:
        return order.tolist()
    picks = np.unique(np.round(np.linspace(0, len(order) - 1, k)).astype(int))
    return order[picks].tolist()


def _hypervolume(losses: np.ndarray, reference: np.ndarray) -> float:
    """``hypervolume_of_losses``; for two objectives a numpy sweep (several times faster than
    the general algorithm, and the greedy selection calls it once per candidate and pick)."""
    if losses.shape[1] != 2:
        return hypervolume_of_losses(losses, reference)
    inside = losses[(losses < reference).all(axis=1)]
    if not len(inside):
        return 0.0
    x, y = inside[np.lexsort((inside[:, 1], inside[:, 0]))].T
    best = np.minimum.accumulate(y)  # the lowest second loss among points left of each
    before = np.concatenate([[reference[1]], best[:-1]])
    return float(np.sum((reference[0] - x) * np.clip(before - y, 0.0, None)))


def _greedy_hypervolume(
    real: np.ndarray,
    predicted: np.ndarray,
    index: np.ndarray,
    directions: Sequence[str],
    k: int,
) -> list[int]:
    """Up to ``k`` of the rows ``index`` of ``predicted``, picked one at a time for the largest
    gain in hypervolume over the real front plus the picks so far (predicted values).

    The reference point lies 10% of the span beyond the worst of the real front and the
    candidates. Stops early when no candidate is predicted to add anything.
    """
    signs = np.array([1.0 if d == "minimize" else -1.0 for d in directions])
    front = real[non_dominated_ranks(real, directions) == 0] * signs
    costs = predicted[index] * signs
    low = np.minimum(front.min(axis=0), costs.min(axis=0))
    high = np.maximum(front.max(axis=0), costs.max(axis=0))
    scale = np.where(high > low, high - low, 1.0)
    front, costs = (front - low) / scale, (costs - low) / scale  # every objective in [0, 1]
    reference = np.full(front.shape[1], 1.1)
    chosen: list[int] = []
    current = _hypervolume(front, reference)
    # Candidates the real front already dominates would add nothing: leave them out.
    dominated = np.all(front[:, None, :] <= costs[None], axis=2).any(axis=0)
    open_ = np.flatnonzero(~dominated).tolist()
    while len(chosen) < k and open_:
        gains = [_hypervolume(np.vstack([front, costs[j]]), reference) - current for j in open_]
        best = int(np.argmax(gains))
        if gains[best] <= 0:
            break
        j = open_.pop(best)
        chosen.append(int(index[j]))
        front = np.vstack([front, costs[j]])
        current += gains[best]
    return chosen


def _check_history(
    history: Sequence[tuple[Mapping[str, Any], Sequence[float]]],
    n_obj: int,
    exact: ExactObjectives,
) -> None:
    if len(history) < 2:
        raise ValueError(f"the predictor needs at least 2 scored subnets, but got {len(history)}")
    bad = [j for j in exact if not 0 <= j < n_obj]
    if bad or any(len(v) != n_obj for _, v in history):
        raise ValueError(
            f"objective values and exact objective indices must match the {n_obj} directions, "
            f"but got exact indices {sorted(exact)} and value lengths "
            f"{sorted({len(v) for _, v in history})}"
        )


def propose_candidates(
    space: Space,
    history: Sequence[tuple[Mapping[str, Any], Sequence[float]]],
    directions: Sequence[str],
    config: PredictorSearchConfig | None = None,
    *,
    exact_objectives: ExactObjectives | None = None,
    exclude: Sequence[Mapping[str, Any]] = (),
) -> list[Assignment]:
    """Up to ``config.batch_size`` new assignments on the predicted Pareto front.

    Fits the regressors on ``history`` (``(assignment, objective values)`` pairs), runs the
    inner NSGA-II on them (its first population seeded with the real front), and returns
    members of the predicted front not evaluated yet, picked by ``config.selection``; when
    those are too few, the next predicted ranks fill in, spread along the first objective.
    Assignments in ``exclude`` (proposed but not scored yet, say) are not proposed either.
    """
    config = config or PredictorSearchConfig()
    exact = dict(exact_objectives or {})
    n_obj = len(directions)
    _check_history(history, n_obj, exact)
    model = ObjectiveModel(space, history, n_obj, config, exact)
    real = np.asarray([list(v) for _, v in history], dtype=float)
    real_front = [
        history[int(i)][0] for i in np.flatnonzero(non_dominated_ranks(real, directions) == 0)
    ]
    found, predicted = inner_search(model, directions, real_front, config)
    seen = {assignment_key(a) for a, _ in history} | {assignment_key(a) for a in exclude}
    unique: dict[tuple[Any, ...], int] = {}
    for i, assignment in enumerate(found):
        key = assignment_key(assignment)
        if key not in seen and key not in unique:
            unique[key] = i
    index = np.asarray(list(unique.values()), dtype=int)
    if index.size == 0:
        return []
    ranks = non_dominated_ranks(predicted[index], directions)
    chosen: list[int] = []
    if config.selection == "hypervolume":
        chosen = _greedy_hypervolume(real, predicted, index, directions, config.batch_size)
    for rank in range(int(ranks.max()) + 1):
        if len(chosen) >= config.batch_size:
            break
        members = np.asarray([m for m in index[ranks == rank] if m not in chosen], dtype=int)
        take = _spread(predicted[members], config.batch_size - len(chosen)) if members.size else []
        chosen += [int(members[t]) for t in take]
    return [found[i] for i in chosen]
