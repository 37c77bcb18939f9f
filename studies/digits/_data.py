"""scikit-learn's bundled 8x8 digits as torch tensors, split reproducibly (no download).

One loader, :func:`load_digits_data`, with the split policies the digits studies and
benchmarks use: a stratified train / validation split of images for the CNNs (the default), a
shuffled train / validation / test split of standardised 64-vectors for the MLP study, and a
small train / validation split by counts with the rest as test for ``benchmarks/stn.py``.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch

from symtune.studies._checks import check_number, check_seed

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


_WHERE = "(load_digits_data)"
_N_CLASSES = 10
_USES: dict[str, tuple[str, ...]] = {
    "stratified": ("val_fraction",),
    "permutation": ("val_fraction", "test_fraction"),
    "randperm": ("n_train", "n_val"),
}


def _fraction(name: str, value: float, *, zero_ok: bool) -> None:
    check_number(name, value, float, _WHERE)
    ok = (0.0 <= value < 1.0) if zero_ok else (0.0 < value < 1.0)
    if not ok:
        rule = f"0 {'<=' if zero_ok else '<'} {name} < 1"
        raise ValueError(f"`{rule}` must hold, but got {name}={value} {_WHERE}")


def _sizes(split: Split, n: int, options: dict[str, Any]) -> tuple[int, int]:
    """Checked ``(n_train, n_val)`` of the split (at least one example each; at least one per
    class for the stratified split, as scikit-learn needs)."""
    if split == "randperm":
        n_train, n_val = options["n_train"], options["n_val"]
        if n_train is None or n_val is None:
            raise ValueError(
                "the randperm split needs `n_train >= 1`, `n_val >= 1` and `n_train + n_val <= "
                f"{n}`, but got n_train={n_train}, n_val={n_val} {_WHERE}"
            )
        if n_train < 1 or n_val < 1 or n_train + n_val > n:
            raise ValueError(
                "the randperm split needs `n_train >= 1`, `n_val >= 1` and `n_train + n_val <= "
                f"{n}`, but got n_train={n_train}, n_val={n_val} {_WHERE}"
            )
        return n_train, n_val
    val_fraction, test_fraction = options["val_fraction"], options["test_fraction"]
    if split == "stratified":
        n_val = math.ceil(n * val_fraction)  # as train_test_split rounds a float test_size
        least = _N_CLASSES
    else:
        n_val = int(n * val_fraction)
        least = 1
    n_train = n - int(n * test_fraction) - n_val
    if n_val < least or n_train < least:
        raise ValueError(
            f"the {split} split needs at least {least} training and {least} validation "
            f"example{'s' if least > 1 else ''}, but val_fraction={val_fraction}, "
            f"test_fraction={test_fraction} leave {n_train} training and {n_val} validation "
            f"examples of {n} {_WHERE}"
        )
    return n_train, n_val


def _check(split: Split, seed: Any, options: dict[str, Any]) -> dict[str, Any]:
    """The options with the split's defaults filled in, after refusing those it does not use."""
    check_seed(seed, _WHERE)
    for name, value in options.items():
        if value is not None and name.startswith("n_"):
            check_number(name, value, int, _WHERE)
        elif value is not None:
            _fraction(name, value, zero_ok=name == "test_fraction")
    unused = {k: v for k, v in options.items() if v is not None and k not in _USES[split]}
    if unused:
        given = ", ".join(f"{k}={v!r}" for k, v in unused.items())
        parts = "train and validation" if split == "stratified" else "train, validation and test"
        raise ValueError(
            f"the {split} split has {parts} parts given by "
            f"{' and '.join(f'`{k}`' for k in _USES[split])} only, but got {given} {_WHERE}"
        )
    defaults = {"val_fraction": 0.2, "test_fraction": 0.0}
    return {k: defaults.get(k) if v is None else v for k, v in options.items()}


def _order(
    split: Split, n: int, options: dict[str, Any], seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices of train, validation and test for the split policy (options checked)."""
    labels = _raw()[1]
    if split == "stratified":
        from sklearn.model_selection import train_test_split

        train, val = train_test_split(
            range(n), test_size=options["val_fraction"], random_state=seed, stratify=labels
        )
        return np.asarray(train), np.asarray(val), np.zeros(0, dtype=np.int64)
    if split == "permutation":
        order = np.random.default_rng(seed).permutation(n)
        n_test = int(n * options["test_fraction"])
        n_val = int(n * options["val_fraction"])
        return order[n_test + n_val :], order[n_test : n_test + n_val], order[:n_test]
    n_train, n_val = options["n_train"], options["n_val"]
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).numpy()
    return perm[:n_train], perm[n_train : n_train + n_val], perm[n_train + n_val :]


def load_digits_data(
    val_fraction: float | None = None,
    seed: int = 0,
    *,
    split: Split = "stratified",
    test_fraction: float | None = None,
    n_train: int | None = None,
    n_val: int | None = None,
    layout: Literal["image", "flat"] = "image",
    scale: Literal["unit", "standard"] = "unit",
) -> DigitsData:
    """The 1,797 digits (10 classes), split reproducibly by ``seed`` (an int in [0, 2**32)).

    Split policies, each taking only its own size options (any other is a ``ValueError``):

    * ``"stratified"`` (default): a stratified train / validation split by scikit-learn's
      ``train_test_split`` (``test_size=val_fraction``, default 0.2), no test part; both parts
      need at least one example per class. The CNN studies use it.
    * ``"permutation"``: a ``numpy.random.default_rng(seed)`` permutation; the first
      ``int(N * test_fraction)`` examples (default 0) are the test part, the next
      ``int(N * val_fraction)`` (default 0.2) validation, the rest training; validation and
      training need at least one example each. ``digits_mlp`` uses it with
      ``test_fraction=0.2``.
    * ``"randperm"``: a seeded ``torch.randperm``; the first ``n_train`` examples train, the
      next ``n_val`` validate, the rest are the test part (``benchmarks/stn.py``: 100 / 200);
      both counts are required.

    Inputs are ``(N, 1, 8, 8)`` images (``layout="image"``) or ``(N, 64)`` vectors
    (``"flat"``), float32, scaled to [0, 1] (``scale="unit"``) or standardised per pixel with
    the training part's mean and standard deviation (``"standard"``). Labels are int64.

    Raises:
        ValueError: for a fraction outside its range, sizes that leave a part empty (or too
            small to stratify), a seed outside [0, 2**32), an option the split does not use,
            or an unknown option.
        TypeError: for a seed or size that is not an int, or a fraction that is not a number
            (bools are neither).
    """
    checks = [
        ("split", split, ("stratified", "permutation", "randperm")),
        ("layout", layout, ("image", "flat")),
        ("scale", scale, ("unit", "standard")),
    ]
    for name, value, allowed in checks:
        if value not in allowed:
            raise ValueError(f"`{name}` must be one of {list(allowed)}, but got {value!r}")
    given = {
        "val_fraction": val_fraction,
        "test_fraction": test_fraction,
        "n_train": n_train,
        "n_val": n_val,
    }
    options = _check(split, seed, given)
    pixels, labels = _raw()
    _sizes(split, len(labels), options)
    train, val, test = _order(split, len(labels), options, seed)
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
