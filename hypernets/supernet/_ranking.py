"""Ranking quality: does the supernet rank subnets the way stand-alone training would?

Weight sharing is only useful if subnets that score well with inherited weights would also do
well when trained on their own. :func:`ranking_check` trains a sample of subnets from scratch
(:func:`fit_standalone`: a fixed budget, or to convergence with ``StandaloneConfig(patience=
...)``: until the validation loss is flat) and reports Kendall's tau (``scipy.stats.kendalltau``,
tau-b) between their supernet scores and their stand-alone scores, beside two honest
baselines: the tau that ranking the same subnets by parameter count, and by FLOPs, would get
(bigger predicted better). A supernet earns its cost only where its tau beats theirs.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
from torch import nn

from symtune.hypernets._progress import TaskBar
from symtune.hypernets._torch import as_pair, check_pair, check_precision, resolve_device, seeded
from symtune.hypernets.supernet._score import ScoringData, SubnetScore
from symtune.hypernets.supernet._standalone import StandaloneConfig, fit_standalone
from symtune.hypernets.supernet._standalone import (  # importable from here as before
    train_standalone as train_standalone,
)

if TYPE_CHECKING:
    from symtune.hypernets.supernet._supernet import Supernet

__all__ = [
    "RankingConfig",
    "RankingData",
    "RankingResult",
    "kendall_tau",
    "ranking_check",
]

Metric = Literal["error", "loss"]


@dataclass(frozen=True)
class RankingResult:
    """Kendall's tau between supernet scores and stand-alone scores of the same subnets, with
    the taus of the parameter-count and FLOPs baselines against the same stand-alone scores.

    All three taus read the same way, higher = better ranking (1: the predictor orders the
    subnets exactly as stand-alone training does). The supernet's predictor is its score (a
    lower supernet error predicts a lower stand-alone error); a size baseline predicts that a
    bigger subnet does better, so its tau is that of ``-params`` (``-flops``) against the
    stand-alone scores: ``tau_params == 1`` when the stand-alone error falls exactly as the
    parameter count grows.

    Attributes:
        tau: Kendall's tau-b in [-1, 1] of the supernet scores (1: identical rankings).
        p_value: the two-sided p-value of ``tau`` under independence.
        metric: the score compared, ``"error"`` or ``"loss"`` (validation).
        supernet_scores: one score per subnet, with inherited weights.
        standalone_scores: one score per subnet, trained from scratch.
        assignments: the subnets.
        tau_params: the tau of ranking by parameter count (more predicted better); ``nan``
            when not computed or when every subnet has the same count.
        tau_flops: the same for FLOPs of one forward pass.
        params: the parameter count of each subnet (empty when not computed).
        flops: the FLOPs of each subnet (empty when not computed).
        standalone_epochs: the epochs each subnet's stand-alone training ran, the mean over
            its seeds (empty when not known).
        converged: per subnet, whether stand-alone training converged (the validation loss
            flat, :class:`StandaloneConfig` ``patience``) in every seed: ``True``; ``False``
            when a seed hit the epoch cap first; ``None`` when not judged (a fixed budget).
            Empty when not known.
        standalone_patience: the patience convergence was judged with (epochs of a flat
            validation loss), ``None`` for a fixed budget or when not known.
    """

    tau: float
    p_value: float
    metric: str
    supernet_scores: tuple[float, ...]
    standalone_scores: tuple[float, ...]
    assignments: tuple[dict[str, Any], ...] = ()
    tau_params: float = math.nan
    tau_flops: float = math.nan
    params: tuple[int, ...] = ()
    flops: tuple[int, ...] = ()
    standalone_epochs: tuple[float, ...] = ()
    converged: tuple[bool | None, ...] = ()
    standalone_patience: int | None = None

    @classmethod
    def from_scores(
        cls,
        supernet_scores: Sequence[float],
        standalone_scores: Sequence[float],
        *,
        params: Sequence[int] = (),
        flops: Sequence[int] = (),
        metric: str = "error",
        assignments: Sequence[Mapping[str, Any]] = (),
        standalone_epochs: Sequence[float] = (),
        converged: Sequence[bool | None] = (),
        standalone_patience: int | None = None,
    ) -> RankingResult:
        """The result for given scores (lower = better, as errors and losses are): the
        supernet's tau, and the baselines' taus from ``params`` and ``flops`` (one per subnet;
        empty: ``nan``). ``standalone_epochs`` and ``converged`` (one per subnet, or empty)
        and ``standalone_patience`` describe the stand-alone reference (see the attributes)."""
        ours = tuple(float(v) for v in supernet_scores)
        theirs = tuple(float(v) for v in standalone_scores)
        tau, p_value = kendall_tau(ours, theirs)
        per_subnet = {"params": params, "flops": flops, "standalone_epochs": standalone_epochs,
                      "converged": converged}  # fmt: skip
        for name, values in per_subnet.items():
            if len(values) and len(values) != len(theirs):
                raise ValueError(
                    f"`{name}` must hold one value per subnet, but got {len(values)} values for "
                    f"{len(theirs)} subnets (RankingResult.from_scores)"
                )
        baselines = {
            name: kendall_tau([-float(n) for n in sizes], theirs)[0] if len(sizes) else math.nan
            for name, sizes in (("params", params), ("flops", flops))
        }
        return cls(
            tau, p_value, metric, ours, theirs, tuple(dict(a) for a in assignments),
            tau_params=baselines["params"], tau_flops=baselines["flops"],
            params=tuple(int(n) for n in params), flops=tuple(int(n) for n in flops),
            standalone_epochs=tuple(float(e) for e in standalone_epochs),
            converged=tuple(None if c is None else bool(c) for c in converged),
            standalone_patience=standalone_patience,
        )  # fmt: skip

    @property
    def best_baseline_tau(self) -> float:
        """The higher of ``tau_params`` and ``tau_flops`` (``nan`` if neither is known)."""
        known = [t for t in (self.tau_params, self.tau_flops) if not math.isnan(t)]
        return max(known) if known else math.nan

    @property
    def converged_count(self) -> int | None:
        """How many subnets' stand-alone training converged in every seed (``None`` when
        convergence was not judged)."""
        if not any(c is not None for c in self.converged):
            return None
        return sum(c is True for c in self.converged)

    def summary(self) -> str:
        """One line with all three taus, e.g. ``Kendall's tau of validation error over 30
        subnets (higher = better): supernet 0.79 (p = 1.4e-09), parameters 0.39, FLOPs 0.28``,
        and the stand-alone reference where known: ``; stand-alone converged 30/30
        (validation loss flat for 5 epochs), median 23 epochs`` (or ``; stand-alone 6 epochs
        (a fixed budget)``)."""
        line = (
            f"Kendall's tau of validation {self.metric} over {len(self.standalone_scores)} "
            f"subnets (higher = better): supernet {self.tau:.2f} (p = {self.p_value:.2g}), "
            f"parameters {self.tau_params:.2f}, FLOPs {self.tau_flops:.2f}"
        )
        median = statistics.median(self.standalone_epochs) if self.standalone_epochs else None
        epochs = "" if median is None else f", median {median:g} epochs"
        count = self.converged_count
        if count is not None:
            patience = self.standalone_patience
            flat = "" if patience is None else f" for {patience} epochs"
            return (
                f"{line}; stand-alone converged {count}/{len(self.converged)} (validation loss "
                f"flat{flat}){epochs}"
            )
        if median is not None:
            return f"{line}; stand-alone {median:g} epochs (a fixed budget)"
        return line

    def __str__(self) -> str:
        return self.summary()

    @property
    def pairs(self) -> list[tuple[float, float]]:
        """``(supernet score, stand-alone score)`` per subnet."""
        return list(zip(self.supernet_scores, self.standalone_scores, strict=True))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field."""
        return {
            "tau": self.tau,
            "p_value": self.p_value,
            "metric": self.metric,
            "supernet_scores": list(self.supernet_scores),
            "standalone_scores": list(self.standalone_scores),
            "assignments": [dict(a) for a in self.assignments],
            "tau_params": self.tau_params,
            "tau_flops": self.tau_flops,
            "params": list(self.params),
            "flops": list(self.flops),
            "standalone_epochs": list(self.standalone_epochs),
            "converged": list(self.converged),
            "standalone_patience": self.standalone_patience,
        }


