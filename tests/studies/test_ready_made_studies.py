"""The ready-made studies: each runs through symtune.search and gives sane results."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from symtune.search import StudySpec, load_study
from symtune.search._spec import load_spec, registered_studies


def test_every_builtin_study_exposes_a_study_spec() -> None:
    names = [point.name for point in registered_studies()]  # the symtune.studies entry points
    assert {"zdt", "digits_mlp", "digits_supernet", "digits_supernet_predictor"} <= set(names)
    for name in names:
        spec = load_spec(name)
        assert isinstance(spec, StudySpec) and spec.name == name


@pytest.mark.ray
def test_zdt_front_never_beats_the_true_front(ray_local: None, tmp_path: Path) -> None:
    from symtune.studies.zdt import STUDY, true_hypervolume

    study = STUDY.create(storage=str(tmp_path / "zdt.journal"))
    study.optimize(60, workers=2)
    front = study.pareto_front()
    assert len(front) >= 2
    for f1, f2 in zip(front["f1"], front["f2"], strict=True):
        assert 0.0 <= f1 <= 1.0
        assert f2 >= 1.0 - math.sqrt(f1) - 1e-9  # the true front is a lower bound (oracle)
    volume = study.hypervolume((1.1, 10.0))
    assert 0.0 < volume < true_hypervolume((1.1, 10.0))
    again = load_study("zdt", storage=str(tmp_path / "zdt.journal"))
    assert len(again.results()) == 60


class FakeTrial:
    """What an objective sees, without a study: enough to call it directly."""

    def __init__(self) -> None:
        import torch

        self.number = 0
        self.device = torch.device("cpu")
        self.user_attrs: dict[str, Any] = {}

    def set_user_attr(self, key: str, value: Any) -> None:
        self.user_attrs[key] = value


@pytest.mark.slow
def test_digits_mlp_learns_and_stores_the_self_tuned_schedules() -> None:
    from symtune.studies.digits_mlp import SPACE, mlp_params, objective

    assert set(SPACE.selftuned) == {"dropout", "noise"}
    config = SPACE.materialize(SPACE.sample(0))
    trial = FakeTrial()
    error, params = objective(config, trial)
    assert error < 0.3  # chance is 0.9
    assert params == mlp_params(config["hidden"])
    assert 0.0 <= trial.user_attrs["selftuned.dropout"] <= 0.7
    schedule = trial.user_attrs["selftuned_schedule.noise"]
    assert 2 <= len(schedule) <= 100 and schedule[-1][1] == trial.user_attrs["selftuned.noise"]


@pytest.mark.slow
@pytest.mark.ray
def test_digits_supernet_scores_subnets_with_shared_weights(
    ray_local: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import symtune.studies.digits_supernet as module

    monkeypatch.setattr(module, "SUPERNET_EPOCHS", 2)
    monkeypatch.setattr(module, "RANKING_SUBNETS", 4)
    monkeypatch.setattr(module, "RANKING_MAX_EPOCHS", 1)
    study = module.STUDY.create(storage=str(tmp_path / "sn.journal"))
    assert -1.0 <= study.optuna_study.user_attrs["supernet.kendall_tau"] <= 1.0
    study.optimize(8, workers=2)
    results = study.results()
    assert (results["state"] == "COMPLETE").all()
    tau = study.optuna_study.user_attrs["supernet.kendall_tau"]
    assert (
        results.attrs["supernet.kendall_tau"]
        == study.pareto_front().attrs["supernet.kendall_tau"]
        == tau
    )  # the ranking check travels with the results and the front
    assert results["flops"].min() > 0 and results["val_error"].between(0, 1).all()
    assert results["flops"].nunique() > 1  # FLOPs follow the subnet, not the supernet


def test_digits_supernet_prepare_stores_the_three_taus_of_a_converged_reference(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import symtune.studies.digits_supernet as module

    monkeypatch.setattr(module, "SUPERNET_EPOCHS", 1)
    monkeypatch.setattr(module, "RANKING_SUBNETS", 3)
    monkeypatch.setattr(module, "RANKING_MAX_EPOCHS", 3)
    monkeypatch.setattr(module, "RANKING_PATIENCE", 1)
    config = module.ranking_standalone_config()
    assert (config.epochs, config.patience, config.device) == (3, 1, "cpu")
    attrs = module.prepare(module.STUDY).study_user_attrs
    for suffix in ("", "_params", "_flops"):  # nan where 3 subnets tie
        tau = attrs[f"supernet.kendall_tau{suffix}"]
        assert math.isnan(tau) or -1.0 <= tau <= 1.0
    converged, total = map(int, attrs["supernet.standalone_converged"].split("/"))
    assert total == 3 and 0 <= converged <= 3
    assert 2 <= attrs["supernet.standalone_median_epochs"] <= 3  # patience 1: 2 epochs at least
    assert attrs["supernet.standalone_patience"] == 1
    assert attrs["supernet.standalone_max_epochs"] == 3


def test_digits_supernet_predictor_uses_exact_flops_and_the_same_study() -> None:
    from symtune.hypernets import Supernet
    from symtune.search.samplers import PredictorSampler
    from symtune.studies import digits_supernet
    from symtune.studies.digits import build_digits_cnn
    from symtune.studies.digits_supernet_predictor import STUDY

    assert STUDY.space is digits_supernet.SPACE and STUDY.prepare is digits_supernet.prepare
    assert STUDY.sampler is not None
    sampler = STUDY.sampler()
    assert isinstance(sampler, PredictorSampler) and sampler.space is digits_supernet.SPACE
    flops = sampler.exact_objectives[1]
    supernet = Supernet.from_space(digits_supernet.SPACE, build_digits_cnn, input_shape=(1, 8, 8))
    for seed in range(3):
        assignment = digits_supernet.SPACE.sample(seed)
        assert flops(assignment) == supernet.subnet_flops(assignment) > 0
