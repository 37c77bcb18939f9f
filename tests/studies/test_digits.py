"""symtune.studies.digits: the one digits loader, the CNN space and builder, the MLP builder."""

from __future__ import annotations

import pytest
import torch

from symtune.hypernets import HyperParameters, StnMLP
from symtune.spaces import floatv, selftuned
from symtune.studies.digits import (
    DIGITS_INPUT_SHAPE,
    DigitsData,
    build_digits_cnn,
    build_digits_mlp,
    digits_cnn_space,
    load_digits_data,
    mlp_params,
)


def test_digits_space_and_data() -> None:
    from symtune.studies.digits import load_digits_data

    space = digits_cnn_space()
    assert space.cardinality == 13_824
    assert list(space.parameters)[:3] == ["stages[0].width", "stages[0].kernel", "stages[0].depth"]
    data = load_digits_data(val_fraction=0.25, seed=1)
    assert data.x_train.shape[1:] == (1, 8, 8) and len(data.x_val) == 450
    assert len(data.x_train) + len(data.x_val) == 1797
    assert float(data.x_train.min()) >= 0.0 and float(data.x_train.max()) <= 1.0
    assert set(data.y_val.tolist()) == set(range(10))  # stratified
    with pytest.raises(ValueError, match="`0 < val_fraction < 1`"):
        load_digits_data(val_fraction=1.0)


def _all_indices(data: DigitsData) -> list[tuple[float, ...]]:
    parts = (data.x_train, data.x_val, data.x_test)
    return sorted(tuple(row.flatten().tolist()) for part in parts for row in part)


def test_the_permutation_split_of_the_mlp_study() -> None:
    data = load_digits_data(
        0.2, 0, split="permutation", test_fraction=0.2, layout="flat", scale="standard"
    )
    assert (len(data.x_train), len(data.x_val), len(data.x_test)) == (1079, 359, 359)
    assert data.x_train.shape[1] == 64 and data.y_train.dtype == torch.int64
    # standardised with the training part's statistics
    assert data.x_train.mean(dim=0).abs().max() < 1e-4
    assert len(_all_indices(data)) == 1797
    again = load_digits_data(
        0.2, 0, split="permutation", test_fraction=0.2, layout="flat", scale="standard"
    )
    assert torch.equal(again.x_test, data.x_test)
    other = load_digits_data(
        0.2, 1, split="permutation", test_fraction=0.2, layout="flat", scale="standard"
    )
    assert not torch.equal(other.y_val, data.y_val)


def test_the_randperm_split_by_counts_of_the_stn_benchmark() -> None:
    data = load_digits_data(seed=0, split="randperm", n_train=100, n_val=200, layout="flat")
    assert (len(data.x_train), len(data.x_val), len(data.x_test)) == (100, 200, 1497)
    order = torch.randperm(1797, generator=torch.Generator().manual_seed(0))
    from sklearn.datasets import load_digits

    x = torch.tensor(load_digits().data[order[:100].numpy()] / 16.0, dtype=torch.float32)
    assert torch.equal(data.x_train, x)  # the split benchmarks/stn.py made before the move
    image = load_digits_data(seed=0, split="randperm", n_train=100, n_val=200)
    assert image.x_train.shape[1:] == DIGITS_INPUT_SHAPE


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"split": "kfold"}, "`split` must be one of"),
        ({"layout": "3d"}, "`layout` must be one of"),
        ({"scale": "minmax"}, "`scale` must be one of"),
        ({"test_fraction": 1.0}, "`0 <= test_fraction < 1`"),
        ({"test_fraction": 0.2}, "stratified split has train and validation parts"),
        ({"split": "randperm", "n_train": 100}, "the randperm split needs"),
        ({"split": "randperm", "n_train": 1000, "n_val": 1000}, "n_train \\+ n_val <= 1797"),
    ],
)
def test_bad_loader_options_name_the_rule_and_the_value(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_digits_data(**kwargs)


def test_a_digits_data_of_four_tensors_still_builds_and_moves() -> None:
    x, y = torch.zeros(3, 1, 8, 8), torch.zeros(3, dtype=torch.int64)
    data = DigitsData(x, y, x, y)
    assert len(data.x_test) == 0 and data.to("cpu").x_val.shape == x.shape


def test_the_builders_make_the_study_networks() -> None:
    cnn = build_digits_cnn({"stages": [{"width": 4, "kernel": 3, "depth": 2}] * 2})
    assert cnn(torch.zeros(2, *DIGITS_INPUT_SHAPE)).shape == (2, 10)
    config = {
        "hidden": [16, 8],
        "activation": "relu",
        "dropout": selftuned(floatv(0.0, 0.5), init=0.1),
        "noise": 0.1,
    }
    from symtune.spaces import Space

    concrete = Space(config).materialize({})
    hparams = HyperParameters.from_config(concrete)
    mlp = build_digits_mlp(concrete, hparams)
    assert isinstance(mlp, StnMLP) and mlp(torch.zeros(5, 64)).shape == (5, 10)
    assert mlp_params([16, 8]) == 64 * 16 + 16 + 16 * 8 + 8 + 8 * 10 + 10
