"""The digits MLP: a self-tuning MLP on 64-pixel vectors, as the ``digits_mlp`` study trains it."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from symtune.hypernets import HyperParameters, StnMLP

__all__ = ["build_digits_mlp", "mlp_params"]

N_PIXELS = 64
N_CLASSES = 10


def build_digits_mlp(config: Mapping[str, Any], hparams: HyperParameters) -> StnMLP:
    """The study's ``StnMLP`` for a materialised config: hidden widths ``config["hidden"]``,
    ``config["activation"]``, and the hidden dropout and input noise of ``config["dropout"]``
    and ``config["noise"]`` (self-tuned values that ``hparams`` holds, or constants)."""
    from symtune.hypernets import StnMLP

    return StnMLP(
        N_PIXELS,
        config["hidden"],
        N_CLASSES,
        hparams,
        hidden_dropout=config["dropout"],
        input_noise=config["noise"],
        activation=config["activation"],
    )


def mlp_params(hidden: list[int], n_in: int = N_PIXELS, n_out: int = N_CLASSES) -> int:
    """Weights and biases of the deployed MLP (the STN's hypernetwork is not deployed)."""
    sizes = [n_in, *hidden, n_out]
    return sum(a * b + b for a, b in itertools.pairwise(sizes))
