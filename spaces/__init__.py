"""Symbolic search spaces: write a space in plain Python, search it with any Optuna sampler.

    from symtune.spaces import Space, floatv, intv, oneof, symbolic

    space = Space({"lr": floatv(1e-4, 1e-1, log=True),
                   "layers": [symbolic(torch.nn.Linear)(64, oneof([32, 64]))]})

See :class:`Space` for what a space offers and the README for a tour. Tools built on spaces
use its public hooks rather than walking a space themselves: :meth:`Space.map_primitives`
(every primitive replaced by a value of the caller's choosing, e.g. a supernet's elastic
dimensions), :attr:`Space.encoding_layout` (:class:`EncodingBlock`: which slice of
:meth:`Space.encode`'s vectors is which parameter, and how), :meth:`Space.distributions`
(Optuna's view), :meth:`Space.targets`, and :func:`assignment_key` (one key, one equality
rule, for deduplicating assignments).
"""

from symtune.spaces._encoding import EncodingBlock
from symtune.spaces._errors import SpaceError
from symtune.spaces._primitives import (
    FloatV,
    Hyper,
    IntV,
    ManyOf,
    OneOf,
    SelfTuned,
    floatv,
    intv,
    manyof,
    oneof,
    selftuned,
)
from symtune.spaces._selftuned_value import SelfTunedValue
from symtune.spaces._space import Space
from symtune.spaces._structural import assignment_key
from symtune.spaces._symbolic import Symbolic, SymbolicCall, symbolic
from symtune.spaces._walk import Condition, ParameterInfo

__all__ = [
    "Condition",
    "EncodingBlock",
    "FloatV",
    "Hyper",
    "IntV",
    "ManyOf",
    "OneOf",
    "ParameterInfo",
    "SelfTuned",
    "SelfTunedValue",
    "Space",
    "SpaceError",
    "Symbolic",
    "SymbolicCall",
    "assignment_key",
    "floatv",
    "intv",
    "manyof",
    "oneof",
    "selftuned",
    "symbolic",
]
