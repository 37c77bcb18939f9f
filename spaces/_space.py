"""``Space``: a search space over any nesting of plain values, symbolic calls and primitives."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from symtune.spaces import _json
from symtune.spaces._depth import check_depth
from symtune.spaces._encoding import EncodingBlock, VectorSource, fill, layout
from symtune.spaces._errors import SpaceError
from symtune.spaces._primitives import Hyper, ManyOf, Numeric, OneOf, SelfTuned
from symtune.spaces._sources import (
    AssignmentSource,
    GridSource,
    RandomSource,
    TrialSource,
    distributions,
)
from symtune.spaces._structural import code_repr, hashable, same
from symtune.spaces._walk import (
    Condition,
    ParameterInfo,
    Replacer,
    Resolver,
    Source,
    children,
    collect,
)

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution


class Space:
    """A search space: ``value`` with every primitive still open.

    ``value`` may be any nesting of dicts, lists, tuples, symbolic calls, primitives
    (``oneof``, ``manyof``, ``floatv``, ``intv``, ``selftuned``) and plain values::

        space = Space({
            "lr": floatv(1e-4, 1e-1, log=True),
            "model": MLP(width=oneof([32, 64, 128]), depth=intv(1, 4),
                         act=oneof([nn.ReLU, nn.Tanh])),
        })
        space.parameters            # {'lr': floatv(...), 'model.width': oneof(...), ...}
        assignment = space.sample(seed=0)
        model = space.materialize(assignment)["model"]

    An *assignment* is a flat dict ``{param name: stored value}``, exactly what Optuna stores
    as ``FrozenTrial.params``, so ``space.materialize(frozen_trial.params)`` rebuilds a trial's
    object in any process. Every bad definition or assignment raises :class:`SpaceError`.
    """

    def __init__(self, value: Any) -> None:
        self.value: Any = value.value if isinstance(value, Space) else value
        check_depth(self.value)
        self._params, self._selftuned = collect(self.value)
        self._layout = layout(self._params)

    # -- what the space holds --------------------------------------------------------------

    @property
    def parameters(self) -> dict[str, Hyper]:
        """Every parameter the sampler chooses, ``{name: primitive}``, in walk order.

        Conditional parameters are included; :attr:`conditions` says when each is active.
        A ``manyof`` named ``N`` is stored by Optuna as ``N[0]`` ... ``N[k-1]``.
        """
        return {name: cast(Hyper, info.hyper) for name, info in self._params.items()}

    @property
    def conditions(self) -> dict[str, tuple[Condition, ...]]:
        """For each parameter, the choices that must hold for it to be active (empty: always)."""
        return {name: info.conditions for name, info in self._params.items()}

    @property
    def selftuned(self) -> dict[str, SelfTuned]:
        """The ``selftuned`` hyperparameters: tuned inside a trial, never by the sampler."""
        return {name: cast(SelfTuned, info.hyper) for name, info in self._selftuned.items()}

    def parameter_info(self, name: str) -> ParameterInfo:
        """Path, primitive and conditions of one parameter or self-tuned hyperparameter."""
        if name in self._params:
            return self._params[name]
        if name in self._selftuned:
            return self._selftuned[name]
        raise SpaceError(f"the space has no parameter `{name}`; it has {list(self._params)}")

    # -- choosing values ---------------------------------------------------------------------

    def sample(self, seed: int | None = None) -> dict[str, Any]:
        """A random assignment of the active parameters; the same ``seed`` gives the same one."""
        return self._resolve(RandomSource(seed), build=False).assignment

    def materialize(self, assignment: Mapping[str, Any]) -> Any:
        """The concrete object for ``assignment``: symbolic calls are called, primitives replaced.

        Only the parameters that the assignment's own choices make active are read; values for
        inactive parameters are ignored, unknown names and missing or out-of-range values raise
        :class:`SpaceError`.
        """
        self._check_known(assignment)
        return self._resolve(AssignmentSource(assignment), build=True).value

    def suggest(self, trial: Any) -> Any:
        """Suggest every active parameter on an ``optuna.Trial`` (define-by-run) and materialise.

        Afterwards ``space.materialize(trial.params)`` rebuilds the same object.
        """
        return self._resolve(TrialSource(trial), build=True).value

    def suggest_params(self, trial: Any) -> dict[str, Any]:
        """Like :meth:`suggest`, but return the assignment and build nothing."""
        return self._resolve(TrialSource(trial), build=False).assignment

    def describe(self, assignment: Mapping[str, Any]) -> dict[str, Any]:
        """A readable value for each active parameter, in space order: a choice by its
        candidate's display label (``Choice.display``: the given label, a plain value itself,
        or a derived name such as ``"adam"`` or ``"Linear"``), a ``manyof`` as the list of
        its choices' labels, a number as it is."""
        self._check_known(assignment)
        return self._resolve(AssignmentSource(assignment), build=False).readable

    def active(self, assignment: Mapping[str, Any]) -> list[str]:
        """The names of the parameters that ``assignment`` makes active, in walk order."""
        return self._resolve(AssignmentSource(assignment), build=False).active

    def map_primitives(self, replace: Replacer, *, build: bool = True) -> Any:
        """The space's value with every primitive replaced by what ``replace`` returns.

        ``replace(info, candidates)`` is called once for each primitive of every branch
        (``oneof``, ``manyof``, ``floatv``, ``intv`` and ``selftuned``), innermost first:
        ``info`` is its :class:`ParameterInfo` (``info.name`` the parameter's name,
        ``info.hyper`` the primitive, ``info.conditions`` when it is active, ``info.selftuned``),
        and ``candidates`` the values of a choice's candidates with their own primitives
        already replaced (``()`` for a number; a ``selftuned(oneof)``'s plain candidates). A
        primitive object written at two paths is two parameters: ``replace`` sees it twice,
        under each name. With ``build`` (the default) symbolic calls are called and
        ``symbolic`` wrappers become their targets, as :meth:`materialize` does; with
        ``build=False`` the result keeps them as symbolic nodes. Whatever ``replace`` raises
        propagates, with a note (Python 3.11+, shown under the traceback) naming the parameter
        and its path. ``replace`` that is not callable, or ``build`` that is not a bool, raises
        :class:`SpaceError` before any call. For example, the supernet's view of an
        architecture space::

            config = space.map_primitives(lambda info, candidates: Elastic(info.name, ...))
        """
        if not callable(replace):
            raise SpaceError(
                "`replace` must be callable as replace(info, candidates), "
                f"but got a {type(replace).__name__}: {replace!r}"
            )
        if not isinstance(build, bool):
            raise SpaceError(f"`build` must be True or False, but got {build!r}")
        resolver = Resolver.replacing(replace, {**self._params, **self._selftuned}, build=build)
        return resolver.run(self.value)

    # -- finite spaces -----------------------------------------------------------------------

    @cached_property
    def cardinality(self) -> float:
        """The exact number of distinct assignments, or ``math.inf`` for a continuous space."""
        return _cardinality(self.value, "")

    def grid(self) -> Iterator[dict[str, Any]]:
        """Every assignment of a finite space, in a fixed order (the first choices first).

        A lazy iterator: memory stays constant however large the space (``intv(0, 10**12)``).
        """
        if _infinite(self.cardinality):
            infinite = [n for n, h in self.parameters.items() if _infinite(_own_size(h))]
            raise SpaceError(
                "`grid()` needs a finite space (every `floatv` needs a `step`), but these "
                f"parameters have infinitely many values: {infinite}"
            )
        return self._grid()

    def _grid(self) -> Iterator[dict[str, Any]]:
        """An odometer over the decisions, lazily: memory stays constant however large."""
        prefix: list[int] = []
        while True:
            source = GridSource(prefix)
            resolver = self._resolve(source, build=False)
            if source.canonical:  # a sorted `manyof` reaches one set in several orders
                yield resolver.assignment
            prefix = list(source.taken)
            while prefix and prefix[-1] + 1 >= source.sizes[len(prefix) - 1]:
                prefix.pop()
            if not prefix:
                return
            prefix[-1] += 1

    # -- vectors and JSON ----------------------------------------------------------------------

    @property
    def encoding_size(self) -> int:
        """The length of :meth:`encode`'s vectors."""
        return max((b.stop for b in self._layout.values()), default=0)

    @property
    def encoding_layout(self) -> dict[str, EncodingBlock]:
        """Which slice of :meth:`encode`'s vectors belongs to which parameter, and how.

        One :class:`EncodingBlock` per parameter, in :attr:`parameters` order, side by side:
        a ``oneof`` is one-hot over its ``n`` candidates, a ``manyof`` ``k`` one-hot rows of
        ``n`` (one per position of the selection), a ``floatv``/``intv`` one slot scaled to
        [0, 1] (log-scaled when ``log``); an inactive parameter's block is all zeros.
        """
        return dict(self._layout)

    def encode(self, assignment: Mapping[str, Any]) -> np.ndarray:
        """A fixed-length float vector for ``assignment``, laid out as :attr:`encoding_layout`
        says."""
        self._check_known(assignment)
        resolver = self._resolve(AssignmentSource(assignment), build=False)
        return fill(resolver, self._layout, self.encoding_size)

    def decode(self, vector: Any) -> dict[str, Any]:
        """The assignment a vector stands for; any real vector of the right length decodes
        (a list or array of :attr:`encoding_size` finite numbers, else :class:`SpaceError`)."""
        needs = f"a sequence of {self.encoding_size} finite numbers (a list or numpy array)"
        try:
            if isinstance(vector, (str, bytes)):
                raise TypeError
            array = np.asarray(vector, dtype=np.float64)
        except (TypeError, ValueError):
            text = repr(vector)
            shown = text if len(text) <= 80 else text[:77] + "..."
            raise SpaceError(
                f"`decode` needs {needs}, but got a {type(vector).__name__}: {shown}"
            ) from None
        if array.shape != (self.encoding_size,):
            raise SpaceError(
                f"the vector must have shape ({self.encoding_size},), but got {array.shape}"
            )
        if not np.all(np.isfinite(array)):
            raise SpaceError(f"the vector must be finite, but got {array.tolist()}")
        return self._resolve(VectorSource(array, self._layout), build=False).assignment

    def distributions(self) -> dict[str, BaseDistribution]:
        """The Optuna distribution :meth:`suggest` gives each parameter it may suggest (each
        ``manyof`` slot on its own), active or not, in space order."""
        out: dict[str, BaseDistribution] = {}
        for name, hyper in self.parameters.items():
            out.update(distributions(name, hyper))
        return out

    def to_json(self) -> str:
        """The space as JSON, symbolic targets (and classes, functions) by module path.

        A target must be reachable by its ``module.qualname``: lambdas and classes defined
        inside a function raise :class:`SpaceError`. Targets defined in ``__main__`` (a script,
        a notebook) are written and read back in the same process; another process cannot
        read them (see :meth:`unportable_targets`).
        """
        return _json.dumps(self.value)

    @classmethod
    def from_json(cls, text: str) -> Space:
        """The space that :meth:`to_json` wrote.

        A target this process cannot import (e.g. one defined in the ``__main__`` of the
        process that wrote the JSON) raises :class:`SpaceError` naming it and its path.
        """
        return cls(_json.loads(text))

    def unportable_targets(self) -> dict[str, str]:
        """The targets that keep this space's JSON from being read by another process.

        Returns ``{dotted name: path of its first use}``, e.g.
        ``{"__main__.Block": "model.blocks[0]"}``: classes and functions defined in
        ``__main__`` (a script or notebook: :meth:`to_json` works and :meth:`from_json` reads
        it back in this process only), inside a function or as a lambda (:meth:`to_json`
        fails), not reachable by their module path, or in a module that is importable only
        because the running script's folder is on the path (a module beside the script, not
        installed, not on ``PYTHONPATH``). Empty when every target is imported by module path
        from an installed module or one on the path, so any process that has the same modules
        can read the space. :meth:`unportable_reasons` says why, per target.
        """
        return {name: path for name, (path, _) in _json.unportable(self.value).items()}

    def unportable_reasons(self) -> dict[str, str]:
        """Why each of :meth:`unportable_targets` cannot be imported by another process:
        ``{dotted name: reason}``, e.g. ``{"models.Net": "from /home/me/project, the script's
        folder (its module is not installed nor on PYTHONPATH)"}`` or ``{"__main__.Block": "it
        is defined in __main__ (a script or notebook), which only this process runs"}``."""
        return {name: why for name, (_, why) in _json.unportable(self.value).items()}

    def targets(self) -> dict[str, str]:
        """Every class and function the space refers to, as ``{"module:qualname": path of
        its first use}`` (symbolic calls' targets, ``symbolic`` wrappers, classes and
        functions written as values, in every branch): what its JSON imports to read it."""
        return _json.targets(self.value)

    # -- value semantics -----------------------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Space) and same(self.value, other.value)

    def __hash__(self) -> int:
        return hash(("Space", hashable(self.value)))

    def __repr__(self) -> str:
        return f"Space({code_repr(self.value)})"

    # -- internals -----------------------------------------------------------------------------

    def _resolve(self, source: Source, *, build: bool) -> _Resolved:
        resolver = Resolver(source, build=build)
        value = resolver.run(self.value)
        return _Resolved(value, resolver)

    def _check_known(self, assignment: Mapping[str, Any]) -> None:
        if not isinstance(assignment, Mapping):
            raise SpaceError(f"an assignment must be a dict of params, but got {assignment!r}")
        known = set()
        for name, info in self._params.items():
            if isinstance(info.hyper, ManyOf):
                known.update(info.hyper.slot_names(name))
            else:
                known.add(name)
        unknown = [k for k in assignment if k not in known]
        if unknown:
            raise SpaceError(
                f"the assignment names parameters the space does not have: {unknown}; "
                f"the space has {sorted(known)}"
            )


