"""`symtune show` and `symtune pareto` print a supernet study's ranking check (issue 11, item
4): the three Kendall taus on one line, every other study attribute as before. No Ray: trials
are stored with `optuna.trial.create_trial`."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import create_trial

from symtune.search import create_study
from symtune.search.cli import main
from symtune.spaces import floatv

optuna.logging.set_verbosity(optuna.logging.WARNING)

RANKING = {
    "supernet.kendall_tau": 0.7857,
    "supernet.kendall_tau_params": 0.3929,
    "supernet.kendall_tau_flops": 0.2857,
    "supernet.standalone_converged": "7/8",
    "corpus.python_version": "3.11.7",
}
LINE = "ranking (Kendall's tau, higher = better): supernet 0.79, parameters 0.39, FLOPs 0.29"


def supernet_study(tmp_path: Path, attrs: dict[str, object]) -> str:
    """A stored two-objective study with three completed trials and ``attrs``; its storage."""
    storage = str(tmp_path / "sn.journal")
    study = create_study(
        {"x": floatv(0.0, 1.0)},
        lambda config, trial: (config["x"], 1 - config["x"]),
        name="sn",
        directions=("minimize", "minimize"),
        metric_names=("bits_per_byte", "params"),
        storage=storage,
    )
    for x in (0.2, 0.5, 0.8):
        study.optuna_study.add_trial(
            create_trial(
                params={"x": x},
                distributions={"x": FloatDistribution(0.0, 1.0)},
                values=[x, 1 - x],
            )
        )
    for key, value in attrs.items():
        study.optuna_study.set_user_attr(key, value)
    return storage


@pytest.mark.parametrize("command", ["show", "pareto"])
def test_the_three_taus_print_on_one_line_beside_the_other_attrs(
    command: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    storage = supernet_study(tmp_path, RANKING)
    assert main([command, "sn", "--storage", storage]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert LINE in lines
    assert "supernet.standalone_converged: 7/8" in lines
    assert "corpus.python_version: 3.11.7" in lines
    assert not [line for line in lines if line.startswith("supernet.kendall_tau")]


def test_a_study_with_the_supernet_tau_only_prints_it_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    storage = supernet_study(tmp_path, {"supernet.kendall_tau": -0.5, "supernet.epochs": 3})
    assert main(["pareto", "sn", "--storage", storage]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "ranking (Kendall's tau, higher = better): supernet -0.50" in lines
    assert "supernet.epochs: 3" in lines


def test_a_study_without_a_ranking_check_prints_no_ranking_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    storage = supernet_study(tmp_path, {})
    assert main(["show", "sn", "--storage", storage]) == 0
    assert "ranking" not in capsys.readouterr().out
