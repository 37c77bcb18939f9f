"""Elastic layers: one wide layer that runs as any of its narrower, smaller or shallower subnets.

Every elastic layer takes its sizes either as a plain ``int`` (a stand-alone layer that behaves
exactly like its ``torch.nn`` counterpart) or as an :class:`ElasticChoice` (a supernet layer: the
largest option is allocated and the choice's *active* option is used at each forward pass). The same
model-building code therefore makes both the stand-alone network and the supernet.

The weight-sharing rules (Once-for-All style):

- width: a subnet uses the first ``k`` output channels / hidden units; the input side follows
  whatever width the previous layer produced (read from the incoming tensor);
- kernel size: a subnet uses the centre ``k x k`` crop of the largest kernel;
- depth: a stage runs its first ``d`` blocks;
- mixed op: one of several candidate modules runs;
- batch norm: the first ``k`` channels' affine parameters and running statistics.

:func:`export_module` turns a network that contains elastic layers into a plain ``torch.nn``
network for the currently active subnet, holding copies of the inherited weights.
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from typing import Any, TypeAlias

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "Elastic",
    "ElasticBatchNorm1d",
    "ElasticBatchNorm2d",
    "ElasticChoice",
    "ElasticConv2d",
    "ElasticLinear",
    "ElasticSequential",
    "MixedOp",
    "active",
    "export_module",
    "largest",
]


class ElasticChoice:
    """An elastic dimension of a supernet: a set of options and the one active now.

    A builder function receives an ``ElasticChoice`` where a stand-alone network would receive a
    concrete value; elastic layers allocate room for :attr:`largest` and read :attr:`active`
    at each forward pass. Several layers may share one ``ElasticChoice`` (e.g. a convolution's width
    and its batch norm), so activating it changes them together.

    Args:
        options: the candidate values, in the order the user lists them (hashable, distinct).
        name: the parameter's name, e.g. ``"stages[0].width"``; :class:`Supernet` names an
            unnamed choice after the first module attribute that holds it.

    >>> width = ElasticChoice([8, 16, 32], name="width")
    >>> width.largest, width.smallest, width.active
    (32, 8, 32)
    >>> width.active = 16
    """

    __slots__ = ("_active", "name", "options")

    def __init__(self, options: Sequence[Hashable], *, name: str | None = None) -> None:
        opts = tuple(options)
        where = f" (at {name})" if name else ""
        if not opts:
            raise ValueError(f"an ElasticChoice needs at least one option, but got none{where}")
        if len(set(opts)) != len(opts):
            raise ValueError(f"ElasticChoice options must be distinct, but got {list(opts)}{where}")
        self.name = name
        self.options: tuple[Hashable, ...] = opts
        self._active: Hashable = self.largest

    @property
    def numeric(self) -> bool:
        """Whether every option is a number (sizes); op choices are not numeric."""
        return all(isinstance(o, int | float) and not isinstance(o, bool) for o in self.options)

    @property
    def largest(self) -> Any:
        """The largest option for numeric choices, the first option otherwise."""
        return max(self.options) if self.numeric else self.options[0]  # type: ignore[type-var]

    @property
    def smallest(self) -> Any:
        """The smallest option for numeric choices, the first option otherwise."""
        return min(self.options) if self.numeric else self.options[0]  # type: ignore[type-var]

    @property
    def active(self) -> Any:
        """The option that elastic layers use at the next forward pass."""
        return self._active

    @active.setter
    def active(self, value: Hashable) -> None:
        if value not in self.options:
            where = f" (at {self.name})" if self.name else ""
            raise ValueError(
                f"an active value must be one of the options {list(self.options)}, "
                f"but got {value!r}{where}"
            )
        self._active = value

    def __repr__(self) -> str:
        name = f", name={self.name!r}" if self.name else ""
        return f"ElasticChoice({list(self.options)}{name}, active={self._active!r})"


Size: TypeAlias = int | ElasticChoice


def largest(value: Any) -> Any:
    """The value to allocate for: ``value.largest`` for an :class:`ElasticChoice`, else
    ``value``."""
    return value.largest if isinstance(value, ElasticChoice) else value


def active(value: Any) -> Any:
    """The value in use now: ``value.active`` for an :class:`ElasticChoice`, else ``value``."""
    return value.active if isinstance(value, ElasticChoice) else value


def _check_size(value: Size, what: str, *, minimum: int = 1) -> None:
    options = value.options if isinstance(value, ElasticChoice) else (value,)
    for option in options:
        if not isinstance(option, int) or isinstance(option, bool) or option < minimum:
            raise ValueError(
                f"`{what}` must be an int >= {minimum} or an ElasticChoice of such ints, but got "
                f"{value!r}"
            )


class Elastic:
    """Mixin of every elastic layer: it knows its choices and how to become a plain layer."""

    _choice_attrs: tuple[str, ...] = ()

    def choices(self) -> dict[str, ElasticChoice]:
        """``{attribute name: ElasticChoice}`` for the elastic dimensions of this layer itself."""
        found = {attr: getattr(self, attr) for attr in self._choice_attrs}
        return {attr: c for attr, c in found.items() if isinstance(c, ElasticChoice)}

    def to_static(self) -> nn.Module:
        """A plain ``torch.nn`` module for the active configuration, with copied weights."""
        raise NotImplementedError


def _last_in(layer: object) -> int:
    value = getattr(layer, "_last_in", None)
    if value is None:
        raise RuntimeError(
            f"this {type(layer).__name__} has not seen an input yet: run a forward pass under "
            "the active config before exporting (Supernet.export does this)"
        )
    return int(value)


def _check_input_width(layer: object, k_in: int, allocated: int) -> None:
    if k_in > allocated:
        raise ValueError(
            f"`input width <= largest(in)` must hold, but {type(layer).__name__} got an input "
            f"of width {k_in} with room for {allocated}"
        )


def _copy_param(dst: torch.Tensor, src: torch.Tensor) -> None:
    with torch.no_grad():
        dst.copy_(src)


class ElasticLinear(Elastic, nn.Linear):
    """``nn.Linear`` whose output width may be an :class:`ElasticChoice`.

    The first ``out_features.active`` units are used; the input width is whatever the
    incoming tensor has (at most the largest ``in_features``), and the first input columns of
    the weight are used. Its ``state_dict`` is the one of ``nn.Linear(largest(in), largest(out))``.

    >>> layer = ElasticLinear(16, ElasticChoice([4, 8]))
    >>> layer.out_features.active = 4
    >>> layer(torch.zeros(2, 12)).shape
    torch.Size([2, 4])
    """

    _choice_attrs = ("out_features",)

    def __init__(self, in_features: Size, out_features: Size, bias: bool = True) -> None:
        _check_size(in_features, "in_features")
        _check_size(out_features, "out_features")
        nn.Linear.__init__(self, largest(in_features), largest(out_features), bias=bias)
        self.in_features = in_features  # type: ignore[assignment]
        self.out_features = out_features  # type: ignore[assignment]
        self._last_in: int | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the active slice of the weight to ``x``."""
        k_in, k_out = x.shape[-1], active(self.out_features)
        _check_input_width(self, k_in, self.weight.shape[1])
        self._last_in = k_in
        if k_in == self.weight.shape[1] and k_out == self.weight.shape[0]:
            return F.linear(x, self.weight, self.bias)
        bias = self.bias[:k_out] if self.bias is not None else None
        return F.linear(x, self.weight[:k_out, :k_in], bias)

    def to_static(self) -> nn.Linear:
        """``nn.Linear`` for the active width, holding copies of the sliced weights."""
        k_in, k_out = _last_in(self), active(self.out_features)
        out = nn.Linear(k_in, k_out, bias=self.bias is not None)
        out = out.to(device=self.weight.device, dtype=self.weight.dtype)
        _copy_param(out.weight, self.weight[:k_out, :k_in])
        if self.bias is not None:
            _copy_param(out.bias, self.bias[:k_out])
        return out


