"""What each candidate of a choice is stored as, and what it is shown as.

Two labels per candidate:

- the *stored* label (``Choice.labels``): what Optuna stores in ``trial.params``. It never
  changes for a space that could be written before: plain values are stored as themselves,
  other candidates under a short code-like string, or under their index when strings would be
  long or clash. Labels given with the dict spelling, ``oneof({"sgd": ..., "adam": ...})``,
  are stored as given.
- the *display* label (``Choice.display``): what ``describe()``, ``results()`` and the CLI show.
  Given labels; plain values themselves; otherwise a name derived from the candidate (the
  ``"name"`` or ``"type"`` string of a dict, a symbolic call's or class's name), else the
  stored label when it is a short string, else a list's length (``"2 items"``); a derived
  name is kept only where it tells the candidates apart.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from symtune.spaces._depth import check_depth
from symtune.spaces._errors import SpaceError
from symtune.spaces._structural import callable_name, hashable
from symtune.spaces._symbolic import Symbolic, SymbolicCall

#: Values Optuna can store as categorical choices as they are.
STORABLE_TYPES = (type(None), bool, int, float, str)
LABEL_MAX_CHARS = 60
_NAME_KEYS = ("name", "type")
_NONE = object()  # no label could be derived
# Each level of nesting adds at least two characters to a repr ("[]", "f()", "{}"), so a
# candidate nested deeper than this has a label too long to use: its repr is not computed.
_SHORT_DEPTH = LABEL_MAX_CHARS // 2
_LONG = "x" * (LABEL_MAX_CHARS + 1)


def given_labels(candidates: Mapping[Any, Any], what: str, name: str | None) -> tuple[str, ...]:
    """The labels of the dict spelling: non-empty strings (dict keys are already distinct)."""
    for label in candidates:
        if not isinstance(label, str) or not label.strip():
            raise SpaceError(
                f"`{what}` labels (the keys of a dict of candidates) must be non-empty strings, "
                f"but got {label!r}",
                path=name,
            )
    return tuple(candidates)


def check_distinct(candidates: tuple[Any, ...], what: str, name: str | None) -> None:
    """Refuse two candidates that are the same value (``1`` and ``True`` are not)."""
    first: dict[Any, int] = {}
    for j, candidate in enumerate(candidates):
        if isinstance(candidate, float) and math.isnan(candidate):
            raise SpaceError(
                f"`{what}` candidates must not be NaN (nothing equals NaN, so a stored choice "
                f"could never be found again), but got nan at {j}",
                path=name,
            )
        key = hashable(candidate)
        if key in first:
            raise SpaceError(
                f"`{what}` candidates must be distinct, but got {candidate!r} at {first[key]} "
                f"and {j}",
                path=name,
            )
        first[key] = j


def stored_labels(candidates: tuple[Any, ...]) -> tuple[Any, ...]:
    """Stable labels under which Optuna stores each candidate (list spelling).

    Plain values (None, bool, int, float, str) are stored as themselves when Optuna can tell
    them apart: it finds a choice by ``==``, so ``1``, ``True`` and ``1.0`` would merge and are
    stored as ``"1"``, ``"True"``, ``"1.0"`` instead. Anything else (a class, a function, a
    symbolic call, a nested structure) is stored under a short label that reads like the code
    that wrote it, e.g. ``"torch.nn.ReLU"`` or ``"Linear(64, 32)"``, or under its index when
    labels would be long or clash. Labels depend only on the space, never on object
    addresses, so a study can be reloaded in another process.
    """
    if all(isinstance(c, STORABLE_TYPES) for c in candidates) and _optuna_distinct(candidates):
        return candidates
    labels = tuple(code_label(c) if check_depth(c) <= _SHORT_DEPTH else _LONG for c in candidates)
    if all(len(label) <= LABEL_MAX_CHARS for label in labels) and len(set(labels)) == len(labels):
        return labels
    return tuple(range(len(candidates)))


def display_labels(candidates: tuple[Any, ...], stored: tuple[Any, ...]) -> tuple[Any, ...]:
    """A readable label per candidate (list spelling); distinct, falling back to ``stored``."""
    derived = [_derived(c, s) for c, s in zip(candidates, stored, strict=True)]
    counts: dict[Any, int] = {}
    for label in derived:
        if label is not _NONE:
            counts[hashable(label)] = counts.get(hashable(label), 0) + 1
    out: list[Any] = []
    for j, label in enumerate(derived):
        if label is _NONE or counts[hashable(label)] > 1:
            label = _short(candidates[j], stored[j])
        out.append(label)
    if len({hashable(label) for label in out}) != len(out):
        return stored
    return tuple(out)


def code_label(candidate: Any) -> str:
    """A code-like string for a candidate: ``module.qualname`` of a class or function."""
    if isinstance(candidate, type) or (callable(candidate) and hasattr(candidate, "__qualname__")):
        return callable_name(candidate, unwrap=True, or_repr=True) or repr(candidate)
    text = repr(candidate)
    return text if " at 0x" not in text else f"<{type(candidate).__name__}>"


def _optuna_distinct(values: tuple[Any, ...]) -> bool:
    if any(isinstance(v, float) and math.isnan(v) for v in values):
        return False
    return len(set(values)) == len(values)


def _derived(candidate: Any, stored: Any) -> Any:
    if isinstance(candidate, STORABLE_TYPES):
        return candidate
    if isinstance(candidate, dict):
        for key in _NAME_KEYS:
            if isinstance(candidate.get(key), str) and candidate[key]:
                return candidate[key]
        return _NONE
    if isinstance(candidate, (SymbolicCall, Symbolic)):
        candidate = candidate.target
    if isinstance(candidate, type) or callable(candidate):
        name = callable_name(candidate, module=False)
        return name if name is not None and "<" not in name else None
    if isinstance(candidate, (list, tuple)) and not isinstance(stored, str):
        return f"{len(candidate)} item" + ("" if len(candidate) == 1 else "s")
    return _NONE


def _short(candidate: Any, stored: Any) -> Any:
    if isinstance(stored, str):
        return stored
    if check_depth(candidate) > _SHORT_DEPTH:
        return stored
    label = code_label(candidate)
    return label if len(label) <= LABEL_MAX_CHARS else stored
