"""Elastic transformer parts: token embedding, layer norm, self-attention and LoRA adapters.

They follow the conventions of :mod:`symtune.hypernets.supernet._elastic`: a plain ``int`` size
makes a stand-alone layer that computes what its ``torch.nn`` counterpart computes, an
:class:`ElasticChoice` makes a supernet layer that allocates the largest option and runs the
active one, and ``to_static()`` (which :func:`export_module` calls) returns a plain module
holding copies of the active slice. The MLP's hidden width (an MLP ratio is a choice of hidden
widths) is an :class:`ElasticLinear`, depth an :class:`ElasticSequential`.

The weight-sharing rules (HAT / AutoFormer style; LoNAS / Shears for adapters):

- model width: a subnet uses the first ``k`` columns of the token embedding, the first ``k``
  entries of every layer norm's weight and bias, and the first ``k`` output rows of every
  projection back into the residual stream; each layer reads its input width from the
  incoming tensor (the first input columns of its weights are used), so layers that share
  one width choice slice the residual stream together;
- attention heads: a subnet uses the first ``h`` heads, each of the fixed ``head_dim``: the
  first ``h * head_dim`` rows of each of the query, key and value projections, and the same
  columns of the output projection;
- LoRA rank: a subnet uses the first ``r`` of the ``R`` low-rank components (the first ``r``
  rows of ``lora_A`` and columns of ``lora_B``); the frozen base layer is shared by all.

A choice object may be shared by every block (a global choice: activating it changes every
block) or each block may get its own (per-layer choices, as in HAT and AutoFormer).
"""

from __future__ import annotations

import math
from typing import TypeVar

import torch
import torch.nn.functional as F
from torch import nn

from symtune.hypernets.supernet._elastic import (
    Elastic,
    ElasticChoice,  # noqa: F401 (the docstring examples use it)
    Size,
    _check_input_width,
    _check_size,
    _copy_param,
    _last_in,
    active,
    export_module,
    largest,
)

__all__ = [
    "ElasticEmbedding",
    "ElasticLayerNorm",
    "ElasticLoRALinear",
    "ElasticSelfAttention",
    "LoRALinear",
    "SelfAttention",
]


def _check_int(value: object, what: str, *, minimum: int = 1) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"`{what}` must be an int >= {minimum}, but got {value!r}")


def _check_flag(value: object, what: str) -> None:
    if not isinstance(value, bool):
        raise ValueError(f"`{what}` must be a bool, but got {value!r}")


def _check_dropout(value: object) -> None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value < 1
    if not ok:
        raise ValueError(f"`0 <= dropout < 1` must hold, but got dropout={value!r}")


def _check_ids(x: torch.Tensor, n: int) -> None:
    """Integer ids in ``[0, n)``: a clear error instead of torch's ``index out of range in
    self`` (the range is checked on CPU tensors only: on CUDA it would synchronise every
    forward pass)."""
    if x.dtype not in (torch.long, torch.int32):
        raise TypeError(
            f"ElasticEmbedding takes integer ids (torch.long), but got dtype {x.dtype}; a "
            "supernet over token ids needs Supernet(..., input_dtype=torch.long) for export "
            "and FLOPs (ElasticEmbedding)"
        )
    if x.device.type == "cpu" and x.numel():
        low, high = int(x.min()), int(x.max())
        if low < 0 or high >= n:
            bad = low if low < 0 else high
            raise ValueError(
                f"ids must lie in [0, {n}) (the table's rows: a vocabulary or a context "
                f"length), but got {bad} (ElasticEmbedding)"
            )


