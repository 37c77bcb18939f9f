"""Structural equality, hashing and code-like repr for the values a space is made of."""

from __future__ import annotations

import inspect
from typing import Any


def same(a: Any, b: Any) -> bool:
    """Structural equality that does not confuse ``True`` with ``1`` or ``1.0`` with ``1``."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


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
