"""`symtune repair FILE`, and what the other commands say about a damaged journal file."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend

from symtune.search import create_study
from symtune.search.cli import main
from symtune.spaces import floatv

optuna.logging.set_verbosity(optuna.logging.WARNING)

STUDY_FILE = """
from symtune.search import StudySpec
from symtune.spaces import floatv

def objective(config, trial):
    return config["x"]

STUDY = StudySpec(name="s", space={"x": floatv(0.0, 1.0)}, objective=objective, n_trials=3)
"""


def objective(config: dict[str, float], trial: object) -> float:
    return config["x"]


def damaged_in_the_middle(folder: Path, n: int = 4) -> Path:
    path = folder / "symtune.journal"
    study = create_study({"x": floatv(0.0, 1.0)}, objective, name="s", storage=str(path))
    for _ in range(n):
        trial = study.optuna_study.ask()
        study.optuna_study.tell(trial, trial.suggest_float("x", 0.0, 1.0))
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join([*lines[:4], b"\x00" * 12 + b"\n", *lines[4:]]))
    return path


def test_repair_rewrites_the_file_and_says_what_it_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = damaged_in_the_middle(tmp_path)
    assert main(["repair", str(path)]) == 0
    out = capsys.readouterr().out
    assert "kept" in out and "dropped 0 good records" in out and "line 5" in out
    (backup,) = tmp_path.glob("symtune.journal.damaged-*")
    assert str(backup) in " ".join(out.split())
    storage = JournalStorage(JournalFileBackend(str(path)))
    assert len(optuna.load_study(study_name="s", storage=storage).trials) == 4
    assert main(["repair", str(path)]) == 0  # a second run finds nothing to do
    assert "no damage found" in capsys.readouterr().out


def test_commands_on_a_damaged_file_name_the_line_and_the_repair(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    damaged_in_the_middle(tmp_path)
    (tmp_path / "s_study.py").write_text(STUDY_FILE)
    for argv in (["show", "s"], ["run", "s_study.py", "--no-progress"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "line 5 (byte offset" in err and "symtune repair" in err
        assert err.count("\n") == 1 and "Traceback" not in err


def test_repair_of_a_missing_file_is_a_user_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["repair", str(tmp_path / "none.journal")]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and err.count("\n") == 1
