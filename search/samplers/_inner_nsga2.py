"""The inner NSGA-II: a multi-objective search on the predicted objectives, over arrays."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from symtune.search._results import non_dominated_ranks
from symtune.search.samplers._config import Assignment, PredictorSearchConfig
from symtune.spaces import assignment_key

if TYPE_CHECKING:
    from symtune.search.samplers._model import ObjectiveModel
    from symtune.spaces import Space


def _crowding(costs: np.ndarray) -> np.ndarray:
    n = len(costs)
    distance = np.zeros(n)
    if n <= 2:
        return np.full(n, np.inf)
    for j in range(costs.shape[1]):
        order = np.argsort(costs[:, j], kind="stable")
        span = costs[order[-1], j] - costs[order[0], j]
        distance[order[0]] = distance[order[-1]] = np.inf
        if span > 0:
            distance[order[1:-1]] += (costs[order[2:], j] - costs[order[:-2], j]) / span
    return distance


def _survivors(values: np.ndarray, directions: Sequence[str], k: int) -> np.ndarray:
    """NSGA-II selection: the ``k`` best rows by Pareto rank, then crowding distance."""
    ranks = non_dominated_ranks(values, directions)
    chosen: list[int] = []
    for rank in range(int(ranks.max()) + 1):
        members = np.flatnonzero(ranks == rank)
        if len(chosen) + len(members) <= k:
            chosen += members.tolist()
            continue
        crowd = _crowding(values[members])
        chosen += members[np.argsort(-crowd, kind="stable")[: k - len(chosen)]].tolist()
        break
    return np.asarray(chosen, dtype=int)


class _Population:
    """Assignments, their canonical vectors and predicted objectives (deduplicated)."""

    def __init__(self, model: ObjectiveModel) -> None:
        self.model = model
        self.assignments: list[Assignment] = []
        self.vectors: list[np.ndarray] = []
        self.keys: set[tuple[Any, ...]] = set()

    def add(self, assignments: Sequence[Mapping[str, Any]]) -> None:
        for assignment in assignments:
            key = assignment_key(assignment)
            if key not in self.keys:
                self.keys.add(key)
                self.assignments.append(dict(assignment))
                self.vectors.append(self.model.encode(assignment))


def _children(
    space: Space,
    vectors: np.ndarray,
    ranks: np.ndarray,
    pool: np.ndarray,
    blocks: list[slice],
    rng: np.random.Generator,
    count: int,
) -> list[Assignment]:
    """``count`` children: binary tournaments by rank, block crossover and mutation."""
    children = []
    for _ in range(count):
        i, j = rng.integers(len(vectors), size=2)
        a = i if ranks[i] <= ranks[j] else j
        i, j = rng.integers(len(vectors), size=2)
        b = i if ranks[i] <= ranks[j] else j
        child = vectors[a].copy()
        for block in blocks:
            if rng.random() < 0.5:
                child[block] = vectors[b][block]
            if rng.random() < 1.0 / len(blocks):
                child[block] = pool[rng.integers(len(pool))][block]
        children.append(space.decode(child))
    return children


def inner_search(
    model: ObjectiveModel,
    directions: Sequence[str],
    seeds: Sequence[Mapping[str, Any]],
    config: PredictorSearchConfig,
) -> tuple[list[Assignment], np.ndarray]:
    """NSGA-II on the predicted objectives, over ``space.encode`` vectors.

    Crossover swaps whole parameter blocks (``space.encoding_layout``) between two parents,
    mutation replaces a block by that of a random sample, and ``space.decode`` turns any child
    vector into a valid assignment. (Optuna's ``NSGAIISampler`` would do, but its ask-and-tell
    costs milliseconds per inner trial; this loop runs every round, so it works on arrays.)

    Returns every assignment it met (``seeds`` first) and their predicted objectives.
    """
    space = model.space
    rng = np.random.default_rng(config.seed + len(seeds))
    size = config.population_size
    blocks = [block.slice for block in space.encoding_layout.values()]
    pool = np.stack(
        [space.encode(space.sample(int(s))) for s in rng.integers(2**31 - 1, size=size)]
    )
    everything = _Population(model)
    everything.add([*seeds[:size], *(space.decode(v) for v in pool)])
    population = everything.assignments[:size]
    values = model.predict(population)
    for _ in range(config.generations):
        vectors = np.stack([model.encode(a) for a in population])
        ranks = non_dominated_ranks(values, directions)
        children = _children(space, vectors, ranks, pool, blocks, rng, size)
        before = len(everything.assignments)
        everything.add(children)
        fresh = everything.assignments[before:]
        merged = population + fresh
        merged_values = np.concatenate([values, model.predict(fresh)]) if fresh else values
        keep = _survivors(merged_values, directions, size)
        population = [merged[k] for k in keep]
        values = merged_values[keep]
    return everything.assignments, model.predict(everything.assignments)
