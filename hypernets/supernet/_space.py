"""The supernet's view of an architecture space: the space's value with ElasticChoices in it.

:func:`choice_config` maps every primitive of a ``symtune.spaces.Space`` with
``Space.map_primitives`` (containers rebuilt, symbolic calls called, as ``Space.materialize``
does), putting an :class:`ElasticChoice` wherever the space has a ``oneof`` or ``intv``, so a
builder written for concrete configs builds the supernet.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from symtune.hypernets.supernet._elastic import ElasticChoice
from symtune.spaces import IntV, OneOf, SpaceError

if TYPE_CHECKING:
    from symtune.spaces import ParameterInfo, Space

__all__ = ["choice_config"]


Params = dict[str, tuple[ElasticChoice, tuple[Any, ...]]]


def choice_config(space: Space) -> tuple[Any, Params]:
    """``(config, {name: (choice, stored labels)})`` for an architecture space.

    Raises ``SpaceError`` for a parameter a supernet cannot share weights over: a ``floatv``,
    a ``manyof``, a ``selftuned`` value, or a ``oneof`` whose candidates hold primitives
    (a conditional space). A primitive object written at two paths is two elastic choices.
    """
    params: Params = {}

    def elastic(info: ParameterInfo, candidates: tuple[Any, ...]) -> ElasticChoice:
        return _choice_for(space, info, candidates, params)

    return space.map_primitives(elastic), params


def _choice_for(
    space: Space, info: ParameterInfo, candidates: tuple[Any, ...], params: Params
) -> ElasticChoice:
    """The elastic choice of one ``oneof`` or ``intv`` parameter, recorded in ``params``."""
    hyper, name = info.hyper, info.name
    if info.conditions:  # inside a candidate of a choice (mapped before that choice)
        owner = info.conditions[-1]
        choice = space.parameter_info(owner.owner).hyper
        candidate = choice.candidates[owner.index] if isinstance(choice, OneOf) else choice
        raise SpaceError(
            "a supernet space cannot be conditional: `oneof` candidates must not "
            f"hold further primitives, but got {candidate!r}",
            path=owner.owner,
        )
    if info.selftuned:
        raise SpaceError(
            f"a supernet space cannot hold `selftuned` hyperparameters, but got {hyper!r}",
            path=name,
        )
    if isinstance(hyper, OneOf):
        options, labels = list(candidates), tuple(hyper.labels)
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
