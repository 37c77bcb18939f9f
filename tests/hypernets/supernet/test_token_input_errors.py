"""Token and target mistakes are clear errors naming the rule, the value and where, not
torch's ``index out of range in self`` from deep inside ``F.embedding``."""

from __future__ import annotations

import pytest
import torch

from symtune.hypernets import (
    ElasticEmbedding,
    ScoringData,
    Supernet,
    SupernetTrainConfig,
    build_gpt,
    gpt_space,
    train_supernet,
)


@pytest.fixture(scope="module")
def tiny_lm() -> Supernet:
    space = gpt_space(context=8, widths=(8,), heads=(1,), mlp_ratios=(2,), depths=(1,), head_dim=4)
    return Supernet.from_space(space, build_gpt, input_shape=(8,), input_dtype=torch.long)


def test_ids_outside_the_vocabulary_name_the_range() -> None:
    embedding = ElasticEmbedding(10, 4)
    with pytest.raises(ValueError, match=r"ids must lie in \[0, 10\).*got 12 \(ElasticEmbedding\)"):
        embedding(torch.tensor([[1, 12]]))
    with pytest.raises(ValueError, match="got -1"):
        embedding(torch.tensor([[-1, 2]]))
    assert embedding(torch.tensor([[0, 9]])).shape == (1, 2, 4)


def test_float_ids_point_at_input_dtype() -> None:
    with pytest.raises(TypeError, match=r"input_dtype=torch\.long"):
        ElasticEmbedding(10, 4)(torch.zeros(1, 3))


def test_targets_out_of_range_or_float_are_clear_in_training_and_scoring(tiny_lm: Supernet) -> None:
    x = torch.randint(0, 256, (4, 8))
    bad = x.clone()
    bad[0, 0] = 999
    config = SupernetTrainConfig(epochs=1, batch_size=4, device="cpu", n_random=0)
    with pytest.raises(ValueError, match=r"targets must lie in \[0, 256\).*999 \(train_supernet\)"):
        train_supernet(tiny_lm, (x, bad), config)
    with pytest.raises(TypeError, match=r"integer class indices.*float32 \(train_supernet\)"):
        train_supernet(tiny_lm, (x, x.float()), config)
    with pytest.raises(ValueError, match=r"999 \(scoring\)"):
        tiny_lm.score(tiny_lm.largest_assignment(), ScoringData(calib=None, val=[(x, bad)]))


def test_scoring_data_wants_a_list_of_batches() -> None:
    x = torch.randint(0, 256, (4, 8))
    with pytest.raises(TypeError, match=r"wrap one pair as \[\(x, y\)\] \(ScoringData\)"):
        ScoringData(calib=None, val=(x, x))
    with pytest.raises(TypeError, match=r"`val\[0\]` must be an \(inputs, targets\) pair"):
        ScoringData(calib=None, val=[x])
