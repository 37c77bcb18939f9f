"""Argument checks the ready-made studies' data loaders share (private to ``symtune.studies``).

Each names the argument, the rule and the value, and ends with ``where`` (the public function
the user called, e.g. ``"(load_digits_data)"``).
"""

from __future__ import annotations

from typing import Any

import numpy as np


def check_number(name: str, value: Any, kind: type, where: str) -> None:
    """``value`` an int (``kind=int``) or a real number (``kind=float``); bools are neither."""
    ok = isinstance(value, (int, np.integer)) or (
        kind is float and isinstance(value, (float, np.floating))
    )
    if isinstance(value, bool) or not ok:
        what = "an int" if kind is int else "a number"
        raise TypeError(
            f"`{name}` must be {what}, but got {type(value).__name__} {value!r} {where}"
        )


def check_seed(seed: Any, where: str) -> None:
    """A seed numpy, torch and scikit-learn all take: an int in [0, 2**32)."""
    check_number("seed", seed, int, where)
    if not 0 <= seed < 2**32:
        raise ValueError(f"`0 <= seed < 2**32` must hold, but got seed={seed} {where}")


def check_count(name: str, value: Any, where: str, *, least: int = 1) -> None:
    """``value`` an int of at least ``least`` (a number of windows, epochs, subnets)."""
    check_number(name, value, int, where)
    if value < least:
        raise ValueError(f"`{name} >= {least}` must hold, but got {name}={value} {where}")
