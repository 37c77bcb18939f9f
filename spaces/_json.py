"""JSON for spaces: every node as a small tagged object; targets by importable module path."""

from __future__ import annotations

import importlib
import json
import math
from typing import Any

from symtune.spaces._errors import SpaceError
from symtune.spaces._primitives import FloatV, IntV, ManyOf, OneOf, SelfTuned
from symtune.spaces._symbolic import Symbolic, SymbolicCall

FORMAT_VERSION = 1


def dumps(value: Any) -> str:
    return json.dumps({"symtune_space": FORMAT_VERSION, "value": encode(value, "")})


def loads(text: str) -> Any:
    try:
        document = json.loads(text)
    except (TypeError, json.JSONDecodeError) as error:
        raise SpaceError(
            f"a space's JSON must be valid JSON, but parsing failed: {error}"
        ) from error
    if not isinstance(document, dict) or document.get("symtune_space") != FORMAT_VERSION:
        raise SpaceError(
            f"a space's JSON must be an object with `symtune_space: {FORMAT_VERSION}`, "
            f"but got {str(document)[:80]!r}"
        )
    return decode(document["value"], "")


def reference(target: Any, path: str) -> str:
    """``module:qualname`` of an importable class or function, checked by importing it."""
    target = getattr(target, "target", target) if isinstance(target, Symbolic) else target
    module = getattr(target, "__module__", None)
    qualname = getattr(target, "__qualname__", None)
    where = path or "value"
    if not module or not qualname or "<lambda>" in qualname or "<locals>" in qualname:
        raise SpaceError(
            "symbolic targets must be importable by module path to serialise a space, "
            f"but {target!r} is not (a lambda or a class/function defined inside a function)",
            path=where,
        )
    if module == "__main__":
        raise SpaceError(
            f"symbolic targets must be importable by module path, but {qualname} lives in "
            "__main__; move it into a module",
            path=where,
        )
    try:
        found = resolve(f"{module}:{qualname}", path)
    except SpaceError as error:
        raise SpaceError(f"{target!r} is not importable: {error}", path=where) from error
    if getattr(found, "target", found) is not target:
        raise SpaceError(
            f"`{module}:{qualname}` imports as a different object than {target!r}", path=where
        )
    return f"{module}:{qualname}"


def resolve(ref: str, path: str) -> Any:
    module_name, _, qualname = ref.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as error:
        raise SpaceError(f"cannot import `{ref}`: {error}", path=path or "value") from error
    return obj


def _number(value: float) -> Any:
    return value if math.isfinite(value) else {"float": repr(value)}


def encode(value: Any, path: str) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, list):
        return [encode(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, tuple):
        return {"tuple": [encode(v, f"{path}[{i}]") for i, v in enumerate(value)]}
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise SpaceError(
                f"dict keys must be strings to serialise, but got {list(value)!r}",
                path=path or "value",
            )
        return {"dict": {k: encode(v, f"{path}.{k}") for k, v in value.items()}}
    if isinstance(value, SymbolicCall):
        return {
            "call": reference(value.target, path),
            "args": [encode(v, f"{path}[{i}]") for i, v in enumerate(value.args)],
            "kwargs": {k: encode(v, f"{path}.{k}") for k, v in value.kwargs.items()},
        }
    if isinstance(value, Symbolic):
        return {"symbolic": reference(value.target, path)}
    if isinstance(value, (OneOf, ManyOf)):
        out: dict[str, Any] = {
            "candidates": [encode(c, f"{path}[{i}]") for i, c in enumerate(value.candidates)],
            "name": value.name,
        }
        if isinstance(value, ManyOf):
            out.update(k=value.k, distinct=value.distinct, sorted=value.sorted)
        return {("manyof" if isinstance(value, ManyOf) else "oneof"): out}
    if isinstance(value, (FloatV, IntV)):
        kind = "floatv" if isinstance(value, FloatV) else "intv"
        return {kind: [value.low, value.high, value.log, value.step, value.name]}
    if isinstance(value, SelfTuned):
        return {"selftuned": encode(value.hyper, path), "init": encode(value.init, path)}
    if isinstance(value, type) or callable(value):
        return {"ref": reference(value, path)}
    raise SpaceError(
        f"only plain values, containers, primitives, symbolic calls and importable classes or "
        f"functions can be serialised, but got {value!r} of type {type(value).__name__}",
        path=path or "value",
    )


def decode(data: Any, path: str) -> Any:
    if data is None or isinstance(data, (bool, int, float, str)):
        return data
    if isinstance(data, list):
        return [decode(v, path) for v in data]
    if not isinstance(data, dict) or not data:
        raise SpaceError(f"unknown node in a space's JSON: {data!r}", path=path or "value")
    if "float" in data:
        return float(data["float"])
    if "tuple" in data:
        return tuple(decode(v, path) for v in data["tuple"])
    if "dict" in data:
        return {k: decode(v, path) for k, v in data["dict"].items()}
    if "call" in data:
        target = resolve(data["call"], path)
        target = target.target if isinstance(target, Symbolic) else target
        args = [decode(v, path) for v in data["args"]]
        return SymbolicCall(
            target, tuple(args), {k: decode(v, path) for k, v in data["kwargs"].items()}
        )
    if "symbolic" in data:
        return Symbolic(resolve(data["symbolic"], path))
    if "oneof" in data:
        spec = data["oneof"]
        return OneOf([decode(c, path) for c in spec["candidates"]], name=spec["name"])
    if "manyof" in data:
        spec = data["manyof"]
        candidates = [decode(c, path) for c in spec["candidates"]]
        return ManyOf(
            spec["k"],
            candidates,
            distinct=spec["distinct"],
            sorted=spec["sorted"],
            name=spec["name"],
        )
    if "floatv" in data or "intv" in data:
        cls = FloatV if "floatv" in data else IntV
        low, high, log, step, name = data.get("floatv") or data["intv"]
        return cls(low, high, log=log, step=step, name=name)
    if "selftuned" in data:
        return SelfTuned(decode(data["selftuned"], path), decode(data["init"], path))
    if "ref" in data:
        found = resolve(data["ref"], path)
        return found
    raise SpaceError(f"unknown node in a space's JSON: {data!r}", path=path or "value")
