"""``digits_supernet`` searched by the predictor instead of NSGA-II (DyNAS-T style).

The same supernet, space, objectives and Ray workers as ``symtune.studies.digits_supernet``;
the sampler is :func:`symtune.studies.digits_supernet.predictor_sampler`: after 20 random
subnets, each round fits a gradient-boosting regressor of validation error on the scored
subnets, searches its predicted error-vs-FLOPs front with an inner NSGA-II, and sends the 10
best-spread members of that front to the workers to be scored for real. Trials carry the user
attribute ``predictor_round``. On this space it reaches the front in a fraction of NSGA-II's
evaluations (``benchmarks/supernet.py``).
"""

from __future__ import annotations

import dataclasses

from symtune.studies.digits_supernet import STUDY as _NSGA2_STUDY
from symtune.studies.digits_supernet import predictor_sampler

STUDY = dataclasses.replace(
    _NSGA2_STUDY,
    name="digits_supernet_predictor",
    sampler=predictor_sampler,
    n_trials=150,
    description="digits_supernet (13,824 CNN subnets, error vs FLOPs) searched by a GBR "
    "predictor with rounds of 10 subnets instead of NSGA-II",
)
