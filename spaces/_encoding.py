"""Fixed-length numeric vectors for assignments, so predictors and evolution work on any space.

The layout is public: ``Space.encoding_layout`` is one :class:`EncodingBlock` per parameter,
in ``Space.parameters`` order, blocks side by side from index 0 to ``Space.encoding_size``:

- ``oneof`` with ``n`` candidates: kind ``"one-hot"``, ``n`` slots; slot ``j`` is 1 when
  candidate ``j`` (stored label ``labels[j]``) is chosen;
- ``manyof`` choosing ``k`` of ``n``: kind ``"one-hot per slot"``, ``k`` rows of ``n`` slots
  (row-major); row ``i`` is one-hot over the candidate at position ``i`` of the selection
  (candidate order when ``sorted=True``);
- ``floatv`` / ``intv``: kind ``"unit"``, one slot, the value mapped linearly to [0, 1] from
  ``[low, high]`` (in log space when ``log``; 0 when ``low == high``): :meth:`EncodingBlock.unit`.

An inactive parameter's block is all zeros; ``selftuned`` hyperparameters are not encoded.
Decoding reads blocks only for the parameters that the decoded choices make active, takes the
arg-max of one-hot blocks (per row, skipping taken candidates when ``distinct``), clips and
rounds unit slots (:meth:`EncodingBlock.value`), so any real vector (a predictor's or a
mutation's output) decodes to a valid assignment.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from symtune.spaces._errors import SpaceError
from symtune.spaces._primitives import FloatV, Hyper, ManyOf, Numeric, OneOf
from symtune.spaces._walk import Condition, ParameterInfo, Resolver

BlockKind = Literal["one-hot", "one-hot per slot", "unit"]


@dataclass(frozen=True)
class EncodingBlock:
    """Where one parameter lies in ``Space.encode``'s vectors, and how it is written there.

    Attributes:
        name: the parameter's name (a key of ``Space.parameters``).
        start, stop: the block is ``vector[start:stop]`` (:attr:`slice`).
        kind: ``"one-hot"`` (a ``oneof``), ``"one-hot per slot"`` (a ``manyof``: :attr:`k`
            rows of :attr:`n`), or ``"unit"`` (a ``floatv``/``intv`` scaled to [0, 1]).
        hyper: the primitive.
        conditions: when the parameter is active; otherwise the block is all zeros.
    """

    name: str
    start: int
    stop: int
    kind: BlockKind
    hyper: Hyper
    conditions: tuple[Condition, ...] = ()

    @property
    def slice(self) -> slice:
        return slice(self.start, self.stop)

    @property
    def width(self) -> int:
        return self.stop - self.start

    @property
    def k(self) -> int:
        """Rows: a ``manyof``'s ``k``, else 1."""
        return self.hyper.k if isinstance(self.hyper, ManyOf) else 1

    @property
    def n(self) -> int:
        """Slots per row: the number of candidates of a choice, 1 for a number."""
        return self.width // self.k

    @property
    def labels(self) -> tuple[Any, ...]:
        """The stored label of each candidate, slot ``j`` of a row for candidate ``j``
        (empty for a number)."""
        return self.hyper.labels if isinstance(self.hyper, (OneOf, ManyOf)) else ()

    @property
    def log(self) -> bool:
        """Whether a ``"unit"`` slot is scaled in log space."""
        return isinstance(self.hyper, Numeric) and self.hyper.log

    def unit(self, value: float) -> float:
        """A number's slot value: ``value`` mapped to [0, 1] (``"unit"`` blocks only), the
        inverse of :meth:`value` on the parameter's range.

        Raises :class:`SpaceError` for a value that is not a number or lies outside
        ``[low, high]`` (which includes ``value <= 0`` on a log scale, as ``low > 0`` there).
        """
        hyper = self._numeric()
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise SpaceError(
                f"`unit` needs a number, but got {value!r} (a {type(value).__name__})",
                path=self.name,
            )
        tolerance = 1e-12 * max(1.0, abs(hyper.high - hyper.low))  # as assignments are read
        if not hyper.low - tolerance <= value <= hyper.high + tolerance:
            scale = " on a log scale" if hyper.log else ""
            raise SpaceError(
                f"`unit` needs a value in the parameter's range [{hyper.low}, {hyper.high}]"
                f"{scale}, but got {value!r}",
                path=self.name,
            )
        return min(max(normalise(hyper, value), 0.0), 1.0)

    def value(self, x: float) -> Any:
        """The number a slot value stands for (clipped to [0, 1], on the step grid)."""
        return denormalise(self._numeric(), x)

    def _numeric(self) -> Numeric:
        if not isinstance(self.hyper, Numeric):
            raise TypeError(f"`{self.name}` is a {self.kind!r} block, not a number's")
        return self.hyper


def block_width(hyper: Hyper) -> int:
    if isinstance(hyper, OneOf):
        return len(hyper.candidates)
    if isinstance(hyper, ManyOf):
        return hyper.k * len(hyper.candidates)
    return 1


def _kind(hyper: Hyper) -> BlockKind:
    if isinstance(hyper, OneOf):
        return "one-hot"
    return "one-hot per slot" if isinstance(hyper, ManyOf) else "unit"


def layout(params: Mapping[str, ParameterInfo]) -> dict[str, EncodingBlock]:
    """Where each parameter's block lies in the vector, and its kind."""
    blocks: dict[str, EncodingBlock] = {}
    start = 0
    for name, info in params.items():
        hyper = info.hyper
        assert isinstance(hyper, Hyper)  # `collect` keeps `selftuned` nodes apart
        width = block_width(hyper)
        blocks[name] = EncodingBlock(
            name, start, start + width, _kind(hyper), hyper, info.conditions
        )
        start += width
    return blocks


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


def fill(resolver: Resolver, blocks: Mapping[str, EncodingBlock], size: int) -> np.ndarray:
    """The vector of an assignment that ``resolver`` has just walked."""
    vector = np.zeros(size, dtype=np.float64)
    for name in resolver.active:
        block = blocks[name]
        hyper = block.hyper
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
            vector[block.start] = min(max(normalise(hyper, resolver.assignment[name]), 0.0), 1.0)
    return vector


class VectorSource:
    """Decisions read from an encoded vector (see the module docstring)."""

    def __init__(self, vector: np.ndarray, blocks: Mapping[str, EncodingBlock]) -> None:
        self.vector = vector
        self.blocks = blocks

    def choose_one(self, name: str, hyper: OneOf) -> Any:
        block = self.vector[self.blocks[name].slice]
        return hyper.labels[int(np.argmax(block))]

    def choose_many(self, name: str, hyper: ManyOf) -> list[Any]:
        n = len(hyper.candidates)
        start = self.blocks[name].start
        indices: list[int] = []
        for position in range(hyper.k):
            scores = np.array(self.vector[start + position * n : start + (position + 1) * n])
            if hyper.distinct:
                scores[indices] = -np.inf
            indices.append(int(np.argmax(scores)))
        return hyper.slots_from_indices(indices)

    def number(self, name: str, hyper: Numeric) -> Any:
        return denormalise(hyper, self.vector[self.blocks[name].start])
