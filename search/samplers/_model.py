"""The predictor's model of the objectives: regressors, and exact functions where cheap."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from symtune.search.samplers._config import (
    ExactObjectives,
    PredictorSearchConfig,
    make_regressor,
)
from symtune.spaces import assignment_key

if TYPE_CHECKING:
    from symtune.spaces import Space


class ObjectiveModel:
    """Regressors for the predicted objectives, exact functions (cached) for the others.

    One regressor per objective not in ``exact`` is fitted on the ``space.encode`` vectors of
    ``history`` (``(assignment, objective values)`` pairs).
    """

    def __init__(
        self,
        space: Space,
        history: Sequence[tuple[Mapping[str, Any], Sequence[float]]],
        n_objectives: int,
        config: PredictorSearchConfig,
        exact: ExactObjectives,
    ) -> None:
        self.space = space
        self.exact = exact
        self.cache: dict[tuple[Any, ...], list[float]] = {}
        self.vectors: dict[tuple[Any, ...], np.ndarray] = {}
        x = np.stack([self.encode(a) for a, _ in history])
        y = np.asarray([list(v) for _, v in history], dtype=float)
        self.regressors: dict[int, Any] = {}
        for j in range(n_objectives):
            if j in exact:
                continue
            model = make_regressor(config.regressor, config.seed + j)
            model.fit(x, y[:, j])
            self.regressors[j] = model
        self.n_objectives = n_objectives

    def encode(self, assignment: Mapping[str, Any]) -> np.ndarray:
        """``space.encode(assignment)``, each assignment encoded once per model."""
        key = assignment_key(assignment)
        vector = self.vectors.get(key)
        if vector is None:
            vector = self.vectors[key] = self.space.encode(assignment)
        return vector

    def predict(self, assignments: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """The predicted (or exact) objective values, one row an assignment."""
        out = np.zeros((len(assignments), self.n_objectives))
        if self.regressors:
            x = np.stack([self.encode(a) for a in assignments])
            for j, model in self.regressors.items():
                out[:, j] = model.predict(x)
        for j, fn in self.exact.items():
            for i, a in enumerate(assignments):
                key = (j, assignment_key(a))
                if key not in self.cache:
                    self.cache[key] = [float(fn(dict(a)))]
                out[i, j] = self.cache[key][0]
        return out
