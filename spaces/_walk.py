"""One walk over a space's tree, shared by every operation on it.

A space is a tree of plain values, containers, symbolic calls and primitives. Every operation
(listing parameters, sampling, suggesting to Optuna, materialising, encoding, decoding) is the
same depth-first walk that differs only in where each decision comes from. A *source* answers
"which value for this primitive?"; :class:`Resolver` walks the tree, asks the source for the
active primitives only (so conditional parameters are touched exactly when active), records the
flat assignment, and optionally builds the concrete object.

Parameter names come from the path (``model.layers[1].width``) unless ``name=`` was given:
dict keys join with ``.``, list items and unnamed positional arguments use ``[i]``, positional
arguments of symbolic calls use the target's parameter names, the candidates of a ``oneof``
named ``N`` live under ``N[j]``, those of a ``manyof`` under ``N.candidates[j]``; with the
dict spelling the label stands for ``j`` (``N[adam]``, ``N['1 layer']``). Names belong to
paths, not to objects: one primitive object written at two paths is two parameters, with two
names, in every operation (an explicit ``name=`` at two paths is refused as a clash).

Besides sources, the walk takes a *replacer* (:meth:`Resolver.replacing`): then every
primitive, in every branch, is handed to the caller with its :class:`ParameterInfo` and
replaced by what it returns (``Space.map_primitives``).
"""

from __future__ import annotations

import keyword
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from symtune.spaces._errors import SpaceError
from symtune.spaces._primitives import Choice, Hyper, ManyOf, Numeric, OneOf, SelfTuned
from symtune.spaces._selftuned_value import SelfTunedValue
from symtune.spaces._structural import join
from symtune.spaces._symbolic import Symbolic, SymbolicCall

Replacer = Callable[["ParameterInfo", tuple[Any, ...]], Any]

ROOT_NAME = "value"


@dataclass(frozen=True)
class Condition:
    """A parameter is active only while choice ``owner`` selects candidate ``index``.

    ``label`` is the candidate's stored label (what ``trial.params[owner]`` holds), ``display``
    its readable label (what the repr shows, as ``describe()`` does).
    """

    owner: str
    index: int
    label: Any
    many: bool = False
    display: Any = None

    def __repr__(self) -> str:
        shown = self.label if self.display is None else self.display
        if self.many:
            return f"{shown!r} in {self.owner}"
        return f"{self.owner} == {shown!r}"


def param_name(hyper: Hyper | SelfTuned, path: str) -> str:
    return hyper.name or path or ROOT_NAME


def candidate_path(hyper: Choice, name: str, index: int) -> str:
    """``name[j]`` (``name.candidates[j]`` for a ``manyof``); with the dict spelling the label
    stands for ``j``: ``optimizer[adam]``, ``depth['1 layer']``."""
    key = index if hyper.given_labels is None else label_key(hyper.given_labels[index])
    return f"{name}.candidates[{key}]" if isinstance(hyper, ManyOf) else f"{name}[{key}]"


def label_key(label: str) -> str:
    """How a given label appears in a path: bare when an identifier, else quoted."""
    return label if label.isidentifier() and not keyword.iskeyword(label) else repr(label)


def children(value: Any, path: str) -> list[tuple[Any, str]]:
    """The direct children of a container or symbolic call, each with its path."""
    if isinstance(value, dict):
        return [(v, join(path, k)) for k, v in value.items()]
    if isinstance(value, (list, tuple)):
        return [(v, join(path, i)) for i, v in enumerate(value)]
    if isinstance(value, SymbolicCall):
        named = zip(value.args, value.argument_names(), strict=True)
        return [(v, join(path, n)) for v, n in named] + [
            (v, join(path, k)) for k, v in value.kwargs.items()
        ]
    return []


class Source(Protocol):
    """Where the walk's decisions come from."""

    def choose_one(self, name: str, hyper: OneOf) -> Any:
        """The stored label of the chosen candidate."""

    def choose_many(self, name: str, hyper: ManyOf) -> list[Any]:
        """The ``k`` stored slot values."""

    def number(self, name: str, hyper: Numeric) -> Any:
        """The value of a ``floatv`` or ``intv``."""


