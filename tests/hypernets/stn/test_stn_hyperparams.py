"""The hyperparameter container: building, transforms and bounds, sampling, history, errors."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import pytest
import torch

from symtune.hypernets.stn._errors import HyperparameterError
from symtune.hypernets.stn._hyperparams import HyperHistory, HyperParameters, collect_selftuned
from symtune.spaces._selftuned_value import SelfTunedValue

torch.set_num_threads(1)

DROP = SelfTunedValue("drop", "float", 0.2, low=0.0, high=0.8)
WD = SelfTunedValue("wd", "float", 1e-4, low=1e-6, high=1e-2, log=True)
AUG = SelfTunedValue("aug", "categorical", "shift", choices=("none", "shift", "cutout"))


@dataclass
class _Block:
    width: int
    dropout: object


def test_from_config_walks_dicts_lists_tuples_and_dataclasses() -> None:
    config = {
        "lr": 0.1,
        "model": _Block(64, DROP),
        "layers": [{"aug": AUG}, (WD, "x")],
        "again": DROP,  # the same hyperparameter twice is one hyperparameter
    }
    assert collect_selftuned(config) == [DROP, AUG, WD]
    hp = HyperParameters.from_config(config)
    assert hp.names == ("drop", "aug", "wd") and len(hp) == 3 and "aug" in hp
    assert HyperParameters.from_values([WD]).names == ("wd",)


def test_two_different_values_with_one_name_are_rejected() -> None:
    other = SelfTunedValue("drop", "float", 0.1, low=0.0, high=0.5)
    with pytest.raises(HyperparameterError, match="'drop' names two different values"):
        collect_selftuned({"a": DROP, "b": other})
    with pytest.raises(HyperparameterError, match="unique"):
        HyperParameters([DROP, other])


def test_initial_values_round_trip_through_the_transform() -> None:
    hp = HyperParameters([DROP, WD, AUG])
    assert hp.value("drop") == pytest.approx(0.2, rel=1e-5)
    assert hp.value("wd") == pytest.approx(1e-4, rel=1e-4)
    assert hp.value("aug") == "shift"
    assert hp.probabilities("aug") == pytest.approx([0.25, 0.5, 0.25])  # init twice as likely
    assert hp.values() == {"drop": hp.value("drop"), "wd": hp.value("wd"), "aug": "shift"}


def test_log_scale_midpoint_is_the_geometric_mean() -> None:
    hp = HyperParameters([WD])
    with torch.no_grad():
        hp.loc.zero_()  # sigmoid(0) = 1/2
    assert hp.value("wd") == pytest.approx(math.sqrt(1e-6 * 1e-2), rel=1e-4)


@pytest.mark.parametrize("u", [-60.0, -8.0, 0.0, 8.0, 60.0])
def test_values_stay_inside_the_bounds_for_any_unconstrained_value(u: float) -> None:
    hp = HyperParameters([DROP, WD])
    with torch.no_grad():
        hp.loc.fill_(u)
    assert 0.0 <= hp.value("drop") <= 0.8
    assert 1e-6 * (1 - 1e-5) <= hp.value("wd") <= 1e-2 * (1 + 1e-5)
    batch = hp.sample(64, mode="train")
    assert bool(((batch.values["drop"] >= 0) & (batch.values["drop"] <= 0.8)).all())


def test_an_initial_value_at_a_bound_starts_just_inside() -> None:
    hp = HyperParameters([SelfTunedValue("p", "float", 0.0, low=0.0, high=0.5)])
    assert 0.0 < hp.value("p") == pytest.approx(0.005, rel=1e-3)
    assert math.isfinite(float(hp.loc.detach()[0]))


def test_train_samples_are_perturbed_per_example_without_gradient() -> None:
    torch.manual_seed(0)
    hp = HyperParameters([DROP, WD, AUG])
    batch = hp.sample(32, mode="train")
    assert batch.size == 32 and batch.regularize and not batch.encoding.requires_grad
    assert batch.values["drop"].shape == (32,) and batch.values["drop"].std() > 0
    onehot = batch.values["aug"]
    assert onehot.shape == (32, 3) and bool(((onehot == 0) | (onehot == 1)).all())
    assert torch.equal(onehot.sum(1), torch.ones(32))
    assert batch.encoding.shape == (32, hp.encoding_width) and hp.encoding_width == 2 + 2 + 3


def test_hyper_samples_are_differentiable_in_values_scales_and_logits() -> None:
    torch.manual_seed(0)
    hp = HyperParameters([DROP, AUG])
    batch = hp.sample(16, mode="hyper")
    weights = batch.values["aug"]
    assert torch.allclose(weights.sum(1), torch.ones(16)) and bool((weights < 1).all())
    (batch.encoding.sum() + batch.values["drop"].sum()).backward()
    assert hp.loc.grad is not None and hp.loc.grad.abs().sum() > 0
    assert hp.scale_raw.grad is not None and hp.scale_raw.grad.abs().sum() > 0
    assert hp.logits[0].grad is not None and hp.logits[0].grad.abs().sum() > 0


def test_shared_hyperparameters_take_one_sample_per_batch() -> None:
    hp = HyperParameters([DROP, WD, AUG])
    hp.mark_shared("wd")
    hp.mark_shared("aug")
    batch = hp.sample(20, mode="train")
    assert batch.values["wd"].unique().numel() == 1
    assert batch.values["drop"].unique().numel() > 1
    assert (batch.values["aug"] == batch.values["aug"][0]).all()


def test_encodings_have_constant_norm_with_mip_and_raw_values_without() -> None:
    torch.manual_seed(0)
    for mode in ("train", "hyper"):
        batch = HyperParameters([DROP, AUG]).sample(50, mode=mode)
        norms = batch.encoding.norm(dim=1)
        torch.testing.assert_close(norms, torch.full((50,), math.sqrt(2.0)))
    raw = HyperParameters([DROP, AUG], mip=False)
    batch = raw.sample(1, mode="mean")
    assert batch.encoding.shape == (1, 4)
    assert float(batch.encoding.detach()[0, 0]) == pytest.approx(0.25, rel=1e-5)  # 0.2 of [0, 0.8]


def test_current_values_are_read_without_a_batch_and_batches_nest() -> None:
    hp = HyperParameters([DROP])
    assert hp.batch is None
    assert float(hp.value_tensor("drop").detach()) == pytest.approx(0.2, rel=1e-5)
    outer, inner = hp.sample(3, mode="train"), hp.sample(5, mode="train")
    with hp.using(outer):
        with hp.using(inner):
            assert hp.value_tensor("drop").shape == (5,)
        assert hp.batch is outer
    assert hp.batch is None


def test_history_records_values_and_probabilities() -> None:
    # The container's own history is deprecated (issue 10, rule 7): it still works, and warns.
    hp = HyperParameters([DROP, AUG])
    with pytest.warns(DeprecationWarning, match="belongs to the training result"):
        hp.record(0)
        hp.set_value("drop", 0.5)
        hp.set_value("aug", "cutout")
        hp.record(10)
        schedule = hp.schedule
    assert [s for s, _ in schedule["drop"]] == [0, 10]
    assert schedule["drop"][1][1] == pytest.approx(0.5, rel=1e-5)
    assert [v for _, v in schedule["aug"]] == ["shift", "cutout"]
    with pytest.warns(DeprecationWarning, match="StnResult.probabilities|training result"):
        probs = hp.probability_schedule["aug"]
    assert probs[1][1] == pytest.approx([0.25, 0.25, 0.5])
    json.dumps(schedule)  # storable on a trial


def test_a_hyper_history_records_values_and_probabilities() -> None:
    hp = HyperParameters([DROP, AUG])
    history = HyperHistory(hp)
    history.record(0)
    hp.set_value("drop", 0.5)
    hp.set_value("aug", "cutout")
    history.record(10)
    schedule = history.schedule()
    assert [s for s, _ in schedule["drop"]] == [0, 10]
    assert schedule["drop"][1][1] == pytest.approx(0.5, rel=1e-5)
    assert [v for _, v in schedule["aug"]] == ["shift", "cutout"]
    assert history.probabilities()["aug"][1][1] == pytest.approx([0.25, 0.25, 0.5])
    assert set(history.probabilities()) == {"aug"}
    json.dumps(schedule)


def test_entropy_grows_with_the_perturbation_scale_and_categorical_spread() -> None:
    hp = HyperParameters([DROP, AUG])
    before = float(hp.entropy().detach())
    with torch.no_grad():
        hp.scale_raw.add_(1.0)
    assert float(hp.entropy().detach()) > before
    with torch.no_grad():
        hp.logits[0].copy_(torch.tensor([0.0, 20.0, 0.0]))
    assert float(hp.entropy().detach()) < before + 1.0


def test_nonfinite_values_and_gradients_are_named() -> None:
    hp = HyperParameters([DROP, WD, AUG])
    assert hp.nonfinite() == [] and hp.nonfinite_grad() == []
    with torch.no_grad():
        hp.loc[1] = float("nan")
    assert hp.nonfinite() == ["wd"]
    hp.logits[0].grad = torch.tensor([0.0, float("inf"), 0.0])
    assert hp.nonfinite_grad() == ["aug"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (SelfTunedValue("p", "float", 0.3, low=0.3, high=0.3), r"`low < high`.*low=0.3.*p"),
        (SelfTunedValue("p", "float", 0.9, low=0.0, high=0.5), r"`low <= init <= high`.*init=0.9"),
        (SelfTunedValue("p", "float", 0.1, low=0.0, high=1.0, log=True), r"`low > 0`.*low=0.0"),
        (SelfTunedValue("p", "float", math.inf, low=0.0, high=1.0), r"finite number"),
        (SelfTunedValue("p", "float", 0.5, low=0.0, high=math.inf), r"finite bounds"),
        (SelfTunedValue("c", "categorical", "a", choices=("a",)), r"at least 2 distinct.*c"),
        (SelfTunedValue("c", "categorical", "z", choices=("a", "b")), r"`init in choices`"),
        (SelfTunedValue("k", "integer", 1), r"float and categorical.*'integer'"),
    ],
)
def test_values_an_stn_cannot_use_are_rejected(value: SelfTunedValue, message: str) -> None:
    with pytest.raises(HyperparameterError, match=message):
        HyperParameters([value])


def test_other_errors_name_what_is_wrong() -> None:
    with pytest.raises(HyperparameterError, match=r"SelfTunedValue objects.*float"):
        HyperParameters([0.5])
    hp = HyperParameters([DROP, AUG])
    with pytest.raises(HyperparameterError, match=r"asked for hyperparameter 'lr'.*'drop', 'aug'"):
        hp.value_tensor("lr")
    with pytest.raises(HyperparameterError, match="'aug' is categorical, but was read as float"):
        hp.value_tensor("aug")
    with pytest.raises(HyperparameterError, match="`value in choices`"):
        hp.set_value("aug", "flip")
    with pytest.raises(HyperparameterError, match="`low <= init <= high`"):
        hp.set_value("drop", 2.0)
    with pytest.raises(HyperparameterError, match="perturb_scale > 0"):
        HyperParameters([DROP], perturb_scale=0.0)
    with pytest.raises(ValueError, match="mode"):
        hp.sample(3, mode="eval")


def test_a_materialised_space_config_builds_the_container_and_a_model() -> None:
    from symtune.hypernets.stn._models import StnMLP
    from symtune.spaces import Space, floatv, oneof, selftuned

    space = Space(
        {
            "lr": floatv(1e-4, 1e-2, log=True),
            "model": {
                "dropout": selftuned(floatv(0.0, 0.8), init=0.1),
                "noise": selftuned(floatv(0.0, 1.0)),
                "aug": selftuned(oneof(["none", "shift"])),
            },
        }
    )
    config = space.materialize(space.sample(0))
    hp = HyperParameters.from_config(config)
    assert set(hp.names) == {"model.dropout", "model.noise", "model.aug"}
    assert hp.value("model.dropout") == pytest.approx(0.1, rel=1e-5)
    model = StnMLP(
        64,
        [16],
        10,
        hp,
        hidden_dropout=config["model"]["dropout"],  # the config's value is the handle
        input_noise=config["model"]["noise"],
    )
    with hp.using(hp.sample(4, mode="train")):
        assert model.train()(torch.randn(4, 64)).shape == (4, 10)
