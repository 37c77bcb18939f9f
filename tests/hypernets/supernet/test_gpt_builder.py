"""The GPT builder: one builder for the stand-alone decoder and its supernet (issue 11, item 2).

A stand-alone build has the parameter count of the hand formula; a supernet's exported subnet
computes the supernet's logits and has the shapes of the stand-alone build of the same config;
every subnet is causal."""

from __future__ import annotations

import doctest
from collections.abc import Mapping
from typing import Any, TypeVar

import pytest
import torch
from torch import nn
from torch.testing import assert_close

import symtune.hypernets.supernet._gpt as gpt_module
from symtune.hypernets import (
    GPT,
    Elastic,
    ElasticChoice,
    ElasticMLP,
    Supernet,
    build_gpt,
    gpt_space,
)

torch.set_num_threads(1)

M = TypeVar("M", bound=nn.Module)

SEQ = 12
SMALL: dict[str, Any] = {
    "vocab_size": 64, "context": 16, "widths": (16, 24, 32), "heads": (1, 2, 3),
    "mlp_ratios": (1, 2, 4), "depths": (1, 2, 3), "head_dim": 8,
}  # fmt: skip


def _tokens(seed: int, batch: int = 3, seq: int = SEQ, vocab: int = 64) -> torch.Tensor:
    return torch.randint(0, vocab, (batch, seq), generator=torch.Generator().manual_seed(seed))