class Resolver:
    """Walks a space with a :class:`Source`; records what it chose; builds if asked.

    After :meth:`run`, ``assignment`` holds the flat Optuna-style params of the active
    primitives, ``readable`` a readable value per parameter name, and ``active`` the names of
    the active parameters in walk order.
    """

    def __init__(self, source: Source, *, build: bool) -> None:
        self.source = source
        self.build = build
        self.assignment: dict[str, Any] = {}
        self.readable: dict[str, Any] = {}
        self.active: list[str] = []
        self.replace: Replacer | None = None
        self.infos: Mapping[str, ParameterInfo] = {}

    @classmethod
    def replacing(
        cls, replace: Replacer, infos: Mapping[str, ParameterInfo], *, build: bool
    ) -> Resolver:
        """A walk that replaces every primitive (``selftuned`` ones too) by
        ``replace(info, candidates)``, where ``infos`` are the space's :func:`collect`
        results and ``candidates`` the primitive's candidates, each already walked (its own
        primitives replaced, its symbolic calls called when ``build``); ``()`` for a number."""
        resolver = cls(_NO_SOURCE, build=build)
        resolver.replace = replace
        resolver.infos = infos
        return resolver

    def run(self, value: Any) -> Any:
        return self.walk(value, "")

    def walk(self, value: Any, path: str) -> Any:
        if self.replace is not None and isinstance(value, (Hyper, SelfTuned)):
            return self._replaced(value, param_name(value, path), path)
        if isinstance(value, OneOf):
            return self._one(value, param_name(value, path))
        if isinstance(value, ManyOf):
            return self._many(value, param_name(value, path))
        if isinstance(value, Numeric):
            name = param_name(value, path)
            number = self.source.number(name, value)
            self._record(name, {name: number}, number)
            return number
        if isinstance(value, SelfTuned):
            return self._selftuned(value, param_name(value, path)) if self.build else None
        if isinstance(value, dict):
            return {
                k: self.walk(v, p) for (v, p), k in zip(children(value, path), value, strict=True)
            }
        if isinstance(value, (list, tuple)):
            items = [self.walk(v, p) for v, p in children(value, path)]
            return items if isinstance(value, list) else type(value)(items)
        if isinstance(value, SymbolicCall):
            return self._call(value, path)
        if isinstance(value, Symbolic) and self.build:
            return value.target
        return value

    def _one(self, hyper: OneOf, name: str) -> Any:
        label = self.source.choose_one(name, hyper)
        index = hyper.index_of(label, name)
        self._record(name, {name: hyper.labels[index]}, _readable(hyper, index))
        return self.walk(hyper.candidates[index], candidate_path(hyper, name, index))

    def _many(self, hyper: ManyOf, name: str) -> Any:
        slots = list(self.source.choose_many(name, hyper))
        if len(slots) != hyper.k:
            raise SpaceError(f"`manyof` needs {hyper.k} values, but got {slots!r}", path=name)
        indices = hyper.indices_from_slots(slots, name)
        # Stored from the decoded indices, so a sorted selection is stored in canonical order.
        stored = dict(zip(hyper.slot_names(name), hyper.slots_from_indices(indices), strict=True))
        self._record(name, stored, [_readable(hyper, i) for i in indices])
        built: dict[int, Any] = {}
        for i in dict.fromkeys(indices):
            built[i] = self.walk(hyper.candidates[i], candidate_path(hyper, name, i))
        return [built[i] for i in indices]

    def _call(self, call: SymbolicCall, path: str) -> Any:
        parts = children(call, path)
        args = [self.walk(v, p) for v, p in parts[: len(call.args)]]
        named = zip(parts[len(call.args) :], call.kwargs, strict=True)
        kwargs = {k: self.walk(v, p) for (v, p), k in named}
        if not self.build:
            return None if self.replace is None else SymbolicCall(call.target, tuple(args), kwargs)
        try:
            return call.target(*args, **kwargs)
        except Exception as error:
            raise SpaceError(
                f"materialising `{call!r}` failed: {type(error).__name__}: {error}",
                path=path or ROOT_NAME,
            ) from error

    def _replaced(self, hyper: Hyper | SelfTuned, name: str, path: str) -> Any:
        assert self.replace is not None
        candidates: tuple[Any, ...] = ()
        if isinstance(hyper, Choice):
            candidates = tuple(
                self.walk(c, candidate_path(hyper, name, j)) for j, c in enumerate(hyper.candidates)
            )
        elif isinstance(hyper, SelfTuned) and isinstance(hyper.hyper, OneOf):
            candidates = hyper.hyper.candidates  # plain values, checked by `selftuned`
        try:
            return self.replace(self.infos[name], candidates)
        except Exception as error:
            if hasattr(error, "add_note"):  # Python 3.11+
                where = path or ROOT_NAME
                error.add_note(f"raised by `replace` for parameter {name!r} (at {where})")
            raise

    def _selftuned(self, node: SelfTuned, name: str) -> SelfTunedValue:
        hyper = node.hyper
        if isinstance(hyper, OneOf):
            return SelfTunedValue(
                name=name, kind="categorical", init=node.init, choices=hyper.candidates
            )
        assert isinstance(hyper, Numeric)  # guaranteed by SelfTuned's own validation
        return SelfTunedValue(
            name=name,
            kind="float",
            init=node.init,
            low=float(hyper.low),
            high=float(hyper.high),
            log=hyper.log,
        )

    def _record(self, name: str, stored: dict[str, Any], readable: Any) -> None:
        if name in self.readable:
            raise SpaceError(f"parameter names must be unique, but `{name}` is used twice")
        self.assignment.update(stored)
        self.readable[name] = readable
        self.active.append(name)


