"""Symbolic calls: record a call now, build the object at materialisation.

``symbolic(torch.nn.Linear)(64, oneof([32, 64]))`` builds nothing: it returns a
:class:`SymbolicCall` node that a :class:`~symtune.spaces.Space` can search over and later call
with concrete arguments. ``@symbolic`` on a user's own class or function does the same for every
call of it.
"""

from __future__ import annotations

import difflib
import functools
import inspect
from collections.abc import Callable
from typing import Any

from symtune.spaces._errors import SpaceError
from symtune.spaces._structural import callable_name, code_repr, hashable, same


class Symbolic:
    """A callable whose calls are recorded as :class:`SymbolicCall` nodes.

    ``target`` is the real class or function; ``Symbolic`` objects compare equal when their
    targets are the same object.
    """

    def __init__(self, target: Callable[..., Any]) -> None:
        if isinstance(target, Symbolic):
            target = target.target
        if not callable(target):
            raise SpaceError(f"`symbolic` needs a class or a function, but got {target!r}")
        self.target: Callable[..., Any] = target
        functools.update_wrapper(self, target, updated=())

    def __call__(self, *args: Any, **kwargs: Any) -> SymbolicCall:
        return SymbolicCall(self.target, args, kwargs)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Symbolic) and self.target is other.target

    def __hash__(self) -> int:
        return hash(("symbolic", id(self.target)))

    def __repr__(self) -> str:
        return f"symbolic({target_name(self.target)})"


class SymbolicCall:
    """A recorded call ``target(*args, **kwargs)``; arguments may hold primitives and calls."""

    __slots__ = ("_hash", "args", "kwargs", "target")

    def __init__(self, target: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]):
        self.target = target
        self.args = tuple(args)
        self.kwargs = dict(kwargs)
        self._hash: int | None = None

    def __getstate__(self) -> tuple[Any, ...]:
        return (self.target, self.args, self.kwargs)  # not the hash: it differs per process

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        self.target, self.args, self.kwargs = state
        self._hash = None

    def argument_names(self) -> list[str]:
        """A readable name for each positional argument, from the target's signature.

        ``symbolic(nn.Linear)(64, 32)`` names its arguments ``in_features`` and
        ``out_features``; where the signature is unknown or the argument is variadic, the
        position ``[i]`` is used instead.
        """
        parameters = signature_parameters(self.target) or []
        names: list[str] = []
        for i in range(len(self.args)):
            p = parameters[i] if i < len(parameters) else None
            if p is not None and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
                names.append(p.name)
            else:
                names.append(f"[{i}]")
        return names

    def check_arguments(self, path: str) -> None:
        """Refuse arguments the target cannot take, naming the rule, the target and ``path``.

        Checked against the target's signature where it has one (builtins and C functions
        without one are skipped): too many positional arguments, a keyword the target does
        not take (``Block(widht=3)``, with a "did you mean"), an argument given twice, a
        missing required argument. The recorded values are placeholders (primitives, nested
        calls), which is all ``inspect.Signature.bind`` needs.
        """
        parameters = signature_parameters(self.target)
        if parameters is None:
            return
        name = getattr(self.target, "__name__", repr(self.target))
        kinds = {p.kind for p in parameters}
        positional = [
            p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
        if inspect.Parameter.VAR_POSITIONAL not in kinds and len(self.args) > len(positional):
            raise SpaceError(
                f"too many positional arguments: `{name}` takes {len(positional)}, got "
                f"{len(self.args)} in {self!r}",
                path=path,
            )
        if inspect.Parameter.VAR_KEYWORD not in kinds:
            self._check_keywords(parameters, name, path)
        given = {p.name for p in positional[: len(self.args)]} | set(self.kwargs)
        for p in parameters:
            required = p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
            if required and p.name not in given:
                raise SpaceError(
                    f"missing required argument `{p.name}`: `{name}` requires it, got {self!r}",
                    path=path,
                )
        try:  # what the rules above do not spell out (e.g. a positional-only one by keyword)
            inspect.Signature(parameters).bind(*self.args, **self.kwargs)
        except TypeError as error:
            raise SpaceError(
                f"the arguments of a symbolic call must fit its target's signature, but "
                f"`{name}{inspect.Signature(parameters)}` refuses {self!r}: {error}",
                path=path,
            ) from None

    def _check_keywords(self, parameters: list[inspect.Parameter], name: str, path: str) -> None:
        keywords = [
            p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        ]
        positional = set()
        for p in parameters[: len(self.args)]:
            if p.kind not in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
                break
            positional.add(p.name)
        for key in self.kwargs:
            if key in positional:
                raise SpaceError(
                    f"each argument of a symbolic call is given once, but `{name}` gets "
                    f"`{key}` both by position and by keyword in {self!r}",
                    path=path,
                )
            if key not in keywords:
                close = difflib.get_close_matches(key, keywords, n=1)
                hint = f" (did you mean `{close[0]}`?)" if close else ""
                raise SpaceError(
                    f"every keyword of a symbolic call must be a parameter of its target, but "
                    f"`{name}` has no parameter `{key}`{hint}; it takes {keywords}, got {self!r}",
                    path=path,
                )

    def _structural_key(self) -> tuple[Any, ...]:  # what `same` compares, without recursion
        return (id(self.target), self.args, self.kwargs)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SymbolicCall) and same(
            self._structural_key(), other._structural_key()
        )

    def __hash__(self) -> int:
        if self._hash is None:  # treated as immutable: hash once, not once per enclosing node
            self._hash = hash(("call", id(self.target), hashable(self.args), hashable(self.kwargs)))
        return self._hash

    def __repr__(self) -> str:
        parts = [code_repr(a) for a in self.args]
        parts += [f"{k}={code_repr(v)}" for k, v in self.kwargs.items()]
        return f"{getattr(self.target, '__name__', repr(self.target))}({', '.join(parts)})"


def symbolic(target: Callable[..., Any]) -> Symbolic:
    """Make calls of ``target`` symbolic: recorded as space nodes, built at materialisation.

    Use it as a wrapper, ``symbolic(torch.nn.Linear)(64, oneof([32, 64]))``, or as a decorator
    on your own classes and functions::

        @symbolic
        class MLP(nn.Module):
            def __init__(self, width, depth): ...

        space = Space(MLP(width=oneof([32, 64]), depth=intv(1, 3)))

    The decorated name then stands for the :class:`Symbolic` wrapper; the real class is
    ``MLP.target`` (and ``MLP.__wrapped__``).
    """
    return Symbolic(target)


def signature_parameters(target: Any) -> list[inspect.Parameter] | None:
    """The parameters of ``target``'s signature, or ``None`` where it has none (some builtins)."""
    try:
        return _cached_parameters(target)
    except TypeError:  # an unhashable callable: no cache
        return _parameters(target)


@functools.lru_cache(maxsize=1024)
def _cached_parameters(target: Any) -> list[inspect.Parameter] | None:
    return _parameters(target)


def _parameters(target: Any) -> list[inspect.Parameter] | None:
    try:
        return list(inspect.signature(target).parameters.values())
    except (TypeError, ValueError):
        return None


def target_name(target: Any) -> str:
    """``module.qualname`` of a class or function (``qualname`` alone for builtins)."""
    return callable_name(target, or_repr=True) or repr(target)
