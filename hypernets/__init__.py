"""Hypernetworks that make candidates cheap to evaluate: two families, one subpackage each.

``symtune.hypernets.stn``: self-tuning networks (STN, MacKay et al. 2019) tune regularisation
hyperparameters online inside one training run, with magnitude-invariant parametrisations
(MIP, Ortiz et al. 2023) keeping the hypernetwork stable: mark a value ``selftuned(...)`` in a
space, build the container with :meth:`HyperParameters.from_config`, and train with
:func:`train_stn`.

``symtune.hypernets.supernet``: weight-sharing supernetworks. One builder makes a stand-alone
network from a concrete config and, through :meth:`Supernet.from_space`, the supernet of a
whole architecture space; train it once with :func:`train_supernet` (the sandwich rule), score
subnets with inherited weights (:func:`score_many`, batch norm recalibrated per subnet), export
them, measure their costs, check the ranking against stand-alone training
(:func:`ranking_check`), then search them with any sampler: predictor-guided search lives in
``symtune.search.samplers`` (``PredictorSampler``).

This module re-exports both subpackages' public names. Old names that moved still work for one
release, each use with a ``DeprecationWarning`` naming the new place: predictor-guided search
(``symtune.hypernets.PredictorSampler`` and its companions, now in
``symtune.search.samplers``; ``non_dominated_ranks``, now in ``symtune.search``), the
digits model and data (``DigitsCNN``, ``DigitsData``, ``build_digits_cnn``,
``digits_cnn_space``, ``load_digits_data``, now in ``symtune.studies.digits``), and ``Choice``
(now :class:`ElasticChoice`, so that it no longer shares a name with ``symtune.spaces.Choice``).
"""

from __future__ import annotations

import importlib as _importlib
import sys as _sys
import warnings as _warnings
from typing import Any as _Any

from symtune.hypernets.stn import (
    AUGMENTATIONS,
    HyperBatch,
    HyperparameterError,
    HyperparameterNaNError,
    HyperParameters,
    HyperSpec,
    StnAugment,
    StnConv2d,
    StnDropout,
    StnGaussianNoise,
    StnLinear,
    StnMLP,
    StnOptions,
    StnResult,
    StnWeightDecay,
    collect_selftuned,
    evaluate_stn,
    train_stn,
)
from symtune.hypernets.supernet import (
    GPT,
    Elastic,
    ElasticBatchNorm1d,
    ElasticBatchNorm2d,
    ElasticChoice,
    ElasticConv2d,
    ElasticEmbedding,
    ElasticLayerNorm,
    ElasticLinear,
    ElasticLoRALinear,
    ElasticMLP,
    ElasticSelfAttention,
    ElasticSequential,
    LoRALinear,
    MixedOp,
    RankingConfig,
    RankingData,
    RankingResult,
    ScoringData,
    SelfAttention,
    StandaloneConfig,
    StandaloneRun,
    SubnetScore,
    Supernet,
    SupernetHistory,
    SupernetTrainConfig,
    build_gpt,
    count_flops,
    count_params,
    export_module,
    fit_standalone,
    gpt_space,
    kendall_tau,
    latency_samples,
    measure_latency,
    ranking_check,
    recalibrate_bn,
    score_many,
    train_standalone,
    train_supernet,
)

__all__ = [
    "AUGMENTATIONS",
    "GPT",
    "Elastic",
    "ElasticBatchNorm1d",
    "ElasticBatchNorm2d",
    "ElasticChoice",
    "ElasticConv2d",
    "ElasticEmbedding",
    "ElasticLayerNorm",
    "ElasticLinear",
    "ElasticLoRALinear",
    "ElasticMLP",
    "ElasticSelfAttention",
    "ElasticSequential",
    "HyperBatch",
    "HyperParameters",
    "HyperSpec",
    "HyperparameterError",
    "HyperparameterNaNError",
    "LoRALinear",
    "MixedOp",
    "RankingConfig",
    "RankingData",
    "RankingResult",
    "ScoringData",
    "SelfAttention",
    "StandaloneConfig",
    "StandaloneRun",
    "StnAugment",
    "StnConv2d",
    "StnDropout",
    "StnGaussianNoise",
    "StnLinear",
    "StnMLP",
    "StnOptions",
    "StnResult",
    "StnWeightDecay",
    "SubnetScore",
    "Supernet",
    "SupernetHistory",
    "SupernetTrainConfig",
    "build_gpt",
    "collect_selftuned",
    "count_flops",
    "count_params",
    "evaluate_stn",
    "export_module",
    "fit_standalone",
    "gpt_space",
    "kendall_tau",
    "latency_samples",
    "measure_latency",
    "ranking_check",
    "recalibrate_bn",
    "score_many",
    "train_standalone",
    "train_stn",
    "train_supernet",
]

# Moved out of hypernets (issue 10): old name -> (new module, name there). Deprecated for one
# release. The lookup is dynamic and happens only when a deprecated name is used, so hypernets
# itself never imports search or studies.
_MOVED = {
    "PredictorSampler": ("symtune.search.samplers", "PredictorSampler"),
    "PredictorSearchConfig": ("symtune.search.samplers", "PredictorSearchConfig"),
    "PredictorSearchResult": ("symtune.search.samplers", "PredictorSearchResult"),
    "enqueue_predicted_front": ("symtune.search.samplers", "enqueue_predicted_front"),
    "make_regressor": ("symtune.search.samplers", "make_regressor"),
    "predictor_guided_search": ("symtune.search.samplers", "predictor_guided_search"),
    "propose_candidates": ("symtune.search.samplers", "propose_candidates"),
    "non_dominated_ranks": ("symtune.search", "non_dominated_ranks"),
    "DigitsCNN": ("symtune.studies.digits", "DigitsCNN"),
    "DigitsData": ("symtune.studies.digits", "DigitsData"),
    "build_digits_cnn": ("symtune.studies.digits", "build_digits_cnn"),
    "digits_cnn_space": ("symtune.studies.digits", "digits_cnn_space"),
    "load_digits_data": ("symtune.studies.digits", "load_digits_data"),
    "Choice": ("symtune.hypernets", "ElasticChoice"),
}


def _probed_by_import_machinery() -> bool:
    """Whether ``__getattr__`` was called by importlib's ``_handle_fromlist``.

    ``from symtune.hypernets import X`` asks for ``X`` twice: importlib first probes it with
    ``hasattr`` (to decide whether ``X`` is a submodule to import), then the statement itself
    reads it. Only the statement's read warns, so one import statement warns once.
    """
    try:
        caller = _sys._getframe(2).f_code
    except ValueError:  # called with no Python frame above (from C)
        return False
    return caller.co_name == "_handle_fromlist" and "importlib" in caller.co_filename


def __getattr__(name: str) -> _Any:
    """The deprecated names: each use warns and returns the object from its new place."""
    if name not in _MOVED:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, new_name = _MOVED[name]
    if not _probed_by_import_machinery():
        verb = "was renamed" if module == __name__ else "moved"
        _warnings.warn(
            f"symtune.hypernets.{name} {verb} to {module}.{new_name}; import it from there "
            "(the old name goes in the next release)",
            DeprecationWarning,
            stacklevel=2,
        )
    return getattr(_importlib.import_module(module), new_name)


def __dir__() -> list[str]:
    """The public names and the two subpackages (not the deprecated names, not helpers)."""
    return sorted({*__all__, "stn", "supernet"})
