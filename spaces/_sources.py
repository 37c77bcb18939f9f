"""Where a walk's decisions come from: an assignment, a random generator, or an Optuna trial."""

from __future__ import annotations

import functools
import math
import random
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from symtune.spaces._errors import SpaceError
from symtune.spaces._primitives import FloatV, Hyper, ManyOf, Numeric, OneOf, is_number

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution


class AssignmentSource:
    """Reads each decision from a flat assignment (e.g. ``FrozenTrial.params``), validating it."""

    def __init__(self, assignment: Mapping[str, Any]) -> None:
        if not isinstance(assignment, Mapping):
            raise SpaceError(f"an assignment must be a dict of params, but got {assignment!r}")
        self.assignment = assignment

    def _get(self, name: str) -> Any:
        if name not in self.assignment:
            raise SpaceError(
                f"the assignment has no value for active parameter `{name}`; "
                f"it has {sorted(self.assignment)}",
                path=name,
            )
        return self.assignment[name]

    def choose_one(self, name: str, hyper: OneOf) -> Any:
        return self._get(name)

    def choose_many(self, name: str, hyper: ManyOf) -> list[Any]:
        return [self._get(slot) for slot in hyper.slot_names(name)]

    def number(self, name: str, hyper: Numeric) -> Any:
        return check_number(hyper, self._get(name), name)


def check_number(hyper: Numeric, value: Any, name: str) -> Any:
    """``value`` as the primitive's type, or a :class:`SpaceError` if it is out of range."""
    integral = not isinstance(hyper, FloatV)
    if not is_number(value):
        raise SpaceError(f"the value must be a number, but got {value!r}", path=name)
    if integral:
        if value != int(value):
            raise SpaceError(f"the value must be an int, but got {value!r}", path=name)
        value = int(value)
    else:
        value = float(value)
    tolerance = 0 if integral else 1e-12 * max(1.0, abs(hyper.high - hyper.low))
    if not hyper.low - tolerance <= value <= hyper.high + tolerance:
        raise SpaceError(
            f"`low <= value <= high` must hold, but got value={value!r}, "
            f"low={hyper.low!r}, high={hyper.high!r}",
            path=name,
        )
    return value


class RandomSource:
    """Uniform random decisions (log-uniform where ``log=True``) from a seeded generator."""

    def __init__(self, seed: int | None) -> None:
        self.rng = np.random.default_rng(seed)

    def choose_one(self, name: str, hyper: OneOf) -> Any:
        return hyper.labels[int(self.rng.integers(len(hyper.candidates)))]

    def choose_many(self, name: str, hyper: ManyOf) -> list[Any]:
        return [
            choices[int(self.rng.integers(len(choices)))]
            for choices in (hyper.slot_choices(i) for i in range(hyper.k))
        ]

    def number(self, name: str, hyper: Numeric) -> Any:
        if hyper.step is not None or (not isinstance(hyper, FloatV) and not hyper.log):
            return hyper.value_at(self._index(int(hyper.size)))
        if isinstance(hyper, FloatV):
            if hyper.log:
                value = math.exp(self.rng.uniform(math.log(hyper.low), math.log(hyper.high)))
            else:
                value = self.rng.uniform(hyper.low, hyper.high)
            return min(max(float(value), hyper.low), hyper.high)  # exp(log(x)) may miss x
        # A log-scaled int: log-uniform over [low - 0.5, high + 0.5], rounded (as Optuna does).
        low, high = math.log(hyper.low - 0.5 + 1e-12), math.log(hyper.high + 0.5)
        value = round(math.exp(self.rng.uniform(low, high)))
        return int(min(max(value, hyper.low), hyper.high))

    def _index(self, n: int) -> int:
        """A uniform index in ``range(n)``, by arithmetic (no list), for any size."""
        if n <= 2**62:
            return int(self.rng.integers(n))
        return random.Random(int(self.rng.integers(2**62))).randrange(n)


def distributions(name: str, hyper: Hyper) -> dict[str, BaseDistribution]:
    """The Optuna distribution of each parameter that ``hyper`` (named ``name``) suggests.

    ``oneof`` -> categorical over its stored labels; ``manyof`` -> one categorical per slot
    (labels, or Lehmer positions when ``distinct``); ``floatv``/``intv`` -> float/int with the
    same ``log`` and ``step``. Cached: primitives are immutable, and equal ones have equal
    distributions (every suggestion asks again).
    """
    return dict(_distributions(name, hyper))


@functools.lru_cache(maxsize=4096)
def _distributions(name: str, hyper: Hyper) -> dict[str, BaseDistribution]:
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    if isinstance(hyper, OneOf):
        return {name: CategoricalDistribution(hyper.labels)}
    if isinstance(hyper, ManyOf):
        return {
            slot: CategoricalDistribution(hyper.slot_choices(i))
            for i, slot in enumerate(hyper.slot_names(name))
        }
    assert isinstance(hyper, Numeric)
    if isinstance(hyper, FloatV):
        return {name: FloatDistribution(hyper.low, hyper.high, log=hyper.log, step=hyper.step)}
    low, high, step = int(hyper.low), int(hyper.high), int(hyper.step or 1)
    return {name: IntDistribution(low, high, log=hyper.log, step=step)}


class TrialSource:
    """Define-by-run suggestions on an ``optuna.Trial``, with the distributions of
    :func:`distributions` (one definition for suggesting and for ``Space.distributions``)."""

    def __init__(self, trial: Any) -> None:
        self.trial = trial

    def choose_one(self, name: str, hyper: OneOf) -> Any:
        d: Any = distributions(name, hyper)[name]
        return self.trial.suggest_categorical(name, d.choices)

    def choose_many(self, name: str, hyper: ManyOf) -> list[Any]:
        slots: dict[str, Any] = distributions(name, hyper)
        return [self.trial.suggest_categorical(slot, d.choices) for slot, d in slots.items()]

    def number(self, name: str, hyper: Numeric) -> Any:
        d: Any = distributions(name, hyper)[name]
        suggest = self.trial.suggest_float if isinstance(hyper, FloatV) else self.trial.suggest_int
        return suggest(name, d.low, d.high, log=d.log, step=d.step)


class GridSource:
    """Replays a prefix of decisions and takes the first option after it (for ``grid()``).

    Each decision is an index into that decision's options; ``sizes`` records how many options
    each decision had, so the caller can advance the odometer to the next assignment.
    """

    def __init__(self, prefix: list[int]) -> None:
        self.prefix = prefix
        self.taken: list[int] = []
        self.sizes: list[int] = []
        self.canonical = True  # False: a sorted `manyof` took its set in a non-sorted order

    def _decide(self, n: int) -> int:
        position = len(self.taken)
        index = self.prefix[position] if position < len(self.prefix) else 0
        self.taken.append(index)
        self.sizes.append(n)
        return index

    def choose_one(self, name: str, hyper: OneOf) -> Any:
        return hyper.labels[self._decide(len(hyper.labels))]

    def choose_many(self, name: str, hyper: ManyOf) -> list[Any]:
        slots = []
        for i in range(hyper.k):
            choices = hyper.slot_choices(i)
            slots.append(choices[self._decide(len(choices))])
        if hyper.sorted:
            canonical = hyper.slots_from_indices(hyper.indices_from_slots(slots, name))
            self.canonical = self.canonical and canonical == slots
        return slots

    def number(self, name: str, hyper: Numeric) -> Any:
        return hyper.value_at(self._decide(int(hyper.size)))
