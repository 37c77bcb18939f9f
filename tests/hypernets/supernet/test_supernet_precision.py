"""Mixed precision: the ``precision`` option of supernet training, scoring and stand-alone
training (bf16 autocast on CPU here; fp16 with a gradient scaler on CUDA only)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from symtune.hypernets._torch import PRECISIONS, autocast_context, grad_scaler
from symtune.hypernets.supernet._ranking import (
    RankingConfig,
    RankingData,
    StandaloneConfig,
    ranking_check,
    train_standalone,
)
from symtune.hypernets.supernet._score import ScoringData, score_many
from symtune.hypernets.supernet._supernet import Supernet
from symtune.hypernets.supernet._train import SupernetTrainConfig, train_supernet
from symtune.studies.digits import build_digits_cnn, digits_cnn_space, load_digits_data

torch.set_num_threads(1)

CPU = torch.device("cpu")


def _small() -> Supernet:
    torch.manual_seed(0)
    space = digits_cnn_space(n_stages=2, widths=(4, 8), depths=(1, 2))
    return Supernet.from_space(space, build_digits_cnn, input_shape=(1, 8, 8))


def _linear_dtypes(module: nn.Module) -> list[torch.dtype]:
    """Record the output dtype of every conv and linear layer that runs (forward hooks)."""
    seen: list[torch.dtype] = []
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)) or type(m).__name__.startswith("Elastic"):
            m.register_forward_hook(lambda _m, _i, out: seen.append(out.dtype))
    return seen


def test_bf16_training_runs_in_bfloat16_and_its_loss_decreases() -> None:
    supernet = _small()
    data = load_digits_data()
    seen = _linear_dtypes(supernet)
    config = SupernetTrainConfig(epochs=3, batch_size=64, device="cpu", precision="bf16")
    history = train_supernet(supernet, (data.x_train[:512], data.y_train[:512]), config)
    assert torch.bfloat16 in seen  # the forward passes ran under bf16 autocast
    assert history.largest_loss[-1] < 0.7 * history.largest_loss[0]
    assert all(isinstance(v, float) and math.isfinite(v) for v in history.mean_loss)
    # Weights (and so the optimiser's updates) stay float32: autocast casts per op only.
    assert {p.dtype for p in supernet.parameters()} == {torch.float32}


def test_bf16_scores_are_close_to_fp32_scores() -> None:
    supernet = _small()
    data = load_digits_data()
    train_supernet(
        supernet,
        (data.x_train, data.y_train),
        SupernetTrainConfig(epochs=2, batch_size=64, device="cpu"),
    )
    subnets = [supernet.largest_assignment(), supernet.smallest_assignment()]
    fp32 = ScoringData.from_tensors(data.x_train, data.x_val, data.y_val, calib_batch_size=128)
    bf16 = ScoringData(fp32.calib, fp32.val, precision="bf16")
    seen = _linear_dtypes(supernet)
    exact, mixed = score_many(supernet, subnets, fp32), score_many(supernet, subnets, bf16)
    assert torch.bfloat16 in seen
    n = len(data.y_val)
    for a, b in zip(exact, mixed, strict=True):
        assert isinstance(b.loss, float) and isinstance(b.error, float)
        # bfloat16 keeps 8 significant bits: each op rounds by up to 2^-8 = 0.4% relative, and
        # the mean cross-entropy over 360 examples averages those roundings out (measured:
        # 1e-4 relative). 1% allows a few layers of worst-case rounding and still fails a
        # real bug (a loss taken in bf16 without the float32 cast, statistics stored in bf16).
        assert b.loss == pytest.approx(a.loss, rel=0.01)
        # Only examples whose top two logits nearly tie can flip (measured: 0 or 1 of 360).
        assert abs(b.error - a.error) <= max(0.02, 3 / n)
    # Scoring in bf16 left the supernet's float32 statistics as they were.
    assert score_many(supernet, subnets, fp32) == exact


def test_bf16_standalone_training_learns() -> None:
    torch.manual_seed(0)
    data = load_digits_data()
    model = build_digits_cnn({"stages": [{"width": 8, "kernel": 3, "depth": 1}] * 2})
    config = StandaloneConfig(epochs=3, batch_size=64, lr=0.1, device="cpu", precision="bf16")
    error, loss = train_standalone(
        model, (data.x_train, data.y_train), (data.x_val, data.y_val), config
    )
    assert isinstance(loss, float) and error < 0.5 and loss < 2.0  # chance: 0.9 and 2.3


def test_ranking_check_in_bf16() -> None:
    torch.manual_seed(0)
    space = digits_cnn_space(n_stages=1, widths=(2, 8), kernels=(3,), depths=(1, 1))
    supernet = Supernet.from_space(space, build_digits_cnn, input_shape=(1, 8, 8))
    data = load_digits_data()
    scoring = ScoringData.from_tensors(
        data.x_train, data.x_val, data.y_val, calib_batch_size=64, precision="bf16"
    )
    assert scoring.to("cpu").precision == "bf16"
    result = ranking_check(
        supernet,
        [{"stages[0].width": w, "stages[0].kernel": 3, "stages[0].depth": 1} for w in (2, 8)],
        RankingData(scoring, (data.x_train[:256], data.y_train[:256]), (data.x_val, data.y_val)),
        RankingConfig(StandaloneConfig(epochs=1, device="cpu", precision="bf16"), metric="loss"),
    )
    assert all(math.isfinite(v) for v in result.standalone_scores + result.supernet_scores)


def test_fp16_needs_cuda() -> None:
    for make in (
        lambda: SupernetTrainConfig(device="cpu", precision="fp16"),
        lambda: StandaloneConfig(device="cpu", precision="fp16"),
    ):
        with pytest.raises(ValueError, match=r"fp16.*needs a CUDA device.*'cpu'.*bf16"):
            make()
    supernet = _small()
    x, y = torch.rand(8, 1, 8, 8), torch.randint(0, 10, (8,))
    with pytest.raises(ValueError, match=r"needs a CUDA device.*\(score_many\)"):
        score_many(supernet, [supernet.largest_assignment()], ScoringData([x], [(x, y)], "fp16"))
    with pytest.raises(ValueError, match="needs a CUDA device"):
        autocast_context("fp16", CPU)
    if not torch.cuda.is_available():  # "auto" resolves to CPU here: refused before any step
        config = SupernetTrainConfig(epochs=1, device="auto", precision="fp16")
        with pytest.raises(ValueError, match=r"needs a CUDA device.*\(train_supernet\)"):
            train_supernet(supernet, (x, y), config)
        standalone = StandaloneConfig(epochs=1, device="auto", precision="fp16")
        with pytest.raises(ValueError, match=r"needs a CUDA device.*\(train_standalone\)"):
            train_standalone(supernet.export(), (x, y), (x, y), standalone)


@pytest.mark.parametrize("bad", ["bfloat16", "FP32", "", None, 16])
def test_a_bad_precision_names_the_accepted_values(bad: object) -> None:
    accepted = r"must be one of 'fp32', 'bf16', 'fp16', but got "
    x, y = torch.rand(4, 3), torch.randint(0, 2, (4,))
    for make, where in (
        (lambda: SupernetTrainConfig(precision=bad), "SupernetTrainConfig"),
        (lambda: StandaloneConfig(precision=bad), "StandaloneConfig"),
        (lambda: ScoringData([x], [(x, y)], precision=bad), "ScoringData"),
    ):
        with pytest.raises(ValueError, match=accepted + rf"{bad!r} \({where}\)"):
            make()


def test_the_helpers() -> None:
    assert PRECISIONS == ("fp32", "bf16", "fp16")
    layer = nn.Linear(3, 2)
    with autocast_context("fp32", CPU):
        assert layer(torch.rand(1, 3)).dtype == torch.float32
    with autocast_context("bf16", CPU):
        assert layer(torch.rand(1, 3)).dtype == torch.bfloat16
    assert not grad_scaler("fp32", CPU).is_enabled()
    assert not grad_scaler("bf16", CPU).is_enabled()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_on_cuda(precision: str) -> None:
    cuda = torch.device("cuda")
    assert grad_scaler(precision, cuda).is_enabled() == (precision == "fp16")
    supernet = _small()
    data = load_digits_data()
    config = SupernetTrainConfig(epochs=3, batch_size=64, device="cuda", precision=precision)
    history = train_supernet(supernet, (data.x_train, data.y_train), config)
    assert history.largest_loss[-1] < 0.7 * history.largest_loss[0]
    fp32 = ScoringData.from_tensors(data.x_train, data.x_val, data.y_val)
    mixed = ScoringData(fp32.calib, fp32.val, precision=precision)
    subnets = [supernet.largest_assignment(), supernet.smallest_assignment()]
    exact, scored = score_many(supernet, subnets, fp32), score_many(supernet, subnets, mixed)
    for a, b in zip(exact, scored, strict=True):
        assert b.loss == pytest.approx(a.loss, rel=0.01)  # the tolerance of the CPU test
    standalone = StandaloneConfig(epochs=3, lr=0.1, device="cuda", precision=precision)
    model = build_digits_cnn({"stages": [{"width": 8, "kernel": 3, "depth": 1}] * 2})
    error, _ = train_standalone(
        model, (data.x_train, data.y_train), (data.x_val, data.y_val), standalone
    )
    assert error < 0.5
