"""scikit-learn's bundled 8x8 digits as torch tensors, split reproducibly (no download)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Split:
    """Standardised features and labels for train / validation / test."""

    x_train: Any
    y_train: Any
    x_val: Any
    y_val: Any
    x_test: Any
    y_test: Any

    def to(self, device: Any) -> Split:
        """The same split on ``device``."""
        return Split(*(t.to(device) for t in vars(self).values()))


@functools.lru_cache(maxsize=8)
def digits_split(*, seed: int = 0, val_fraction: float = 0.2, test_fraction: float = 0.2) -> Split:
    """Digits (1,797 images, 10 classes) as 64-vectors, split into train / validation / test.

    Features are standardised with the training split's statistics. Cached per process: a
    worker running many trials loads and splits the data once (treat the tensors as read-only).
    Images for CNNs (``N x 1 x 8 x 8``, a stratified train / validation split) come from
    ``symtune.hypernets.load_digits_data``.
    """
    import torch
    from sklearn.datasets import load_digits

    data = load_digits()
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(data.target))
    n_test = int(len(order) * test_fraction)
    n_val = int(len(order) * val_fraction)
    test, val, train = order[:n_test], order[n_test : n_test + n_val], order[n_test + n_val :]
    x = data.data.astype(np.float32)
    mean, std = x[train].mean(axis=0), x[train].std(axis=0) + 1e-6
    x = (x - mean) / std
    y = data.target.astype(np.int64)
    parts = [(torch.from_numpy(x[i]), torch.from_numpy(y[i])) for i in (train, val, test)]
    return Split(*(t for pair in parts for t in pair))
