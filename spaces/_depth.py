"""The nesting limit of spaces, checked without recursion.

Every operation on a space (listing parameters, sampling, materialising, JSON, repr, ``==``)
walks it recursively. A space nested deeper than :data:`MAX_DEPTH` is refused with a
:class:`SpaceError` where it is built, so no operation can ever hit Python's recursion limit.
"""

from __future__ import annotations

from typing import Any

from symtune.spaces._errors import SpaceError
from symtune.spaces._structural import join
from symtune.spaces._symbolic import SymbolicCall

#: How deeply a space may nest: containers, symbolic calls and primitives each add a level.
#: The bound leaves every recursive walk well inside Python's default recursion limit (1000),
#: even when it is called from deep inside a framework's own stack.
MAX_DEPTH = 50


def check_depth(value: Any, path: str = "", *, start: int = 0) -> int:
    """The nesting depth of ``value`` (0 for a plain value, 1 for ``[1]`` or ``intv(1, 2)``).

    Raises :class:`SpaceError`, naming the path, where ``start`` (the levels above
    ``value``) plus the depth passes :data:`MAX_DEPTH`. Nodes that know their depth (every
    primitive, which checked it when it was built, keeps it in ``_space_depth``) are not
    walked again.
    """
    deepest = 0
    stack: list[tuple[Any, int, str]] = [(value, start, path)]
    while stack:
        node, level, where = stack.pop()
        known = getattr(node, "_space_depth", None) if not isinstance(node, type) else None
        inner = [] if isinstance(known, int) else _inner(node, where)
        below = known if isinstance(known, int) else int(_is_container(node))
        if level + below > MAX_DEPTH:
            raise SpaceError(
                f"a space may nest at most {MAX_DEPTH} levels deep (containers, symbolic "
                f"calls and primitives each add one), but it is deeper than that",
                path=where or "value",
            )
        deepest = max(deepest, level + below)
        stack.extend((child, level + 1, child_path) for child, child_path in inner)
    return deepest - start


def _is_container(node: Any) -> bool:
    return isinstance(node, (dict, list, tuple, SymbolicCall))


def _inner(node: Any, where: str) -> list[tuple[Any, str]]:
    if isinstance(node, dict):
        return [(v, join(where, k)) for k, v in node.items()]
    if isinstance(node, (list, tuple)):
        return [(v, join(where, i)) for i, v in enumerate(node)]
    if isinstance(node, SymbolicCall):
        return [(v, join(where, f"[{i}]")) for i, v in enumerate(node.args)] + [
            (v, join(where, k)) for k, v in node.kwargs.items()
        ]
    return []