def _readable(hyper: Choice, index: int) -> Any:
    return hyper.display[index]


@dataclass(frozen=True)
class ParameterInfo:
    """A primitive of a space: its name, the primitive, its path and when it is active.

    ``hyper`` is a ``oneof``/``manyof``/``floatv``/``intv`` that the sampler chooses, or a
    ``selftuned`` node (``selftuned`` is then true), which the sampler never chooses.
    ``conditions`` are the choices that must hold for it to be active (empty: always).
    """

    name: str
    hyper: Hyper | SelfTuned
    path: str
    conditions: tuple[Condition, ...]

    @property
    def selftuned(self) -> bool:
        """Whether this is a ``selftuned`` hyperparameter (tuned inside a trial)."""
        return isinstance(self.hyper, SelfTuned)

    @property
    def node(self) -> Hyper | SelfTuned:
        """The primitive (``hyper``), under the name the former ``SelfTunedInfo`` used."""
        return self.hyper


def __getattr__(name: str) -> Any:
    if name == "SelfTunedInfo":
        warnings.warn(
            "`SelfTunedInfo` is folded into `ParameterInfo` (its `selftuned` is true for a "
            "self-tuned hyperparameter); `SelfTunedInfo` will be removed in the next release",
            DeprecationWarning,
            stacklevel=2,
        )
        return ParameterInfo
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class _NoSource:
    """The source of a replacing walk: it never decides anything."""

    def choose_one(self, name: str, hyper: OneOf) -> Any:
        raise AssertionError(name)

    def choose_many(self, name: str, hyper: ManyOf) -> list[Any]:
        raise AssertionError(name)

    def number(self, name: str, hyper: Numeric) -> Any:
        raise AssertionError(name)


_NO_SOURCE = _NoSource()


def collect(value: Any) -> tuple[dict[str, ParameterInfo], dict[str, ParameterInfo]]:
    """Every parameter and self-tuned node, in walk order, with its conditions.

    Raises :class:`SpaceError` when two of them share a name.
    """
    params: dict[str, ParameterInfo] = {}
    tuned: dict[str, ParameterInfo] = {}
    seen: dict[str, str] = {}

    def claim(name: str, path: str) -> None:
        if name in seen:
            first = seen[name] or ROOT_NAME
            raise SpaceError(
                f"parameter names must be unique within a space, but `{name}` names both "
                f"{first} and {path or ROOT_NAME}",
                path=path or ROOT_NAME,
            )
        seen[name] = path

    def visit(node: Any, path: str, conditions: tuple[Condition, ...]) -> None:
        if isinstance(node, SelfTuned):
            name = param_name(node, path)
            claim(name, path)
            tuned[name] = ParameterInfo(name, node, path, conditions)
            return
        if isinstance(node, Hyper):
            name = param_name(node, path)
            claim(name, path)
            if isinstance(node, ManyOf):
                for slot in node.slot_names(name):
                    claim(slot, path)
            params[name] = ParameterInfo(name, node, path, conditions)
            if isinstance(node, Choice):
                many = isinstance(node, ManyOf)
                for j, candidate in enumerate(node.candidates):
                    condition = Condition(name, j, node.labels[j], many, node.display[j])
                    visit(candidate, candidate_path(node, name, j), (*conditions, condition))
            return
        if isinstance(node, SymbolicCall):
            node.check_arguments(path or ROOT_NAME)
        for child, child_path in children(node, path):
            visit(child, child_path, conditions)

    visit(value, "", ())
    return params, tuned
