"""ZDT1: the classic two-objective test problem (Zitzler, Deb and Thiele, 2000), in seconds.

Ten variables in [0, 1]; both objectives are minimised. The true Pareto front is
``f2 = 1 - sqrt(f1)`` (all variables but the first at 0), so how close a sampler gets is easy to
judge: the hypervolume of the true front with reference point (1.1, 10) is
``1.1 * 10 - 1/3 = 10.667`` (:func:`true_hypervolume`; the usual (1.1, 1.1) only counts
points that have nearly converged, so early fronts score 0 there).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from symtune.search import StudySpec
from symtune.spaces import Space, floatv

N_VARIABLES = 10


def zdt1(x: Sequence[float]) -> tuple[float, float]:
    """The two ZDT1 objectives of a point ``x`` in [0, 1]^n."""
    f1 = x[0]
    g = 1.0 + 9.0 * sum(x[1:]) / (len(x) - 1)
    return f1, g * (1.0 - math.sqrt(f1 / g))


def objective(config: dict[str, Any], trial: Any) -> tuple[float, float]:
    """Evaluate ZDT1 at the config's point."""
    return zdt1(config["x"])


def true_hypervolume(reference: tuple[float, float] = (1.1, 10.0)) -> float:
    """The hypervolume of the true front ``f2 = 1 - sqrt(f1)``, f1 in [0, 1], by integration."""
    r1, r2 = reference
    # The box [0, r1] x [0, r2] minus what lies under the curve (the integral of 1 - sqrt(f1)
    # over [0, 1] is 1/3); for f1 in [1, r1] the point (1, 0) dominates the whole strip.
    return r1 * r2 - 1.0 / 3.0


SPACE = Space({"x": [floatv(0.0, 1.0) for _ in range(N_VARIABLES)]})

STUDY = StudySpec(
    name="zdt",
    space=SPACE,
    objective=objective,
    directions=("minimize", "minimize"),
    metric_names=("f1", "f2"),
    description="ZDT1, 10 variables, two objectives: a sampler sanity check in seconds",
    n_trials=300,
    workers=2,
    reference_point=(1.1, 10.0),
)