def kendall_tau(a: Sequence[float], b: Sequence[float]) -> tuple[float, float]:
    """Kendall's tau-b and its p-value between two equally long score lists.

    Ties are handled by tau-b. When either list is constant, tau is undefined: this returns
    ``(nan, nan)``.
    """
    from scipy.stats import kendalltau

    if len(a) != len(b):
        raise ValueError(
            f"both score lists must have the same length, but got {len(a)} and {len(b)}"
        )
    if len(a) < 2:
        raise ValueError(f"Kendall's tau needs at least 2 pairs, but got {len(a)}")
    if len(set(a)) < 2 or len(set(b)) < 2:
        return math.nan, math.nan
    result = kendalltau(np.asarray(a, dtype=float), np.asarray(b, dtype=float))
    return float(result.statistic), float(result.pvalue)


def _fresh_model(supernet: Supernet, assignment: Mapping[str, Any]) -> nn.Module:
    if supernet.space is not None:
        return supernet.build_standalone(assignment)
    model = supernet.export(assignment)
    for module in model.modules():
        reset = getattr(module, "reset_parameters", None)
        if callable(reset):
            reset()
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.reset_running_stats()
    return model


@dataclass
class RankingData:
    """The data of a ranking check.

    Attributes:
        scoring: recalibration and validation batches for the supernet scores.
        train: ``(x, y)`` training tensors for stand-alone training.
        val: ``(x, y)`` validation tensors for stand-alone scores.
    """

    scoring: ScoringData
    train: tuple[torch.Tensor, torch.Tensor]
    val: tuple[torch.Tensor, torch.Tensor]

    def __post_init__(self) -> None:
        if not isinstance(self.scoring, ScoringData):
            raise TypeError(
                f"scoring must be a ScoringData, but got {type(self.scoring).__name__} "
                "(RankingData)"
            )
        for name, least in (("train", 2), ("val", 1)):
            value = getattr(self, name)
            if as_pair(value) is None:
                raise TypeError(
                    f"{name} must be a pair of tensors (x, y), but got "
                    f"{type(value).__name__} (RankingData)"
                )
            check_pair(value, name, "RankingData", least=least)


