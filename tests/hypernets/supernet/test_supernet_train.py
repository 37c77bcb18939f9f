"""Sandwich-rule supernet training."""

from __future__ import annotations

import pytest
import torch

from symtune.hypernets.supernet._score import ScoringData
from symtune.hypernets.supernet._supernet import Supernet
from symtune.hypernets.supernet._train import (
    SupernetTrainConfig,
    _sandwich,
    resolve_device,
    train_supernet,
)
from symtune.studies.digits import build_digits_cnn, digits_cnn_space, load_digits_data

torch.set_num_threads(1)


def _small() -> Supernet:
    torch.manual_seed(0)
    space = digits_cnn_space(n_stages=2, widths=(4, 8), depths=(1, 2))
    return Supernet.from_space(space, build_digits_cnn, input_shape=(1, 8, 8))


@pytest.mark.parametrize("distill", [True, False])
def test_sandwich_training_improves_largest_and_smallest_subnets(distill: bool) -> None:
    supernet = _small()
    data = load_digits_data()
    scoring = ScoringData.from_tensors(data.x_train, data.x_val, data.y_val, calib_batch_size=128)
    subnets = [supernet.largest_assignment(), supernet.smallest_assignment()]
    before = supernet.score_many(subnets, scoring)
    epochs: list[int] = []
    config = SupernetTrainConfig(epochs=4, batch_size=64, lr=0.1, distill=distill, device="cpu")
    history = train_supernet(
        supernet,
        (data.x_train, data.y_train),
        config,
        callback=lambda epoch, metrics: epochs.append(epoch),
    )
    after = supernet.score_many(subnets, scoring)
    assert epochs == [0, 1, 2, 3] and history.steps == 4 * 23
    assert history.largest_loss[-1] < history.largest_loss[0]
    for b, a in zip(before, after, strict=True):
        assert a.loss < b.loss and a.error < b.error
    assert after[1].error < 0.6  # the smallest subnet learnt too, not only the largest
    assert supernet.active_assignment() == supernet.largest_assignment()


def test_a_sandwich_step_holds_largest_smallest_and_random_subnets() -> None:
    import numpy as np

    supernet = _small()
    step = _sandwich(supernet, np.random.default_rng(0), 3)
    assert len(step) == 5
    assert step[0] == supernet.largest_assignment() and step[1] == supernet.smallest_assignment()


def test_training_accepts_a_data_loader() -> None:
    supernet = _small()
    x, y = torch.rand(32, 1, 8, 8), torch.randint(0, 10, (32,))
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=8)
    history = train_supernet(supernet, loader, SupernetTrainConfig(epochs=2, device="cpu"))
    assert history.steps == 8 and len(history.mean_loss) == 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"epochs": 0}, r"`epochs >= 1` must hold, but got epochs=0"),
        ({"distill_weight": 1.5}, r"`0 <= distill_weight <= 1`"),
        ({"optimizer": "lbfgs"}, "`optimizer` must be"),
    ],
)
def test_config_validation(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SupernetTrainConfig(**kwargs)


def test_device_resolution() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_training_and_scoring_on_cuda() -> None:
    supernet = _small()
    data = load_digits_data()
    config = SupernetTrainConfig(epochs=1, device="cuda")
    train_supernet(supernet, (data.x_train, data.y_train), config)
    assert supernet.device.type == "cuda"
    scoring = ScoringData.from_tensors(data.x_train, data.x_val, data.y_val)
    scores = supernet.score_many([supernet.smallest_assignment()], scoring)
    assert 0.0 <= scores[0].error <= 1.0
    assert next(supernet.export().parameters()).device.type == "cuda"
