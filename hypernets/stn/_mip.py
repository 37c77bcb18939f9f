"""Hypernetwork input encodings: magnitude-invariant (MIP) or raw.

Ortiz et al. (2023), "Magnitude-invariant parametrizations improve hypernetwork learning":
a hypernetwork's output tends to scale with the magnitude of its input, so a hyperparameter
near zero yields a near-zero correction and slow, unstable learning. MIP encodes every input
with a constant norm. For a float hyperparameter normalised to ``x`` in [0, 1] the encoding is
``(cos(pi x / 2), sin(pi x / 2))``: a point on the unit quarter circle. For a categorical
hyperparameter with choice weights ``p`` (a probability vector, a relaxed sample or a one-hot)
it is ``sqrt(p)``, whose Euclidean norm is 1 for every ``p`` (with two choices this is the same
quarter circle). The raw encoding (``mip=False``) feeds ``x`` and ``p`` as they are.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import Tensor


def float_width(mip: bool) -> int:
    """Number of encoding columns one float hyperparameter takes."""
    return 2 if mip else 1


def encode_unit(x01: Tensor, mip: bool) -> Tensor:
    """Encode values in [0, 1] of shape ``[B]`` as ``[B, 2]`` (MIP) or ``[B, 1]`` (raw)."""
    import torch

    if not mip:
        return x01.unsqueeze(-1)
    angle = x01 * (math.pi / 2)
    return torch.stack([torch.cos(angle), torch.sin(angle)], dim=-1)


def encode_choice(weights: Tensor, mip: bool) -> Tensor:
    """Encode choice weights ``[B, K]`` as ``sqrt(weights)`` (MIP, unit norm) or as they are."""
    if not mip:
        return weights
    # clamp: the derivative of sqrt at 0 is infinite, and a relaxed sample can underflow to 0.
    return weights.clamp_min(1e-12).sqrt()
