"""Stand-alone training, the ranking check's reference: a fixed budget as before, or training
to convergence (early stopping on a flat validation loss, the best epoch's weights kept),
with SGD or AdamW, gradient clipping, and sequence models (per-token logits)."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F

from symtune.hypernets import (
    RankingConfig,
    RankingData,
    RankingResult,
    ScoringData,
    StandaloneConfig,
    StandaloneRun,
    SubnetScore,
    Supernet,
    build_gpt,
    fit_standalone,
    gpt_space,
    ranking_check,
    train_standalone,
)
from symtune.hypernets.supernet._elastic import ElasticChoice, ElasticLinear

torch.set_num_threads(1)


def _blobs(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Three well-separated Gaussian classes in 8 dimensions: learnable at once."""
    generator = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=generator)
    centres = torch.eye(3, 8) * 4.0
    return centres[y] + torch.randn(n, 8, generator=generator), y


def _mlp(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))


def _plain_scores(model: torch.nn.Module, val: tuple[torch.Tensor, torch.Tensor]) -> tuple:
    """Validation (error, loss) of ``model`` in plain PyTorch: the oracle."""
    with torch.no_grad():
        logits = model.eval()(val[0])
    error = float((logits.argmax(-1) != val[1]).float().mean())
    return error, float(F.cross_entropy(logits, val[1]))


def test_the_default_is_a_fixed_budget_evaluated_once() -> None:
    train, val = _blobs(96, 0), _blobs(48, 1)
    config = StandaloneConfig(epochs=3, batch_size=16, device="cpu")
    run = fit_standalone(_mlp(), train, val, config, seed=3)
    assert isinstance(run, StandaloneRun)
    assert (run.epochs, run.best_epoch, run.converged) == (3, 3, None)
    assert run.val_losses == (run.loss,)  # only the last epoch is evaluated
    # train_standalone is the same training with the (error, loss) return.
    assert train_standalone(_mlp(), train, val, config, seed=3) == (run.error, run.loss)
    model = _mlp()
    fit_standalone(model, train, val, config, seed=3)
    assert _plain_scores(model, val) == pytest.approx((run.error, run.loss), abs=1e-6)


def test_patience_stops_once_the_validation_loss_is_flat() -> None:
    # A learning rate of 1e-9 leaves the weights (and so the validation loss) where they are:
    # no epoch improves on the first by 0.1%, so training stops after 1 + patience epochs.
    train, val = _blobs(64, 0), _blobs(32, 1)
    config = StandaloneConfig(epochs=50, batch_size=16, lr=1e-9, patience=3, device="cpu")
    run = fit_standalone(_mlp(), train, val, config)
    assert run.epochs == 4 and run.converged is True
    assert len(run.val_losses) == 4 and 1 <= run.best_epoch <= 4
    assert run.loss == min(run.val_losses) == run.val_losses[run.best_epoch - 1]


def test_the_cap_stops_a_run_that_still_improves() -> None:
    train, val = _blobs(96, 0), _blobs(48, 1)
    config = StandaloneConfig(epochs=3, batch_size=16, lr=0.1, patience=5, device="cpu")
    run = fit_standalone(_mlp(), train, val, config)
    assert run.epochs == 3 and run.converged is False and len(run.val_losses) == 3
    assert run.val_losses[-1] < run.val_losses[0]  # it learns


def test_the_best_epochs_weights_are_restored() -> None:
    # Random labels: the network memorises the training set and its validation loss climbs
    # after the first epochs, so the best epoch is not the last.
    generator = torch.Generator().manual_seed(0)
    train = (
        torch.randn(64, 8, generator=generator),
        torch.randint(0, 3, (64,), generator=generator),
    )
    val = (torch.randn(64, 8, generator=generator), torch.randint(0, 3, (64,), generator=generator))
    config = StandaloneConfig(
        epochs=40, batch_size=8, lr=0.5, momentum=0.0, patience=3, min_delta=0.0, device="cpu"
    )
    model = _mlp()
    run = fit_standalone(model, train, val, config)
    assert run.converged is True and run.best_epoch < run.epochs
    assert run.loss == min(run.val_losses) < run.val_losses[-1]
    assert _plain_scores(model, val) == pytest.approx((run.error, run.loss), abs=1e-6)


