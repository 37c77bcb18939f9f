"""The STN training loop on digits: it tunes, records a schedule, and fails clearly."""

from __future__ import annotations

import json

import pytest
import torch
from sklearn.datasets import load_digits
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset

from symtune.hypernets.stn._errors import HyperparameterError, HyperparameterNaNError
from symtune.hypernets.stn._hyperparams import HyperParameters
from symtune.hypernets.stn._layers import StnLinear
from symtune.hypernets.stn._models import StnMLP
from symtune.hypernets.stn._regularizers import StnAugment
from symtune.hypernets.stn._train import StnOptions, evaluate_stn, train_stn
from symtune.spaces._selftuned_value import SelfTunedValue

torch.set_num_threads(1)

NAMES = ("in_drop", "hid_drop", "noise")


@pytest.fixture(scope="module")
def digits() -> dict[str, tuple[Tensor, Tensor]]:
    x_np, y_np = load_digits(return_X_y=True)
    x = torch.tensor(x_np / 16.0, dtype=torch.float32)
    y = torch.tensor(y_np)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    parts = {"train": order[:300], "val": order[300:500], "test": order[500:900]}
    return {k: (x[i], y[i]) for k, i in parts.items()}


def _mlp(seed: int = 0, **hp_kwargs: object) -> tuple[StnMLP, HyperParameters]:
    torch.manual_seed(seed)
    values = [SelfTunedValue(n, "float", 0.1, low=0.0, high=0.8) for n in NAMES]
    hp = HyperParameters(values, **hp_kwargs)
    model = StnMLP(
        64, [32], 10, hp, input_dropout="in_drop", hidden_dropout="hid_drop", input_noise="noise"
    )
    return model, hp


def test_training_tunes_the_hyperparameters_and_records_a_schedule(digits: dict) -> None:
    model, hp = _mlp()
    options = StnOptions(steps=300, batch_size=64, hyper_lr=0.03, eval_every=100, seed=0)
    result = train_stn(model, digits["train"], digits["val"], hp, options)
    assert result.weight_steps == 300 and result.hyper_steps == 60
    assert [s for s, _ in result.schedule["noise"]] == list(range(0, 301, 5))
    for name in NAMES:
        values = [v for _, v in result.schedule[name]]
        assert values[0] == pytest.approx(0.1, rel=1e-4)
        assert abs(values[-1] - 0.1) > 0.01  # tuned, not left where it started
        assert result.final[name] == values[-1] and 0.0 < values[-1] < 0.8
    assert [s for s, _ in result.val_curve] == [100, 200, 300]
    assert result.final_val_loss == result.val_curve[-1][1] < result.val_curve[0][1] + 0.5
    test = evaluate_stn(model, digits["test"])
    assert test["accuracy"] > 0.8  # a working classifier, not a diverged one
    json.dumps(result.to_dict())


def test_the_same_seed_gives_the_same_schedule(digits: dict) -> None:
    results = []
    for _ in range(2):
        model, hp = _mlp()
        options = StnOptions(steps=40, batch_size=64, seed=3)
        results.append(train_stn(model, digits["train"], digits["val"], hp, options))
    assert results[0].schedule == results[1].schedule


def test_warmup_epochs_loaders_and_callbacks(digits: dict) -> None:
    model, hp = _mlp(mip=False)
    train = DataLoader(TensorDataset(*digits["train"]), batch_size=100, shuffle=True)
    calls: list[tuple[int, float]] = []
    options = StnOptions(epochs=4, train_steps=2, warmup_steps=6, eval_every=3, seed=0)
    result = train_stn(
        model, train, digits["val"], hp, options, callback=lambda s, v: calls.append((s, v))
    )
    assert result.weight_steps == 12  # 4 epochs of 3 batches
    assert result.hyper_steps == 4  # after the 6 warm-up steps, then one per 2 weight steps
    assert [s for s, _ in result.schedule["noise"]] == [0, 6, 8, 10, 12]
    assert [s for s, _ in calls] == [3, 6, 9, 12] and calls == result.val_curve

    class Stop(Exception):
        pass

    def stop(step: int, loss: float) -> None:
        raise Stop

    with pytest.raises(Stop):
        train_stn(model, train, digits["val"], hp, options, callback=stop)


class _AugmentedMLP(nn.Module):
    def __init__(self, hp: HyperParameters) -> None:
        super().__init__()
        self.augment = StnAugment(hp, "strength", "kind", image_shape=(1, 8, 8))
        self.mlp = StnMLP(64, [32], 10, hp, hidden_dropout="strength")

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.mlp(self.augment(x))
        return out


