"""Regularisers reading live hyperparameters: dropout, noise, weight decay, augmentation."""

from __future__ import annotations

import pytest
import torch

from symtune.hypernets.stn._errors import HyperparameterError
from symtune.hypernets.stn._hyperparams import HyperParameters
from symtune.hypernets.stn._models import StnMLP
from symtune.hypernets.stn._regularizers import (
    StnAugment,
    StnDropout,
    StnGaussianNoise,
    StnWeightDecay,
)
from symtune.spaces._selftuned_value import SelfTunedValue

torch.set_num_threads(1)

DROP = SelfTunedValue("drop", "float", 0.3, low=0.0, high=0.8)
NOISE = SelfTunedValue("noise", "float", 0.5, low=0.0, high=1.0)
WD = SelfTunedValue("wd", "float", 1e-3, low=1e-5, high=1e-1, log=True)
STRENGTH = SelfTunedValue("strength", "float", 0.5, low=0.0, high=1.0)
KIND = SelfTunedValue("kind", "categorical", "shift", choices=("none", "shift", "cutout"))


def _hp() -> HyperParameters:
    return HyperParameters([DROP, NOISE, WD, STRENGTH, KIND])


@pytest.mark.parametrize("relaxed", [True, False])
def test_dropout_drops_at_the_rate_and_keeps_the_mean(relaxed: bool) -> None:
    torch.manual_seed(0)
    hp = _hp()
    drop = StnDropout(hp, "drop", relaxed=relaxed).train()
    x = torch.ones(400, 500)
    out = drop(x).detach()  # no batch in use: the current rate, 0.3
    kept = out * (1 - 0.3)  # the mask; relaxed: P(mask < 1/2) is the rate
    assert float((kept < 0.5).float().mean()) == pytest.approx(0.3, abs=0.01)
    assert float(out.mean()) == pytest.approx(1.0, abs=0.02)


def test_dropout_reads_each_examples_own_rate() -> None:
    torch.manual_seed(0)
    hp = _hp()
    drop = StnDropout(hp, DROP).train()  # a SelfTunedValue works as well as its name
    batch = hp.sample(2, mode="train")
    batch.values["drop"] = torch.tensor([0.0, 0.6])
    with hp.using(batch):
        out = drop(torch.ones(2, 20000))
    assert float((out[0] < 0.5).float().mean()) < 0.01
    assert float((out[1] * 0.4 < 0.5).float().mean()) == pytest.approx(0.6, abs=0.02)


def test_regularisers_are_off_in_eval_mode_and_in_the_hyperparameter_step() -> None:
    hp = _hp()
    x = torch.randn(4, 1, 8, 8)
    mods = [
        StnDropout(hp, "drop"),
        StnGaussianNoise(hp, "noise"),
        StnAugment(hp, "strength", KIND),
    ]
    for m in mods:
        assert torch.equal(m.eval()(x), x)
    batch = hp.sample(4, mode="hyper")
    batch.regularize = False
    with hp.using(batch):
        for m in mods:
            assert torch.equal(m.train()(x), x)
    assert float(StnWeightDecay(hp, "wd").eval().penalty([torch.ones(3)])) == 0.0


def test_relaxed_dropout_carries_a_gradient_to_the_rate() -> None:
    torch.manual_seed(0)
    hp = _hp()
    batch = hp.sample(8, mode="hyper")  # regularize=False by default for hyper samples
    batch.regularize = True
    with hp.using(batch):
        StnDropout(hp, "drop").train()(torch.ones(8, 50)).pow(2).sum().backward()
    assert hp.loc.grad is not None and float(hp.loc.grad[0].abs()) > 0
    hp.zero_grad()
    batch = hp.sample(8, mode="hyper")
    batch.regularize = True
    with hp.using(batch):
        StnDropout(hp, "drop", relaxed=False).train()(torch.ones(8, 50)).pow(2).sum().backward()
    assert float(hp.loc.grad[0].abs()) > 0  # only through the 1 / (1 - p) rescaling


def test_noise_has_the_standard_deviation_in_use_and_a_gradient() -> None:
    torch.manual_seed(0)
    hp = _hp()
    noise = StnGaussianNoise(hp, "noise").train()
    out = noise(torch.zeros(100, 1000)).detach()
    assert float(out.std()) == pytest.approx(0.5, rel=0.02)
    assert torch.equal(StnGaussianNoise(hp, 0.0).train()(out), out)
    batch = hp.sample(4, mode="hyper")
    batch.regularize = True
    with hp.using(batch):
        noise(torch.ones(4, 3)).pow(2).sum().backward()
    assert hp.loc.grad is not None and float(hp.loc.grad[1].abs()) > 0


def test_weight_decay_is_half_l2_times_the_coefficient_shared_by_the_batch() -> None:
    hp = _hp()
    w = [torch.full((2, 2), 2.0), torch.ones(3)]  # squared norm 16 + 3
    wd = StnWeightDecay(hp, "wd").train()
    assert float(wd.penalty(w).detach()) == pytest.approx(0.5 * 1e-3 * 19, rel=1e-4)
    assert float(StnWeightDecay(hp, 0.1).penalty(w)) == pytest.approx(0.95)
    assert float(StnWeightDecay(hp, None).penalty(w)) == 0.0
    batch = hp.sample(16, mode="train")
    assert batch.values["wd"].unique().numel() == 1  # marked shared by StnWeightDecay


