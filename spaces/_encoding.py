"""Fixed-length numeric vectors for assignments, so predictors and evolution work on any space.

Layout, one block per parameter in ``Space.parameters`` order:

- ``oneof`` with ``n`` candidates: ``n`` slots, one-hot;
- ``manyof`` choosing ``k`` of ``n``: ``k`` blocks of ``n`` slots, one-hot per chosen position;
- ``floatv`` / ``intv``: one slot, the value normalised to [0, 1] (in log space when ``log``).

An inactive parameter's block is all zeros. Decoding reads blocks only for the parameters that
the decoded choices make active, takes the arg-max of one-hot blocks, clips and rounds numeric
slots, so any real vector (a predictor's or a mutation's output) decodes to a valid assignment.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from symtune.spaces._primitives import FloatV, Hyper, ManyOf, Numeric, OneOf
from symtune.spaces._walk import ParameterInfo, Resolver


def block_width(hyper: Hyper) -> int:
    if isinstance(hyper, OneOf):
        return len(hyper.candidates)
    if isinstance(hyper, ManyOf):
        return hyper.k * len(hyper.candidates)
    return 1


def layout(params: Mapping[str, ParameterInfo]) -> dict[str, slice]:
    """Where each parameter's block lies in the vector."""
    offsets: dict[str, slice] = {}
    start = 0
    for name, info in params.items():
        width = block_width(info.hyper)
        offsets[name] = slice(start, start + width)
        start += width
    return offsets


def normalise(hyper: Numeric, value: float) -> float:
    if hyper.high == hyper.low:
        return 0.0
    if hyper.log:
        return (math.log(value) - math.log(hyper.low)) / (
            math.log(hyper.high) - math.log(hyper.low)
        )
    return (value - hyper.low) / (hyper.high - hyper.low)


def denormalise(hyper: Numeric, x: float) -> Any:
    x = min(max(float(x), 0.0), 1.0)
    if hyper.log:
        value = math.exp(math.log(hyper.low) + x * (math.log(hyper.high) - math.log(hyper.low)))
    else:
        value = hyper.low + x * (hyper.high - hyper.low)
    if hyper.step is not None:
        steps = round((value - hyper.low) / hyper.step)
        value = hyper.low + steps * hyper.step
    if not isinstance(hyper, FloatV):
        return int(min(max(round(value), hyper.low), hyper.high))
    return min(max(value, hyper.low), hyper.high)


def fill(
    resolver: Resolver, params: Mapping[str, ParameterInfo], offsets: dict[str, slice], size: int
) -> np.ndarray:
    """The vector of an assignment that ``resolver`` has just walked."""
    vector = np.zeros(size, dtype=np.float64)
    for name in resolver.active:
        hyper = params[name].hyper
        block = offsets[name]
        if isinstance(hyper, OneOf):
            index = hyper.index_of(resolver.assignment[name], name)
            vector[block.start + index] = 1.0
        elif isinstance(hyper, ManyOf):
            n = len(hyper.candidates)
            slots = [resolver.assignment[s] for s in hyper.slot_names(name)]
            for position, index in enumerate(hyper.indices_from_slots(slots, name)):
                vector[block.start + position * n + index] = 1.0
        else:
            assert isinstance(hyper, Numeric)
            vector[block.start] = normalise(hyper, resolver.assignment[name])
    return vector


class VectorSource:
    """Decisions read from an encoded vector (see the module docstring)."""

    def __init__(self, vector: np.ndarray, offsets: dict[str, slice]) -> None:
        self.vector = vector
        self.offsets = offsets

    def choose_one(self, name: str, hyper: OneOf) -> Any:
        block = self.vector[self.offsets[name]]
        return hyper.labels[int(np.argmax(block))]

    def choose_many(self, name: str, hyper: ManyOf) -> list[Any]:
        n = len(hyper.candidates)
        start = self.offsets[name].start
        indices: list[int] = []
        for position in range(hyper.k):
            scores = np.array(self.vector[start + position * n : start + (position + 1) * n])
            if hyper.distinct:
                scores[indices] = -np.inf
            indices.append(int(np.argmax(scores)))
        return hyper.slots_from_indices(indices)

    def number(self, name: str, hyper: Numeric) -> Any:
        return denormalise(hyper, self.vector[self.offsets[name].start])
