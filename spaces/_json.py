"""JSON for spaces: every node as a small tagged object; targets by module path.

A target is written as ``module:qualname`` and read back by importing it. Targets defined in
``__main__`` (a script, a notebook) are written too: they read back in the same process, and
another process that lacks them gets a :class:`SpaceError` naming the target and its path.
:func:`unportable` lists such targets ahead of time.
"""

from __future__ import annotations

import importlib
import json
import math
from collections.abc import Callable
from typing import Any

from symtune.spaces._depth import MAX_DEPTH
from symtune.spaces._errors import SpaceError
from symtune.spaces._portable import reason, script_folders
from symtune.spaces._primitives import Choice, FloatV, Hyper, IntV, ManyOf, OneOf, SelfTuned
from symtune.spaces._structural import callable_parts
from symtune.spaces._symbolic import Symbolic, SymbolicCall, target_name
from symtune.spaces._walk import ROOT_NAME, candidate_path, children, join, label_key, param_name

FORMAT_VERSION = 1
_JSON_LEVELS_PER_NODE = 3  # {"oneof": {"candidates": [...]}}: the most JSON levels per node


def dumps(value: Any) -> str:
    return json.dumps({"symtune_space": FORMAT_VERSION, "value": encode(value, "")})


def loads(text: str) -> Any:
    try:
        document = json.loads(text)
    except (TypeError, json.JSONDecodeError) as error:
        raise SpaceError(
            f"a space's JSON must be valid JSON, but parsing failed: {error}"
        ) from error
    except RecursionError:
        raise SpaceError(
            f"a space may nest at most {MAX_DEPTH} levels deep, but its JSON is nested too "
            "deeply to read"
        ) from None
    if _json_depth(document) > _JSON_LEVELS_PER_NODE * (MAX_DEPTH + 1):
        raise SpaceError(
            f"a space may nest at most {MAX_DEPTH} levels deep, but its JSON is nested deeper"
        )
    if not isinstance(document, dict) or document.get("symtune_space") != FORMAT_VERSION:
        raise SpaceError(
            f"a space's JSON must be an object with `symtune_space: {FORMAT_VERSION}`, "
            f"but got {str(document)[:80]!r}"
        )
    try:
        return decode(document.get("value"), "")
    except (KeyError, TypeError, ValueError) as error:
        if isinstance(error, SpaceError):
            raise
        raise SpaceError(
            f"a space's JSON must hold well-formed nodes, but reading it failed: "
            f"{type(error).__name__}: {error}"
        ) from error


