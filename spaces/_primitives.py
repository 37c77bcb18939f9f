"""Hyper primitives: the points of a space where a value is still to be chosen.

``oneof``, ``manyof``, ``floatv`` and ``intv`` build them; ``selftuned`` marks one as tuned online
by a self-tuning network instead of by the study's sampler. Every argument is validated at
construction, so a bad space fails where it is written, not halfway through a study.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from symtune.spaces._depth import MAX_DEPTH, check_depth
from symtune.spaces._errors import SpaceError
from symtune.spaces._labels import (
    STORABLE_TYPES,
    check_distinct,
    display_labels,
    given_labels,
    stored_labels,
)
from symtune.spaces._structural import code_repr, hashable, index_of_same, same, value_key

__all__ = ["MAX_DEPTH", "STORABLE_TYPES"]  # re-exported for the modules that use them here

#: Optuna stores every int as a float: beyond this magnitude ints would not come back exact.
MAX_EXACT_INT = 2**53


class Hyper:
    """Base class of the hyper primitives. Subclasses are immutable value objects."""

    name: str | None
    _space_depth: int  # nesting depth, checked against MAX_DEPTH when built

    def _key(self) -> tuple[Any, ...]:
        raise NotImplementedError

    def _structural_key(self) -> tuple[Any, ...]:  # what `same` compares, without recursion
        return self._key()

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Hyper)
            and type(self) is type(other)
            and same(self._key(), other._key())
        )

    def __hash__(self) -> int:
        cached: int | None = self.__dict__.get("_hash")
        if cached is None:  # immutable: hash once (nested spaces would hash subtrees again)
            cached = self.__dict__["_hash"] = hash((type(self).__name__, hashable(self._key())))
        return cached

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_hash", None)  # hashes differ between processes (str hashing, ids)
        return state

    def _name_suffix(self) -> str:
        return f", name={self.name!r}" if self.name is not None else ""


class Choice(Hyper):
    """Common part of ``oneof`` and ``manyof``: candidates, stored labels and display labels.

    ``candidates`` is a list or tuple, or a dict ``{label: candidate}`` (labels are non-empty
    strings). ``labels`` are what Optuna stores for each candidate and ``display`` what
    ``describe()`` and results show (see ``symtune.spaces._labels``); ``given_labels`` are the
    dict spelling's labels (``None`` for a list), which also name the candidates' paths.
    """

    candidates: tuple[Any, ...]

    def __init__(self, candidates: Iterable[Any], name: str | None, what: str) -> None:
        _check_name(name)
        given: tuple[str, ...] | None = None
        if isinstance(candidates, Mapping):
            given = given_labels(candidates, what, name)
            candidates = list(candidates.values())
        elif isinstance(candidates, (str, bytes)) or not isinstance(candidates, Iterable):
            raise SpaceError(
                f"`{what}` candidates must be a list, a tuple or a dict of label -> candidate, "
                f"but got {candidates!r}",
                path=name,
            )
        self.candidates = tuple(candidates)
        self.name = name
        if not self.candidates:
            raise SpaceError(f"`{what}` needs at least one candidate, but got []", path=name)
        self._space_depth = check_depth(list(self.candidates), name or "")
        check_distinct(self.candidates, what, name)
        self.given_labels = given
        self.labels: tuple[Any, ...] = (
            given if given is not None else stored_labels(self.candidates)
        )
        self.display: tuple[Any, ...] = (
            given if given is not None else display_labels(self.candidates, self.labels)
        )

    def index_of(self, label: Any, path: str) -> int:
        """The candidate index that a stored label denotes."""
        # By the rule of `assignment_key`: numbers by value (Optuna may hand back an int label
        # as a float after a JSON round-trip, and vice versa), bools apart from numbers.
        try:
            wanted = value_key(label, path)
        except SpaceError:  # a value without a key (unhashable) is no label
            wanted = None
        for i, known in enumerate(self.labels):
            if wanted is not None and value_key(known) == wanted:
                return i
        # Stored before 1, True and 1.0 got labels of their own: the value that was recorded.
        if self.labels is not self.candidates and isinstance(label, STORABLE_TYPES):
            found = index_of_same(self.candidates, label)
            if found is not None and self.given_labels is None:
                return found
        raise SpaceError(
            f"the value must be one of {list(self.labels)}, but got {label!r}", path=path
        )

    def _candidates_repr(self) -> str:
        if self.given_labels is None:
            return code_repr(list(self.candidates))
        return code_repr(dict(zip(self.given_labels, self.candidates, strict=True)))

    def _labels_key(self) -> tuple[Any, ...]:
        return () if self.given_labels is None else (self.given_labels,)


class OneOf(Choice):
    """Choose exactly one candidate. Candidates may themselves hold primitives (conditional)."""

    def __init__(self, candidates: Iterable[Any], *, name: str | None = None) -> None:
        super().__init__(candidates, name, "oneof")

    def _key(self) -> tuple[Any, ...]:
        return ("oneof", self.candidates, self.name, *self._labels_key())

    def __repr__(self) -> str:
        return f"oneof({self._candidates_repr()}{self._name_suffix()})"


class ManyOf(Choice):
    """Choose ``k`` candidates: distinct or with repeats, in chosen or sorted order."""

    def __init__(
        self,
        k: int,
        candidates: Iterable[Any],
        *,
        distinct: bool = True,
        sorted: bool = False,
        name: str | None = None,
    ) -> None:
        super().__init__(candidates, name, "manyof")
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise SpaceError(f"`manyof` needs an integer `k >= 1`, but got k={k!r}", path=name)
        if distinct and k > len(self.candidates):
            raise SpaceError(
                "`k <= len(candidates)` must hold when `distinct=True`, but got "
                f"k={k}, len(candidates)={len(self.candidates)}",
                path=name,
            )
        self.k = k
        self.distinct = bool(distinct)
        self.sorted = bool(sorted)

    def slot_names(self, name: str) -> list[str]:
        """The Optuna parameter names that store this choice: ``name[0]`` ... ``name[k-1]``."""
        return [f"{name}[{i}]" for i in range(self.k)]

    def slot_choices(self, slot: int) -> tuple[Any, ...]:
        """What slot ``slot`` stores: a label when repeats are allowed, else a Lehmer index.

        With ``distinct=True`` slot ``i`` picks position ``j`` among the candidates not taken by
        the earlier slots (``j`` in ``range(n - i)``). That is a bijection between slot values
        and ordered selections, so every sampler sees a fixed distribution per slot and no
        selection is ever invalid.
        """
        if self.distinct:
            return tuple(range(len(self.candidates) - slot))
        return self.labels

    def indices_from_slots(self, values: Sequence[Any], name: str) -> list[int]:
        """Decode stored slot values into candidate indices (sorted when ``sorted``)."""
        if self.distinct:
            remaining = list(range(len(self.candidates)))
            chosen = []
            for i, value in enumerate(values):
                if not is_number(value, integral=True) or not 0 <= value < len(remaining):
                    raise SpaceError(
                        f"slot value must be an int in [0, {len(remaining) - 1}], "
                        f"but got {value!r}",
                        path=f"{name}[{i}]",
                    )
                chosen.append(remaining.pop(int(value)))
        else:
            chosen = [self.index_of(v, f"{name}[{i}]") for i, v in enumerate(values)]
        return sorted(chosen) if self.sorted else chosen

    def slots_from_indices(self, indices: Sequence[int]) -> list[Any]:
        """Encode candidate indices (in slot order) as the stored slot values."""
        if not self.distinct:
            return [self.labels[i] for i in indices]
        remaining = list(range(len(self.candidates)))
        slots = []
        for index in indices:
            position = remaining.index(index)
            slots.append(position)
            remaining.pop(position)
        return slots

    def _key(self) -> tuple[Any, ...]:
        key = ("manyof", self.k, self.candidates, self.distinct, self.sorted, self.name)
        return (*key, *self._labels_key())

    def __repr__(self) -> str:
        extra = ""
        if not self.distinct:
            extra += ", distinct=False"
        if self.sorted:
            extra += ", sorted=True"
        return f"manyof({self.k}, {self._candidates_repr()}{extra}{self._name_suffix()})"


class Numeric(Hyper):
    """Common part of ``floatv`` and ``intv``: a range with optional log scale or step."""

    kind = "numeric"

    def __init__(
        self, low: Any, high: Any, log: bool, step: Any, name: str | None, integral: bool
    ) -> None:
        _check_name(name)
        self.name = name
        what = "intv" if integral else "floatv"
        for label, value in (("low", low), ("high", high)):
            ok = is_number(value, integral=integral)
            if not ok or (not integral and not math.isfinite(value)):
                kind = "an int" if integral else "a finite number"
                raise SpaceError(f"`{what}` `{label}` must be {kind}, but got {value!r}", path=name)
        if low > high:
            raise SpaceError(
                f"`low <= high` must hold, but got low={low!r}, high={high!r}", path=name
            )
        if log and low <= 0:
            raise SpaceError(f"`low > 0` must hold when `log=True`, but got low={low!r}", path=name)
        _check_span(what, low, high, integral, name)
        if step is not None:
            _check_step(what, low, high, step, log, integral, name)
        self.low = int(low) if integral else float(low)
        self.high = int(high) if integral else float(high)
        self.log = bool(log)
        self.step = step
        self._space_depth = 1

    def _key(self) -> tuple[Any, ...]:
        return (self.kind, self.low, self.high, self.log, self.step, self.name)

    def _options_repr(self) -> str:
        extra = ", log=True" if self.log else ""
        if self.step is not None:
            extra += f", step={self.step!r}"
        return extra + self._name_suffix()

    @property
    def size(self) -> float:
        """How many values the range has (an int), or ``math.inf`` for a continuous one."""
        raise NotImplementedError

    def value_at(self, index: int) -> Any:
        """The ``index``-th value of a finite range, low to high (``0 <= index < size``)."""
        return self.low + index * (self.step or 1)

    def grid_values(self) -> list[Any]:
        """Every value of a finite range, low to high, as a list (mind :attr:`size`)."""
        if math.isinf(self.size):
            raise SpaceError(f"{self!r} has infinitely many values", path=self.name)
        return [self.value_at(i) for i in range(int(self.size))]

    @property
    def cardinality(self) -> float:
        return self.size


class FloatV(Numeric):
    """A float in ``[low, high]``, optionally log-scaled or on a grid of ``step``."""

    kind = "float"

    def __init__(
        self,
        low: float,
        high: float,
        *,
        log: bool = False,
        step: float | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(low, high, log, step, name, integral=False)

    @property
    def size(self) -> float:
        if self.step is None:
            return 1 if self.low == self.high else math.inf
        return round((self.high - self.low) / self.step) + 1

    def __repr__(self) -> str:
        return f"floatv({self.low!r}, {self.high!r}{self._options_repr()})"


class IntV(Numeric):
    """An int in ``[low, high]`` (both included), optionally log-scaled or with a ``step``."""

    kind = "int"

    def __init__(
        self,
        low: int,
        high: int,
        *,
        log: bool = False,
        step: int | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(low, high, log, step, name, integral=True)

    @property
    def size(self) -> float:
        return (self.high - self.low) // int(self.step or 1) + 1

    def __repr__(self) -> str:
        return f"intv({self.low!r}, {self.high!r}{self._options_repr()})"


class SelfTuned:
    """A hyperparameter tuned online by a self-tuning network, never by the study's sampler."""

    def __init__(self, hyper: Any, init: Any = None) -> None:
        if isinstance(hyper, IntV):
            raise SpaceError(
                "`selftuned` takes a `floatv` or a `oneof`; an `intv` cannot be tuned by a "
                f"self-tuning network (use a `floatv` or a `oneof` of ints), but got {hyper!r}",
                path=hyper.name,
            )
        if not isinstance(hyper, (FloatV, OneOf)):
            raise SpaceError(
                f"`selftuned` takes a `floatv` or a `oneof`, but got {hyper!r}",
                path=getattr(hyper, "name", None),
            )
        if isinstance(hyper, FloatV):
            if hyper.step is not None:
                raise SpaceError(
                    f"`selftuned` needs a continuous `floatv` (no `step`), but got {hyper!r}",
                    path=hyper.name,
                )
            if init is None:
                init = (
                    math.sqrt(hyper.low * hyper.high) if hyper.log else (hyper.low + hyper.high) / 2
                )
            if not is_number(init) or not hyper.low <= init <= hyper.high:
                raise SpaceError(
                    f"`low <= init <= high` must hold, but got init={init!r} for {hyper!r}",
                    path=hyper.name,
                )
            init = float(init)
        else:
            for candidate in hyper.candidates:
                if not isinstance(candidate, STORABLE_TYPES):
                    raise SpaceError(
                        "`selftuned(oneof(...))` candidates must be plain values (None, bool, "
                        f"int, float, str), but got {candidate!r}",
                        path=hyper.name,
                    )
            if init is None:
                init = hyper.candidates[0]
            elif index_of_same(hyper.candidates, init) is None:  # 1 and True are different
                raise SpaceError(
                    f"`init` must be one of {list(hyper.candidates)}, but got {init!r}",
                    path=hyper.name,
                )
        self.hyper = hyper
        self.init = init
        self.name = hyper.name
        self._space_depth = 1 + hyper._space_depth

    def _structural_key(self) -> tuple[Any, ...]:
        return (self.hyper, self.init)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SelfTuned) and same(
            self._structural_key(), other._structural_key()
        )

    def __hash__(self) -> int:
        return hash(("selftuned", self.hyper, hashable(self.init)))

    def __repr__(self) -> str:
        return f"selftuned({self.hyper!r}, init={self.init!r})"


