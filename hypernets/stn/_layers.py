"""STN layers: a linear layer and a 2-D convolution whose output moves with the hyperparameters.

MacKay et al. (2019), "Self-Tuning Networks": each layer approximates the best-response of
its weights to the hyperparameters with a cheap structured hypernetwork. A learned linear map
``A`` turns the hypernetwork input ``e`` (the encoding of the hyperparameters, see
:mod:`symtune.hypernets.stn._mip`) into one scale per output unit for the weights and one for the
bias, ``[s_w, s_b] = e @ A``:

* residual form (MIP, the default on a ``mip=True`` container): the ordinary output plus a
  second path scaled unit by unit, ``y = W x + b + s_w * (V x) + s_b * c``. The weights are
  independent learned weights plus the hypernetwork's correction; ``A`` starts at zero, so a
  new layer computes exactly ``W x + b``.
* centred residual form (``HyperParameters(centered=True)``, the default with MIP; after
  Delta-STN, Bae & Grosse 2020): ``e`` is replaced by ``e(λ) - e(λ̄)``, the change from the
  current values ``λ̄``; at ``λ̄`` the layer is exactly ``W x + b``.
* plain form (``residual=False``, the default on a ``mip=False`` container): the
  hypernetwork's output *is* the weights, the layer's own weights rescaled unit by unit,
  ``y = s_w * (W x) + s_b * b``, with ``A`` initialised like ``nn.Linear``'s weight. This is
  the standard non-residual hypernetwork that MIP improves on: with a raw input near zero its
  output, the layer's weights, is near zero too. It is here for comparisons.

With the hyperparameter path switched off (``layer.use_hypernet = False``), or with ``A`` zero
in the residual form, a layer is exactly ``nn.Linear`` / ``nn.Conv2d`` with the same ``weight``
and ``bias`` (the parameter names match theirs).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from symtune.hypernets.stn._errors import HyperparameterError
from symtune.hypernets.stn._hyperparams import HyperParameterReader, HyperParameters
from symtune.spaces import SelfTunedValue

_Pair = int | tuple[int, int]


class _StnLayer(HyperParameterReader):
    """The hypernetwork path shared by STN layers (not a layer on its own)."""

    weight: nn.Parameter
    bias: nn.Parameter | None

    def reset_parameters(self) -> None:  # pragma: no cover - every layer overrides it
        raise NotImplementedError

    def _make_parameters(
        self,
        shape: tuple[int, ...],
        bias: bool,
        hparams: HyperParameters,
        names: Sequence[str | SelfTunedValue] | None,
        residual: bool | None,
    ) -> None:
        units = shape[0]
        self.weight = nn.Parameter(torch.empty(shape))
        self.register_parameter("bias", nn.Parameter(torch.empty(units)) if bias else None)
        self._init_hyper(hparams, names, residual, units)
        self.hyper_weight: nn.Parameter | None = None
        self.hyper_bias: nn.Parameter | None = None
        if self.residual:
            self.hyper_weight = nn.Parameter(torch.empty(shape))
            self.hyper_bias = nn.Parameter(torch.empty(units)) if bias else None
        self.reset_parameters()

    def _combine(
        self, x: Tensor, plain: Callable[[Tensor, Tensor | None], Tensor], channels: bool
    ) -> Tensor:
        """The layer's output, given ``plain(weight, bias)`` computing its torch counterpart."""
        scales = self._scales(x)
        if scales is None:
            return plain(self.weight, self.bias)
        s_w = _expand(scales[0], x.dim(), channels=channels)
        bias_shape = (-1, *([1] * (x.dim() - 2))) if channels else (-1,)
        if self.residual:
            hyper_weight = cast(Tensor, self.hyper_weight)
            out = plain(self.weight, self.bias) + s_w * plain(hyper_weight, None)
            extra = self.hyper_bias
        else:
            out = s_w * plain(self.weight, None)
            extra = self.bias
        if scales[1] is None or extra is None:
            return out
        return out + _expand(scales[1], x.dim(), channels=channels) * extra.view(bias_shape)

    def _init_hyper(
        self,
        hparams: HyperParameters,
        names: Sequence[str | SelfTunedValue] | None,
        residual: bool | None,
        units: int,
    ) -> None:
        self._hold(hparams)
        self.residual = hparams.mip if residual is None else bool(residual)
        if hparams.centered and not self.residual:
            raise HyperparameterError(
                f"{type(self).__name__}: a centred response needs the residual form, but got "
                "residual=False; build the container with HyperParameters(..., centered=False) "
                "or leave `residual` at its default"
            )
        self.use_hypernet = True
        self.units = units
        by = type(self).__name__
        keys = hparams.names if names is None else [hparams.require(n, by=by) for n in names]
        self.hyper_names = tuple(keys)
        columns = [c for n in keys for c in range(*hparams.encoding_slice(n).indices(10**9))]
        self.register_buffer("_columns", torch.tensor(columns, dtype=torch.long), persistent=False)
        self._all_columns = names is None
        n_scales = units * (2 if self.bias is not None else 1)
        self.hyper_scale = nn.Parameter(torch.zeros(len(columns), n_scales))

    def _reset_hyper_scale(self) -> None:
        with torch.no_grad():
            self.hyper_scale.zero_()
            if self.residual or self.hyper_scale.shape[0] == 0:
                return
            # plain form: the standard initialisation of a linear map (as nn.Linear's weight).
            bound = 1 / math.sqrt(self.hyper_scale.shape[0])
            self.hyper_scale.uniform_(-bound, bound)

    def _encoding(self) -> Tensor:
        enc = self.hparams.encoding()
        return enc if self._all_columns else enc.index_select(1, self._columns)

    def _input(self) -> Tensor | None:
        """The hypernetwork input, centred when the container says so (None: no path)."""
        if not self.use_hypernet or self.hyper_scale.shape[0] == 0:
            return None
        if not self.hparams.centered:
            return self._encoding()
        batch = self.hparams.batch
        if batch is None or batch.center is None:
            return None  # at the current values a centred path is exactly zero
        enc = batch.encoding - batch.center
        return enc if self._all_columns else enc.index_select(1, self._columns)

    def _scales(self, x: Tensor) -> tuple[Tensor, Tensor | None] | None:
        enc = self._input()
        if enc is None:
            return None
        if enc.shape[0] not in (1, x.shape[0]):
            raise ValueError(
                f"{type(self).__name__} got a batch of {x.shape[0]} inputs but "
                f"{enc.shape[0]} hyperparameter samples; sample one per example"
            )
        s = enc.to(x.dtype) @ self.hyper_scale
        if self.bias is None:
            return s, None
        return s[:, : self.units], s[:, self.units :]

    def effective_scales(self) -> Tensor:
        """The hypernetwork's output (``e @ A``, centred if so) in use: ``[B, n]``."""
        enc = self._input()
        if enc is None:
            return self.hyper_scale.new_zeros(1, self.hyper_scale.shape[1])
        return enc @ self.hyper_scale