class ElasticConv2d(Elastic, nn.Conv2d):
    """``nn.Conv2d`` whose output width and kernel size may be :class:`ElasticChoice` s.

    The first ``out_channels.active`` filters are used, the input channels follow the incoming
    tensor, and a smaller kernel is the centre crop of the largest one. ``padding="same"``
    (the default) pads ``k // 2`` for the active kernel ``k`` (kernel sizes must be odd);
    an int pads that much whatever the kernel. Only ``groups=1`` and ``dilation=1``.

    >>> conv = ElasticConv2d(3, ElasticChoice([8, 16]), kernel_size=ElasticChoice([3, 5]))
    >>> conv.kernel_size.active = 3
    >>> conv(torch.zeros(1, 3, 8, 8)).shape
    torch.Size([1, 16, 8, 8])
    """

    _choice_attrs = ("out_channels", "kernel_size")

    def __init__(
        self,
        in_channels: Size,
        out_channels: Size,
        kernel_size: Size,
        stride: int = 1,
        padding: int | str = "same",
        bias: bool = True,
    ) -> None:
        _check_size(in_channels, "in_channels")
        _check_size(out_channels, "out_channels")
        _check_size(kernel_size, "kernel_size")
        kmax = largest(kernel_size)
        kernels = kernel_size.options if isinstance(kernel_size, ElasticChoice) else (kernel_size,)
        if padding == "same" and any(k % 2 == 0 for k in kernels):  # type: ignore[operator]
            raise ValueError(f"`padding='same'` needs odd kernel sizes, but got {kernel_size!r}")
        if any((kmax - k) % 2 for k in kernels):
            raise ValueError(
                "every kernel size must have the parity of the largest one (a centre crop), "
                f"but got {kernel_size!r}"
            )
        if not (padding == "same" or (isinstance(padding, int) and padding >= 0)):
            raise ValueError(f"`padding` must be 'same' or an int >= 0, but got {padding!r}")
        nn.Conv2d.__init__(
            self, largest(in_channels), largest(out_channels), kmax, stride=stride, bias=bias,
            padding=kmax // 2 if padding == "same" else padding,
        )  # fmt: skip
        self.in_channels = in_channels  # type: ignore[assignment]
        self.out_channels = out_channels  # type: ignore[assignment]
        self.kernel_size = kernel_size  # type: ignore[assignment]
        self.elastic_padding = padding
        self._last_in: int | None = None

    def _active_padding(self, k: int) -> int:
        return k // 2 if self.elastic_padding == "same" else int(self.elastic_padding)

    def _active_weight(self, k_in: int) -> tuple[torch.Tensor, torch.Tensor | None, int]:
        k_out, k = active(self.out_channels), active(self.kernel_size)
        kmax = self.weight.shape[-1]
        c = (kmax - k) // 2
        weight = self.weight[:k_out, :k_in, c : c + k, c : c + k]
        bias = self.bias[:k_out] if self.bias is not None else None
        return weight, bias, k

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Convolve ``x`` with the active slice (and centre crop) of the weight."""
        _check_input_width(self, x.shape[1], self.weight.shape[1])
        self._last_in = x.shape[1]
        weight, bias, k = self._active_weight(x.shape[1])
        return F.conv2d(x, weight, bias, self.stride, self._active_padding(k))

    def to_static(self) -> nn.Conv2d:
        """``nn.Conv2d`` for the active width and kernel, holding copies of the weights."""
        weight, bias, k = self._active_weight(_last_in(self))
        out = nn.Conv2d(
            weight.shape[1], weight.shape[0], k, stride=self.stride,  # type: ignore[arg-type]
            padding=self._active_padding(k), bias=bias is not None,
        )  # fmt: skip
        out = out.to(device=weight.device, dtype=weight.dtype)
        _copy_param(out.weight, weight)
        if bias is not None and out.bias is not None:
            _copy_param(out.bias, bias)
        return out


class _ElasticBatchNorm(Elastic, nn.modules.batchnorm._BatchNorm):
    """Shared forward of the elastic batch norms (the logic of ``torch.nn._BatchNorm``)."""

    _choice_attrs = ("num_features",)
    _static_cls: type[nn.modules.batchnorm._BatchNorm]

    def __init__(
        self, num_features: Size, eps: float = 1e-5, momentum: float | None = 0.1,
        affine: bool = True, track_running_stats: bool = True,
    ) -> None:  # fmt: skip
        _check_size(num_features, "num_features")
        super().__init__(largest(num_features), eps, momentum, affine, track_running_stats)
        self._allocated = int(largest(num_features))
        self.num_features = num_features  # type: ignore[assignment]
        self._last_in: int | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise ``x`` with the first ``x.shape[1]`` channels' parameters and statistics."""
        k = x.shape[1]
        _check_input_width(self, k, self._allocated)
        self._last_in = k
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
            if self.momentum is None:
                factor = 1.0 / float(self.num_batches_tracked)
        use_batch_stats = self.training or self.running_mean is None
        keep_stats = not self.training or self.track_running_stats
        mean, var = self.running_mean, self.running_var
        return F.batch_norm(
            x,
            mean[:k] if keep_stats and mean is not None else None,
            var[:k] if keep_stats and var is not None else None,
            self.weight[:k] if self.weight is not None else None,
            self.bias[:k] if self.bias is not None else None,
            use_batch_stats,
            factor,
            self.eps,
        )

    def to_static(self) -> nn.Module:
        """The plain batch norm for the active width, holding copies of parameters and stats."""
        k = _last_in(self)
        out = self._static_cls(
            k, eps=self.eps, momentum=self.momentum, affine=self.affine,
            track_running_stats=self.track_running_stats,
        )  # fmt: skip
        ref = self.weight if self.weight is not None else self.running_mean
        if ref is not None:
            out = out.to(device=ref.device, dtype=ref.dtype)
        for name in ("weight", "bias", "running_mean", "running_var"):
            src = getattr(self, name)
            if src is not None:
                _copy_param(getattr(out, name), src[:k])
        if self.num_batches_tracked is not None and out.num_batches_tracked is not None:
            out.num_batches_tracked.copy_(self.num_batches_tracked)
        out.train(self.training)
        return out