# ---------------------------------------------------------------------------------------------
# Public constructors (the names users write).


def oneof(candidates: Iterable[Any], *, name: str | None = None) -> OneOf:
    """Choose one of ``candidates``; each may hold further primitives (a conditional space).

    ``candidates`` is a list (or tuple) of distinct candidates, or a dict of label ->
    candidate, whose labels (non-empty strings) are what Optuna stores, what results show,
    and what stands for the index in the names under it (``optimizer[adam].lr``)::

        act = oneof([symbolic(nn.ReLU)(), symbolic(nn.LeakyReLU)(floatv(0.01, 0.3))])
        opt = oneof({"sgd": {"lr": floatv(1e-3, 0.1)}, "adam": {"lr": floatv(1e-4, 1e-2)}})
    """
    return OneOf(candidates, name=name)


def manyof(
    k: int,
    candidates: Iterable[Any],
    *,
    distinct: bool = True,
    sorted: bool = False,
    name: str | None = None,
) -> ManyOf:
    """Choose ``k`` of ``candidates`` (a list, or a dict of label -> candidate, as for
    :func:`oneof`). ``distinct=False`` allows repeats; ``sorted=True`` returns them in
    candidate order (a set rather than a sequence)."""
    return ManyOf(k, candidates, distinct=distinct, sorted=sorted, name=name)


