"""A GPT-style decoder and its architecture space: one builder for the stand-alone network and
the supernet (HAT / AutoFormer style).

:func:`gpt_space` is a ``symtune.spaces.Space`` over the model width (token and position
embeddings, every layer norm and every projection back into the residual stream), the depth,
and the attention heads and MLP ratio of each block (per-layer choices, as in HAT and
AutoFormer) or of all blocks at once (global choices). :func:`build_gpt` makes a :class:`GPT`
from a config: a concrete one gives a stand-alone network of plain sizes (its elastic layers at
int sizes compute what their ``torch.nn`` counterparts compute), the config with
``ElasticChoice`` s in it (what ``Supernet.from_space`` passes) gives the supernet::

    import torch
    from symtune.hypernets import Supernet, build_gpt, gpt_space

    space = gpt_space(context=16, widths=(16, 32), heads=(1, 2), depths=(1, 2), head_dim=8)
    supernet = Supernet.from_space(space, build_gpt, input_shape=(16,), input_dtype=torch.long)
    standalone = build_gpt(space.materialize(space.sample(0)))

Input: token ids of shape ``(batch, sequence)``, ``sequence <= context``; output: logits of
shape ``(batch, sequence, vocab_size)``. Each block is pre-norm: ``x + attn(ln1(x))``, then
``x + mlp(ln2(x))``, with causal self-attention of ``heads`` heads of the fixed ``head_dim``
and an MLP of hidden width ``round(mlp_ratio * width)`` (GELU).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

import torch
from torch import nn

from symtune.hypernets.supernet._elastic import (
    Elastic,
    ElasticChoice,
    ElasticLinear,
    ElasticSequential,
    Size,
    _check_size,
    _last_in,
    active,
    export_module,
    largest,
)
from symtune.hypernets.supernet._transformer import (
    ElasticEmbedding,
    ElasticLayerNorm,
    ElasticSelfAttention,
)
from symtune.spaces import Space, oneof

__all__ = ["GPT", "ElasticMLP", "build_gpt", "gpt_space"]

Ratio: TypeAlias = int | float | ElasticChoice
"""An MLP ratio: a number (stand-alone) or an ``ElasticChoice`` of numbers (supernet)."""


def _ratio_options(ratio: object) -> tuple[Any, ...]:
    options = ratio.options if isinstance(ratio, ElasticChoice) else (ratio,)
    for option in options:
        if not isinstance(option, int | float) or isinstance(option, bool) or not option > 0:
            raise ValueError(
                f"`mlp_ratio` must be a number > 0 or an ElasticChoice of such numbers, but got "
                f"{ratio!r}"
            )
    return options


def _hidden(ratio: float, width: int) -> int:
    return max(1, round(ratio * width))


class ElasticMLP(Elastic, nn.Module):
    """A transformer's MLP, ``fc2(gelu(fc1(x)))``, whose hidden width is ``mlp_ratio`` times
    the width of its input.

    ``fc1`` and ``fc2`` are :class:`ElasticLinear` layers allocated for
    ``round(largest(mlp_ratio) * largest(width))`` hidden units; a subnet uses the first
    ``round(mlp_ratio.active * k)`` of them for an input of width ``k`` (the active model width),
    and ``fc2`` writes ``width.active`` outputs back into the residual stream. ``to_static()``
    returns ``nn.Sequential(fc1=nn.Linear, act=nn.GELU, fc2=nn.Linear)`` with the same
    ``state_dict`` keys.

    Args:
        width: the model width, an int or an ``ElasticChoice`` of ints.
        mlp_ratio: the hidden width over the model width, a number or an ``ElasticChoice``.

    >>> mlp = ElasticMLP(ElasticChoice([4, 8]), ElasticChoice([2, 4]))
    >>> mlp.mlp_ratio.active = 2
    >>> mlp(torch.randn(3, 4)).shape, mlp.fc1.out_features
    (torch.Size([3, 8]), 8)
    """

    _choice_attrs = ("mlp_ratio",)

    def __init__(self, width: Size, mlp_ratio: Ratio) -> None:
        super().__init__()
        _check_size(width, "width")
        _ratio_options(mlp_ratio)
        self.width, self.mlp_ratio = width, mlp_ratio
        hidden = _hidden(largest(mlp_ratio), largest(width))
        self.fc1 = ElasticLinear(largest(width), hidden)
        self.act = nn.GELU()
        self.fc2 = ElasticLinear(hidden, width)

    def _set_hidden(self, k_in: int) -> None:
        # fc1's output width follows the active ratio and the incoming width (an int, so fc1
        # reports no choice of its own: the ratio is this layer's one elastic dimension)
        self.fc1.out_features = min(_hidden(active(self.mlp_ratio), k_in), self.fc1.weight.shape[0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The MLP of ``x`` (..., width) with the active hidden width."""
        self._set_hidden(x.shape[-1])
        return self.fc2(self.act(self.fc1(x)))

    def to_static(self) -> nn.Sequential:
        """``nn.Sequential(fc1, act, fc2)`` of plain layers for the width last seen."""
        self._set_hidden(_last_in(self.fc1))
        parts = [
            ("fc1", export_module(self.fc1)),
            ("act", nn.GELU()),
            ("fc2", export_module(self.fc2)),
        ]
        return nn.Sequential(OrderedDict(parts))


