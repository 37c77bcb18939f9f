"""``Supernet``: the largest network of an architecture space, whose subnets share its weights.

One builder function makes both networks. Given a concrete config it builds a stand-alone
network; :meth:`Supernet.from_space` calls the same builder with an :class:`ElasticChoice`
wherever the space has a ``oneof`` or ``intv``, and the elastic layers
(``symtune.hypernets.Elastic*``, ``MixedOp``) allocate the largest option and run whichever
option is active:

>>> import torch
>>> from torch import nn
>>> from symtune.spaces import Space, oneof, intv
>>> from symtune.hypernets.supernet import ElasticLinear, ElasticSequential
>>> def build(cfg):
...     width = cfg["width"]
...     return nn.Sequential(
...         ElasticLinear(4, width), nn.ReLU(),
...         ElasticSequential.repeat(lambda i: ElasticLinear(width, width), cfg["depth"]),
...         ElasticLinear(width, 3),
...     )
>>> space = Space({"width": oneof([8, 16, 32]), "depth": intv(1, 3)})
>>> supernet = Supernet.from_space(space, build, input_shape=(4,))
>>> subnet = {"width": 16, "depth": 2}
>>> plain = supernet.export(subnet)          # a plain nn.Module with copies of its weights
>>> [type(m).__name__ for m in plain]
['Linear', 'ReLU', 'Sequential', 'Linear']
>>> x = torch.randn(5, 4)
>>> torch.allclose(plain(x), supernet.activate(subnet)(x), atol=1e-6)
True
>>> fresh = supernet.build_standalone(subnet)  # build(space.materialize(subnet)), new weights

Scoring (batch-norm recalibration, validation error) lives in ``_score``, training
(the sandwich rule) in ``_train``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from symtune.hypernets._torch import kept_modes, module_device
from symtune.hypernets.supernet._elastic import Elastic, ElasticChoice, export_module
from symtune.spaces import assignment_key

if TYPE_CHECKING:
    from symtune.hypernets.supernet._score import ScoringData, SubnetScore
    from symtune.spaces import Space

__all__ = ["Supernet"]

Assignment = dict[str, Any]


@dataclass(frozen=True)
class _Param:
    """How one elastic dimension's stored (Optuna) values map to its ElasticChoice's options."""

    choice: ElasticChoice
    labels: tuple[Any, ...]  # what an assignment stores, one per option

    def option(self, stored: Any) -> Any:
        for label, option in zip(self.labels, self.choice.options, strict=True):
            if type(label) is type(stored) and label == stored:
                return option
        for label, option in zip(self.labels, self.choice.options, strict=True):
            if label == stored and not isinstance(stored, bool):  # 16.0 stored for 16
                return option
        raise ValueError(
            f"the value must be one of {list(self.labels)}, but got {stored!r} "
            f"(at {self.choice.name})"
        )

    def label(self, option: Any) -> Any:
        return self.labels[self.choice.options.index(option)]


class Supernet(nn.Module):
    """A network built with elastic layers, plus the map from assignments to its subnets.

    Build one with :meth:`from_space` (an architecture ``Space`` and one builder) or directly
    from a module whose elastic layers hold named :class:`ElasticChoice` s. An *assignment* is a
    flat dict ``{parameter name: value}``: with a space, exactly the space's (Optuna's) params;
    otherwise ``{choice name: option}``.

    Args:
        net: the module built with elastic layers at their largest sizes.
        input_shape: the shape of one input without the batch dimension, e.g. ``(1, 8, 8)``,
            or ``(seq,)`` for a sequence of token ids; :meth:`export` and cost measures run a
            dummy input (zeros) of this shape.
        input_dtype: the dtype of that dummy input: ``torch.float32`` (default) for features,
            ``torch.long`` for a network that starts with an embedding of token ids (zeros are
            valid ids).

    Attributes:
        net: the wrapped module (its ``state_dict`` keys are prefixed ``net.``).
        choices: ``{name: ElasticChoice}``, the elastic dimensions, in space order when built from
            a space.
        space: the architecture space (``None`` when built directly).
        build_fn: the builder (``None`` when built directly or from a space of symbolic calls).
    """

    def __init__(
        self,
        net: nn.Module,
        *,
        input_shape: Sequence[int],
        input_dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        if not isinstance(input_dtype, torch.dtype):
            raise ValueError(
                "`input_dtype` must be a torch.dtype (e.g. torch.float32, or torch.long for "
                f"token ids), but got input_dtype={input_dtype!r}"
            )
        self.net = net
        self.input_shape = tuple(int(s) for s in input_shape)
        self.input_dtype = input_dtype
        self.space: Space | None = None
        self.build_fn: Callable[[Any], nn.Module] | None = None
        found = _find_choices(net)
        if not found:
            raise ValueError(
                "a supernet needs at least one elastic layer with a Choice of options (an "
                f"ElasticChoice), but the module {type(net).__name__} has none"
            )
        self.choices: dict[str, ElasticChoice] = found
        self._params: dict[str, _Param] = {
            name: _Param(c, tuple(c.options)) for name, c in found.items()
        }
        self._flops: dict[tuple[Any, ...], int] = {}  # FLOPs follow the architecture only

    # -- construction ------------------------------------------------------------------------

    @classmethod
    def from_space(
        cls,
        space: Space,
        build_fn: Callable[[Any], nn.Module] | None = None,
        *,
        input_shape: Sequence[int],
        input_dtype: torch.dtype = torch.float32,
    ) -> Supernet:
        """The supernet of an architecture space.

        Every parameter of ``space`` must be a ``oneof`` (its candidates may be plain values,
        classes or functions, not further primitives) or an ``intv``. The supernet calls
        ``build_fn`` once, on the space's value with each parameter replaced by a
        :class:`ElasticChoice` named after it; ``build_fn(space.materialize(assignment))`` builds a
        stand-alone subnet from the very same code. Without ``build_fn`` the space's value must
        itself build the network (e.g. ``Space(symbolic(Net)(width=oneof([...])))``).
        ``input_shape`` and ``input_dtype`` are as in :class:`Supernet`.
        """
        from symtune.hypernets.supernet._space import choice_config

        config, params = choice_config(space)
        net = config if build_fn is None else build_fn(config)
        if not isinstance(net, nn.Module):
            raise ValueError(
                "the builder must return an nn.Module, but got "
                f"{type(net).__name__} (build_fn={build_fn!r})"
            )
        supernet = cls(net, input_shape=input_shape, input_dtype=input_dtype)
        unused = [name for name in params if name not in supernet.choices]
        if unused:
            raise ValueError(
                "every parameter of a supernet space must reach an elastic layer, but "
                f"{unused} did not (pass them to Elastic* layers, ElasticSequential or MixedOp)"
            )
        supernet.choices = {name: supernet.choices[name] for name in params}
        supernet._params = {
            name: _Param(supernet.choices[name], labels) for name, (_, labels) in params.items()
        }
        supernet.space = space
        supernet.build_fn = build_fn
        return supernet

    # -- subnets -----------------------------------------------------------------------------

    def activate(self, assignment: Mapping[str, Any]) -> Supernet:
        """Make the subnet of ``assignment`` the one that runs; returns ``self``."""
        options = self._options(assignment)
        for name, option in options.items():
            self.choices[name].active = option
        return self

    def _options(self, assignment: Mapping[str, Any]) -> dict[str, Any]:
        if not isinstance(assignment, Mapping):
            raise ValueError(f"an assignment must be a dict, but got {assignment!r}")
        missing = [n for n in self._params if n not in assignment]
        unknown = [n for n in assignment if n not in self._params]
        if missing or unknown:
            raise ValueError(
                "an assignment must give exactly the supernet's parameters "
                f"{list(self._params)}, but got missing={missing}, unknown={unknown}"
            )
        return {n: p.option(assignment[n]) for n, p in self._params.items()}

    def active_assignment(self) -> Assignment:
        """The assignment of the subnet that runs now."""
        return {n: p.label(p.choice.active) for n, p in self._params.items()}

    def largest_assignment(self) -> Assignment:
        """Every dimension at its largest option (the first option for op choices)."""
        return {n: p.label(p.choice.largest) for n, p in self._params.items()}

    def smallest_assignment(self) -> Assignment:
        """Every dimension at its smallest option (the first option for op choices)."""
        return {n: p.label(p.choice.smallest) for n, p in self._params.items()}

    def sample_assignment(self, rng: np.random.Generator | int | None = None) -> Assignment:
        """A random subnet: ``space.sample`` when built from a space, else uniform options."""
        rng = np.random.default_rng(rng)
        if self.space is not None:
            return self.space.sample(int(rng.integers(2**31 - 1)))
        return {n: p.labels[int(rng.integers(len(p.labels)))] for n, p in self._params.items()}

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """Run the active subnet."""
        return self.net(*args, **kwargs)

    def dummy_input(self, batch_size: int = 1) -> torch.Tensor:
        """Zeros of shape ``(batch_size, *input_shape)`` and dtype ``input_dtype`` on the
        supernet's device."""
        shape = (batch_size, *self.input_shape)
        return torch.zeros(shape, dtype=self.input_dtype, device=self.device)

    @property
    def device(self) -> torch.device:
        """The device of the supernet's first parameter (CPU if it has none)."""
        return module_device(self)

    # -- export --------------------------------------------------------------------------------

    def export(self, assignment: Mapping[str, Any] | None = None) -> nn.Module:
        """A plain ``torch.nn`` module for ``assignment`` (default: the active subnet).

        It holds copies of the inherited weights and batch-norm statistics, has no elastic
        machinery, and computes what the supernet computes under that config. The supernet's
        active subnet is left unchanged.
        """
        previous = self.active_assignment()
        if assignment is not None:
            self.activate(assignment)
        try:
            self._trace()
            return export_module(self.net)
        finally:
            self.activate(previous)

    def _trace(self) -> None:
        """One eval-mode forward pass, so every elastic layer records its input width."""
        with kept_modes(self.net, train=False), torch.no_grad():
            self.net(self.dummy_input(1))

    def build_standalone(self, assignment: Mapping[str, Any]) -> nn.Module:
        """A freshly initialised stand-alone network: the builder on the materialised config."""
        if self.space is None:
            raise ValueError(
                "`build_standalone` needs a supernet made by `Supernet.from_space`; build this "
                "one's subnets with `export(assignment)` instead"
            )
        config = self.space.materialize(dict(assignment))
        net = config if self.build_fn is None else self.build_fn(config)
        return net.to(self.device)

    # -- costs -----------------------------------------------------------------------------------

    def subnet_flops(self, assignment: Mapping[str, Any] | None = None, batch_size: int = 1) -> int:
        """FLOPs of one forward pass of a subnet (default: the active one) on ``batch_size``
        inputs, counted by ``torch.utils.flop_counter`` (see :func:`count_flops`).

        Counting costs milliseconds (every op of the forward pass is dispatched through the
        counter), and FLOPs depend on the architecture only, so each subnet is counted once:
        a predictor's inner search and a study's repeated subnets ask again for free.
        """
        from symtune.hypernets.supernet._costs import count_flops

        previous = self.active_assignment()
        target = previous if assignment is None else dict(assignment)
        key = (batch_size, assignment_key(target))  # one subnet, one key: 1 and 1.0 alike
        if key not in self._flops:
            self.activate(target)
            try:
                self._flops[key] = count_flops(self.net, self.dummy_input(batch_size))
            finally:
                self.activate(previous)
        return self._flops[key]

    def subnet_params(self, assignment: Mapping[str, Any] | None = None) -> int:
        """The parameter count of a subnet (default: the active one), from its export."""
        from symtune.hypernets.supernet._costs import count_params

        return count_params(self.export(assignment))

    # -- scoring ---------------------------------------------------------------------------------

    def score(self, assignment: Mapping[str, Any], data: ScoringData) -> SubnetScore:
        """Score one subnet: recalibrate batch norm, evaluate; the supernet is left unchanged."""
        from symtune.hypernets.supernet._score import score_many

        return score_many(self, [assignment], data)[0]

    def score_many(
        self,
        assignments: Iterable[Mapping[str, Any]],
        data: ScoringData,
        *,
        progress: bool = False,
    ) -> list[SubnetScore]:
        """Score many subnets (see :func:`symtune.hypernets.score_many`)."""
        from symtune.hypernets.supernet._score import score_many

        return score_many(self, assignments, data, progress=progress)


def _find_choices(net: nn.Module) -> dict[str, ElasticChoice]:
    """Every ElasticChoice of every elastic layer, named (unnamed ones after their first holder)."""
    by_id: dict[int, ElasticChoice] = {}
    for module_name, module in net.named_modules():
        if not isinstance(module, Elastic):
            continue
        for attr, choice in module.choices().items():
            if choice.name is None:
                choice.name = f"{module_name}.{attr}" if module_name else attr
            by_id.setdefault(id(choice), choice)
    found: dict[str, ElasticChoice] = {}
    for choice in by_id.values():
        name = str(choice.name)
        if name in found:
            raise ValueError(
                "choice names must be unique in a supernet, but two different ElasticChoice "
                f"objects are named {name!r} ({found[name]!r} and {choice!r})"
            )
        found[name] = choice
    return found