def floatv(
    low: float,
    high: float,
    *,
    log: bool = False,
    step: float | None = None,
    name: str | None = None,
) -> FloatV:
    """A float in ``[low, high]``; ``log=True`` samples on a log scale, ``step`` discretises."""
    return FloatV(low, high, log=log, step=step, name=name)


def intv(
    low: int,
    high: int,
    *,
    log: bool = False,
    step: int | None = None,
    name: str | None = None,
) -> IntV:
    """An int in ``[low, high]`` (inclusive); ``log=True`` samples on a log scale."""
    return IntV(low, high, log=log, step=step, name=name)


def selftuned(hyper: FloatV | OneOf, *, init: Any = None) -> SelfTuned:
    """Mark a ``floatv`` or ``oneof`` as tuned online, inside the trial, by a self-tuning network.

    It is not a study parameter: the sampler never chooses it. It materialises as a
    :class:`~symtune.spaces.SelfTunedValue` that ``symtune.hypernets`` turns into a live
    hyperparameter. ``init`` defaults to the middle of the range (geometric middle when
    ``log=True``) or the first candidate.
    """
    return SelfTuned(hyper, init)


# ---------------------------------------------------------------------------------------------
# Helpers.


def is_number(value: Any, *, integral: bool = False) -> bool:
    """A real number (an integral one when ``integral``), but not a bool."""
    kind = numbers.Integral if integral else numbers.Real
    return isinstance(value, kind) and not isinstance(value, bool)


