"""Regularisers that read live self-tuned hyperparameters: dropout, noise, augmentation, L2.

Each takes its hyperparameter as a *spec*: a name or ``SelfTunedValue`` held by the
:class:`HyperParameters` container (tuned), a number (a constant, not tuned), or ``None``
(off). A tuned value is read per example from the minibatch of sampled hyperparameters the
training loop puts in the container, so each example is regularised with its own perturbed
value and the STN layers see the same values.

How the gradient reaches each hyperparameter. As in MacKay et al. (2019), the hyperparameter
step computes the validation loss *without* regularisation, so the gradient w.r.t. a
regularisation hyperparameter flows through the STN layers' response to it (the best-response
approximation). Every regulariser here is also differentiable in its hyperparameter, so that
``StnOptions(direct_gradient=True)`` (which regularises the validation forward too) or a
user's own loss can add the direct gradient: dropout uses the relaxed-Bernoulli ("concrete")
mask, noise and augmentation are reparametrised, and a categorical choice mixes its options
with the Concrete relaxation's weights.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import TypeAlias

import torch
import torch.nn.functional as F
from torch import Tensor

from symtune.hypernets.stn._errors import HyperparameterError
from symtune.hypernets.stn._hyperparams import HyperParameterReader, HyperParameters
from symtune.spaces import SelfTunedValue

HyperSpec: TypeAlias = str | SelfTunedValue | float | None
"""A regulariser's hyperparameter: a held name / ``SelfTunedValue``, a constant, or None."""

AUGMENTATIONS = ("none", "shift", "cutout")
"""The augmentations :class:`StnAugment` can apply (and choose between)."""


def _check_range(
    what: str, where: str, low: float, high: float, *, lo: float, hi: float, hi_open: bool
) -> None:
    rule = f"{lo} <= {what} {'<' if hi_open else '<='} {hi}"
    ok = lo <= low and (high < hi if hi_open else high <= hi)
    if not ok:
        shown = f"{low}" if low == high else f"low={low}, high={high}"
        raise HyperparameterError(f"`{rule}` must hold, but got {shown} ({where})")


def resolve_spec(
    hparams: HyperParameters,
    spec: HyperSpec,
    *,
    what: str,
    by: str,
    lo: float = 0.0,
    hi: float = math.inf,
    hi_open: bool = False,
) -> float | str | None:
    """Check a float spec against the range ``[lo, hi]`` (or ``[lo, hi)``); return the
    constant, the held name, or None. Raises ``HyperparameterError`` with the rule."""
    if spec is None:
        return None
    if isinstance(spec, bool) or not isinstance(spec, (str, SelfTunedValue, int, float)):
        raise HyperparameterError(
            f"{by} takes a hyperparameter name, a SelfTunedValue, a number or None for "
            f"{what}, but got {type(spec).__name__}: {spec!r}"
        )
    if isinstance(spec, (int, float)):
        _check_range(what, f"at {by}", spec, spec, lo=lo, hi=hi, hi_open=hi_open)
        return float(spec)
    name = hparams.require(spec, by=by)
    v = hparams.spec(name)
    if v.kind != "float":
        raise HyperparameterError(
            f"{by} needs a float hyperparameter for {what}, but {name!r} is {v.kind}"
        )
    low, high = float(v.low or 0.0), float(v.high or 0.0)
    _check_range(f"self-tuned {what}", f"at {name}", low, high, lo=lo, hi=hi, hi_open=hi_open)
    return name


class _Regularizer(HyperParameterReader):
    """Shared plumbing: the container reference and per-example value lookup."""

    def __init__(self, hparams: HyperParameters) -> None:
        super().__init__()
        self._hold(hparams)

    def active(self) -> bool:
        """Whether to regularise now: in training mode, unless the batch in use says not to
        (the hyperparameter step's validation forward)."""
        batch = self.hparams.batch
        return self.training and (batch is None or batch.regularize)

    def per_example(self, source: float | str, x: Tensor) -> Tensor:
        """The value for each example of ``x``, shaped ``[B, 1, ...]`` (or a 0-d constant)."""
        if isinstance(source, float):
            return x.new_tensor(source)
        v = self.hparams.value_tensor(source).to(x.dtype)
        if v.shape[0] not in (1, x.shape[0]):
            raise ValueError(
                f"{type(self).__name__} got a batch of {x.shape[0]} inputs but {v.shape[0]} "
                "hyperparameter samples; sample one per example"
            )
        return v.reshape(-1, *([1] * (x.dim() - 1)))