class GPTBlock(nn.Module):
    """A pre-norm decoder block: ``x + attn(ln1(x))``, then ``x + mlp(ln2(x))``."""

    def __init__(self, width: Size, heads: Size, mlp_ratio: Ratio, head_dim: int) -> None:
        super().__init__()
        self.ln1 = ElasticLayerNorm(width)
        self.attn = ElasticSelfAttention(width, heads, head_dim, causal=True)
        self.ln2 = ElasticLayerNorm(width)
        self.mlp = ElasticMLP(width, mlp_ratio)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The block's residual updates of ``x`` (batch, sequence, width)."""
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


def _check_positive_int(value: object, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"`{what}` must be an int >= 1, but got {what}={value!r}")
    return value


class GPT(nn.Module):
    """A GPT-style decoder: token and position embeddings, pre-norm causal blocks, a final
    layer norm and a linear head to the vocabulary.

    Args:
        vocab_size: the number of token ids (256 for bytes).
        context: the longest sequence (the position embedding's size).
        width: the model width, an int or an ``ElasticChoice``.
        depth: the number of blocks that run, an int or an ``ElasticChoice``.
        blocks: per block (at least ``largest(depth)`` of them) a mapping with ``heads`` and
            ``mlp_ratio``, each a value or an ``ElasticChoice``.
        head_dim: the width of each attention head.
    """

    def __init__(
        self, *, vocab_size: int, context: int, width: Size, depth: Size,
        blocks: Sequence[Mapping[str, Any]], head_dim: int,
    ) -> None:  # fmt: skip
        super().__init__()
        self.vocab_size = _check_positive_int(vocab_size, "vocab_size")
        self.context = _check_positive_int(context, "context")
        _check_positive_int(head_dim, "head_dim")
        _check_size(depth, "depth")
        if len(blocks) < largest(depth):
            raise ValueError(
                f"`len(blocks) >= largest(depth)` must hold, but got {len(blocks)} blocks with "
                f"depth={depth!r}"
            )
        self.tok = ElasticEmbedding(vocab_size, width)
        self.pos = ElasticEmbedding(context, width)

        def block(i: int) -> GPTBlock:
            return GPTBlock(width, blocks[i]["heads"], blocks[i]["mlp_ratio"], head_dim)

        self.blocks = ElasticSequential.repeat(block, depth)
        self.ln_f = ElasticLayerNorm(width)
        self.head = ElasticLinear(width, vocab_size)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        """Logits ``(batch, sequence, vocab_size)`` for token ids ``(batch, sequence)``."""
        if idx.dim() != 2 or idx.is_floating_point() or idx.is_complex():
            raise ValueError(
                "GPT takes integer token ids of shape (batch, sequence), but got a "
                f"{idx.dtype} tensor of shape {tuple(idx.shape)}"
            )
        if idx.shape[1] > self.context:
            raise ValueError(
                f"`sequence <= context` must hold, but got a sequence of {idx.shape[1]} tokens "
                f"with context={self.context}"
            )
        positions = torch.arange(idx.shape[1], device=idx.device)
        x = self.tok(idx) + self.pos(positions)
        return self.head(self.ln_f(self.blocks(x)))


