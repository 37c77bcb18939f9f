"""Hypernetworks that make candidates cheap to evaluate.

Self-tuning networks (STN, MacKay et al. 2019) tune regularisation hyperparameters online inside
one training run, with magnitude-invariant parametrisations (MIP, Ortiz et al. 2023) keeping the
hypernetwork stable: mark a value ``selftuned(...)`` in a space, build the container with
:meth:`HyperParameters.from_config`, and train with :func:`train_stn`.
"""

from symtune.hypernets._hyperparams import HyperBatch, HyperParameters, collect_selftuned
from symtune.hypernets._stn_errors import HyperparameterError, HyperparameterNaNError
from symtune.hypernets._stn_layers import StnConv2d, StnLinear
from symtune.hypernets._stn_models import StnMLP
from symtune.hypernets._stn_regularizers import (
    AUGMENTATIONS,
    HyperSpec,
    StnAugment,
    StnDropout,
    StnGaussianNoise,
    StnWeightDecay,
)
from symtune.hypernets._stn_train import StnOptions, StnResult, evaluate_stn, train_stn

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