class StnDropout(_Regularizer):
    """Dropout whose rate is a self-tuned hyperparameter (or a constant).

    With ``relaxed=True`` (the default) the mask is relaxed-Bernoulli ("concrete dropout",
    Gal et al. 2017; Maddison et al. 2017): ``z = sigmoid((logit(p) + logit(u)) / t)`` with
    ``u ~ U(0, 1)`` and the output ``x * (1 - z) / (1 - p)``, so the output carries a gradient
    to the rate ``p``. ``relaxed=False`` uses hard Bernoulli masks (no gradient to ``p``).

    Raises:
        HyperparameterError: for a rate that may reach 1 or fall below 0.
    """

    def __init__(
        self,
        hparams: HyperParameters,
        rate: HyperSpec,
        *,
        relaxed: bool = True,
        temperature: float = 0.1,
    ) -> None:
        super().__init__(hparams)
        self.rate = resolve_spec(
            hparams, rate, what="dropout rate", by="StnDropout", hi=1.0, hi_open=True
        )
        self.relaxed, self.temperature = relaxed, temperature

    def forward(self, x: Tensor) -> Tensor:
        """Drop units of ``x`` at the rate in use (identity when not :meth:`active`)."""
        if self.rate is None or self.rate == 0.0 or not self.active():
            return x
        p = self.per_example(self.rate, x).clamp(1e-6, 1 - 1e-6)
        u = torch.rand_like(x).clamp(1e-6, 1 - 1e-6)
        if self.relaxed:
            logits = torch.log(p) - torch.log1p(-p) + torch.log(u) - torch.log1p(-u)
            drop = torch.sigmoid(logits / self.temperature)
        else:
            drop = (u < p).to(x.dtype)
        return x * (1 - drop) / (1 - p)

    def extra_repr(self) -> str:
        return f"rate={self.rate!r}, relaxed={self.relaxed}"


class StnGaussianNoise(_Regularizer):
    """Additive Gaussian noise ``x + std * N(0, 1)``, ``std`` self-tuned (reparametrised)."""

    def __init__(self, hparams: HyperParameters, std: HyperSpec) -> None:
        super().__init__(hparams)
        self.std = resolve_spec(hparams, std, what="noise std", by="StnGaussianNoise")

    def forward(self, x: Tensor) -> Tensor:
        """Add noise at the scale in use (identity when not :meth:`active`)."""
        if self.std is None or self.std == 0.0 or not self.active():
            return x
        return x + self.per_example(self.std, x) * torch.randn_like(x)

    def extra_repr(self) -> str:
        return f"std={self.std!r}"


class StnWeightDecay(_Regularizer):
    """L2 weight decay with a self-tuned coefficient: ``0.5 * c * sum(||w||^2)``.

    The coefficient acts on the whole minibatch, so a tuned one is perturbed once per
    minibatch (the container is told so). Call :meth:`penalty` in the training loss; the
    hypernetwork sees the coefficient like any other hyperparameter.
    """

    def __init__(self, hparams: HyperParameters, coefficient: HyperSpec) -> None:
        super().__init__(hparams)
        self.coefficient = resolve_spec(
            hparams, coefficient, what="weight decay", by="StnWeightDecay"
        )
        if isinstance(self.coefficient, str):
            hparams.mark_shared(self.coefficient)

    def penalty(self, parameters: Iterable[Tensor]) -> Tensor:
        """The penalty on ``parameters`` (zero when off or not :meth:`active`)."""
        params = list(parameters)
        if self.coefficient is None or not params or not self.active():
            zero = params[0].new_zeros(()) if params else torch.zeros(())
            return zero
        squares = torch.stack([p.pow(2).sum() for p in params]).sum()
        if isinstance(self.coefficient, float):
            return 0.5 * self.coefficient * squares
        coef = self.hparams.value_tensor(self.coefficient).mean()
        return 0.5 * coef.to(squares.dtype) * squares

    def extra_repr(self) -> str:
        return f"coefficient={self.coefficient!r}"