def _block_choices(config: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    if "blocks" in config:
        return list(config["blocks"])
    n = largest(config["depth"])
    return [{"heads": config["heads"], "mlp_ratio": config["mlp_ratio"]}] * n


def build_gpt(config: Mapping[str, Any]) -> GPT:
    """The builder: a :class:`GPT` from a :func:`gpt_space` config, concrete or elastic.

    ``config`` holds ``vocab_size``, ``context``, ``head_dim``, ``width``, ``depth`` and either
    ``blocks`` (per block ``heads`` and ``mlp_ratio``) or global ``heads`` and ``mlp_ratio``.
    """
    if not isinstance(config, Mapping):
        raise ValueError(f"a GPT config must be a mapping, but got {config!r}")
    need = ["vocab_size", "context", "head_dim", "width", "depth"]
    if "blocks" not in config:
        need += ["heads", "mlp_ratio"]
    missing = [key for key in need if key not in config]
    if missing:
        raise ValueError(f"a GPT config needs the keys {need}, but {missing} are missing")
    return GPT(
        vocab_size=config["vocab_size"], context=config["context"], width=config["width"],
        depth=config["depth"], blocks=_block_choices(config), head_dim=config["head_dim"],
    )  # fmt: skip


def _options(values: Sequence[Any], what: str, *, numbers: bool = False) -> list[Any]:
    opts = list(values) if isinstance(values, Sequence) and not isinstance(values, str) else []
    ok = bool(opts) and all(
        (isinstance(v, int | float) if numbers else isinstance(v, int))
        and not isinstance(v, bool) and v > 0 for v in opts
    )  # fmt: skip
    if not ok or len(set(opts)) != len(opts):
        kind = "numbers > 0" if numbers else "ints >= 1"
        raise ValueError(f"`{what}` must be a non-empty sequence of distinct {kind}, but got "
                         f"{what}={values!r}")  # fmt: skip
    return opts


def gpt_space(
    *, vocab_size: int = 256, context: int = 64, widths: Sequence[int] = (64, 96, 128),
    heads: Sequence[int] = (2, 4), mlp_ratios: Sequence[float] = (2, 3, 4),
    depths: Sequence[int] = (2, 3, 4), per_layer: bool = True, head_dim: int = 16,
) -> Space:  # fmt: skip
    """The architecture space of a GPT-style decoder (defaults: a small byte-level model).

    Parameters: ``width`` and ``depth``, and with ``per_layer=True`` (the default) each block's
    own ``blocks[i].heads`` and ``blocks[i].mlp_ratio`` (``max(depths)`` blocks; a subnet uses
    the first ``depth``), else one global ``heads`` and ``mlp_ratio`` for every block.
    ``vocab_size``, ``context`` and ``head_dim`` are fixed values in the config. The defaults
    hold ``3 * 3 * 6**4 = 11,664`` subnets (each block's choices counted, also those of blocks
    a shallower subnet does not run).
    """
    for value, what in [(vocab_size, "vocab_size"), (context, "context"), (head_dim, "head_dim")]:
        _check_positive_int(value, what)
    if not isinstance(per_layer, bool):
        raise ValueError(f"`per_layer` must be a bool, but got per_layer={per_layer!r}")
    width_opts, head_opts = _options(widths, "widths"), _options(heads, "heads")
    ratio_opts = _options(mlp_ratios, "mlp_ratios", numbers=True)
    depth_opts = _options(depths, "depths")
    config: dict[str, Any] = {
        "vocab_size": vocab_size, "context": context, "head_dim": head_dim,
        "width": oneof(width_opts), "depth": oneof(depth_opts),
    }  # fmt: skip
    if per_layer:
        config["blocks"] = [
            {"heads": oneof(head_opts), "mlp_ratio": oneof(ratio_opts)}
            for _ in range(max(depth_opts))
        ]
    else:
        config["heads"], config["mlp_ratio"] = oneof(head_opts), oneof(ratio_opts)
    return Space(config)
