"""The options and the result of predictor-guided search, and its regressors."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Assignment = dict[str, Any]
ExactObjectives = Mapping[int, Callable[[Assignment], float]]
ROUND_ATTR = "predictor_round"
"""The user attribute of the trials the predictor chose: its round (0: the initial sample)."""


@dataclass
class PredictorSearchConfig:
    """Options of the predictor-guided search.

    Attributes:
        n_initial: random subnets before the first fit (round 0), fewer by the completed
            trials a resumed study already holds; with ``overlap=False``,
            :class:`~symtune.search.samplers.PredictorSampler` samples at random until that
            many trials are complete.
        batch_size: real evaluations per round (members of the predicted front).
        n_rounds: rounds of fit, inner search, real evaluation.
        regressor: ``"gbr"`` (gradient boosting, the default: on the digits supernet it
            reached the front in about half the evaluations that ridge needed, and an MLP
            did worse than both), ``"ridge"`` (ridge regression on the one-hot encoding),
            ``"mlp"`` (a small neural network), or a zero-argument factory of any
            scikit-learn style regressor.
        population_size: the inner NSGA-II's population.
        generations: the inner NSGA-II's generations.
        selection: how a round's members are picked from the predicted front: ``"spread"``
            (the default: evenly along the first objective) or ``"hypervolume"`` (one at a
            time, the largest predicted gain in hypervolume over the real front and the picks
            so far). Hypervolume selection trusts the predictions more: on the digits supernet
            (exact FLOPs, a good error model) it needed a median of 103 evaluations over 8
            seeds to reach 98% of the front's hypervolume, against 132 for spread; on a toy
            problem that gradient boosting fits poorly from few points, spread did better.
        seed: seeds the initial sample, the inner search and the regressors.
        overlap: ``True``: :class:`~symtune.search.samplers.PredictorSampler` fits each round
            in the background while the workers score the previous proposals, on a history
            fixed by the seed and the order of the asks (reproducible with several workers;
            see the sampler). ``False`` (the default): each fit runs in the ask that finds the
            queue empty, on every trial completed by then, while the workers wait
            (reproducible only with one worker). The default stays ``False`` because on the
            digits supernet with 2 workers on a 2-core machine the overlap did not pay: a fit
            (1-3 s) lasts about ten times a round's scoring, the cores are busy either way
            (300 trials, 3 repeats: 10.8 trials/s overlapped in a thread, 5.7 in a process,
            11.6 in the ask), and each fit lacks the latest ``overlap_lag`` results (median
            evaluations to 98% hypervolume: over 150 with lag 10, 116 with lag 4, 91 in the
            ask; ``benchmarks/support/predictor_throughput.py``).
        overlap_lag: with ``overlap``, how many of the latest proposals a fit does not wait
            for: the fit of each round sees the trials asked before the proposal
            ``overlap_lag`` places before the end of the previous round, and runs while those
            last ``overlap_lag`` are scored. ``None``: ``batch_size`` (a round fitted on the
            rounds before the previous one). Runs are reproducible while it is at least the
            number of trials the driver keeps in flight (symtune: 2 per worker, 16 per worker
            for trials under 5 ms).
        fit_in: with ``overlap``, where the fits run: ``"thread"`` (the default) or
            ``"process"`` (one spawned process for the sampler's fits: no sharing of the
            driver's interpreter lock, but the space, ``regressor`` and ``exact_objectives``
            must pickle, and the process starts once, in seconds).
    """

    n_initial: int = 20
    batch_size: int = 10
    n_rounds: int = 10
    regressor: str | Callable[[], Any] = "gbr"
    population_size: int = 40
    generations: int = 25
    selection: str = "spread"
    seed: int = 0
    overlap: bool = False
    overlap_lag: int | None = None
    fit_in: str = "thread"

    @property
    def lag(self) -> int:
        """``overlap_lag``, its default resolved."""
        return self.batch_size if self.overlap_lag is None else self.overlap_lag

    def __post_init__(self) -> None:
        for name in ("n_initial", "batch_size", "population_size", "generations"):
            value = getattr(self, name)
            if value < 2:
                raise ValueError(f"`{name} >= 2` must hold, but got {name}={value!r}")
        if self.n_rounds < 0:
            raise ValueError(f"`n_rounds >= 0` must hold, but got n_rounds={self.n_rounds!r}")
        if self.overlap_lag is not None and not (
            isinstance(self.overlap_lag, int) and self.overlap_lag >= 0
        ):
            raise ValueError(
                "`overlap_lag` must be None or an int >= 0, but got "
                f"overlap_lag={self.overlap_lag!r}"
            )
        if self.fit_in not in ("thread", "process"):
            raise ValueError(f"`fit_in` must be 'thread' or 'process', but got {self.fit_in!r}")
        if self.selection not in ("hypervolume", "spread"):
            raise ValueError(
                f"`selection` must be 'hypervolume' or 'spread', but got {self.selection!r}"
            )
        if isinstance(self.regressor, str) and self.regressor not in ("ridge", "gbr", "mlp"):
            raise ValueError(
                "`regressor` must be 'ridge', 'gbr', 'mlp' or a factory, but got "
                f"{self.regressor!r}"
            )


@dataclass
class PredictorSearchResult:
    """What :func:`~symtune.search.samplers.predictor_guided_search` evaluated, round by round.

    Attributes:
        assignments: every subnet evaluated for real, in order.
        values: their objective values.
        rounds: the round of each evaluation (``0``: the initial random sample).
    """

    assignments: list[Assignment] = field(default_factory=list)
    values: list[tuple[float, ...]] = field(default_factory=list)
    rounds: list[int] = field(default_factory=list)


def make_regressor(kind: str | Callable[[], Any], seed: int = 0) -> Any:
    """A fresh scikit-learn regressor: ``"ridge"``, ``"gbr"``, ``"mlp"`` or ``kind()``."""
    if callable(kind):
        return kind()
    if kind == "ridge":
        from sklearn.linear_model import RidgeCV

        return RidgeCV(alphas=np.logspace(-3, 2, 12))
    if kind == "gbr":
        from sklearn.ensemble import GradientBoostingRegressor

        return GradientBoostingRegressor(
            n_estimators=150, max_depth=3, learning_rate=0.05, subsample=0.8, random_state=seed
        )
    if kind == "mlp":
        from sklearn.neural_network import MLPRegressor
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        return make_pipeline(
            StandardScaler(),
            MLPRegressor(hidden_layer_sizes=(64, 64), alpha=1e-3, max_iter=2000, random_state=seed),
        )
    raise ValueError(f"`regressor` must be 'ridge', 'gbr', 'mlp' or a factory, but got {kind!r}")
