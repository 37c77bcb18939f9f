"""Elastic transformer parts against plain PyTorch oracles: an active slice is a small plain
module holding the copied weights, and every export computes what the supernet computes."""

from __future__ import annotations

import doctest
import math
from collections.abc import Sequence
from typing import TypeAlias, TypeVar

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.testing import assert_close

import symtune.hypernets.supernet._transformer as transformer_module
from symtune.hypernets import (
    ElasticEmbedding,
    ElasticLayerNorm,
    ElasticLoRALinear,
    ElasticSelfAttention,
    LoRALinear,
    SelfAttention,
)
from symtune.hypernets.supernet import (
    ElasticChoice,
    ElasticLinear,
    ElasticSequential,
    Supernet,
    export_module,
)
from symtune.hypernets.supernet._elastic import active

torch.set_num_threads(1)


M = TypeVar("M", bound=nn.Module)
Size: TypeAlias = int | ElasticChoice


def _randomise(module: M, seed: int = 0) -> M:
    """Non-trivial values everywhere (LoRA's B starts at zero, layer norm's weight at one)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.5)
    return module


def test_docstring_examples() -> None:
    result = doctest.testmod(transformer_module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


# -- embedding -----------------------------------------------------------------------------


def test_embedding_slice_is_the_first_columns_and_exports_to_nn_embedding() -> None:
    width = ElasticChoice([4, 8, 12])
    embed = _randomise(ElasticEmbedding(10, width))
    tokens = torch.tensor([[0, 3, 9], [1, 1, 2]])
    for k in width.options:
        width.active = k
        oracle = nn.Embedding(10, k)
        oracle.weight.data.copy_(embed.weight[:, :k])
        assert_close(embed(tokens), oracle(tokens))
        static = export_module(embed)
        assert type(static) is nn.Embedding and static.weight.shape == (10, k)
        assert_close(static(tokens), embed(tokens))


def test_embedding_with_an_int_width_is_nn_embedding() -> None:
    embed = ElasticEmbedding(7, 5)
    oracle = _randomise(nn.Embedding(7, 5))
    embed.load_state_dict(oracle.state_dict())
    tokens = torch.arange(7).view(1, 7)
    assert_close(embed(tokens), oracle(tokens))


@pytest.mark.parametrize(
    ("args", "match"),
    [((0, 4), "num_embeddings"), ((True, 4), "num_embeddings"), ((5, 0), "width"),
     ((5, ElasticChoice([4, 2.5])), "width")],
)  # fmt: skip
def test_embedding_rejects_bad_sizes(args: tuple[object, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ElasticEmbedding(*args)


# -- layer norm ------------------------------------------------------------------------------


@pytest.mark.parametrize("bias", [True, False])
def test_layer_norm_normalises_the_incoming_width_with_the_first_entries(bias: bool) -> None:
    norm = _randomise(ElasticLayerNorm(ElasticChoice([4, 8]), bias=bias))
    for k in (4, 6, 8):
        x = torch.randn(2, 3, k)
        oracle = nn.LayerNorm(k, bias=bias)
        oracle.weight.data.copy_(norm.weight[:k])
        if bias:
            oracle.bias.data.copy_(norm.bias[:k])
        assert_close(norm(x), oracle(x))
        static = export_module(norm)
        assert type(static) is nn.LayerNorm and static.normalized_shape == (k,)
        assert_close(static(x), norm(x))


def test_layer_norm_with_an_int_width_is_nn_layer_norm() -> None:
    norm, oracle = ElasticLayerNorm(6), _randomise(nn.LayerNorm(6))
    norm.load_state_dict(oracle.state_dict())
    x = torch.randn(4, 6)
    assert_close(norm(x), oracle(x))
    plain = ElasticLayerNorm(6, elementwise_affine=False)
    assert_close(plain(x), F.layer_norm(x, (6,)))
    assert_close(export_module(plain)(x), F.layer_norm(x, (6,)))


def test_layer_norm_rejects_wide_inputs_and_export_before_a_forward_pass() -> None:
    norm = ElasticLayerNorm(ElasticChoice([4, 8]))
    with pytest.raises(RuntimeError, match="has not seen an input"):
        norm.to_static()
    with pytest.raises(ValueError, match=r"input width <= largest\(in\).* width 9 with room for 8"):
        norm(torch.randn(2, 9))
    with pytest.raises(ValueError, match="width"):
        ElasticLayerNorm(0)


# -- self-attention --------------------------------------------------------------------------


def _sliced_plain(attn: ElasticSelfAttention, k_in: int) -> SelfAttention:
    """A SelfAttention holding the slices the weight-sharing rules name, cut independently."""
    h, d, k_out = active(attn.heads), attn.head_dim, active(attn.width)
    rows_per = attn.proj.weight.shape[1]  # largest(heads) * head_dim
    rows = torch.cat([torch.arange(i * rows_per, i * rows_per + h * d) for i in range(3)])
    plain = SelfAttention(k_in, h, d, out_width=k_out, causal=attn.causal)
    with torch.no_grad():
        plain.qkv.weight.copy_(attn.qkv.weight[rows][:, :k_in])
        plain.qkv.bias.copy_(attn.qkv.bias[rows])
        plain.proj.weight.copy_(attn.proj.weight[:k_out, : h * d])
        plain.proj.bias.copy_(attn.proj.bias[:k_out])
    return plain


@pytest.mark.parametrize("causal", [False, True])
def test_attention_slice_is_the_first_heads_and_width_and_exports(causal: bool) -> None:
    width, heads = ElasticChoice([8, 12, 16]), ElasticChoice([1, 2, 4])
    attn = _randomise(ElasticSelfAttention(width, heads, head_dim=3, causal=causal))
    for k, h in [(16, 4), (12, 2), (8, 1), (16, 1), (8, 4)]:
        width.active, heads.active = k, h
        x = torch.randn(2, 5, k)
        y = attn(x)
        assert y.shape == (2, 5, k)
        assert_close(y, _sliced_plain(attn, k)(x))
        static = export_module(attn)
        assert type(static) is SelfAttention and (static.heads, static.width) == (h, k)
        assert_close(static(x), y)


def test_attention_input_width_follows_the_tensor_and_output_the_active_width() -> None:
    width = ElasticChoice([8, 16])
    attn = _randomise(ElasticSelfAttention(width, 2, head_dim=4))
    width.active = 8
    x = torch.randn(3, 4, 12)
    assert_close(attn(x), _sliced_plain(attn, 12)(x))
    assert export_module(attn)(x).shape == (3, 4, 8)


def test_a_subnet_trains_only_its_slice_of_the_attention_weights() -> None:
    width, heads = ElasticChoice([8, 16]), ElasticChoice([1, 2])
    attn = ElasticSelfAttention(width, heads, head_dim=4)
    width.active, heads.active = 8, 1
    attn(torch.randn(2, 3, 8)).sum().backward()
    grad = attn.qkv.weight.grad
    assert grad is not None
    used = grad.view(3, 8, 16)[:, :4, :8]
    assert used.abs().sum() > 0 and grad.abs().sum() == used.abs().sum()
    assert attn.proj.weight.grad is not None and attn.proj.weight.grad[8:].abs().sum() == 0


@pytest.mark.parametrize("causal", [False, True])
def test_plain_attention_equals_torch_multihead_attention(causal: bool) -> None:
    plain = _randomise(SelfAttention(12, heads=3, head_dim=4, causal=causal))
    mha = nn.MultiheadAttention(12, 3, batch_first=True)
    with torch.no_grad():
        mha.in_proj_weight.copy_(plain.qkv.weight)
        mha.in_proj_bias.copy_(plain.qkv.bias)
        mha.out_proj.weight.copy_(plain.proj.weight)
        mha.out_proj.bias.copy_(plain.proj.bias)
    x = torch.randn(2, 6, 12)
    mask = nn.Transformer.generate_square_subsequent_mask(6) if causal else None
    expected, _ = mha(x, x, x, attn_mask=mask, need_weights=False)
    assert_close(plain(x), expected)


def test_attention_with_int_sizes_is_the_plain_module() -> None:
    attn = ElasticSelfAttention(8, 2, head_dim=4, causal=True, bias=False)
    plain = _randomise(SelfAttention(8, 2, 4, causal=True, bias=False))
    attn.load_state_dict(plain.state_dict())
    x = torch.randn(2, 5, 8)
    assert_close(attn(x), plain(x))
    assert_close(export_module(attn)(x), plain(x))


def test_causal_attention_does_not_look_ahead() -> None:
    attn = _randomise(ElasticSelfAttention(ElasticChoice([4, 8]), ElasticChoice([1, 2]), 4,
                                           causal=True))  # fmt: skip
    attn.heads.active = 1
    x = torch.randn(1, 6, 8)
    changed = x.clone()
    changed[:, 4:] += 1.0
    assert_close(attn(x)[:, :4], attn(changed)[:, :4])
    assert not torch.allclose(attn(x)[:, 4:], attn(changed)[:, 4:])


def test_attention_dropout_acts_in_training_only_and_is_exported() -> None:
    attn = _randomise(ElasticSelfAttention(8, 2, 4, dropout=0.5))
    x = torch.randn(2, 5, 8)
    attn.eval()
    assert_close(attn(x), attn(x))
    static = export_module(attn)
    assert static.dropout == 0.5 and not static.training
    attn.train()
    torch.manual_seed(0)
    assert not torch.allclose(attn(x), attn(x))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"width": 0, "heads": 2, "head_dim": 4}, "`width` must be an int >= 1"),
        ({"width": 8, "heads": ElasticChoice([0, 2]), "head_dim": 4}, "`heads` must be"),
        ({"width": 8, "heads": 2, "head_dim": 2.5}, r"`head_dim` must be an int >= 1.*2\.5"),
        ({"width": 8, "heads": 2, "head_dim": 4, "causal": 1}, "`causal` must be a bool"),
        ({"width": 8, "heads": 2, "head_dim": 4, "dropout": 1.0}, "0 <= dropout < 1"),
    ],
)
def test_attention_rejects_bad_arguments(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ElasticSelfAttention(**kwargs)


def test_attention_rejects_bad_input_shapes() -> None:
    attn = ElasticSelfAttention(ElasticChoice([4, 8]), 2, 4, causal=True)
    with pytest.raises(ValueError, match=r"\(batch, sequence, width\), but got shape \(5, 8\)"):
        attn(torch.randn(5, 8))
    with pytest.raises(ValueError, match="width 9 with room for 8"):
        attn(torch.randn(1, 5, 9))
    with pytest.raises(RuntimeError, match="has not seen an input"):
        ElasticSelfAttention(8, 2, 4).to_static()
    with pytest.raises(ValueError, match=r"input width == width.*width 6 with width=8"):
        SelfAttention(8, 2, 4)(torch.randn(1, 3, 6))


# -- LoRA ------------------------------------------------------------------------------------


def test_lora_starts_as_the_frozen_base_and_trains_only_the_adapter() -> None:
    base = nn.Linear(6, 5)
    lora = ElasticLoRALinear(base, ElasticChoice([1, 2, 4]), alpha=2.0)
    x = torch.randn(3, 6)
    assert_close(lora(x), base(x))
    assert not base.weight.requires_grad and not base.bias.requires_grad
    lora(x).sum().backward()
    assert base.weight.grad is None and lora.lora_B.grad is not None
    assert lora.lora_A.shape == (4, 6) and lora.lora_B.shape == (5, 4)


def test_lora_slice_is_the_first_components_and_both_exports_match() -> None:
    rank = ElasticChoice([1, 2, 4])
    lora = ElasticLoRALinear(nn.Linear(6, 5), rank, alpha=0.5)
    _randomise(lora)
    x = torch.randn(3, 6)
    for r in rank.options:
        rank.active = r
        a, b = lora.lora_A[:r], lora.lora_B[:, :r]
        expected = F.linear(x, lora.base.weight, lora.base.bias) + 0.5 * x @ a.T @ b.T
        assert_close(lora(x), expected)
        merged, unmerged = lora.to_static(merge=True), lora.to_static(merge=False)
        assert type(merged) is nn.Linear and type(unmerged) is LoRALinear
        assert unmerged.rank == r and not unmerged.base.weight.requires_grad
        assert_close(merged(x), expected)
        assert_close(unmerged(x), expected)
        assert_close(unmerged.merged()(x), expected)


def test_a_subnet_trains_only_its_first_lora_components() -> None:
    rank = ElasticChoice([1, 3])
    lora = _randomise(ElasticLoRALinear(nn.Linear(4, 4), rank))
    rank.active = 1
    lora(torch.randn(2, 4)).sum().backward()
    assert lora.lora_A.grad is not None and lora.lora_B.grad is not None
    assert lora.lora_A.grad[1:].abs().sum() == 0 and lora.lora_B.grad[:, 1:].abs().sum() == 0
    assert lora.lora_A.grad[0].abs().sum() > 0


def test_export_module_follows_merge_on_export() -> None:
    lora = ElasticLoRALinear(nn.Linear(4, 4), ElasticChoice([2, 3]))
    model = nn.Sequential(lora, nn.ReLU())
    _randomise(model)
    x = torch.randn(2, 4)
    assert type(export_module(model)[0]) is nn.Linear
    lora.merge_on_export = False
    static = export_module(model)
    assert type(static[0]) is LoRALinear
    assert_close(static(x), model(x))


def test_lora_on_an_elastic_base_follows_its_width() -> None:
    out = ElasticChoice([3, 5])
    lora = _randomise(ElasticLoRALinear(ElasticLinear(6, out), ElasticChoice([2, 4])))
    out.active, lora.rank.active = 3, 2
    x = torch.randn(2, 4)
    base = lora.base
    expected = F.linear(x, base.weight[:3, :4], base.bias[:3])
    expected = expected + x @ lora.lora_A[:2, :4].T @ lora.lora_B[:3, :2].T
    assert_close(lora(x), expected)
    for merge in (True, False):
        assert_close(lora.to_static(merge=merge)(x), expected)


def test_lora_with_an_int_rank_is_the_plain_lora_module() -> None:
    elastic = ElasticLoRALinear(nn.Linear(4, 3), 2, alpha=3.0)
    plain = _randomise(LoRALinear(nn.Linear(4, 3), 2, alpha=3.0))
    elastic.load_state_dict(plain.state_dict())
    x = torch.randn(5, 4)
    assert_close(elastic(x), plain(x))


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        ((nn.Conv2d(2, 2, 1), 2), {}, "`base` must be an nn.Linear, but got Conv2d"),
        ((nn.Linear(4, 4), 0), {}, "`rank` must be"),
        ((nn.Linear(4, 4), 2), {"alpha": math.nan}, "`alpha` must be a finite number"),
        ((nn.Linear(4, 4), 2), {"alpha": True}, "`alpha` must be a finite number"),
    ],
)
def test_lora_rejects_bad_arguments(
    args: tuple[object, object], kwargs: dict[str, object], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        ElasticLoRALinear(*args, **kwargs)
    with pytest.raises(ValueError, match=match):
        LoRALinear(*args, **kwargs)


def test_lora_export_rejects_a_bad_merge_flag() -> None:
    with pytest.raises(ValueError, match="`merge` must be a bool"):
        ElasticLoRALinear(nn.Linear(2, 2), 1).to_static(merge="yes")


# -- a tiny transformer of these parts ---------------------------------------------------------


class Block(nn.Module):
    """A pre-norm transformer block."""

    def __init__(self, width: Size, heads: Size, hidden: Size) -> None:
        super().__init__()
        self.ln1, self.ln2 = ElasticLayerNorm(width), ElasticLayerNorm(width)
        self.attn = ElasticSelfAttention(width, heads, head_dim=4, causal=True)
        self.mlp = nn.Sequential(
            ElasticLinear(width, hidden), nn.GELU(), ElasticLinear(hidden, width)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class TinyGPT(nn.Module):
    """Token and position embeddings, elastic-depth blocks, a final norm and a LoRA head."""

    def __init__(
        self, width: Size, heads: Sequence[Size], hidden: Sequence[Size], depth: Size
    ) -> None:
        super().__init__()
        self.tok, self.pos = ElasticEmbedding(11, width), ElasticEmbedding(8, width)
        self.blocks = ElasticSequential.repeat(lambda i: Block(width, heads[i], hidden[i]), depth)
        self.ln = ElasticLayerNorm(width)
        self.head = ElasticLoRALinear(ElasticLinear(width, 11), ElasticChoice([1, 2], name="r"))

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        x = self.tok(idx) + self.pos(torch.arange(idx.shape[1], device=idx.device))
        return self.head(self.ln(self.blocks(x)))


def _tiny(shared: bool) -> tuple[TinyGPT, list[ElasticChoice], list[ElasticChoice]]:
    n = 2
    if shared:
        heads = [ElasticChoice([1, 2], name="heads")] * n
        hidden = [ElasticChoice([8, 16], name="hidden")] * n
    else:
        heads = [ElasticChoice([1, 2], name=f"blocks.{i}.heads") for i in range(n)]
        hidden = [ElasticChoice([8, 16], name=f"blocks.{i}.hidden") for i in range(n)]
    depth = ElasticChoice([1, 2], name="depth")
    net = TinyGPT(ElasticChoice([8, 12], name="width"), heads, hidden, depth)
    return _randomise(net), heads, hidden


def _active_heads(net: TinyGPT) -> list[int]:
    return [int(block.attn.heads.active) for block in net.blocks]


def test_a_shared_choice_changes_every_block_and_per_block_choices_one() -> None:
    net, heads, _ = _tiny(shared=True)
    heads[0].active = 1
    assert _active_heads(net) == [1, 1]
    net, heads, _ = _tiny(shared=False)
    heads[1].active = 1
    assert _active_heads(net) == [2, 1]


@pytest.mark.parametrize("shared", [True, False])
def test_a_tiny_transformer_exports_to_plain_modules_that_match(shared: bool) -> None:
    net, heads, hidden = _tiny(shared)
    idx = torch.randint(0, 11, (2, 6))
    heads[-1].active, hidden[0].active = 1, 8
    y = net(idx)
    static = export_module(net)
    elastic = [m for m in static.modules() if type(m).__name__.startswith("Elastic")]
    assert not elastic and isinstance(static.blocks[1].attn, SelfAttention)
    assert_close(static(idx), y)
    assert static.blocks[1].attn.heads == 1 and static.blocks[0].mlp[0].out_features == 8
    assert static.blocks[0].attn.heads == (1 if shared else 2)  # a shared choice moves both
    assert static.blocks[1].mlp[0].out_features == (8 if shared else 16)


def test_a_tiny_transformer_in_float64_exports_in_float64() -> None:
    net = _tiny(shared=False)[0].to(torch.float64)
    idx = torch.randint(0, 11, (2, 5))
    y = net(idx)
    static = export_module(net)
    assert {p.dtype for p in static.parameters()} == {torch.float64}
    assert_close(static(idx), y)


@pytest.mark.parametrize("shared", [True, False])
def test_supernet_wraps_a_hand_built_transformer(shared: bool) -> None:
    net, _, _ = _tiny(shared)
    supernet = Supernet(net, input_shape=(6,))
    per_block = ["heads", "hidden"] if shared else [f"blocks.{i}.{d}" for i in range(2)
                                                   for d in ("heads", "hidden")]  # fmt: skip
    assert set(supernet.choices) == {"width", "depth", "r", *per_block}
    # Supernet's dummy input is float zeros (it takes no input dtype yet); tokens are integers
    supernet.dummy_input = lambda batch_size=1: torch.zeros((batch_size, 6), dtype=torch.long)
    assignment = supernet.smallest_assignment()
    idx = torch.randint(0, 11, (3, 6))
    expected = supernet.activate(assignment)(idx)
    largest = supernet.activate(supernet.largest_assignment())(idx)
    assert not torch.allclose(largest, expected)
    plain = supernet.export(assignment)
    assert_close(plain(idx), expected)
    assert plain.tok.weight.shape == (11, 8) and len(plain.blocks) == 1
