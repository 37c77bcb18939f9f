"""Structural equality, hashing and code-like repr for the values a space is made of."""

from __future__ import annotations

import inspect
import keyword
import numbers
from collections.abc import Mapping
from typing import Any


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

    - the order of the names does not matter;
    - numbers compare by value whatever their type: ``1``, ``1.0`` and ``numpy.int64(1)``
      are one value (Optuna may hand an int back as a float, and a ``floatv`` reads ``1``
      as ``1.0``);
    - ``True``/``False`` (and ``numpy.bool_``) are not numbers: ``True`` differs from ``1``,
      as a ``oneof([True, 1])`` tells them apart;
    - strings, ``None`` and anything else compare by type and ``==`` (``"1"`` differs from
      ``1``, ``None`` from ``"None"``); lists and tuples item by item.
    """
    return tuple(sorted((str(name), value_key(v)) for name, v in assignment.items()))


def value_key(value: Any) -> Any:
    """One value's part of :func:`assignment_key` (``Choice.index_of`` reads labels by it)."""
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return ("bool", bool(value))
    if isinstance(value, numbers.Real):
        return ("number", value)  # 1 == 1.0 and hash(1) == hash(1.0)
    if isinstance(value, (list, tuple)):
        return ("items", *(value_key(v) for v in value))
    return hashable(value)


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