class ElasticBatchNorm2d(_ElasticBatchNorm, nn.BatchNorm2d):
    """``nn.BatchNorm2d`` over the first channels of its input (its width: an int or an
    :class:`ElasticChoice`).

    >>> bn = ElasticBatchNorm2d(ElasticChoice([4, 8]))
    >>> bn(torch.randn(2, 4, 3, 3)).shape
    torch.Size([2, 4, 3, 3])
    """

    _static_cls = nn.BatchNorm2d


class ElasticBatchNorm1d(_ElasticBatchNorm, nn.BatchNorm1d):
    """``nn.BatchNorm1d`` over the first features of its input (its width: an int or an
    :class:`ElasticChoice`).

    >>> ElasticBatchNorm1d(ElasticChoice([4, 8]))(torch.randn(5, 4)).shape
    torch.Size([5, 4])
    """

    _static_cls = nn.BatchNorm1d


class ElasticSequential(Elastic, nn.Sequential):
    """``nn.Sequential`` that runs only its first ``depth.active`` modules (elastic depth).

    With a plain int ``depth`` it must hold exactly that many modules. Build one with
    :meth:`repeat`, which makes ``largest(depth)`` blocks, so the same call works for a
    stand-alone stage and for a supernet stage.

    >>> depth = ElasticChoice([1, 2, 3])
    >>> stage = ElasticSequential.repeat(lambda i: nn.Linear(4, 4), depth)
    >>> depth.active = 2
    >>> len(stage.to_static())
    2
    """

    _choice_attrs = ("depth",)

    def __init__(self, *modules: nn.Module, depth: Size | None = None) -> None:
        nn.Sequential.__init__(self, *modules)
        depth = len(self) if depth is None else depth
        _check_size(depth, "depth", minimum=0)
        if largest(depth) > len(self):
            raise ValueError(
                f"`largest(depth) <= number of blocks` must hold, but got depth={depth!r} "
                f"with {len(self)} blocks"
            )
        self.depth = depth

    @classmethod
    def repeat(cls, make_block: Callable[[int], nn.Module], depth: Size) -> ElasticSequential:
        """A stage of ``largest(depth)`` blocks ``make_block(0), make_block(1), ...``."""
        _check_size(depth, "depth", minimum=0)
        return cls(*(make_block(i) for i in range(largest(depth))), depth=depth)

    def active_blocks(self) -> Iterator[nn.Module]:
        """The blocks that the active depth runs, in order."""
        for i, block in enumerate(self):
            if i >= active(self.depth):
                return
            yield block

    def forward(self, x: Any) -> Any:
        """Run the first ``depth.active`` blocks."""
        for block in self.active_blocks():
            x = block(x)
        return x

    def to_static(self) -> nn.Sequential:
        """``nn.Sequential`` of static copies of the active blocks."""
        return nn.Sequential(*(export_module(block) for block in self.active_blocks()))