def _check_name(name: Any) -> None:
    if name is not None and (not isinstance(name, str) or not name):
        raise SpaceError(f"`name` must be a non-empty string, but got {name!r}")


def _check_span(what: str, low: Any, high: Any, integral: bool, name: str | None) -> None:
    if integral and max(abs(low), abs(high)) > MAX_EXACT_INT:
        raise SpaceError(
            f"`{what}` bounds must lie within -2**53..2**53 (Optuna stores ints as floats, so "
            f"larger ones would not come back exact), but got low={low!r}, high={high!r}",
            path=name,
        )
    if not integral and not math.isfinite(high - low):
        raise SpaceError(
            f"`high - low` must be a finite float (a wider range cannot be sampled or "
            f"encoded), but got low={low!r}, high={high!r}",
            path=name,
        )


def _check_step(
    what: str, low: Any, high: Any, step: Any, log: bool, integral: bool, name: str | None
) -> None:
    if not is_number(step, integral=integral) or not math.isfinite(step) or step <= 0:
        kind = "a positive int" if integral else "a finite positive number"
        raise SpaceError(f"`{what}` `step` must be {kind}, but got step={step!r}", path=name)
    if log and not (integral and step == 1):
        raise SpaceError(
            f"`log=True` and `step` cannot be combined, but got step={step!r}", path=name
        )
    span = high - low
    ratio = span / step
    if not math.isfinite(ratio):
        raise SpaceError(
            f"`(high - low) / step` must be finite, but got low={low!r}, high={high!r}, "
            f"step={step!r}",
            path=name,
        )
    if integral:
        divides = span % step == 0
    else:
        divides = math.isclose(ratio, round(ratio), rel_tol=1e-9, abs_tol=1e-9)
    if not divides:
        raise SpaceError(
            f"`step` must divide `high - low`, but got low={low!r}, high={high!r}, step={step!r}",
            path=name,
        )
