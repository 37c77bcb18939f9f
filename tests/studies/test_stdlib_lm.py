"""The byte-level LM supernet study on the stdlib (issue 11, item 3): its data, space, objective,
entry points and bad arguments, a tiny supernet training and ranking check, and one tiny run
through symtune.search on Ray."""

from __future__ import annotations

import math
import pickle
from pathlib import Path
from typing import Any

import pytest
import torch

from symtune.studies import stdlib_lm as lm
from symtune.studies._prepared import nsga2_sampler

LARGEST = {"width": 64, "depth": 3} | {
    f"blocks[{i}].{key}": value for i in range(3) for key, value in (("heads", 4), ("mlp_ratio", 4))
}
SMALLEST = {"width": 32, "depth": 1} | {
    f"blocks[{i}].{key}": value for i in range(3) for key, value in (("heads", 1), ("mlp_ratio", 2))
}


class FakeTrial:
    """What the objective reads from a trial: its assignment and device."""

    def __init__(self, params: dict[str, Any]) -> None:
        self.params = params
        self.device = torch.device("cpu")


@pytest.fixture(scope="module")
def tiny() -> lm.LMData:
    return lm.load_lm_data(train_windows=64, val_windows=16)


@pytest.fixture(scope="module")
def trained(tiny: lm.LMData) -> Any:
    """The study's supernet after one epoch over 64 windows (4 sandwich steps)."""
    threads = torch.get_num_threads()
    supernet, _ = lm.train_lm_supernet(1, data=tiny, progress=False)
    torch.set_num_threads(threads)  # train_lm_supernet runs on one thread
    return supernet


def _untrained_state() -> dict[str, torch.Tensor]:
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return lm.new_supernet().state_dict()


# -- data ----------------------------------------------------------------------------------------


def _in_part(windows: tuple[torch.Tensor, torch.Tensor], part: torch.Tensor) -> bool:
    """Every window (inputs then its last target) is a run of the part's bytes."""
    inputs, targets = windows
    text = part.numpy().tobytes()
    assert torch.equal(inputs[:, 1:], targets[:, :-1])  # targets are the inputs shifted by one
    return all(
        bytes([*x.tolist(), int(y[-1])]) in text for x, y in zip(inputs, targets, strict=True)
    )


def test_windows_are_fixed_and_come_from_their_own_files(tiny: lm.LMData) -> None:
    again = lm.load_lm_data.__wrapped__(train_windows=64, val_windows=16)  # uncached: recomputed
    for mine, other in ((tiny.train, again.train), (tiny.val, again.val)):
        assert all(torch.equal(a, b) for a, b in zip(mine, other, strict=True))
    for (inputs, targets), n in ((tiny.train, 64), (tiny.val, 16)):
        assert inputs.shape == targets.shape == (n, lm.CONTEXT)
        assert inputs.dtype == targets.dtype == torch.int64
    assert _in_part(tiny.train, tiny.corpus.train) and _in_part(tiny.val, tiny.corpus.val)
    assert not set(tiny.corpus.train_files) & set(tiny.corpus.val_files)  # split by file
    summary = tiny.summary()
    assert summary["python_version"] == tiny.corpus.python_version
    assert (summary["train_windows"], summary["val_windows"], summary["context"]) == (64, 16, 64)
    batches = tiny.scoring(batch_size=6).val
    assert [len(x) for x, _ in batches] == [6, 6, 4] and tiny.scoring().calib is None


# -- space and sizes -----------------------------------------------------------------------------


def test_space_counts_and_subnet_sizes() -> None:
    assert lm.SPACE.cardinality == 3 * 3 * 9**3 == 6_561
    supernet = lm.new_supernet()
    for assignment, expected in ((LARGEST, 187_200), (SMALLEST, 25_200)):
        exported = sum(p.numel() for p in supernet.export(assignment).parameters())
        assert lm.subnet_params(assignment) == exported == expected
    logits = supernet.export(SMALLEST)(torch.zeros((2, lm.CONTEXT), dtype=torch.long))
    assert logits.shape == (2, lm.CONTEXT, 256)


# -- the objective -------------------------------------------------------------------------------


def test_objective_scores_bits_per_byte_params_and_latency(tiny: lm.LMData) -> None:
    objective = lm.SubnetObjective(_untrained_state(), {}, val=tiny.val)
    bits, params = objective(None, FakeTrial(SMALLEST))
    assert 7.0 < bits < 10.0  # untrained: about log2(256) = 8 bits per byte
    assert params == lm.subnet_params(SMALLEST)
    timed = lm.SubnetObjective(_untrained_state(), {}, latency=True, val=tiny.val)
    values = timed(None, FakeTrial(SMALLEST))
    assert len(values) == 3 and values[:2] == pytest.approx((bits, params)) and values[2] > 0


def test_objective_pickles_with_weights_and_windows_once(tiny: lm.LMData) -> None:
    objective = lm.SubnetObjective(_untrained_state(), {"a": 1}, val=tiny.val)
    size = len(pickle.dumps(objective))
    first = objective(None, FakeTrial(LARGEST))  # builds its supernet
    assert len(pickle.dumps(objective)) == size  # the built supernet does not travel too
    copy = pickle.loads(pickle.dumps(objective))
    assert copy.study_user_attrs == {"a": 1} and copy.latency is False
    assert torch.equal(copy.val[0], tiny.val[0])
    assert copy(None, FakeTrial(LARGEST)) == pytest.approx(first)