def test_shift_and_cutout_at_zero_strength_are_the_identity() -> None:
    torch.manual_seed(0)
    hp = _hp()
    x = torch.rand(6, 2, 8, 8)
    for kind in ("shift", "cutout", "none"):
        torch.testing.assert_close(StnAugment(hp, 0.0, kind).train()(x), x)


def test_cutout_blanks_the_expected_area_and_shift_moves_pixels() -> None:
    torch.manual_seed(0)
    hp = _hp()
    x = torch.ones(200, 1, 16, 16)
    # side 0.5 of the image, centres anywhere: at most a quarter is blanked, less at edges
    blanked = 1 - float(StnAugment(hp, 1.0, "cutout", max_cutout=0.5).train()(x).mean())
    assert 0.1 < blanked <= 0.25
    img = torch.zeros(1, 1, 9, 9)
    img[0, 0, 4, 4] = 1.0
    shifted = StnAugment(hp, 1.0, "shift", max_shift=0.25).train()(img.expand(50, -1, -1, -1))
    assert float((shifted[:, 0, 4, 4] < 0.99).float().mean()) > 0.9
    torch.testing.assert_close(shifted.sum(dim=(1, 2, 3)), torch.ones(50), atol=1e-4, rtol=0)


def test_augmentation_kind_follows_the_sampled_choice_on_flat_inputs() -> None:
    torch.manual_seed(0)
    hp = _hp()
    aug = StnAugment(hp, "strength", "kind", image_shape=(1, 8, 8)).train()
    batch = hp.sample(3, mode="train")
    batch.values["kind"] = torch.eye(3)  # example 0: none, 1: shift, 2: cutout
    batch.values["strength"] = torch.ones(3)
    x = torch.rand(3, 64)
    with hp.using(batch):
        out = aug(x)
    assert out.shape == (3, 64)
    torch.testing.assert_close(out[0], x[0])
    assert not torch.allclose(out[1], x[1]) and not torch.allclose(out[2], x[2])


def test_augmentation_strength_gets_a_gradient_through_shift_and_cutout() -> None:
    torch.manual_seed(0)
    hp = _hp()
    batch = hp.sample(16, mode="hyper")
    batch.regularize = True
    with hp.using(batch):
        out = StnAugment(hp, "strength", "kind").train()(torch.rand(16, 1, 8, 8))
        (out * torch.rand_like(out)).sum().backward()
    assert hp.loc.grad is not None and float(hp.loc.grad[3].abs()) > 0
    assert hp.logits[0].grad is not None and float(hp.logits[0].grad.abs().sum()) > 0


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda hp: StnDropout(hp, 1.0), r"`0.0 <= dropout rate < 1.0`.*got 1.0"),
        (
            lambda hp: StnDropout(hp, "high"),
            r"`0.0 <= self-tuned dropout rate < 1.0`.*high=1.0.*at high",
        ),
        (lambda hp: StnGaussianNoise(hp, -0.1), r"`0.0 <= noise std"),
        (lambda hp: StnDropout(hp, "kind"), r"needs a float hyperparameter.*'kind' is categorical"),
        (lambda hp: StnDropout(hp, "missing"), r"'missing'.*holds only: 'drop'"),
        (lambda hp: StnAugment(hp, "strength", "rotate"), r"'rotate'.*holds only"),
        (lambda hp: StnAugment(hp, "strength", "bad_kind"), r"kind must be one of"),
        (lambda hp: StnAugment(hp, "noise_wide", "shift"), r"augmentation strength <= 1.0"),
        (lambda hp: StnDropout(hp, [0.1]), r"takes a hyperparameter name.*list"),
        (lambda hp: StnDropout(object(), 0.1), r"needs a HyperParameters container"),
    ],
)
def test_hyperparameters_a_regulariser_cannot_use_are_rejected(make, message) -> None:
    hp = HyperParameters(
        [
            DROP,
            KIND,
            STRENGTH,
            SelfTunedValue("high", "float", 0.5, low=0.0, high=1.0),
            SelfTunedValue("noise_wide", "float", 0.5, low=0.0, high=2.0),
            SelfTunedValue("bad_kind", "categorical", "flip", choices=("flip", "none")),
        ]
    )
    with pytest.raises(HyperparameterError, match=message):
        make(hp)


def test_stn_mlp_takes_constants_names_and_per_layer_rates() -> None:
    torch.manual_seed(0)
    hp = HyperParameters([DROP, NOISE, WD])
    mlp = StnMLP(
        5,
        [7, 6],
        3,
        hp,
        input_noise="noise",
        input_dropout=0.1,
        hidden_dropout=[DROP, None],
        weight_decay="wd",
    )
    assert mlp(torch.randn(4, 5)).shape == (4, 3)
    assert [d.rate for d in mlp.dropouts] == ["drop", None]
    assert mlp.input_dropout.rate == 0.1
    assert float(mlp.stn_penalty().detach()) > 0
    with pytest.raises(ValueError, match=r"`len\(hidden_dropout\) == len\(hidden\)`"):
        StnMLP(5, [7, 6], 3, hp, hidden_dropout=[0.1])
    with pytest.raises(ValueError, match="activation"):
        StnMLP(5, [7], 3, hp, activation="swish")