class MixedOp(Elastic, nn.Module):
    """One of several candidate modules, picked by an :class:`ElasticChoice` (or fixed by a value).

    ``candidates`` maps each option to a module or to a zero-argument factory of one; without
    it, the options themselves must be modules or factories (e.g.
    ``ElasticChoice([nn.ReLU, nn.GELU])`` or the classes a ``oneof([nn.ReLU, nn.GELU])``
    yields). With a concrete ``op`` only that candidate is built; with an ``ElasticChoice``
    every option is built and the active one runs. Modules live in ``ops[key]`` (the option's
    string, or a class's or function's name) in both cases, so a stand-alone network's
    ``state_dict`` keys are a subset of the supernet's.

    >>> act = MixedOp(ElasticChoice(["relu", "tanh"]), {"relu": nn.ReLU, "tanh": nn.Tanh})
    >>> act.op.active = "tanh"
    >>> type(act.to_static()).__name__
    'Tanh'
    """

    _choice_attrs = ("op",)

    def __init__(
        self, op: Any, candidates: Mapping[Any, nn.Module | Callable[[], nn.Module]] | None = None
    ) -> None:
        super().__init__()
        options = op.options if isinstance(op, ElasticChoice) else (op,)
        if candidates is not None:
            missing = [o for o in options if o not in candidates]
            if missing:
                raise ValueError(
                    f"every option must have a candidate module, but got options {missing} "
                    f"missing from candidates {list(candidates)}"
                )
        built: OrderedDict[str, nn.Module] = OrderedDict()
        for option in options:
            candidate = option if candidates is None else candidates[option]
            module = candidate if isinstance(candidate, nn.Module) else None
            if module is None and callable(candidate):
                module = candidate()
            if not isinstance(module, nn.Module):
                raise ValueError(
                    "a candidate must be an nn.Module or a zero-argument factory of one, but "
                    f"got {candidate!r} for option {option!r}"
                )
            key = op_key(option)
            if key in built:
                raise ValueError(
                    f"MixedOp options need distinct keys, but {option!r} and another option "
                    f"both map to {key!r}"
                )
            built[key] = module
        self.op = op
        self.ops = nn.ModuleDict(built)

    @property
    def active_op(self) -> nn.Module:
        """The candidate module that runs now."""
        return self.ops[op_key(active(self.op))]

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """Run the active candidate."""
        return self.active_op(*args, **kwargs)

    def to_static(self) -> nn.Module:
        """A static copy of the active candidate."""
        return export_module(self.active_op)


