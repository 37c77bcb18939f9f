"""Structural equality, hashing and code-like repr for the values a space is made of."""

from __future__ import annotations

import inspect
import keyword
import numbers
import sys
from collections.abc import Mapping
from typing import Any

import numpy as np

from symtune.spaces._errors import SpaceError


def same(a: Any, b: Any) -> bool:
    """Structural equality that does not confuse ``True`` with ``1`` or ``1.0`` with ``1``.

    Iterative over containers and over nodes that expose ``_structural_key()`` (primitives,
    symbolic calls), so comparing deep spaces costs no recursion.
    """
    stack = [(a, b)]
    while stack:
        x, y = stack.pop()
        if x is y and not isinstance(x, float):  # nan is not the same as itself
            continue
        if type(x) is not type(y):
            return False
        if isinstance(x, dict):
            if list(x) != list(y):
                return False
            stack.extend((x[k], y[k]) for k in x)
        elif isinstance(x, (list, tuple)):
            if len(x) != len(y):
                return False
            stack.extend(zip(x, y, strict=True))
        elif hasattr(type(x), "_structural_key"):
            stack.append((x._structural_key(), y._structural_key()))
        elif x != y:
            return False
    return True


def hashable(value: Any) -> Any:
    """A hashable stand-in for ``value`` that agrees with :func:`same`."""
    if isinstance(value, dict):
        return ("dict", *((k, hashable(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, *(hashable(v) for v in value))
    try:
        hash(value)
    except TypeError:
        return ("unhashable", type(value).__name__, id(value))
    return (type(value).__name__, value)


def code_repr(value: Any) -> str:
    """``repr`` that prints classes and functions by name, so spaces read like code."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{code_repr(k)}: {code_repr(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(code_repr(v) for v in value) + "]"
    if isinstance(value, tuple):
        inner = ", ".join(code_repr(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, type) or inspect.isfunction(value) or inspect.isbuiltin(value):
        return callable_name(value, module=False) or repr(value)
    return repr(value)


def callable_parts(target: Any) -> tuple[str, str | None]:
    """``(module, qualname)`` of a class or function; ``qualname`` falls back on ``__name__``
    and is ``None`` for an object that has neither (a callable instance)."""
    module = getattr(target, "__module__", None) or ""
    qualname = getattr(target, "__qualname__", None) or getattr(target, "__name__", None)
    return str(module), (qualname if isinstance(qualname, str) else None)


def callable_name(
    target: Any, *, module: bool = True, unwrap: bool = False, or_repr: bool = False
) -> str | None:
    """The one name of a class or function used across spaces (reprs, labels, JSON, the
    unportable-target report): ``module.qualname`` (``qualname`` alone for builtins, or with
    ``module=False``); ``None`` when it has no name, or its ``repr`` with ``or_repr``.

    ``unwrap`` first follows ``__wrapped__`` (``functools.wraps``, ``@symbolic``).
    """
    if unwrap:
        target = getattr(target, "__wrapped__", target)
    where, qualname = callable_parts(target)
    if qualname is None:
        if not or_repr:
            return None
        qualname = repr(target)
    return f"{where}.{qualname}" if module and where and where != "builtins" else qualname


def assignment_key(assignment: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    """A hashable key of an assignment: two assignments get one key exactly when they name
    the same parameters with equal values under one rule, the rule the space applies when it
    reads an assignment:

    - names are strings (parameter names always are); the order of the names does not matter;
    - numbers compare by value whatever their type: ``1``, ``1.0`` and ``numpy.int64(1)``
      are one value (Optuna may hand an int back as a float, and a ``floatv`` reads ``1``
      as ``1.0``); every NaN is one value;
    - ``True``/``False`` (and ``numpy.bool_``) are not numbers: ``True`` differs from ``1``,
      as a ``oneof([True, 1])`` tells them apart;
    - strings (``numpy.str_`` too), ``None`` and any other hashable value compare by type and
      ``==`` (``"1"`` differs from ``1``, ``None`` from ``"None"``);
    - containers compare by their items under this same rule, wherever they are nested: lists
      and tuples item by item (a list and a tuple of equal items are one value), dicts by
      their keys and values in any order, sets and frozensets in any order;
    - numpy arrays, and torch tensors when torch is imported, by dtype, shape and contents.

    Anything else (an unhashable object of another kind) has no key: :class:`SpaceError`
    names the rule, its type and the parameter. So does an argument that is not a mapping, a
    name that is not a string, and a container that contains itself.
    """
    if type(assignment) is not dict and not isinstance(assignment, Mapping):
        raise SpaceError(
            "an assignment must be a mapping of parameter names to values, "
            f"but got a {type(assignment).__name__}: {_short_repr(assignment)}"
        )
    items = []
    for name, v in assignment.items():
        if type(name) is not str:
            raise SpaceError(
                f"assignment names must be strings, but got {name!r} (a {type(name).__name__})"
            )
        items.append((name, value_key(v, name)))
    items.sort()
    return tuple(items)


_SCALARS = (str, int, float, type(None))


def value_key(value: Any, name: str | None = None) -> Any:
    """One value's part of :func:`assignment_key` (``Choice.index_of`` reads labels by it);
    ``name`` (the parameter) is named by the :class:`SpaceError` of a value without a key."""
    kind = type(value)
    if kind is str:
        return ("str", value)
    if kind is int or kind is float:
        return ("number", value) if value == value else ("number", "nan")
    return _key(value, name, set())


def _key(value: Any, name: str | None, open_ids: set[int]) -> Any:
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return ("bool", bool(value))
    if isinstance(value, numbers.Real):
        # 1 == 1.0 and hash(1) == hash(1.0); NaN is never equal to itself
        return ("number", value) if value == value else ("number", "nan")
    if isinstance(value, str):
        return ("str", str(value))
    if isinstance(value, (list, tuple, dict, set, frozenset, Mapping)):
        if id(value) in open_ids:
            raise SpaceError(
                "an assignment value must not contain itself (it has no key by value), "
                f"but got a {type(value).__name__} that does",
                path=name,
            )
        open_ids.add(id(value))
        try:
            return _container_key(value, name, open_ids)
        finally:
            open_ids.discard(id(value))
    array_key = _array_key(value)
    if array_key is not None:
        return array_key
    try:
        hash(value)
    except TypeError:
        raise SpaceError(
            "an assignment value must be hashable or a list, tuple, dict, set, numpy array or "
            f"torch tensor (its key compares by value), but got a {type(value).__name__}: "
            f"{_short_repr(value)}",
            path=name,
        ) from None
    return (type(value).__name__, value)


def _container_key(value: Any, name: str | None, open_ids: set[int]) -> Any:
    if isinstance(value, (list, tuple)):
        return ("items", *(_key(v, name, open_ids) for v in value))
    if isinstance(value, (set, frozenset)):
        return ("set", frozenset(_key(v, name, open_ids) for v in value))
    return (
        "dict",
        frozenset((_key(k, name, open_ids), _key(v, name, open_ids)) for k, v in value.items()),
    )


def _array_key(value: Any) -> Any:
    """The key of a numpy array or a torch tensor (torch only when already imported)."""
    if isinstance(value, np.ndarray):
        if value.dtype.hasobject:
            contents: Any = tuple(_key(v, None, set()) for v in value.flat)
        else:
            contents = value.tobytes()
        return ("array", value.dtype.str, value.shape, contents)
    torch = sys.modules.get("torch")
    tensor: Any = getattr(torch, "Tensor", ()) if torch is not None else ()
    if isinstance(value, tensor):
        flat = value.detach().cpu().reshape(-1).tolist()
        return ("tensor", str(value.dtype), tuple(value.shape), tuple(flat))
    return None


def _short_repr(value: Any) -> str:
    try:
        text = repr(value)
    except Exception:  # a repr that fails: the type is named already
        return "<unprintable>"
    return text if len(text) <= 80 else text[:77] + "..."


def join(path: str, key: Any) -> str:
    """The path of ``key`` (a dict key, an argument name or ``[i]``) under ``path``."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    if isinstance(key, str) and key.startswith("["):
        return path + key
    if isinstance(key, str) and key.isidentifier() and not keyword.iskeyword(key):
        return f"{path}.{key}" if path else key
    return f"{path}[{key!r}]"


def index_of_same(values: Any, value: Any) -> int | None:
    """The position of the first item :func:`same` as ``value`` (type included), or ``None``."""
    for i, known in enumerate(values):
        if same(known, value):
            return i
    return None