@dataclass
class RankingConfig:
    """Options of :func:`ranking_check`.

    Attributes:
        standalone: stand-alone training options (:class:`StandaloneConfig`); run ``i`` of a
            subnet (``i < standalone.seeds``) builds and trains its network with torch's
            generator seeded by ``i``, inside a fork of it: the caller's random state is the
            same after the check as before. ``StandaloneConfig(epochs=cap, patience=p)``
            trains each run to convergence (validation loss flat for ``p`` epochs), the
            honest reference; the result then reports how many converged and their epochs.
        metric: ``"error"`` (validation error) or ``"loss"`` (validation cross-entropy).
        progress: show a rich progress bar over the stand-alone runs.
    """

    standalone: StandaloneConfig = field(default_factory=StandaloneConfig)
    metric: Metric = "error"
    progress: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.standalone, StandaloneConfig):
            raise TypeError(
                "standalone must be a StandaloneConfig, but got "
                f"{type(self.standalone).__name__} (RankingConfig)"
            )
        if self.metric not in ("error", "loss"):
            raise ValueError(f"`metric` must be 'error' or 'loss', but got {self.metric!r}")


_LEGACY = ("scoring", "train", "val", "metric", "progress")


def _check_types(data: Any, config: Any) -> None:
    """``data`` a RankingData and ``config`` a RankingConfig (or the old StandaloneConfig)."""
    if data is not None and not isinstance(data, RankingData):
        hint = " (data and config swapped?)" if isinstance(data, RankingConfig) else ""
        raise TypeError(
            f"data must be a RankingData, but got {type(data).__name__}{hint} (ranking_check)"
        )
    if config is not None and not isinstance(config, (RankingConfig, StandaloneConfig)):
        hint = " (data and config swapped?)" if isinstance(config, RankingData) else ""
        raise TypeError(
            f"config must be a RankingConfig, but got {type(config).__name__}{hint} (ranking_check)"
        )


def _legacy_form(
    data: RankingData | None, config: RankingConfig | StandaloneConfig | None, legacy: dict
) -> tuple[RankingData, RankingConfig]:
    """The data and config of a call in the old keyword form (deprecated), or of the new one."""
    unknown = sorted(set(legacy) - set(_LEGACY))
    if unknown:
        raise TypeError(f"ranking_check() got unexpected keyword arguments {unknown}")
    _check_types(data, config)
    if legacy and (data is not None or isinstance(config, RankingConfig)):
        given = "data=RankingData(...)" if data is not None else "config=RankingConfig(...)"
        raise TypeError(
            f"ranking_check() got {given} and the old keywords {sorted(legacy)}: the forms "
            "conflict; put scoring/train/val in RankingData and metric/progress in "
            "RankingConfig (ranking_check)"
        )
    if not legacy and not isinstance(config, StandaloneConfig):
        if data is None:
            raise TypeError("ranking_check() needs `data` (a RankingData)")
        return data, config or RankingConfig()
    warnings.warn(
        "ranking_check(scoring=..., train=..., val=..., config=StandaloneConfig(...), "
        "metric=..., progress=...) is deprecated; pass data=RankingData(scoring, train, val) "
        "and config=RankingConfig(standalone=..., metric=..., progress=...) (the old form goes "
        "in the next release)",
        DeprecationWarning,
        stacklevel=3,
    )
    if data is None:
        missing = [k for k in ("scoring", "train", "val") if k not in legacy]
        if missing:
            raise TypeError(f"ranking_check() is missing the keyword arguments {missing}")
        data = RankingData(legacy["scoring"], legacy["train"], legacy["val"])
    if isinstance(config, RankingConfig):
        base = config
    else:
        base = RankingConfig(standalone=config or StandaloneConfig())
    options = {k: legacy[k] for k in ("metric", "progress") if k in legacy}
    return data, dataclasses.replace(base, **options)


