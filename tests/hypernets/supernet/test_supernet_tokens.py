"""Supernets whose input is token ids (``input_dtype=torch.long``), and FLOPs of attention.

A token model (embedding -> self-attention -> linear head) must export, count FLOPs and count
parameters through the supernet like a float model does; attention's two matrix products must
be counted on CPU too (torch's counter has no formula for CPU's attention kernel).
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.testing import assert_close

from symtune.hypernets.supernet import (
    ElasticChoice,
    ElasticEmbedding,
    ElasticLinear,
    ElasticSelfAttention,
    SelfAttention,
    Supernet,
    count_flops,
    count_params,
    measure_latency,
)
from symtune.spaces import Space, oneof

torch.set_num_threads(1)

VOCAB, SEQ, HEAD_DIM = 11, 6, 4


def _token_model(width: Any, heads: Any) -> nn.Sequential:
    return nn.Sequential(
        ElasticEmbedding(VOCAB, width),
        ElasticSelfAttention(width, heads, HEAD_DIM, causal=True),
        ElasticLinear(width, VOCAB),
    )


def _hand_flops(batch: int, seq: int, width: int, heads: int, head_dim: int, out: int) -> int:
    """Projections, Q K^T, softmax(.) V and a linear head; a multiply-accumulate is 2 FLOPs."""
    inner = heads * head_dim
    projections = 2 * batch * seq * width * 3 * inner + 2 * batch * seq * inner * width
    attention = 2 * batch * heads * seq * seq * head_dim * 2  # Q K^T and (.) V
    return projections + attention + 2 * batch * seq * width * out


@pytest.fixture()
def supernet() -> Supernet:
    torch.manual_seed(0)
    net = _token_model(ElasticChoice([8, 16], name="width"), ElasticChoice([1, 2], name="heads"))
    return Supernet(net, input_shape=(SEQ,), input_dtype=torch.long)


SMALL, LARGE = {"width": 8, "heads": 1}, {"width": 16, "heads": 2}


def test_dummy_input_is_token_ids_of_the_input_shape(supernet: Supernet) -> None:
    x = supernet.dummy_input(3)
    assert x.dtype == torch.long and x.shape == (3, SEQ)
    assert supernet(x).shape == (3, SEQ, VOCAB)


@pytest.mark.parametrize("assignment", [SMALL, LARGE, {"width": 16, "heads": 1}])
def test_export_matches_the_supernet_on_real_tokens(
    supernet: Supernet, assignment: dict[str, int]
) -> None:
    plain = supernet.export(assignment)
    assert [type(m) for m in plain] == [nn.Embedding, SelfAttention, nn.Linear]
    assert plain[0].embedding_dim == assignment["width"] and plain[1].heads == assignment["heads"]
    tokens = torch.randint(0, VOCAB, (4, SEQ), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert_close(plain.eval()(tokens), supernet.activate(assignment).eval()(tokens))


def test_subnet_flops_and_params_follow_the_subnet(supernet: Supernet) -> None:
    flops = {n: supernet.subnet_flops(a, batch_size=2) for n, a in [("s", SMALL), ("l", LARGE)]}
    assert flops["s"] == _hand_flops(2, SEQ, 8, 1, HEAD_DIM, VOCAB)
    assert flops["l"] == _hand_flops(2, SEQ, 16, 2, HEAD_DIM, VOCAB)
    tokens = torch.zeros(2, SEQ, dtype=torch.long)
    assert flops["l"] == count_flops(supernet.export(LARGE), tokens)
    small, large = supernet.subnet_params(SMALL), supernet.subnet_params(LARGE)
    assert small < large == count_params(supernet.net)
    emb, attn, head = VOCAB * 8, 8 * 3 * 4 + 3 * 4 + 4 * 8 + 8, 8 * VOCAB + VOCAB
    assert small == emb + attn + head


def test_from_space_takes_the_input_dtype() -> None:
    space = Space({"width": oneof([8, 16]), "heads": oneof([1, 2])})
    supernet = Supernet.from_space(
        space, lambda c: _token_model(c["width"], c["heads"]), input_shape=(SEQ,),
        input_dtype=torch.long,
    )  # fmt: skip
    assert supernet.input_dtype == torch.long
    assignment = {"width": 8, "heads": 2}
    assert supernet.subnet_flops(assignment) == _hand_flops(1, SEQ, 8, 2, HEAD_DIM, VOCAB)
    standalone = supernet.build_standalone(assignment)
    assert supernet.subnet_params(assignment) == count_params(standalone)


def test_the_default_input_stays_float() -> None:
    supernet = Supernet(nn.Sequential(ElasticLinear(3, ElasticChoice([2, 4]))), input_shape=(3,))
    assert supernet.input_dtype == torch.float32
    assert supernet.dummy_input(2).dtype == torch.float32


@pytest.mark.parametrize("bad", ["long", int, None])
def test_an_input_dtype_that_is_not_a_torch_dtype_is_refused(bad: object) -> None:
    net = _token_model(ElasticChoice([8, 16]), 1)
    with pytest.raises(ValueError, match=r"`input_dtype` must be a torch.dtype.*input_dtype="):
        Supernet(net, input_shape=(SEQ,), input_dtype=bad)


def test_count_flops_builds_token_ids_from_a_shape_and_dtype() -> None:
    model = nn.Sequential(nn.Embedding(VOCAB, 8), nn.Linear(8, 3))
    assert count_flops(model, (2, SEQ), dtype=torch.long) == 2 * 2 * SEQ * 8 * 3
    assert measure_latency(model, (1, SEQ), dtype=torch.long, repeats=1, warmup=0) >= 0
    with pytest.raises(ValueError, match="applies to an input shape only"):
        count_flops(model, torch.zeros(2, SEQ, dtype=torch.long), dtype=torch.float32)
    with pytest.raises(ValueError, match=r"`dtype` must be a torch\.dtype"):
        count_flops(model, (2, SEQ), dtype="long")


@pytest.mark.parametrize("causal", [False, True])
def test_self_attention_flops_equal_the_hand_formula(causal: bool) -> None:
    batch, seq, width, heads, head_dim = 3, 7, 10, 2, 5
    attention = SelfAttention(width, heads, head_dim, out_width=6, causal=causal)
    expected = (
        2 * batch * seq * width * 3 * heads * head_dim  # q, k, v projections
        + 2 * batch * heads * seq * seq * head_dim  # Q K^T
        + 2 * batch * heads * seq * seq * head_dim  # softmax(.) V
        + 2 * batch * seq * heads * head_dim * 6  # output projection
    )
    assert count_flops(attention, (batch, seq, width)) == expected


class _MatmulAttention(nn.Module):
    """Attention written as plain matrix products, which the counter has always counted."""

    def forward(self, qkv: torch.Tensor) -> torch.Tensor:
        q, k, v = qkv.unbind(0)
        scores = (q @ k.transpose(-2, -1)) / q.shape[-1] ** 0.5
        return scores.softmax(-1) @ v


class _SdpaAttention(nn.Module):
    def forward(self, qkv: torch.Tensor) -> torch.Tensor:
        q, k, v = qkv.unbind(0)
        return F.scaled_dot_product_attention(q, k, v)


def test_sdpa_counts_what_plain_matrix_products_count() -> None:
    qkv = torch.randn(3, 2, 3, 5, 4)  # q, k, v of (batch 2, heads 3, length 5, head_dim 4)
    assert_close(_SdpaAttention()(qkv), _MatmulAttention()(qkv))
    assert count_flops(_SdpaAttention(), qkv) == count_flops(_MatmulAttention(), qkv) > 0