class _Resolved:
    __slots__ = ("active", "assignment", "readable", "value")

    def __init__(self, value: Any, resolver: Resolver) -> None:
        self.value = value
        self.assignment = resolver.assignment
        self.readable = resolver.readable
        self.active = resolver.active


def _infinite(count: float) -> bool:
    """``math.isinf`` for counts, which may be ints too large for a float."""
    return isinstance(count, float) and math.isinf(count)


def _own_size(hyper: Hyper) -> float:
    return hyper.cardinality if isinstance(hyper, Numeric) else 1


def _cardinality(value: Any, path: str) -> float:
    if isinstance(value, SelfTuned):
        return 1
    if isinstance(value, Numeric):
        return value.cardinality
    if isinstance(value, OneOf):
        return sum(_cardinality(c, path) for c in value.candidates)
    if isinstance(value, ManyOf):
        return _manyof_cardinality(value, path)
    total: float = 1
    for child, child_path in children(value, path):
        total *= _cardinality(child, child_path)
    return total


def _manyof_cardinality(hyper: ManyOf, path: str) -> float:
    """Count selections by their distinct candidates: a candidate chosen twice is materialised
    once, so its inner parameters are shared. With ``e[j]`` the sum over the sets of ``j``
    distinct candidates of the product of their sizes (an elementary symmetric polynomial),
    the count is ``e[k]`` (distinct, sorted), ``k! e[k]`` (distinct), ``sum_j s(k, j) e[j]``
    with ``s`` the surjections of ``k`` slots onto ``j`` candidates (repeats), or the same over
    multisets, ``sum_j C(k-1, j-1) e[j]`` (repeats, sorted)."""
    sizes = [_cardinality(c, path) for c in hyper.candidates]
    k = hyper.k
    if any(_infinite(s) for s in sizes):
        return math.inf
    e: list[Any] = [1] + [0] * k  # e[j] over the candidates seen so far
    for size in sizes:
        for j in range(k, 0, -1):
            e[j] += e[j - 1] * size
    if hyper.distinct:
        return e[k] if hyper.sorted else math.factorial(k) * e[k]
    if hyper.sorted:
        return sum(math.comb(k - 1, j - 1) * e[j] for j in range(1, k + 1))
    return sum(_surjections(k, j) * e[j] for j in range(1, k + 1))


def _surjections(k: int, j: int) -> int:
    """The maps of ``k`` slots onto ``j`` candidates that use every one (inclusion-exclusion)."""
    return sum((-1) ** i * math.comb(j, i) * (j - i) ** k for i in range(j + 1))