def _one_step_oracle(optimizer: str, grad_clip: float | None) -> None:
    """One full-batch step of ``fit_standalone`` equals the same step in plain PyTorch."""
    train, val = _blobs(32, 0), _blobs(16, 1)
    config = StandaloneConfig(
        epochs=1, batch_size=32, lr=0.1, momentum=0.0, weight_decay=0.01, optimizer=optimizer,
        grad_clip=grad_clip, device="cpu",
    )  # fmt: skip
    model, expected = _mlp(), _mlp()
    fit_standalone(model, train, val, config)
    # One batch of the whole set: no warm-up (half of one step rounds to 0), learning rate 0.1.
    params = list(expected.parameters())
    if optimizer == "adamw":
        step: torch.optim.Optimizer = torch.optim.AdamW(params, lr=0.1, weight_decay=0.01)
    else:
        step = torch.optim.SGD(params, lr=0.1, weight_decay=0.01)
    F.cross_entropy(expected(train[0]), train[1]).backward()
    if grad_clip is not None:
        torch.nn.utils.clip_grad_norm_(params, grad_clip)
    step.step()
    for ours, theirs in zip(model.parameters(), expected.parameters(), strict=True):
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("optimizer", ["sgd", "adamw"])
@pytest.mark.parametrize("grad_clip", [None, 1e-3])
def test_one_step_equals_plain_pytorch(optimizer: str, grad_clip: float | None) -> None:
    _one_step_oracle(optimizer, grad_clip)


def test_adamw_with_clipping_learns() -> None:
    train, val = _blobs(128, 0), _blobs(64, 1)
    config = StandaloneConfig(
        epochs=30, batch_size=32, lr=0.01, optimizer="adamw", grad_clip=1.0, patience=3,
        device="cpu",
    )  # fmt: skip
    run = fit_standalone(_mlp(), train, val, config)
    assert run.error < 0.1 and run.val_losses[run.best_epoch - 1] < run.val_losses[0]


def test_a_byte_level_gpt_trains_on_per_token_logits() -> None:
    space = gpt_space(vocab_size=8, context=8, widths=(16,), heads=(2,), mlp_ratios=(2,),
                      depths=(1,), head_dim=8)  # fmt: skip
    torch.manual_seed(0)
    model = build_gpt(space.materialize(space.sample(0)))
    # Windows of 0, 1, ..., 7, 0, 1, ...: the next token is the current one plus 1 (mod 8).
    starts = torch.randint(0, 8, (96, 1), generator=torch.Generator().manual_seed(0))
    tokens = (starts + torch.arange(9)) % 8
    train = (tokens[:64, :-1], tokens[:64, 1:])
    val = (tokens[64:, :-1], tokens[64:, 1:])
    config = StandaloneConfig(
        epochs=12, batch_size=16, lr=3e-3, optimizer="adamw", patience=2, device="cpu"
    )
    run = fit_standalone(model, train, val, config)
    assert run.val_losses[0] > run.loss and run.loss < 1.0  # chance: ln 8 = 2.08 nats
    with torch.no_grad():
        logits = model.eval()(val[0])
    loss = float(F.cross_entropy(logits.reshape(-1, 8), val[1].reshape(-1)))
    assert loss == pytest.approx(run.loss, abs=1e-5)  # per token, the best epoch's weights


def test_logits_that_do_not_fit_the_targets_are_a_clear_error() -> None:
    train = (torch.randn(8, 8), torch.randint(0, 3, (8, 2)))
    with pytest.raises(ValueError, match=r"logits must be \(\.\.\., classes\).*\(fit_standalone\)"):
        fit_standalone(_mlp(), train, train, StandaloneConfig(epochs=1, device="cpu"))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"patience": 0}, r"`patience` must be None or an int >= 1, but got 0"),
        ({"patience": True}, r"`patience` must be None or an int >= 1, but got True"),
        ({"patience": 2.5}, r"`patience` must be None or an int >= 1, but got 2.5"),
        ({"min_delta": 1.0}, r"`0 <= min_delta < 1` must hold, but got min_delta=1.0"),
        ({"min_delta": -0.1}, r"`0 <= min_delta < 1` must hold, but got min_delta=-0.1"),
        ({"optimizer": "adam"}, r"`optimizer` must be 'sgd' or 'adamw', but got 'adam'"),
        ({"grad_clip": 0.0}, r"`grad_clip` must be None or a number > 0, but got 0.0"),
        ({"grad_clip": math.inf}, r"`grad_clip` must be None or a number > 0, but got inf"),
    ],
)
def test_bad_options_are_refused_with_the_rule_and_the_value(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message + r".*\(StandaloneConfig\)"):
        StandaloneConfig(**options)