class StnAugment(_Regularizer):
    """Image augmentation with a self-tuned strength and a (possibly self-tuned) kind.

    ``strength`` in [0, 1] scales the augmentation: ``"shift"`` translates each image by up to
    ``strength * max_shift`` of its size in each direction (sub-pixel, bilinear: the output is
    differentiable in the strength); ``"cutout"`` blanks a square whose side is
    ``strength * max_cutout`` of the image's side (edges ramp over one pixel, so the output is
    differentiable in the strength); ``"none"`` leaves the image. ``kind`` is one of these or a
    self-tuned categorical over them: the discrete hyperparameter. Each example gets the kind
    sampled for it (a one-hot at weight steps; the Concrete relaxation's weights mix the
    kinds where a gradient is wanted). The strength's and the kind's gradient at the
    hyperparameter step comes through the STN layers' response (see the module docstring).

    Inputs are ``[B, C, H, W]``, or flat ``[B, C*H*W]`` with ``image_shape=(C, H, W)``.
    """

    def __init__(
        self,
        hparams: HyperParameters,
        strength: HyperSpec,
        kind: str | SelfTunedValue = "shift",
        *,
        image_shape: Sequence[int] | None = None,
        max_shift: float = 0.25,
        max_cutout: float = 0.5,
    ) -> None:
        super().__init__(hparams)
        self.strength = resolve_spec(
            hparams, strength, what="augmentation strength", by="StnAugment", hi=1.0
        )
        self.kinds, self.kind_name = self._resolve_kind(hparams, kind)
        self.image_shape = tuple(image_shape) if image_shape is not None else None
        self.max_shift, self.max_cutout = max_shift, max_cutout

    @staticmethod
    def _resolve_kind(
        hparams: HyperParameters, kind: str | SelfTunedValue
    ) -> tuple[tuple[str, ...], str | None]:
        if isinstance(kind, str) and kind in AUGMENTATIONS:
            return (kind,), None
        name = hparams.require(kind, by="StnAugment")
        v = hparams.spec(name)
        choices = tuple(v.choices or ())
        if v.kind != "categorical" or not set(choices) <= set(AUGMENTATIONS):
            raise HyperparameterError(
                f"StnAugment's kind must be one of {AUGMENTATIONS} or a self-tuned categorical "
                f"over them, but {name!r} is {v.kind} with choices {choices!r}"
            )
        return choices, name

    def _weights(self, x: Tensor) -> Tensor:
        if self.kind_name is None:
            return x.new_ones(x.shape[0], 1)
        return self.hparams.choice_weights(self.kind_name).to(x.dtype).expand(x.shape[0], -1)

    def forward(self, x: Tensor) -> Tensor:
        """Augment ``x`` (identity when not :meth:`active` or the strength is off)."""
        if self.strength is None or not self.active():
            return x
        flat_shape = x.shape
        if self.image_shape is not None:
            x = x.reshape(x.shape[0], *self.image_shape)
        s = self.per_example(self.strength, x[:, 0, 0, 0]).expand(x.shape[0])
        weights = self._weights(x)
        out = x.new_zeros(x.shape)
        for k, kind in enumerate(self.kinds):
            w = weights[:, k].reshape(-1, 1, 1, 1)
            if kind == "shift":
                out = out + w * _shift(x, s * self.max_shift)
            elif kind == "cutout":
                out = out + w * _cutout(x, s * self.max_cutout)
            else:
                out = out + w * x
        return out.reshape(flat_shape)

    def extra_repr(self) -> str:
        return f"strength={self.strength!r}, kinds={self.kinds}, kind_name={self.kind_name!r}"


def _shift(x: Tensor, fraction: Tensor) -> Tensor:
    """Translate each image by up to ``fraction[b]`` of its size, uniformly at random."""
    b = x.shape[0]
    offset = (torch.rand(b, 2, device=x.device, dtype=x.dtype) * 2 - 1) * fraction[:, None] * 2
    theta = x.new_zeros(b, 2, 3)
    theta[:, 0, 0] = 1
    theta[:, 1, 1] = 1
    theta[:, :, 2] = offset
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _cutout(x: Tensor, side: Tensor) -> Tensor:
    """Blank a square of side ``side[b]`` (fraction of the image) at a random centre."""
    b, _, h, w = x.shape
    ys = torch.linspace(-1 + 1 / h, 1 - 1 / h, h, device=x.device, dtype=x.dtype)
    xs = torch.linspace(-1 + 1 / w, 1 - 1 / w, w, device=x.device, dtype=x.dtype)
    centre = torch.rand(b, 2, device=x.device, dtype=x.dtype) * 2 - 1
    half = side[:, None]  # half the side in [-1, 1] units == side as a fraction of the image
    inside_y = ((half - (ys[None, :] - centre[:, :1]).abs()) * (h / 2)).clamp(0, 1)
    inside_x = ((half - (xs[None, :] - centre[:, 1:]).abs()) * (w / 2)).clamp(0, 1)
    mask = 1 - inside_y[:, :, None] * inside_x[:, None, :]
    return x * mask[:, None, :, :]