def _json_depth(document: Any) -> int:
    deepest, stack = 0, [(document, 1)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        if isinstance(node, dict):
            stack.extend((v, level + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, level + 1) for v in node)
    return deepest


def reference(target: Any, path: str) -> str:
    """``module:qualname`` of a class or function, checked by resolving it in this process.

    Targets defined in ``__main__`` (a script, a notebook) are accepted: they resolve in the
    process that wrote the JSON, and :func:`unportable` lists them so that callers can warn that
    another process will not read the space back.
    """
    target = _unwrap(target)
    module, qualname = callable_parts(target)
    where = path or ROOT_NAME
    if not module or not qualname or "<lambda>" in qualname or "<locals>" in qualname:
        raise SpaceError(
            "symbolic targets must be importable by module path to serialise a space, "
            f"but {target!r} is not (a lambda or a class/function defined inside a function)",
            path=where,
        )
    try:
        found = resolve(f"{module}:{qualname}", path)
    except SpaceError as error:
        raise SpaceError(f"{target!r} is not importable: {error}", path=where) from error
    if _unwrap(found) is not target:
        raise SpaceError(
            f"`{module}:{qualname}` imports as a different object than {target!r}", path=where
        )
    return f"{module}:{qualname}"


def resolve(ref: str, path: str) -> Any:
    """The object ``module:qualname`` names; a :class:`SpaceError` names it and the path."""
    module_name, _, qualname = ref.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as error:
        if module_name == "__main__":
            raise SpaceError(
                f"the space refers to `__main__.{qualname}`, which this process does not define: "
                "it was defined in the script or notebook that wrote the space; move it into an "
                "importable module to read the space in another process",
                path=path or ROOT_NAME,
            ) from error
        raise SpaceError(f"cannot import `{ref}`: {error}", path=path or ROOT_NAME) from error
    return obj


def unportable(value: Any) -> dict[str, tuple[str, str]]:
    """``{dotted name: (path of its first use, reason)}`` of the targets another process
    cannot import, by the rule of :mod:`symtune.spaces._portable`. A space without any is
    readable by every process that has its modules."""
    found: dict[str, tuple[str, str]] = {}
    folders = script_folders()
    checked: dict[int, str | None] = {}
    for target, path in _targets(value):
        if id(target) not in checked:
            checked[id(target)] = reason(target, _leads_back(target), folders)
        why = checked[id(target)]
        if why is not None:
            found.setdefault(target_name(target), (path, why))
    return found


def targets(value: Any) -> dict[str, str]:
    """``{"module:qualname": path of its first use}`` of every class or function the space
    refers to: symbolic calls' targets, ``symbolic`` wrappers, classes and functions as values."""
    found: dict[str, str] = {}
    for target, path in _targets(value):
        module, qualname = callable_parts(_unwrap(target))
        found.setdefault(f"{module}:{qualname}", path)
    return found


def _targets(value: Any) -> list[tuple[Any, str]]:
    """Every (target, path) of the space, in walk order (every branch)."""
    found: list[tuple[Any, str]] = []

    def visit(node: Any, path: str) -> None:
        if isinstance(node, (SymbolicCall, Symbolic)):
            found.append((node.target, path or ROOT_NAME))
        elif isinstance(node, type) or (callable(node) and not isinstance(node, Hyper)):
            found.append((node, path or ROOT_NAME))
        if isinstance(node, SelfTuned):
            visit(node.hyper, path)
        if isinstance(node, Choice):
            name = param_name(node, path)
            for j, candidate in enumerate(node.candidates):
                visit(candidate, candidate_path(node, name, j))
        for child, child_path in children(node, path):
            visit(child, child_path)

    visit(value, "")
    return found


def _leads_back(target: Any) -> Callable[[str, str], bool]:
    def check(module: str, qualname: str) -> bool:
        try:
            return _unwrap(resolve(f"{module}:{qualname}", "")) is target
        except SpaceError:
            return False

    return check


def _unwrap(target: Any) -> Any:
    return target.target if isinstance(target, Symbolic) else target


def _number(value: float) -> Any:
    return value if math.isfinite(value) else {"float": repr(value)}


def encode(value: Any, path: str) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, list):
        return [encode(v, join(path, i)) for i, v in enumerate(value)]
    if isinstance(value, tuple):
        return {"tuple": [encode(v, join(path, i)) for i, v in enumerate(value)]}
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise SpaceError(
                f"dict keys must be strings to serialise, but got {list(value)!r}",
                path=path or ROOT_NAME,
            )
        return {"dict": {k: encode(v, join(path, k)) for k, v in value.items()}}
    if isinstance(value, SymbolicCall):
        parts = children(value, path)
        return {
            "call": reference(value.target, path),
            "args": [encode(v, p) for v, p in parts[: len(value.args)]],
            "kwargs": {
                k: encode(v, p)
                for k, (v, p) in zip(value.kwargs, parts[len(value.args) :], strict=True)
            },
        }
    if isinstance(value, Symbolic):
        return {"symbolic": reference(value.target, path)}
    if isinstance(value, Choice):
        return _encode_choice(value, path)
    if isinstance(value, (FloatV, IntV)):
        kind = "floatv" if isinstance(value, FloatV) else "intv"
        return {kind: [_number(value.low), _number(value.high), value.log, value.step, value.name]}
    if isinstance(value, SelfTuned):
        return {"selftuned": encode(value.hyper, path), "init": encode(value.init, path)}
    if isinstance(value, type) or callable(value):
        return {"ref": reference(value, path)}
    raise SpaceError(
        f"only plain values, containers, primitives, symbolic calls and importable classes or "
        f"functions can be serialised, but got {value!r} of type {type(value).__name__}",
        path=path or ROOT_NAME,
    )