def ranking_check(
    supernet: Supernet,
    assignments: Sequence[Mapping[str, Any]],
    data: RankingData | None = None,
    config: RankingConfig | None = None,
    *,
    supernet_scores: Sequence[SubnetScore] | None = None,
    on_subnet: Callable[[int, float, float], None] | None = None,
    **legacy: Any,
) -> RankingResult:
    """Train each subnet stand-alone and compare rankings with the supernet's (Kendall's tau),
    and with the parameter-count and FLOPs baselines' (see :class:`RankingResult`).

    Stand-alone networks come from the builder (``supernet.build_standalone``) when the
    supernet was made from a space, else from :meth:`Supernet.export` re-initialised.

    Args:
        supernet: the trained supernet.
        assignments: the subnets to check (sample them across the space; 30 or more).
        data: the scoring, training and validation data (:class:`RankingData`).
        config: the options (:class:`RankingConfig`).
        supernet_scores: already computed supernet scores of ``assignments`` (else scored).
        on_subnet: called as ``on_subnet(i, supernet score, stand-alone score)``.

    The old keyword form (``scoring=``, ``train=``, ``val=``, ``config=StandaloneConfig(...)``,
    ``metric=``, ``progress=``) still works for one release, with a ``DeprecationWarning``;
    old keywords together with ``data=RankingData(...)`` or ``config=RankingConfig(...)`` are
    a ``TypeError`` (the forms conflict).

    Raises:
        TypeError: ``data`` or ``config`` of the wrong type, or the two forms mixed.
        ValueError: fewer than 2 assignments, ``supernet_scores`` of another length, or a
            device that is not available; all checked before any subnet is scored.
    """
    data, options = _legacy_form(data, config, legacy)
    device = resolve_device(options.standalone.device, where="ranking_check")
    check_precision(options.standalone.precision, device, where="ranking_check")
    todo = [dict(a) for a in assignments]
    scores = list(supernet_scores) if supernet_scores is not None else None
    if scores is not None and len(scores) != len(todo):
        raise ValueError(
            "`supernet_scores` must hold one score per assignment, but got "
            f"{len(scores)} scores for {len(todo)} assignments"
        )
    if len(todo) < 2:
        raise ValueError(
            f"Kendall's tau needs at least 2 assignments, but got {len(todo)} (ranking_check)"
        )
    if scores is None:
        scores = supernet.score_many(todo, data.scoring)
    params, flops = _sizes(supernet, todo)
    ours = [getattr(s, options.metric) for s in scores]
    theirs: list[float] = []
    epochs: list[float] = []
    converged: list[bool | None] = []
    bar = TaskBar(options.progress, len(todo), "training subnets stand-alone")
    try:
        for i, assignment in enumerate(todo):
            score, ran, done = _standalone_score(supernet, assignment, data, options)
            theirs.append(score)
            epochs.append(ran)
            converged.append(done)
            if on_subnet is not None:
                on_subnet(i, ours[i], theirs[-1])
            bar.advance()
    finally:
        bar.close()
    return RankingResult.from_scores(
        ours, theirs, params=params, flops=flops, metric=options.metric, assignments=todo,
        standalone_epochs=epochs, converged=converged,
        standalone_patience=options.standalone.patience,
    )  # fmt: skip


def _sizes(supernet: Supernet, todo: list[dict[str, Any]]) -> tuple[list[int], list[int]]:
    """Parameters and FLOPs of each subnet, the baselines' predictors. Exporting a subnet builds
    modules, which draws from torch's generator: a fork of it, so the caller's is untouched."""
    with seeded(0, supernet.device):
        return [supernet.subnet_params(a) for a in todo], [supernet.subnet_flops(a) for a in todo]


def _standalone_score(
    supernet: Supernet, assignment: Mapping[str, Any], data: RankingData, options: RankingConfig
) -> tuple[float, float, bool | None]:
    """One subnet's stand-alone reference over ``options.standalone.seeds`` runs: the mean
    score, the mean epochs run, and whether every run converged (``None``: not judged)."""
    config = options.standalone
    runs = []
    for seed in range(config.seeds):
        with seeded(seed, resolve_device(config.device)):
            model = _fresh_model(supernet, assignment)
            runs.append(fit_standalone(model, data.train, data.val, config, seed=seed))
    scores = [run.error if options.metric == "error" else run.loss for run in runs]
    converged = None if config.patience is None else all(run.converged for run in runs)
    return float(np.mean(scores)), float(np.mean([run.epochs for run in runs])), converged