class ElasticEmbedding(Elastic, nn.Embedding):
    """``nn.Embedding`` whose width (embedding dimension) may be an :class:`ElasticChoice`.

    A subnet uses the first ``width.active`` columns of the table. Its ``state_dict`` is the one of
    ``nn.Embedding(num_embeddings, largest(width))``.

    Args:
        num_embeddings: the vocabulary size (an int >= 1; not elastic).
        width: the embedding dimension, an int or an ``ElasticChoice`` of ints.

    >>> embed = ElasticEmbedding(10, ElasticChoice([4, 8]))
    >>> embed.width.active = 4
    >>> embed(torch.tensor([[1, 2, 3]])).shape
    torch.Size([1, 3, 4])
    """

    _choice_attrs = ("width",)

    def __init__(self, num_embeddings: int, width: Size) -> None:
        _check_int(num_embeddings, "num_embeddings")
        _check_size(width, "width")
        nn.Embedding.__init__(self, num_embeddings, largest(width))
        self.width = width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Look up the tokens ``x`` in the first ``width.active`` columns of the table."""
        _check_ids(x, self.weight.shape[0])
        k = active(self.width)
        weight = self.weight if k == self.weight.shape[1] else self.weight[:, :k]
        return F.embedding(x, weight)

    def to_static(self) -> nn.Embedding:
        """``nn.Embedding`` for the active width, holding a copy of the sliced table."""
        k = active(self.width)
        out = nn.Embedding(self.num_embeddings, k)
        out = out.to(device=self.weight.device, dtype=self.weight.dtype)
        _copy_param(out.weight, self.weight[:, :k])
        return out


class ElasticLayerNorm(Elastic, nn.LayerNorm):
    """``nn.LayerNorm`` over the last dimension, whose width may be an :class:`ElasticChoice`.

    The input is normalised over its own last dimension ``k`` (at most ``largest(width)``) with
    the first ``k`` entries of the weight and bias, as the elastic batch norms read their width
    from the input. Layer norm keeps no running statistics, so a subnet needs no recalibration.

    Args:
        width: the normalised (last) dimension, an int or an ``ElasticChoice`` of ints.
        eps: added to the variance, as in ``nn.LayerNorm``.
        elementwise_affine: whether there is a learned weight (and bias).
        bias: whether there is a learned bias (with ``elementwise_affine``).

    >>> norm = ElasticLayerNorm(ElasticChoice([4, 8]))
    >>> norm(torch.randn(2, 3, 4)).shape
    torch.Size([2, 3, 4])
    """

    _choice_attrs = ("width",)

    def __init__(
        self, width: Size, eps: float = 1e-5, elementwise_affine: bool = True, bias: bool = True
    ) -> None:
        _check_size(width, "width")
        _check_flag(elementwise_affine, "elementwise_affine")
        _check_flag(bias, "bias")
        nn.LayerNorm.__init__(self, largest(width), eps, elementwise_affine, bias)
        self._allocated = int(largest(width))
        self.width = width
        self._last_in: int | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise ``x`` over its last dimension with the first entries of weight and bias."""
        k = x.shape[-1]
        _check_input_width(self, k, self._allocated)
        self._last_in = k
        weight = self.weight[:k] if self.weight is not None else None
        bias = self.bias[:k] if self.bias is not None else None
        return F.layer_norm(x, (k,), weight, bias, self.eps)

    def to_static(self) -> nn.LayerNorm:
        """``nn.LayerNorm`` for the width last seen, holding copies of weight and bias."""
        k = _last_in(self)
        out = nn.LayerNorm(
            k, eps=self.eps, elementwise_affine=self.elementwise_affine, bias=self.bias is not None
        )
        if self.weight is not None:
            out = out.to(device=self.weight.device, dtype=self.weight.dtype)
            _copy_param(out.weight, self.weight[:k])
        if self.bias is not None:
            _copy_param(out.bias, self.bias[:k])
        return out


def _attend(
    x: torch.Tensor,
    qkv: tuple[torch.Tensor, torch.Tensor | None],
    proj: tuple[torch.Tensor, torch.Tensor | None],
    heads: int,
    causal: bool,
    dropout_p: float,
) -> torch.Tensor:
    """Multi-head self-attention of ``x`` (batch, sequence, width) with fused q/k/v weights."""
    batch, seq, _ = x.shape
    q, k, v = F.linear(x, *qkv).chunk(3, dim=-1)
    shape = (batch, seq, heads, q.shape[-1] // heads)
    q, k, v = (t.reshape(shape).transpose(1, 2) for t in (q, k, v))
    y = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=causal)
    return F.linear(y.transpose(1, 2).reshape(batch, seq, -1), *proj)


def _check_attention_input(layer: nn.Module, x: torch.Tensor, allocated: int) -> None:
    if x.dim() != 3:
        raise ValueError(
            f"{type(layer).__name__} takes inputs of shape (batch, sequence, width), but got "
            f"shape {tuple(x.shape)}"
        )
    _check_input_width(layer, x.shape[-1], allocated)