def _encode_choice(value: Choice, path: str) -> Any:
    name = param_name(value, path)
    out: dict[str, Any] = {
        "candidates": [
            encode(c, candidate_path(value, name, j)) for j, c in enumerate(value.candidates)
        ],
        "name": value.name,
    }
    if isinstance(value, ManyOf):
        out.update(k=value.k, distinct=value.distinct, sorted=value.sorted)
    if value.given_labels is not None:  # only then: the JSON of a list spelling is unchanged
        out["labels"] = list(value.given_labels)
    return {("manyof" if isinstance(value, ManyOf) else "oneof"): out}


def decode(data: Any, path: str) -> Any:
    if data is None or isinstance(data, (bool, int, float, str)):
        return data
    if isinstance(data, list):
        return [decode(v, join(path, i)) for i, v in enumerate(data)]
    if not isinstance(data, dict) or not data:
        raise SpaceError(f"unknown node in a space's JSON: {data!r}", path=path or ROOT_NAME)
    if "float" in data:
        return float(data["float"])
    if "tuple" in data:
        return tuple(decode(v, join(path, i)) for i, v in enumerate(data["tuple"]))
    if "dict" in data:
        return {k: decode(v, join(path, k)) for k, v in data["dict"].items()}
    if "call" in data:
        return _decode_call(data, path)
    if "symbolic" in data:
        return Symbolic(resolve(data["symbolic"], path))
    if "oneof" in data or "manyof" in data:
        return _decode_choice(data, path)
    if "floatv" in data or "intv" in data:
        cls = FloatV if "floatv" in data else IntV
        low, high, log, step, name = data.get("floatv") or data["intv"]
        return cls(decode(low, path), decode(high, path), log=log, step=step, name=name)
    if "selftuned" in data:
        return SelfTuned(decode(data["selftuned"], path), decode(data["init"], path))
    if "ref" in data:
        return resolve(data["ref"], path)
    raise SpaceError(f"unknown node in a space's JSON: {data!r}", path=path or ROOT_NAME)


def _decode_call(data: dict[str, Any], path: str) -> SymbolicCall:
    target = _unwrap(resolve(data["call"], path))
    names = SymbolicCall(target, tuple(data["args"]), {}).argument_names()
    args = tuple(decode(v, join(path, n)) for v, n in zip(data["args"], names, strict=True))
    kwargs = {k: decode(v, join(path, k)) for k, v in data["kwargs"].items()}
    return SymbolicCall(target, args, kwargs)


def _decode_choice(data: dict[str, Any], path: str) -> Choice:
    many = "manyof" in data
    spec = data["manyof"] if many else data["oneof"]
    name = spec["name"] or path or ROOT_NAME
    where = f"{name}.candidates" if many else name
    labels = spec.get("labels")
    keys = [label_key(str(label)) for label in labels] if isinstance(labels, list) else None
    candidates: Any = [
        decode(c, f"{where}[{keys[j] if keys and j < len(keys) else j}]")
        for j, c in enumerate(spec["candidates"])
    ]
    if isinstance(labels, list):
        if len(labels) != len(candidates) or len(set(map(repr, labels))) != len(labels):
            raise SpaceError(
                f"a labelled choice needs one distinct label per candidate, but got {labels!r}",
                path=name,
            )
        candidates = dict(zip(labels, candidates, strict=True))
    if many:
        return ManyOf(
            spec["k"],
            candidates,
            distinct=spec["distinct"],
            sorted=spec["sorted"],
            name=spec["name"],
        )
    return OneOf(candidates, name=spec["name"])
