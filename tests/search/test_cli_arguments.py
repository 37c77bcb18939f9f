"""Flags of ``symtune run`` that once fell back silently or crashed: each is exit code 2 and
one line naming the value, before any study is stored."""

from __future__ import annotations

from pathlib import Path

import pytest

from symtune.search.cli import main

STUDY_FILE = """
from symtune.search import StudySpec
from symtune.spaces import floatv

def objective(config, trial):
    return config["x"]

STUDY = StudySpec(name="toy", space={"x": floatv(0.0, 1.0)}, objective=objective, n_trials=2)
"""


def test_an_empty_study_name_is_refused_not_replaced_by_the_spec_s(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "toy_study.py").write_text(STUDY_FILE)
    storage = str(tmp_path / "s.journal")
    code = main(["run", str(tmp_path / "toy_study.py"), "--name", "", "--storage", storage])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("symtune: error: a study name must be a non-empty string")
    assert "\n" not in err and not Path(storage).exists()


def test_a_plot_in_a_missing_directory_is_refused_before_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before, all the trials ran and only then did the plot fail."""
    (tmp_path / "toy_study.py").write_text(STUDY_FILE)
    storage = str(tmp_path / "s.journal")
    plot = str(tmp_path / "missing" / "front.html")
    code = main(["run", str(tmp_path / "toy_study.py"), "--plot", plot, "--storage", storage])
    assert code == 2
    assert "does not exist" in capsys.readouterr().err
    assert not Path(storage).exists()  # nothing ran, nothing was stored


@pytest.mark.parametrize("limit", ["0", "-1"])
def test_show_limit_must_be_positive(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], limit: str
) -> None:
    """Before, --limit 0 crashed with a traceback and --limit -1 hid the first trial."""
    storage = str(tmp_path / "s.journal")
    assert main(["show", "toy", "--limit", limit, "--storage", storage]) == 2
    assert f"--limit must be > 0, but got {limit}" in capsys.readouterr().err