class SelfAttention(nn.Module):
    """Plain multi-head self-attention (what :class:`ElasticSelfAttention` exports).

    ``qkv`` projects the input to the queries, keys and values of every head (rows
    ``[q; k; v]``, each ``heads * head_dim`` long, head after head, as in
    ``nn.MultiheadAttention``'s ``in_proj_weight``); ``torch.nn.functional.
    scaled_dot_product_attention`` attends; ``proj`` maps the heads back to ``out_width``.

    Args:
        width: the input width (the model width).
        heads: the number of heads.
        head_dim: the width of each head.
        out_width: the output width (default ``width``).
        causal: whether each position attends only to itself and earlier positions.
        bias: whether the projections have biases.
        dropout: the dropout probability on the attention weights (in training mode).

    >>> attn = SelfAttention(8, heads=2, head_dim=4, causal=True)
    >>> attn(torch.randn(3, 5, 8)).shape
    torch.Size([3, 5, 8])
    """

    def __init__(
        self, width: int, heads: int, head_dim: int, *, out_width: int | None = None,
        causal: bool = False, bias: bool = True, dropout: float = 0.0,
    ) -> None:  # fmt: skip
        super().__init__()
        out_width = width if out_width is None else out_width
        for value, what in [(width, "width"), (heads, "heads"), (head_dim, "head_dim")]:
            _check_int(value, what)
        _check_int(out_width, "out_width")
        _check_flag(causal, "causal")
        _check_flag(bias, "bias")
        _check_dropout(dropout)
        self.width, self.heads, self.head_dim, self.out_width = width, heads, head_dim, out_width
        self.causal, self.dropout = causal, float(dropout)
        self.qkv = nn.Linear(width, 3 * heads * head_dim, bias=bias)
        self.proj = nn.Linear(heads * head_dim, out_width, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Attend over the sequence of ``x`` (batch, sequence, width)."""
        _check_attention_input(self, x, self.width)
        if x.shape[-1] != self.width:
            raise ValueError(
                f"`input width == width` must hold, but SelfAttention got an input of width "
                f"{x.shape[-1]} with width={self.width}"
            )
        p = self.dropout if self.training else 0.0
        qkv = (self.qkv.weight, self.qkv.bias)
        proj = (self.proj.weight, self.proj.bias)
        return _attend(x, qkv, proj, self.heads, self.causal, p)


class ElasticSelfAttention(Elastic, nn.Module):
    """Multi-head self-attention with an elastic number of heads and elastic model width.

    Each head has the fixed width ``head_dim``; a subnet runs the first ``heads.active`` heads
    (query, key and value projections of ``heads * head_dim`` rows each), reads its input width
    from the incoming tensor (at most ``largest(width)``) and produces ``width.active`` outputs.
    The layout of ``qkv`` and ``proj`` is the one of :class:`SelfAttention` at the largest sizes,
    which ``to_static()`` returns for the active config.

    Args:
        width: the model width, an int or an ``ElasticChoice`` of ints.
        heads: the number of heads, an int or an ``ElasticChoice`` of ints.
        head_dim: the width of each head (an int; not elastic).
        causal: whether each position attends only to itself and earlier positions.
        bias: whether the projections have biases.
        dropout: the dropout probability on the attention weights (in training mode).

    >>> attn = ElasticSelfAttention(ElasticChoice([8, 16]), ElasticChoice([1, 2]), head_dim=4)
    >>> attn.heads.active = 1
    >>> attn(torch.randn(3, 5, 12)).shape
    torch.Size([3, 5, 16])
    """

    _choice_attrs = ("width", "heads")

    def __init__(
        self, width: Size, heads: Size, head_dim: int, *, causal: bool = False,
        bias: bool = True, dropout: float = 0.0,
    ) -> None:  # fmt: skip
        super().__init__()
        _check_size(width, "width")
        _check_size(heads, "heads")
        _check_int(head_dim, "head_dim")
        _check_flag(causal, "causal")
        _check_flag(bias, "bias")
        _check_dropout(dropout)
        self.width, self.heads, self.head_dim = width, heads, head_dim
        self.causal, self.dropout = causal, float(dropout)
        inner = largest(heads) * head_dim
        self.qkv = nn.Linear(largest(width), 3 * inner, bias=bias)
        self.proj = nn.Linear(inner, largest(width), bias=bias)
        self._last_in: int | None = None

    def _active_weights(
        self, k_in: int
    ) -> tuple[tuple[torch.Tensor, torch.Tensor | None], tuple[torch.Tensor, torch.Tensor | None]]:
        inner, k_out = active(self.heads) * self.head_dim, active(self.width)
        allocated = self.proj.weight.shape[1]
        if (inner, k_in, k_out) == (allocated, self.qkv.in_features, self.proj.out_features):
            return (self.qkv.weight, self.qkv.bias), (self.proj.weight, self.proj.bias)  # no copy
        w = self.qkv.weight.view(3, allocated, -1)[:, :inner, :k_in].reshape(3 * inner, k_in)
        b = self.qkv.bias
        qkv_b = None if b is None else b.view(3, allocated)[:, :inner].reshape(3 * inner)
        proj_b = None if self.proj.bias is None else self.proj.bias[:k_out]
        return (w, qkv_b), (self.proj.weight[:k_out, :inner], proj_b)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Attend over the sequence of ``x`` (batch, sequence, width) with the active heads."""
        _check_attention_input(self, x, self.qkv.weight.shape[1])
        self._last_in = x.shape[-1]
        qkv, proj = self._active_weights(x.shape[-1])
        p = self.dropout if self.training else 0.0
        return _attend(x, qkv, proj, active(self.heads), self.causal, p)

    def to_static(self) -> SelfAttention:
        """:class:`SelfAttention` for the active heads and width, holding copies of the weights."""
        k_in = _last_in(self)
        (qkv_w, qkv_b), (proj_w, proj_b) = self._active_weights(k_in)
        out = SelfAttention(
            k_in, active(self.heads), self.head_dim, out_width=active(self.width),
            causal=self.causal, bias=qkv_b is not None, dropout=self.dropout,
        )  # fmt: skip
        out = out.to(device=qkv_w.device, dtype=qkv_w.dtype)
        _copy_param(out.qkv.weight, qkv_w)
        _copy_param(out.proj.weight, proj_w)
        if qkv_b is not None and proj_b is not None:
            _copy_param(out.qkv.bias, qkv_b)
            _copy_param(out.proj.bias, proj_b)
        out.train(self.training)
        return out


def _check_lora_args(base: object, alpha: object) -> None:
    if not isinstance(base, nn.Linear):
        raise ValueError(f"`base` must be an nn.Linear, but got {type(base).__name__}")
    finite = isinstance(alpha, int | float) and not isinstance(alpha, bool)
    if not (finite and math.isfinite(alpha)):  # type: ignore[arg-type]
        raise ValueError(f"`alpha` must be a finite number, but got alpha={alpha!r}")


def _lora_factors(
    rank: int, in_features: int, out_features: int, like: torch.Tensor
) -> tuple[nn.Parameter, nn.Parameter]:
    """``A`` (rank, in) initialised as ``nn.Linear`` weights are, ``B`` (out, rank) zeros."""
    a = torch.empty(rank, in_features, device=like.device, dtype=like.dtype)
    nn.init.kaiming_uniform_(a, a=math.sqrt(5))
    b = torch.zeros(out_features, rank, device=like.device, dtype=like.dtype)
    return nn.Parameter(a), nn.Parameter(b)


_M = TypeVar("_M", bound=nn.Module)


def _freeze(module: _M) -> _M:
    for p in module.parameters():
        p.requires_grad_(False)
    return module


class LoRALinear(nn.Module):
    """A frozen ``nn.Linear`` plus a trainable low-rank adapter (what
    :class:`ElasticLoRALinear` exports with ``merge=False``).

    ``y = base(x) + alpha * x @ lora_A.T @ lora_B.T``, with ``lora_A`` of shape
    ``(rank, in_features)`` and ``lora_B`` of shape ``(out_features, rank)``. ``lora_B`` starts
    at zero, so a new adapter leaves ``base`` unchanged. ``alpha`` is the adapter's scale as is:
    unlike ``peft``'s ``lora_alpha`` it is not divided by the rank, so the first ``r``
    components of an elastic adapter mean the same in every subnet.

    Args:
        base: the linear layer to adapt; its parameters are frozen (``requires_grad=False``).
        rank: the number of low-rank components.
        alpha: the adapter's scale.

    >>> lora = LoRALinear(nn.Linear(6, 4), rank=2)
    >>> x = torch.randn(3, 6)
    >>> torch.equal(lora(x), lora.base(x))
    True
    """

    def __init__(self, base: nn.Linear, rank: int, *, alpha: float = 1.0) -> None:
        super().__init__()
        _check_lora_args(base, alpha)
        _check_int(rank, "rank")
        self.base = _freeze(base)
        self.rank, self.alpha = rank, float(alpha)
        self.lora_A, self.lora_B = _lora_factors(
            rank, base.in_features, base.out_features, base.weight
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The base layer's output plus the scaled low-rank update."""
        return self.base(x) + self.alpha * F.linear(F.linear(x, self.lora_A), self.lora_B)

    def merged(self) -> nn.Linear:
        """A plain ``nn.Linear`` computing the same, the adapter folded into its weight."""
        return _merged_linear(self.base, self.lora_A, self.lora_B, self.alpha)


def _merged_linear(
    base: nn.Linear, lora_a: torch.Tensor, lora_b: torch.Tensor, alpha: float
) -> nn.Linear:
    out = nn.Linear(base.in_features, base.out_features, bias=base.bias is not None)
    out = out.to(device=base.weight.device, dtype=base.weight.dtype)
    _copy_param(out.weight, base.weight + alpha * (lora_b @ lora_a))
    if base.bias is not None:
        _copy_param(out.bias, base.bias)
    return out


class ElasticLoRALinear(Elastic, nn.Module):
    """A low-rank adapter on a frozen linear layer, with an elastic rank (LoNAS / Shears).

    ``y = base(x) + alpha * x @ lora_A[:r].T @ lora_B[:, :r].T`` for the active rank ``r`` of the
    allocated ``R = largest(rank)``. The base layer's parameters are frozen; ``lora_B`` starts at
    zero, so the new adapter computes exactly what ``base`` does. ``base`` may itself be an
    :class:`ElasticLinear` (elastic channels of the base weights): the adapter then uses the
    same first input columns and output rows as the base layer does.

    Export: ``to_static(merge=True)`` folds the active adapter into a plain ``nn.Linear``
    (``W + alpha * B[:, :r] @ A[:r]``); ``to_static(merge=False)`` returns a plain
    :class:`LoRALinear` of rank ``r`` (frozen base, trainable adapter, e.g. to fine-tune the
    chosen subnet further). :func:`export_module` and ``Supernet.export`` call ``to_static()``,
    which follows the attribute ``merge_on_export`` (``True`` by default; set it per layer).

    Args:
        base: the linear layer to adapt (an ``nn.Linear`` or ``ElasticLinear``).
        rank: the adapter's rank, an int or an ``ElasticChoice`` of ints.
        alpha: the adapter's scale, not divided by the rank (see :class:`LoRALinear`).

    >>> lora = ElasticLoRALinear(nn.Linear(6, 4), ElasticChoice([2, 4, 8]))
    >>> lora.rank.active = 2
    >>> type(lora.to_static()).__name__, type(lora.to_static(merge=False)).__name__
    ('Linear', 'LoRALinear')
    """

    _choice_attrs = ("rank",)

    def __init__(self, base: nn.Linear, rank: Size, *, alpha: float = 1.0) -> None:
        super().__init__()
        _check_lora_args(base, alpha)
        _check_size(rank, "rank")
        self.base = _freeze(base)
        self.rank, self.alpha = rank, float(alpha)
        self.merge_on_export = True
        self.lora_A, self.lora_B = _lora_factors(
            largest(rank), base.weight.shape[1], base.weight.shape[0], base.weight
        )

    def _active_factors(self, k_in: int, k_out: int) -> tuple[torch.Tensor, torch.Tensor]:
        r = active(self.rank)
        return self.lora_A[:r, :k_in], self.lora_B[:k_out, :r]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The base layer's output plus the active components of the scaled update."""
        y = self.base(x)
        lora_a, lora_b = self._active_factors(x.shape[-1], y.shape[-1])
        return y + self.alpha * F.linear(F.linear(x, lora_a), lora_b)

    def to_static(self, merge: bool | None = None) -> nn.Module:
        """The active subnet as a plain module: a merged ``nn.Linear`` or a :class:`LoRALinear`.

        ``merge`` defaults to :attr:`merge_on_export`.
        """
        merge = self.merge_on_export if merge is None else merge
        _check_flag(merge, "merge")
        base = export_module(self.base)  # an ElasticLinear base needs a forward pass first
        if not isinstance(base, nn.Linear):
            raise ValueError(f"the base must export to an nn.Linear, but got {type(base)}")
        lora_a, lora_b = self._active_factors(base.in_features, base.out_features)
        if merge:
            return _merged_linear(base, lora_a, lora_b, self.alpha)
        out = LoRALinear(base, active(self.rank), alpha=self.alpha)
        out = out.to(device=lora_a.device, dtype=lora_a.dtype)
        _copy_param(out.lora_A, lora_a)
        _copy_param(out.lora_B, lora_b)
        return out