def test_bad_arguments_name_the_function() -> None:
    train = _blobs(16, 0)
    with pytest.raises(TypeError, match=r"config must be a StandaloneConfig.*\(fit_standalone\)"):
        fit_standalone(_mlp(), train, train, {"epochs": 1})
    with pytest.raises(TypeError, match=r"val must be a pair of tensors.*\(train_standalone\)"):
        train_standalone(_mlp(), train, [train], StandaloneConfig(device="cpu"))
    with pytest.raises(ValueError, match=r"as many targets as inputs.*\(fit_standalone\)"):
        fit_standalone(_mlp(), (train[0], train[1][:5]), train, StandaloneConfig(device="cpu"))


def test_ranking_result_reports_the_convergence_of_its_reference() -> None:
    result = RankingResult.from_scores(
        [0.1, 0.2, 0.3], [0.15, 0.25, 0.2], params=[3, 2, 1], standalone_epochs=[23.0, 30.0, 12.5],
        converged=[True, False, True], standalone_patience=5,
    )  # fmt: skip
    assert result.standalone_epochs == (23.0, 30.0, 12.5)
    assert result.converged == (True, False, True) and result.converged_count == 2
    assert result.summary().endswith(
        "; stand-alone converged 2/3 (validation loss flat for 5 epochs), median 23 epochs"
    )
    as_dict = result.to_dict()
    assert as_dict["converged"] == [True, False, True] and as_dict["standalone_patience"] == 5
    assert as_dict["standalone_epochs"] == [23.0, 30.0, 12.5]
    fixed = RankingResult.from_scores([0.1, 0.2], [0.1, 0.2], standalone_epochs=[6, 6],
                                      converged=[None, None])  # fmt: skip
    assert fixed.converged_count is None
    assert fixed.summary().endswith("; stand-alone 6 epochs (a fixed budget)")
    bare = RankingResult.from_scores([0.1, 0.2], [0.1, 0.2])
    assert bare.summary().endswith("FLOPs nan") and bare.converged == ()
    with pytest.raises(ValueError, match=r"`converged` must hold one value per subnet.*1 values"):
        RankingResult.from_scores([0.1, 0.2], [0.1, 0.2], converged=[True])


def test_ranking_check_fills_the_epochs_and_convergence_of_each_subnet() -> None:
    width = ElasticChoice([2, 4, 8], name="w")
    torch.manual_seed(0)
    supernet = Supernet(
        torch.nn.Sequential(ElasticLinear(8, width), torch.nn.ReLU(), ElasticLinear(width, 3)),
        input_shape=(8,),
    )
    train, val = _blobs(64, 0), _blobs(32, 1)
    subnets = [{"w": 8}, {"w": 2}, {"w": 4}]
    given = [SubnetScore(a, 0.1 * i, 1.0) for i, a in enumerate(subnets)]
    standalone = StandaloneConfig(epochs=4, batch_size=16, lr=1e-9, patience=1, seeds=2,
                                  device="cpu")  # fmt: skip
    result = ranking_check(
        supernet, subnets, RankingData(ScoringData([val[0]], [val]), train, val),
        RankingConfig(standalone, metric="loss"), supernet_scores=given,
    )  # fmt: skip
    # A learning rate of 1e-9 is flat at once: every seed of every subnet stops after 2 epochs.
    assert result.converged == (True, True, True) and result.standalone_epochs == (2.0,) * 3
    assert result.standalone_patience == 1
    assert "stand-alone converged 3/3 (validation loss flat for 1 epochs), median 2 epochs" in (
        result.summary()
    )
    capped = ranking_check(
        supernet, subnets[:2], RankingData(ScoringData([val[0]], [val]), train, val),
        RankingConfig(StandaloneConfig(epochs=2, batch_size=16, device="cpu")),
        supernet_scores=given[:2],
    )  # fmt: skip
    assert capped.converged == (None, None) and capped.standalone_epochs == (2.0, 2.0)


def test_the_scores_do_not_depend_on_patience_until_it_stops() -> None:
    # Evaluating after every epoch draws no randomness: with a patience that never triggers,
    # the run is the fixed-budget run, epoch for epoch.
    train, val = _blobs(96, 0), _blobs(48, 1)
    base = StandaloneConfig(epochs=4, batch_size=16, lr=0.1, device="cpu")
    fixed = fit_standalone(_mlp(), train, val, base)
    run = fit_standalone(_mlp(), train, val, dataclasses.replace(base, patience=10))
    assert run.epochs == 4 and run.converged is False
    assert run.val_losses[-1] == fixed.loss  # the same last epoch