# -- study variants and bad arguments ------------------------------------------------------------


def test_make_study_variants() -> None:
    from symtune.search._spec import load_spec
    from symtune.search.samplers import PredictorSampler

    assert load_spec("stdlib_lm").name == lm.STUDY.name == "stdlib_lm"
    assert load_spec("stdlib_lm_predictor").name == lm.PREDICTOR_STUDY.name
    assert (
        lm.STUDY.metric_names == ("bits_per_byte", "params") and lm.STUDY.sampler is nsga2_sampler
    )
    assert lm.STUDY.directions == ("minimize", "minimize") and lm.STUDY.space is lm.SPACE
    timed = lm.make_study(latency=True, ranking_subnets=0)
    assert timed.name == "stdlib_lm_latency"
    assert timed.metric_names == ("bits_per_byte", "params", "latency_ms")
    assert timed.directions == ("minimize",) * 3 and len(timed.reference_point or ()) == 3
    spec = lm.make_study(sampler="predictor", latency=True)
    assert spec.name == "stdlib_lm_predictor_latency" and spec.sampler is not None
    sampler = spec.sampler()
    assert isinstance(sampler, PredictorSampler) and sampler.space is lm.SPACE
    assert set(sampler.exact_objectives) == {1}
    assert sampler.exact_objectives[1](SMALLEST) == 25_200
    with pytest.raises(RuntimeError, match="prepare"):
        lm.STUDY.objective(None, None)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: lm.make_study(sampler="tpe"), ValueError, "'nsga2' or 'predictor'.*'tpe'"),
        (lambda: lm.make_study(epochs=0), ValueError, "epochs.*0.*make_study"),
        (lambda: lm.make_study(ranking_subnets=1), ValueError, "at least 2, but got 1"),
        (lambda: lm.make_study(ranking_subnets=-1), ValueError, "ranking_subnets.*-1"),
        (lambda: lm.make_study(epochs=2.5), TypeError, "epochs.*2.5"),
        (lambda: lm.load_lm_data(train_windows=0), ValueError, "train_windows.*load_lm_data"),
        (lambda: lm.load_lm_data(val_windows=-3), ValueError, "val_windows.*-3"),
    ],
)
def test_bad_arguments_are_clear_errors(call: Any, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        call()


# -- training and the ranking check --------------------------------------------------------------


def test_one_tiny_epoch_lowers_bits_per_byte(tiny: lm.LMData, trained: Any) -> None:
    untrained = lm.SubnetObjective(_untrained_state(), {}, val=tiny.val)
    before, _ = untrained(None, FakeTrial(LARGEST))
    after = trained.score(LARGEST, tiny.scoring()).bits
    assert after < before - 0.3 and before > 7.5


def test_tiny_ranking_check_reports_three_taus_and_convergence(
    tiny: lm.LMData, trained: Any
) -> None:
    ranking = lm.check_ranking(trained, tiny, 3, max_epochs=2)
    for tau in (ranking.tau, ranking.tau_params, ranking.tau_flops):
        assert math.isnan(tau) or -1.0 <= tau <= 1.0
    assert len(ranking.converged) == 3 and len(ranking.standalone_epochs) == 3
    assert all(1 <= e <= 2 for e in ranking.standalone_epochs)
    attrs = lm.ranking_attrs(ranking)
    assert set(attrs) == {
        "supernet.kendall_tau",
        "supernet.kendall_tau_params",
        "supernet.kendall_tau_flops",
        "supernet.ranking_subnets",
        "supernet.standalone_converged",
    }
    assert attrs["supernet.ranking_subnets"] == 3
    assert attrs["supernet.standalone_converged"].endswith("/3")
    config = lm.standalone_config(7, lr=1e-3)
    assert (config.epochs, config.optimizer, config.patience, config.lr) == (7, "adamw", 3, 1e-3)


# -- one tiny run through symtune.search on Ray --------------------------------------------------


@pytest.mark.ray
def test_a_tiny_study_runs_on_ray_and_stores_the_taus(
    ray_local: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lm, "TRAIN_WINDOWS", 32)
    monkeypatch.setattr(lm, "VAL_WINDOWS", 8)
    monkeypatch.setattr(lm, "STANDALONE_MAX_EPOCHS", 1)
    threads = torch.get_num_threads()
    study = lm.make_study(epochs=1, ranking_subnets=2).create(storage=str(tmp_path / "lm.journal"))
    torch.set_num_threads(threads)
    attrs = study.optuna_study.user_attrs
    assert attrs["supernet.ranking_subnets"] == 2 and attrs["supernet.epochs"] == 1
    assert {"supernet.kendall_tau", "supernet.kendall_tau_params"} <= set(attrs)
    assert attrs["corpus.python_version"]
    study.optimize(4, workers=2, show_progress=False)
    results = study.results()
    assert len(results) == 4 and (results["state"] == "COMPLETE").all()
    assert results["bits_per_byte"].between(6.0, 10.0).all()
    assert results["params"].between(25_200, 187_200).all()
    assert results.attrs["supernet.kendall_tau_flops"] == attrs["supernet.kendall_tau_flops"]