def test_the_discrete_hyperparameter_changes_its_probabilities(digits: dict) -> None:
    torch.manual_seed(0)
    kind = SelfTunedValue("kind", "categorical", "shift", choices=("none", "shift", "cutout"))
    strength = SelfTunedValue("strength", "float", 0.3, low=0.0, high=0.6)
    hp = HyperParameters([strength, kind])
    start = hp.probabilities("kind")
    options = StnOptions(steps=150, batch_size=64, hyper_lr=0.05, seed=0)
    result = train_stn(_AugmentedMLP(hp), digits["train"], digits["val"], hp, options)
    end = hp.probabilities("kind")
    assert sum(abs(a - b) for a, b in zip(start, end, strict=True)) > 0.05
    assert result.probabilities["kind"][0][1] == pytest.approx(start)
    assert result.probabilities["kind"][-1][1] == pytest.approx(end)
    assert result.final["kind"] in ("none", "shift", "cutout")


def test_nan_in_the_hyperparameter_step_stops_with_the_step_and_names(digits: dict) -> None:
    model, hp = _mlp()
    x_val, y_val = digits["val"]
    x_val = x_val.clone()
    x_val[:, 3] = float("nan")
    options = StnOptions(steps=50, train_steps=4, batch_size=64, seed=0)
    with pytest.raises(HyperparameterNaNError) as caught:
        train_stn(model, digits["train"], (x_val, y_val), hp, options)
    err = caught.value
    assert err.step == 4 and err.hyper_step == 0 and err.names == NAMES
    assert "the hyperparameter step produced NaN at step 4" in str(err)
    assert "'in_drop', 'hid_drop', 'noise'" in str(err)


def test_a_non_finite_training_loss_is_reported(digits: dict) -> None:
    model, hp = _mlp()
    x, y = digits["train"]
    x = x.clone()
    x[:] = float("inf")
    with pytest.raises(FloatingPointError, match="weight step produced a non-finite training"):
        train_stn(model, (x, y), digits["val"], hp, StnOptions(steps=5, seed=0))


def test_models_that_cannot_tune_these_hyperparameters_are_rejected(digits: dict) -> None:
    model, _ = _mlp()
    _, other = _mlp()
    with pytest.raises(HyperparameterError, match="different HyperParameters container"):
        train_stn(model, digits["train"], digits["val"], other, StnOptions(steps=5))
    plain = nn.Sequential(nn.Linear(64, 10))
    with pytest.raises(HyperparameterError, match="no STN layer"):
        train_stn(plain, digits["train"], digits["val"], other, StnOptions(steps=5))


def test_no_hyperparameters_trains_the_weights_only(digits: dict) -> None:
    torch.manual_seed(0)
    hp = HyperParameters([])
    model = nn.Sequential(StnLinear(64, 10, hp))
    result = train_stn(model, digits["train"], digits["val"], hp, StnOptions(steps=20))
    assert result.weight_steps == 20 and result.hyper_steps == 0 and result.final == {}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"steps": 0}, r"`steps > 0` must hold, but got steps=0"),
        ({"hyper_steps": -1}, r"`hyper_steps >= 0`"),
        ({"optimizer": "rmsprop"}, r"`optimizer` must be 'adam' or 'sgd'"),
        ({"lr_schedule": "step"}, r"`lr_schedule`"),
        ({"entropy_weight": -1.0}, r"`entropy_weight >= 0`"),
    ],
)
def test_bad_options_are_rejected(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        StnOptions(**kwargs)


def test_bad_data_are_rejected(digits: dict) -> None:
    model, hp = _mlp()
    x, y = digits["train"]
    with pytest.raises(ValueError, match="as many targets as inputs"):
        train_stn(model, (x, y[:10]), digits["val"], hp, StnOptions(steps=2))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_training_runs_on_cuda(digits: dict) -> None:
    model, hp = _mlp()
    options = StnOptions(steps=30, batch_size=64, eval_every=10, seed=0, device="cuda")
    result = train_stn(model, digits["train"], digits["val"], hp, options)
    assert result.hyper_steps == 6 and hp.loc.device.type == "cuda"
    assert next(model.parameters()).device.type == "cuda"
    assert evaluate_stn(model, digits["test"])["accuracy"] > 0.3


def test_a_bad_device_string_names_the_argument_and_train_stn(digits: dict) -> None:
    model, hp = _mlp()
    options = StnOptions(steps=2, device="gpu")
    with pytest.raises(ValueError, match=r"`device` must be .*but got 'gpu' \(train_stn\)"):
        train_stn(model, digits["train"], digits["val"], hp, options)
    with pytest.raises(ValueError, match=r"but got 'gpu' \(evaluate_stn\)"):
        evaluate_stn(model, digits["test"], device="gpu")
