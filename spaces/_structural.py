"""Structural equality, hashing and code-like repr for the values a space is made of."""

from __future__ import annotations

import inspect
import keyword
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
        return str(getattr(value, "__qualname__", repr(value)))
    return repr(value)


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
