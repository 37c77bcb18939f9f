"""scikit-learn's bundled 8x8 digits as torch tensors, split reproducibly (no download).

One loader, :func:`load_digits_data`, with the split policies the digits studies and
benchmarks use: a stratified train / validation split of images for the CNNs (the default), a
shuffled train / validation / test split of standardised 64-vectors for the MLP study, and a
small train / validation split by counts with the rest as test for ``benchmarks/stn.py``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch

__all__ = ["DIGITS_INPUT_SHAPE", "DigitsData", "load_digits_data"]

DIGITS_INPUT_SHAPE = (1, 8, 8)
"""The shape of one digits image without the batch dimension (``layout="image"``)."""

Split = Literal["stratified", "permutation", "randperm"]


@dataclass
class DigitsData:
    """Digits as tensors: inputs (``(N, 1, 8, 8)`` images or ``(N, 64)`` vectors) and int64
    labels, for training, validation and (when the split has one) test; ``x_test`` and
    ``y_test`` are empty without a test part."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor = field(default_factory=lambda: torch.zeros(0))
    y_test: torch.Tensor = field(default_factory=lambda: torch.zeros(0, dtype=torch.int64))

    def to(self, device: Any) -> DigitsData:
        """The same split on ``device``."""
        return DigitsData(*(t.to(device) for t in vars(self).values()))


@functools.cache
def _raw() -> tuple[np.ndarray, np.ndarray]:
    """The 1,797 images as ``(N, 64)`` float64 pixel values in 0..16, and their labels (loaded
    once per process: a worker running many trials reads the data once)."""
    from sklearn.datasets import load_digits

    data = load_digits()
    return data.data, data.target


def _fraction(name: str, value: float, *, zero_ok: bool) -> None:
    ok = (0.0 <= value < 1.0) if zero_ok else (0.0 < value < 1.0)
    if not ok:
        rule = f"0 {'<=' if zero_ok else '<'} {name} < 1"
        raise ValueError(f"`{rule}` must hold, but got {name}={value} (load_digits_data)")


def _order(
    split: Split, n: int, val_fraction: float, test_fraction: float, seed: int, sizes: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices of train, validation and test for the split policy."""
    labels = _raw()[1]
    if split == "stratified":
        from sklearn.model_selection import train_test_split

        if test_fraction or sizes != (None, None):
            raise ValueError(
                "the stratified split has train and validation parts given by `val_fraction` "
                f"only, but got test_fraction={test_fraction}, n_train/n_val={sizes}"
            )
        train, val = train_test_split(
            range(n), test_size=val_fraction, random_state=seed, stratify=labels
        )
        return np.asarray(train), np.asarray(val), np.zeros(0, dtype=np.int64)
    if split == "permutation":
        order = np.random.default_rng(seed).permutation(n)
        n_test, n_val = int(n * test_fraction), int(n * val_fraction)
        return order[n_test + n_val :], order[n_test : n_test + n_val], order[:n_test]
    n_train, n_val = sizes
    if n_train is None or n_val is None or n_train < 1 or n_val < 1 or n_train + n_val > n:
        raise ValueError(
            "the randperm split needs `n_train >= 1`, `n_val >= 1` and `n_train + n_val <= "
            f"{n}`, but got n_train={n_train}, n_val={n_val} (load_digits_data)"
        )
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).numpy()
    return perm[:n_train], perm[n_train : n_train + n_val], perm[n_train + n_val :]


def load_digits_data(
    val_fraction: float = 0.2,
    seed: int = 0,
    *,
    split: Split = "stratified",
    test_fraction: float = 0.0,
    n_train: int | None = None,
    n_val: int | None = None,
    layout: Literal["image", "flat"] = "image",
    scale: Literal["unit", "standard"] = "unit",
) -> DigitsData:
    """The 1,797 digits (10 classes), split reproducibly by ``seed``.

    Split policies:

    * ``"stratified"`` (default): a stratified train / validation split by scikit-learn's
      ``train_test_split`` (``test_size=val_fraction``), no test part. The CNN studies use it.
    * ``"permutation"``: a ``numpy.random.default_rng(seed)`` permutation; the first
      ``int(N * test_fraction)`` examples are the test part, the next ``int(N * val_fraction)``
      validation, the rest training. ``digits_mlp`` uses it with ``test_fraction=0.2``.
    * ``"randperm"``: a seeded ``torch.randperm``; the first ``n_train`` examples train, the
      next ``n_val`` validate, the rest are the test part (``benchmarks/stn.py``: 100 / 200).

    Inputs are ``(N, 1, 8, 8)`` images (``layout="image"``) or ``(N, 64)`` vectors
    (``"flat"``), float32, scaled to [0, 1] (``scale="unit"``) or standardised per pixel with
    the training part's mean and standard deviation (``"standard"``). Labels are int64.

    Raises:
        ValueError: for a fraction outside [0, 1), sizes that do not fit, or an unknown option.
    """
    checks = [
        ("split", split, ("stratified", "permutation", "randperm")),
        ("layout", layout, ("image", "flat")),
        ("scale", scale, ("unit", "standard")),
    ]
    for name, value, allowed in checks:
        if value not in allowed:
            raise ValueError(f"`{name}` must be one of {list(allowed)}, but got {value!r}")
    _fraction("val_fraction", val_fraction, zero_ok=False)
    _fraction("test_fraction", test_fraction, zero_ok=True)
    pixels, labels = _raw()
    train, val, test = _order(
        split, len(labels), val_fraction, test_fraction, seed, (n_train, n_val)
    )
    if scale == "standard":
        x = pixels.astype(np.float32)
        mean, std = x[train].mean(axis=0), x[train].std(axis=0) + 1e-6
        x_all = torch.from_numpy((x - mean) / std)
    else:
        x_all = torch.tensor(pixels, dtype=torch.float32) / 16.0
    if layout == "image":
        x_all = x_all.reshape(-1, *DIGITS_INPUT_SHAPE)
    y_all = torch.from_numpy(labels.astype(np.int64))
    parts = [(x_all[torch.from_numpy(i)], y_all[torch.from_numpy(i)]) for i in (train, val, test)]
    return DigitsData(*(t for pair in parts for t in pair))
