"""Self-tuning networks (STN, MacKay et al. 2019) with magnitude-invariant parametrisations.

What lives here: the container of self-tuned hyperparameters that layers read
(:class:`HyperParameters`, built from a config's ``selftuned(...)`` values), the MIP input
encodings (Ortiz et al. 2023), the STN layers (:class:`StnLinear`, :class:`StnConv2d`), the
regularisers whose strength is a live hyperparameter (dropout, noise, augmentation, weight
decay), a ready-made :class:`StnMLP`, the training loop that alternates weight steps and
hyperparameter steps (:func:`train_stn`, whose :class:`StnResult` holds the recorded schedule),
and the STN errors. ``symtune.hypernets`` re-exports every name here.
"""

from __future__ import annotations

from symtune.hypernets.stn._errors import HyperparameterError, HyperparameterNaNError
from symtune.hypernets.stn._hyperparams import HyperBatch, HyperParameters, collect_selftuned
from symtune.hypernets.stn._layers import StnConv2d, StnLinear
from symtune.hypernets.stn._models import StnMLP
from symtune.hypernets.stn._regularizers import (
    AUGMENTATIONS,
    HyperSpec,
    StnAugment,
    StnDropout,
    StnGaussianNoise,
    StnWeightDecay,
)
from symtune.hypernets.stn._train import StnOptions, StnResult, evaluate_stn, train_stn

__all__ = [
    "AUGMENTATIONS",
    "HyperBatch",
    "HyperParameters",
    "HyperSpec",
    "HyperparameterError",
    "HyperparameterNaNError",
    "StnAugment",
    "StnConv2d",
    "StnDropout",
    "StnGaussianNoise",
    "StnLinear",
    "StnMLP",
    "StnOptions",
    "StnResult",
    "StnWeightDecay",
    "collect_selftuned",
    "evaluate_stn",
    "train_stn",
]