def _randomise(module: M, seed: int = 0) -> M:
    """Non-trivial values everywhere (layer norms start at one and zero)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.3)
    return module


def _expected_params(config: Mapping[str, Any]) -> int:
    """The hand formula: embeddings, per block two layer norms, attention and the MLP, the
    final layer norm and the head (every layer with a bias)."""
    d, vocab, ctx, e = config["width"], config["vocab_size"], config["context"], config["head_dim"]
    blocks = config.get("blocks") or [config] * config["depth"]
    total = vocab * d + ctx * d + 2 * d + d * vocab + vocab
    for block in blocks[: config["depth"]]:
        inner, hidden = block["heads"] * e, round(block["mlp_ratio"] * d)
        attn = (d * 3 * inner + 3 * inner) + (inner * d + d)
        mlp = (d * hidden + hidden) + (hidden * d + d)
        total += 2 * (2 * d) + attn + mlp
    return total


def _n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _shapes(module: nn.Module) -> list[tuple[int, ...]]:
    return [tuple(p.shape) for p in module.parameters()]


def test_docstring_examples() -> None:
    result = doctest.testmod(gpt_module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_default_space_is_a_small_byte_model_with_per_layer_choices() -> None:
    space = gpt_space()
    config = space.materialize(space.sample(0))
    assert config["vocab_size"] == 256 and len(config["blocks"]) == 4
    assert space.cardinality == 3 * 3 * 6**4
    names = set(space.sample(1))
    assert {"width", "depth", "blocks[0].heads", "blocks[3].mlp_ratio"} <= names
    shared = gpt_space(per_layer=False)
    assert set(shared.sample(0)) == {"width", "depth", "heads", "mlp_ratio"}


@pytest.mark.parametrize("per_layer", [True, False])
def test_standalone_build_runs_and_has_the_hand_formula_parameter_count(per_layer: bool) -> None:
    space = gpt_space(**SMALL, per_layer=per_layer)
    for seed in range(3):
        config = space.materialize(space.sample(seed))
        net = build_gpt(config)
        assert _n_params(net) == _expected_params(config)
        logits = net(_tokens(seed))
        assert logits.shape == (3, SEQ, 64)
        assert not any(m.choices() for m in net.modules() if isinstance(m, Elastic))


def test_standalone_block_equals_plain_pytorch() -> None:
    """Elastic layers at int sizes compute what the torch.nn layers compute: one block against
    nn.LayerNorm, nn.MultiheadAttention (causal mask) and nn.Linear + GELU."""
    config = {"vocab_size": 64, "context": 16, "head_dim": 8, "width": 16, "depth": 1,
              "heads": 2, "mlp_ratio": 3}  # fmt: skip
    block: Any = _randomise(build_gpt(config)).blocks[0]
    d, h = 16, 2
    x = torch.randn(2, 5, d, generator=torch.Generator().manual_seed(3))
    mha = nn.MultiheadAttention(d, h, batch_first=True)
    with torch.no_grad():
        mha.in_proj_weight.copy_(block.attn.qkv.weight)
        mha.in_proj_bias.copy_(block.attn.qkv.bias)
        mha.out_proj.weight.copy_(block.attn.proj.weight)
        mha.out_proj.bias.copy_(block.attn.proj.bias)
    ln1 = nn.functional.layer_norm(x, (d,), block.ln1.weight, block.ln1.bias)
    mask = torch.triu(torch.ones(5, 5, dtype=torch.bool), 1)
    y = x + mha(ln1, ln1, ln1, attn_mask=mask, need_weights=False)[0]
    ln2 = nn.functional.layer_norm(y, (d,), block.ln2.weight, block.ln2.bias)
    fc1, fc2 = block.mlp.fc1, block.mlp.fc2
    y = y + nn.functional.linear(
        nn.functional.gelu(nn.functional.linear(ln2, fc1.weight, fc1.bias)), fc2.weight, fc2.bias
    )
    assert_close(block(x), y, atol=1e-5, rtol=1e-5)


def _supernet(per_layer: bool = True) -> Supernet:
    space = gpt_space(**SMALL, per_layer=per_layer)
    supernet = Supernet.from_space(space, build_gpt, input_shape=(SEQ,), input_dtype=torch.long)
    _randomise(supernet, seed=1)
    return supernet.eval()


@pytest.mark.parametrize("per_layer", [True, False])
def test_exported_subnet_matches_the_supernet_and_the_standalone_shapes(per_layer: bool) -> None:
    supernet = _supernet(per_layer)
    assert supernet.space is not None
    tokens = _tokens(7)
    for seed in range(4):
        assignment = supernet.sample_assignment(seed)
        plain = supernet.export(assignment)
        assert not any(isinstance(m, Elastic) for m in plain.modules())
        with torch.no_grad():
            expected = supernet.activate(assignment)(tokens)
            assert_close(plain(tokens), expected, atol=1e-5, rtol=1e-5)
        standalone = build_gpt(supernet.space.materialize(assignment))
        assert _shapes(plain) == _shapes(standalone)
        assert _n_params(plain) == _expected_params(supernet.space.materialize(assignment))
        assert supernet.subnet_params(assignment) == _n_params(standalone)
        assert supernet.subnet_flops(assignment) > 0


def test_export_of_the_largest_and_smallest_subnets_match() -> None:
    supernet = _supernet()
    tokens = _tokens(8)
    for assignment in (supernet.largest_assignment(), supernet.smallest_assignment()):
        plain = supernet.export(assignment)
        with torch.no_grad():
            assert_close(plain(tokens), supernet.activate(assignment)(tokens), atol=1e-5, rtol=0)
    small: Any = supernet.export(supernet.smallest_assignment())
    assert small.tok.weight.shape == (64, 16) and len(small.blocks) == 1
    assert small.blocks[0].mlp.fc1.weight.shape == (16, 16)  # ratio 1 of width 16


def test_every_subnet_is_causal() -> None:
    """Logits at position t do not change when the tokens after t change."""
    supernet = _supernet()
    tokens = _tokens(9)
    t = 5
    changed = tokens.clone()
    changed[:, t + 1 :] = (changed[:, t + 1 :] + 1 + torch.arange(SEQ - t - 1)) % 64
    for seed in range(3):
        supernet.activate(supernet.sample_assignment(seed))
        with torch.no_grad():
            a, b = supernet(tokens), supernet(changed)
        assert_close(a[:, : t + 1], b[:, : t + 1], atol=1e-6, rtol=0)
        assert not torch.allclose(a[:, t + 1 :], b[:, t + 1 :])


def test_global_choices_change_every_block_together() -> None:
    supernet = _supernet(per_layer=False)
    assignment = {**supernet.largest_assignment(), "heads": 1, "mlp_ratio": 2, "width": 24}
    plain: Any = supernet.export(assignment)
    for block in plain.blocks:
        assert block.attn.heads == 1 and block.mlp.fc1.out_features == 48


def test_elastic_mlp_hidden_width_follows_ratio_and_input_width() -> None:
    ratio = ElasticChoice([1, 2.5])
    mlp = _randomise(ElasticMLP(ElasticChoice([8, 16]), ratio))
    assert mlp.fc1.weight.shape == (40, 16)
    ratio.active = 2.5
    x = torch.randn(4, 8)
    y = mlp(x)
    assert mlp.fc1.out_features == 20 and y.shape == (4, 16)
    static = mlp.to_static()
    assert [name for name, _ in static.named_children()] == ["fc1", "act", "fc2"]
    assert_close(static(x), y)
    assert set(mlp.choices()) == {"mlp_ratio"}


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"widths": ()}, "widths"),
        ({"heads": (2, 2)}, "distinct"),
        ({"mlp_ratios": (0, 2)}, "mlp_ratios"),
        ({"depths": (1.5,)}, "depths"),
        ({"context": 0}, "context=0"),
        ({"per_layer": 1}, "per_layer"),
    ],
)
def test_gpt_space_refuses_bad_options(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        gpt_space(**kwargs)


def test_gpt_refuses_bad_inputs_and_configs() -> None:
    config = gpt_space(**SMALL).materialize(gpt_space(**SMALL).sample(0))
    net = build_gpt(config)
    with pytest.raises(ValueError, match="sequence <= context"):
        net(_tokens(0, seq=17))
    with pytest.raises(ValueError, match="integer token ids"):
        net(torch.zeros(2, 4))
    with pytest.raises(ValueError, match="missing"):
        build_gpt({"width": 8})
    with pytest.raises(ValueError, match="len\\(blocks\\) >= largest\\(depth\\)"):
        GPT(vocab_size=8, context=4, width=8, depth=3, blocks=config["blocks"][:1], head_dim=4)
    with pytest.raises(ValueError, match="mlp_ratio"):
        ElasticMLP(8, -1)
