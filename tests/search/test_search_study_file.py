"""A study file run by `symtune run` from another folder: its sibling modules reach the workers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests_support_cli import run_symtune

HELPERS = """
class Block:
    def __init__(self, width):
        self.width = width


def score(block, x):
    return (x - 0.3) ** 2 + 0.01 * block.width
"""

STUDY_FILE = """
import helpers
from symtune.search import StudySpec
from symtune.spaces import Space, floatv, oneof, symbolic


def objective(config, trial):
    return helpers.score(config["block"], config["x"])


STUDY = StudySpec(
    name="siblings",
    space=Space({"x": floatv(0.0, 1.0), "block": symbolic(helpers.Block)(width=oneof([1, 2]))}),
    objective=objective,
    n_trials=4,
    workers=2,
)
"""


@pytest.mark.slow
@pytest.mark.ray
def test_a_study_file_importing_a_sibling_module_runs_from_another_folder(
    tmp_path: Path,
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "helpers.py").write_text(HELPERS)
    (project / "study.py").write_text(STUDY_FILE)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    storage = str(elsewhere / "s.journal")
    ran = run_symtune(
        "run", str(project / "study.py"), "--no-progress", "--storage", storage, cwd=elsewhere
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    # the space's class lives in the study's folder: another process may not import it
    assert "helpers.Block" in ran.stderr and "only this process can import" in ran.stderr
    exported = run_symtune("export", "siblings", "0", "--storage", storage, cwd=elsewhere)
    assert exported.returncode == 0, exported.stderr[-3000:]
    data = json.loads(exported.stdout)
    assert data["state"] == "COMPLETE" and data["params"]["block.width"] in (1, 2)
    assert data["config"] is None and "helpers" in data["config_missing"]
    assert "no readable config" in exported.stderr


TOY = """
from symtune.search import StudySpec
from symtune.spaces import Space, floatv


def objective(config, trial):
    return config["x"]


STUDY = StudySpec(name="toy", space=Space({"x": floatv(0.0, HIGH)}), objective=objective)
"""


def test_run_refuses_another_space_unless_allowed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from symtune.search import Study, load_study
    from symtune.search.cli import main

    monkeypatch.setattr(Study, "optimize", lambda self, *a, **k: None)  # no Ray: the space check
    monkeypatch.setattr(Study, "plot_pareto_front", lambda self, path: Path(path))
    storage = str(tmp_path / "s.journal")
    for high in ("1.0", "2.0"):
        (tmp_path / f"toy{high[0]}.py").write_text(TOY.replace("HIGH", high))
    assert main(["run", str(tmp_path / "toy1.py"), "--storage", storage, "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["run", str(tmp_path / "toy2.py"), "--storage", storage, "--no-progress"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "floatv(0.0, 1.0) in the stored space" in error
    assert "--allow-space-change" in error
    args = ["run", str(tmp_path / "toy2.py"), "--storage", storage, "--no-progress"]
    assert main([*args, "--allow-space-change"]) == 0
    assert load_study("toy", storage).space is not None
    assert "floatv(0.0, 2.0)" in repr(load_study("toy", storage).space)


# -- samplers and pruners: an instance or a factory (issue 9) -----------------------------------

TUNED = """
import optuna
from symtune.search import StudySpec
from symtune.spaces import Space, floatv


def objective(config, trial):
    return config["x"]


STUDY = StudySpec(
    name="tuned",
    space=Space({"x": floatv(0.0, 1.0)}),
    objective=objective,
    sampler=SAMPLER,
    pruner=PRUNER,
)
"""


@pytest.mark.parametrize(
    ("sampler", "pruner"),
    [
        ("optuna.samplers.RandomSampler(seed=1)", "optuna.pruners.NopPruner()"),
        ("lambda: optuna.samplers.RandomSampler(seed=1)", "optuna.pruners.NopPruner"),
    ],
)
def test_a_study_file_may_pass_a_sampler_and_pruner_or_their_factories(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sampler: str, pruner: str
) -> None:
    import optuna

    from symtune.search import Study
    from symtune.search.cli import main

    seen: list[Study] = []
    monkeypatch.setattr(Study, "optimize", lambda self, *a, **k: seen.append(self))
    file = tmp_path / "tuned.py"
    file.write_text(TUNED.replace("SAMPLER", sampler).replace("PRUNER", pruner))
    storage = str(tmp_path / "s.journal")
    assert main(["run", str(file), "--storage", storage, "--no-progress"]) == 0
    (study,) = seen
    assert isinstance(study.pruner, optuna.pruners.NopPruner)
    assert isinstance(study.optuna_study.sampler, optuna.samplers.RandomSampler)


@pytest.mark.parametrize(
    ("sampler", "pruner", "named"),
    [
        ("None", "'median'", "`pruner` must be an optuna.pruners.BasePruner instance or a factory"),
        ("3", "None", "`sampler` must be an optuna.samplers.BaseSampler instance or a factory"),
    ],
)
def test_a_study_file_with_a_bad_sampler_or_pruner_is_one_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    sampler: str,
    pruner: str,
    named: str,
) -> None:
    from symtune.search.cli import main

    file = tmp_path / "tuned.py"
    file.write_text(TUNED.replace("SAMPLER", sampler).replace("PRUNER", pruner))
    assert main(["run", str(file), "--storage", str(tmp_path / "s.journal")]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and named in error
    assert ("'median'" if pruner != "None" else "got 3") in error


def test_a_factory_that_returns_no_pruner_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from symtune.search.cli import main

    file = tmp_path / "tuned.py"
    file.write_text(TUNED.replace("SAMPLER", "None").replace("PRUNER", "lambda: 'median'"))
    assert main(["run", str(file), "--storage", str(tmp_path / "s.journal")]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "`pruner` factory" in error and "'median'" in error


# -- a study file that fails to import says where (issue 9) -------------------------------------


def test_an_import_error_names_the_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from symtune.search.cli import main

    (tmp_path / "modlevel.py").write_text("import os\n\nN_TRIALS = 5\nprint(N_TRAILS)\n")
    assert main(["run", str(tmp_path / "modlevel.py")]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert "NameError: name 'N_TRAILS' is not defined (at modlevel.py:4)" in error
    # in a sibling module the study file imports: the innermost line in the folder
    (tmp_path / "sibling_broken_d.py").write_text("def f():\n    return 1 / 0\n\n\nf()\n")
    (tmp_path / "uses.py").write_text("import sibling_broken_d\n")
    assert main(["run", str(tmp_path / "uses.py")]) == 2
    assert "ZeroDivisionError: division by zero (at sibling_broken_d.py:2)" in (
        capsys.readouterr().err
    )
    (tmp_path / "syntax.py").write_text("x = 1\ny = (\n")
    assert main(["run", str(tmp_path / "syntax.py")]) == 2
    assert "(at syntax.py:2)" in capsys.readouterr().err
