"""Scoring subnets: batch-norm recalibration, evaluation, and no trace left on the supernet."""

from __future__ import annotations

import pytest
import torch

from symtune.hypernets.supernet._score import ScoringData, _evaluate, recalibrate_bn
from symtune.hypernets.supernet._supernet import Supernet
from symtune.studies.digits import build_digits_cnn, digits_cnn_space, load_digits_data

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def setup() -> tuple[Supernet, ScoringData]:
    torch.manual_seed(0)
    space = digits_cnn_space(n_stages=2, widths=(4, 8), depths=(1, 2))
    supernet = Supernet.from_space(space, build_digits_cnn, input_shape=(1, 8, 8))
    data = load_digits_data()
    scoring = ScoringData.from_tensors(
        data.x_train, data.x_val[:100], data.y_val[:100], calib_batches=2, calib_batch_size=64
    )
    # Give the batch norms non-trivial statistics, as after training.
    supernet.train()
    with torch.no_grad():
        supernet(data.x_train[:128])
    return supernet, scoring


def test_scoring_leaves_weights_statistics_subnet_and_modes_unchanged(
    setup: tuple[Supernet, ScoringData],
) -> None:
    supernet, scoring = setup
    supernet.train()
    supernet.activate(supernet.smallest_assignment())
    before = {k: v.clone() for k, v in supernet.state_dict().items()}
    space = supernet.space
    assert space is not None
    supernet.score_many([space.sample(i) for i in range(3)], scoring)
    after = supernet.state_dict()
    assert before.keys() == after.keys()
    for key, value in before.items():
        assert torch.equal(value, after[key]), key
    assert supernet.active_assignment() == supernet.smallest_assignment()
    assert all(m.training for m in supernet.modules())


def test_score_equals_recalibrating_and_evaluating_the_exported_subnet(
    setup: tuple[Supernet, ScoringData],
) -> None:
    supernet, scoring = setup
    space = supernet.space
    assert space is not None
    for seed in (0, 1):
        assignment = space.sample(seed)
        exported = supernet.export(assignment)
        recalibrate_bn(exported, scoring.calib)
        error, loss = _evaluate(exported, scoring.val)
        score = supernet.score(assignment, scoring)
        assert score.error == pytest.approx(error, abs=1e-9)
        assert score.loss == pytest.approx(loss, rel=1e-4)
        assert score.accuracy == pytest.approx(1 - error)


def test_scores_do_not_depend_on_order(setup: tuple[Supernet, ScoringData]) -> None:
    supernet, scoring = setup
    space = supernet.space
    assert space is not None
    batch = [space.sample(i) for i in range(3)]
    forward = supernet.score_many(batch, scoring)
    backward = supernet.score_many(batch[::-1], scoring)[::-1]
    assert [s.error for s in forward] == [s.error for s in backward]
    assert [s.loss for s in forward] == pytest.approx([s.loss for s in backward], rel=1e-5)
    assert [s.assignment for s in forward] == batch


def test_recalibration_gives_the_calibration_batches_statistics() -> None:
    from torch import nn

    bn = nn.BatchNorm1d(3)
    net = nn.Sequential(nn.Identity(), bn)
    a, b = torch.randn(10, 3), torch.randn(10, 3) * 2 + 1
    recalibrate_bn(net, [a, b])
    torch.testing.assert_close(bn.running_mean, (a.mean(0) + b.mean(0)) / 2)
    torch.testing.assert_close(bn.running_var, (a.var(0) + b.var(0)) / 2)
    assert bn.momentum == 0.1 and not bn.training


def test_scoring_data_validation() -> None:
    x, y = torch.zeros(10, 1, 8, 8), torch.zeros(10, dtype=torch.long)
    data = ScoringData.from_tensors(x, x, y, calib_batches=3, calib_batch_size=4, val_batch_size=4)
    assert [len(c) for c in data.calib] == [4, 4, 4]
    assert [len(v[0]) for v in data.val] == [4, 4, 2]
    with pytest.raises(ValueError, match="equal length"):
        ScoringData.from_tensors(x, x, y[:5])
    with pytest.raises(ValueError, match="calib_batch_size >= 2"):
        ScoringData.from_tensors(x, x, y, calib_batch_size=1)