def _reset_like_torch(weight: Tensor, bias: Tensor | None, fan_in: int) -> None:
    # The same initialisation nn.Linear and nn.Conv2d use.
    nn.init.kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
        nn.init.uniform_(bias, -bound, bound)


class StnLinear(_StnLayer):
    """A linear layer whose output moves with the self-tuned hyperparameters (STN).

    Args:
        in_features, out_features, bias: as ``nn.Linear``.
        hparams: the container to read the hyperparameters from.
        names: read only these hyperparameters (default: all the container holds).
        residual: residual (MIP) or plain hypernetwork form; default: ``hparams.mip``.

    The layer holds ``hparams`` by reference: its parameters are not the layer's (the
    hyperparameter optimiser tunes them) and ``model.to(device)`` does not move them; call
    ``hparams.to(device)`` too (:func:`train_stn` does both).

    Raises:
        HyperparameterError: when ``names`` holds a name the container does not.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        hparams: HyperParameters,
        *,
        bias: bool = True,
        names: Sequence[str | SelfTunedValue] | None = None,
        residual: bool | None = None,
    ) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self._make_parameters((out_features, in_features), bias, hparams, names, residual)

    def reset_parameters(self) -> None:
        """Initialise like ``nn.Linear``; the hypernetwork map as the class docstring says."""
        _reset_like_torch(self.weight, self.bias, self.in_features)
        if self.hyper_weight is not None:
            _reset_like_torch(self.hyper_weight, self.hyper_bias, self.in_features)
        self._reset_hyper_scale()

    def forward(self, x: Tensor) -> Tensor:
        """``W x + b`` plus the hyperparameter-scaled path (see the module docstring)."""
        return self._combine(x, lambda w, b: F.linear(x, w, b), channels=False)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}, residual={self.residual}, "
            f"hyperparameters={list(self.hyper_names)}"
        )


def _expand(s: Tensor, ndim: int, *, channels: bool) -> Tensor:
    """``[B, n]`` scales shaped to broadcast against a ``ndim``-dimensional activation."""
    if channels:  # units on axis 1: [B, n, ...]
        return s.reshape(s.shape[0], s.shape[1], *([1] * (ndim - 2)))
    return s.reshape(s.shape[0], *([1] * (ndim - 2)), s.shape[1])  # units last: [B, ..., n]


class StnConv2d(_StnLayer):
    """A 2-D convolution whose output moves with the self-tuned hyperparameters (STN).

    The hypernetwork scales the second path channel by channel. Args as ``nn.Conv2d``
    (``padding_mode="zeros"`` only) plus ``hparams``, ``names`` and ``residual`` as
    :class:`StnLinear`.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: _Pair,
        hparams: HyperParameters,
        *,
        stride: _Pair = 1,
        padding: _Pair | str = 0,
        dilation: _Pair = 1,
        groups: int = 1,
        bias: bool = True,
        names: Sequence[str | SelfTunedValue] | None = None,
        residual: bool | None = None,
    ) -> None:
        super().__init__()
        k = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
        if in_channels % groups or out_channels % groups:
            raise ValueError(
                f"`in_channels % groups == 0 and out_channels % groups == 0` must hold, but "
                f"got in_channels={in_channels}, out_channels={out_channels}, groups={groups}"
            )
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, k
        self.stride, self.padding, self.dilation, self.groups = stride, padding, dilation, groups
        shape = (out_channels, in_channels // groups, *k)
        self._make_parameters(shape, bias, hparams, names, residual)

    def reset_parameters(self) -> None:
        """Initialise like ``nn.Conv2d``; the hypernetwork map as the module docstring says."""
        fan_in = (self.in_channels // self.groups) * self.kernel_size[0] * self.kernel_size[1]
        _reset_like_torch(self.weight, self.bias, fan_in)
        if self.hyper_weight is not None:
            _reset_like_torch(self.hyper_weight, self.hyper_bias, fan_in)
        self._reset_hyper_scale()

    def _conv(self, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        return F.conv2d(x, weight, bias, self.stride, self.padding, self.dilation, self.groups)

    def forward(self, x: Tensor) -> Tensor:
        """``conv(x, W) + b`` plus the hyperparameter-scaled path, channel by channel."""
        return self._combine(x, lambda w, b: self._conv(x, w, b), channels=True)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}, residual={self.residual}, "
            f"hyperparameters={list(self.hyper_names)}"
        )
