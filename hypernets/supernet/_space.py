"""The supernet's view of an architecture space: the space's value with ElasticChoices in it.

:func:`choice_config` walks a ``symtune.spaces.Space`` the way ``Space.materialize`` does
(containers rebuilt, symbolic calls called), but puts an :class:`ElasticChoice` wherever the
space has a ``oneof`` or ``intv``, so a builder written for concrete configs builds the supernet.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from symtune.hypernets.supernet._elastic import ElasticChoice

if TYPE_CHECKING:
    from symtune.spaces import Space

__all__ = ["choice_config"]


Params = dict[str, tuple[ElasticChoice, tuple[Any, ...]]]


def choice_config(space: Space) -> tuple[Any, Params]:
    """``(config, {name: (choice, stored labels)})`` for an architecture space.

    Raises ``SpaceError`` for a parameter a supernet cannot share weights over: a ``floatv``,
    a ``manyof``, a ``selftuned`` value, or a ``oneof`` whose candidates hold primitives
    (a conditional space).
    """
    from symtune.spaces import Hyper, SelfTuned, SpaceError, Symbolic, SymbolicCall

    names = {id(hyper): name for name, hyper in space.parameters.items()}
    params: Params = {}

    def walk(node: Any) -> Any:
        if isinstance(node, SelfTuned):
            raise SpaceError(
                f"a supernet space cannot hold `selftuned` hyperparameters, but got {node!r}",
                path=node.name,
            )
        if isinstance(node, Hyper):
            return _choice_for(node, names[id(node)], params)
        if isinstance(node, dict):
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list | tuple):
            items = [walk(v) for v in node]
            return items if isinstance(node, list) else type(node)(items)
        if isinstance(node, SymbolicCall):
            args = [walk(a) for a in node.args]
            kwargs = {k: walk(v) for k, v in node.kwargs.items()}
            return node.target(*args, **kwargs)
        if isinstance(node, Symbolic):
            return node.target
        return node

    config = walk(space.value)
    return config, params


def _choice_for(hyper: Any, name: str, params: Params) -> ElasticChoice:
    """The elastic choice of one ``oneof`` or ``intv`` parameter, recorded in ``params``."""
    from symtune.spaces import IntV, OneOf, Space, SpaceError

    if isinstance(hyper, OneOf):
        options = []
        for candidate in hyper.candidates:
            inner = Space(candidate)
            if inner.parameters or inner.selftuned:
                raise SpaceError(
                    "a supernet space cannot be conditional: `oneof` candidates must not "
                    f"hold further primitives, but got {candidate!r}",
                    path=name,
                )
            options.append(inner.materialize({}))
        labels = tuple(hyper.labels)
    elif isinstance(hyper, IntV):
        options = hyper.grid_values()
        labels = tuple(options)
    else:
        raise SpaceError(
            "a supernet space may only hold `oneof` and `intv` parameters (elastic "
            f"dimensions), but got {hyper!r}",
            path=name,
        )
    try:
        choice = ElasticChoice(options, name=name)
    except (TypeError, ValueError) as error:
        raise SpaceError(f"cannot make an elastic choice: {error}", path=name) from error
    params[name] = (choice, labels)
    return choice
