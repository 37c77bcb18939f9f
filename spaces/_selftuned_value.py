"""What a ``selftuned(...)`` hyperparameter materialises as."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal


@dataclass(frozen=True)
class SelfTunedValue:
    """A hyperparameter that a self-tuning network tunes online, inside one trial.

    The study's sampler never chooses it; ``Space.materialize`` puts one of these in the
    config where the user wrote ``selftuned(...)``, and ``symtune.hypernets`` turns it into a
    live hyperparameter that STN layers read.

    Attributes:
        name: the hyperparameter's name in its space (explicit ``name=`` or derived path).
        kind: ``"float"`` for a ``floatv``, ``"categorical"`` for a ``oneof``.
        low, high, log: the bounds of a float hyperparameter (``None`` for categorical).
        choices: the candidates of a categorical hyperparameter (``None`` for float).
        init: the initial value (a float inside ``[low, high]``, or one of ``choices``).
    """

    name: str
    kind: Literal["float", "categorical"]
    init: Any
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple[Any, ...] | None = None

    @property
    def init_index(self) -> int:
        """Index of ``init`` in ``choices`` (categorical only)."""
        if self.choices is None:
            raise TypeError(f"{self.name!r} is a float hyperparameter: it has no choices")
        for i, choice in enumerate(self.choices):  # by type too: 1 and True are different
            if type(choice) is type(self.init) and choice == self.init:
                return i
        return self.choices.index(self.init)

    def normalized_init(self) -> float:
        """``init`` mapped to [0, 1] within the bounds (log-scale when ``log``); float only."""
        if self.low is None or self.high is None:
            raise TypeError(f"{self.name!r} is categorical: it has no bounds")
        if self.high == self.low:
            return 0.0
        if self.log:
            return (math.log(self.init) - math.log(self.low)) / (
                math.log(self.high) - math.log(self.low)
            )
        return (self.init - self.low) / (self.high - self.low)
