"""CLI cosmetics a new user met: a bad `pareto --plot` suffix is refused before anything is
printed; `run --address` that does not answer leaves no empty study behind; without a terminal
the progress bar is not cut at 80 columns. No Ray: nothing here gets as far as starting one."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import optuna
import pytest

from symtune.search import create_study, load_study
from symtune.search._progress import ProgressBar
from symtune.search.cli import main
from symtune.spaces import Space, floatv

optuna.logging.set_verbosity(optuna.logging.WARNING)

STUDY_FILE = """
from symtune.search import StudySpec
from symtune.spaces import Space, floatv


def objective(config, trial):
    return config["x"] ** 2


STUDY = StudySpec(name="unreached", space=Space({"x": floatv(0.0, 1.0)}), objective=objective,
                  n_trials=4)
"""


def objective(config, trial):  # never run: trials are told by hand
    return 0.0


def test_pareto_refuses_a_bad_plot_suffix_before_printing_the_front(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    storage = str(tmp_path / "front.journal")
    space = Space({"x": floatv(0.0, 1.0)})
    ostudy = create_study(space, objective, name="front", storage=storage).optuna_study
    trial = ostudy.ask()
    space.suggest(trial)
    ostudy.tell(trial, 1.0)
    capsys.readouterr()
    assert main(["pareto", "front", "--storage", storage, "--plot", "front.pdf"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "--plot must end in .html or .png" in captured.err
    assert not (tmp_path / "front.pdf").exists()


def test_run_with_an_address_that_does_not_answer_creates_no_study(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    study_file = tmp_path / "unreached.py"
    study_file.write_text(STUDY_FILE)
    storage = str(tmp_path / "shared.journal")
    create_study(Space({"x": floatv(0.0, 1.0)}), objective, name="other", storage=storage)
    args = ["run", str(study_file), "--storage", storage, "--address", "127.0.0.1:1"]
    assert main(args) == 2
    assert "127.0.0.1:1" in capsys.readouterr().err
    assert main(["studies", "--storage", storage]) == 0
    listed = capsys.readouterr().out.split("Studies in the storage")[1]
    assert "other" in listed and "unreached" not in listed
    with pytest.raises(Exception, match="unreached"):
        load_study("unreached", storage=storage)


class _Study:
    """What the progress bar reads of a study: a finished one of 40 trials."""

    name = "a_study_with_a_rather_long_name"
    directions = ("minimize",)
    optuna_study = SimpleNamespace(best_value=0.01234)

    def counts(self) -> dict[str, int]:
        return {"finished": 40, "complete": 38, "failed": 1, "pruned": 1, "running": 0}


def test_the_progress_bar_is_not_cut_at_80_columns_without_a_terminal(
    capsys: pytest.CaptureFixture[str],
) -> None:
    bar = ProgressBar(_Study(), 40)
    bar.close()
    printed = capsys.readouterr().out
    assert "40/40" in printed and "best 0.01234" in printed
    assert "…" not in printed
    assert "0:00:00" in printed  # elapsed time and ETA are whole