def op_key(option: Any) -> str:
    """The ``MixedOp.ops`` key of an option: a string as is, a class or function by name."""
    if isinstance(option, str):
        key = option
    elif isinstance(option, type) or (callable(option) and hasattr(option, "__name__")):
        key = option.__name__
    elif isinstance(option, nn.Module):
        key = type(option).__name__
    else:
        key = repr(option)
    return key.replace(".", "_") or "_"


def export_module(module: nn.Module) -> nn.Module:
    """A plain ``torch.nn`` copy of ``module`` for its active subnet, with copied weights.

    Elastic layers become their ``torch.nn`` counterparts (sliced and cropped), elastic stages
    keep their active blocks, mixed ops their active candidate; any other module is copied
    (its own parameters and buffers cloned, its children exported, other attributes shallowly
    copied), so user-defined ``forward`` code keeps working. Linear and convolution layers must
    have seen an input under the active config (they read their input width from it).
    """
    if isinstance(module, Elastic):
        return module.to_static()
    out = copy.copy(module)
    out.__dict__ = dict(module.__dict__)
    out._parameters = {
        name: None if p is None else nn.Parameter(p.detach().clone(), p.requires_grad)
        for name, p in module._parameters.items()
    }
    out._buffers = {
        name: None if b is None else b.detach().clone() for name, b in module._buffers.items()
    }
    out._modules = {
        name: None if child is None else export_module(child)
        for name, child in module._modules.items()
    }
    return out
