"""The `symtune` CLI: a real run end to end, the inspection commands, and user errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests_support_cli import run_symtune

from symtune.search.cli import main

STUDY_FILE = """
from symtune.search import StudySpec
from symtune.spaces import Space, floatv, oneof


def objective(config, trial):
    trial.set_user_attr("kind", config["kind"])
    return (config["x"] - 0.3) ** 2 + (0.1 if config["kind"] == "b" else 0.0)


STUDY = StudySpec(
    name="toy",
    space=Space({"x": floatv(0.0, 1.0), "kind": oneof(["a", "b"])}),
    objective=objective,
    metric_names=("loss",),
    n_trials=6,
)
"""


def symtune(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the installed console script's module in a fresh process."""
    return run_symtune(*args, cwd=cwd, env={"PYTHONWARNINGS": "ignore"})


@pytest.fixture(scope="module")
def ran_study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A study file run once by `symtune run` in a fresh process (starts its own local Ray)."""
    folder = tmp_path_factory.mktemp("cli")
    (folder / "toy_study.py").write_text(STUDY_FILE)
    result = symtune("run", "toy_study.py", "--no-progress", "--plot", "front.png", cwd=folder)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Best trial" in result.stdout
    # symtune says which study and storage it runs; Optuna's INFO line saying so again is not
    # printed above it
    assert "A new study created" not in result.stdout + result.stderr
    return folder


@pytest.mark.slow
@pytest.mark.ray
def test_run_writes_the_study_and_its_plot(ran_study: Path) -> None:
    assert (ran_study / "front.png").stat().st_size > 1000
    assert not list(ran_study.glob("*.html"))  # the plot asked for, nothing else


@pytest.mark.slow
@pytest.mark.ray
def test_show_pareto_export_and_studies_read_the_stored_study(
    ran_study: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ran_study)
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["show", "toy"]) == 0
    shown = capsys.readouterr().out
    assert "6 finished" in shown and "loss" in shown
    assert main(["pareto", "toy", "--plot", "again.html"]) == 0
    assert "plotly" in (ran_study / "again.html").read_text()[:5000].lower()
    assert not (ran_study / "again.png").exists()  # only what was asked
    capsys.readouterr()
    assert main(["export", "toy", "0", "-o", "trial0.json"]) == 0
    exported = json.loads((ran_study / "trial0.json").read_text())
    assert exported["trial"] == 0 and set(exported["params"]) == {"x", "kind"}
    assert exported["config"]["kind"] in ("a", "b")
    assert main(["studies"]) == 0
    listed = capsys.readouterr().out
    assert "zdt" in listed and "digits_mlp" in listed and "toy" in listed


@pytest.mark.slow
@pytest.mark.ray
def test_running_again_resumes_and_runs_only_what_is_missing(ran_study: Path) -> None:
    result = symtune("run", "toy_study.py", "--trials", "8", "--no-progress", cwd=ran_study)
    assert result.returncode == 0, result.stderr[-3000:]
    assert not list(ran_study.glob("toy-pareto.*"))  # no plot without --plot
    shown = symtune("show", "toy", cwd=ran_study)
    assert "8 finished" in shown.stdout


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["run", "missing_study.py"], "does not exist"),
        (["run", "no_study.py"], "must define `STUDY = StudySpec(...)`"),
        (["run", "no_such_builtin"], "unknown study 'no_such_builtin'"),
        (["run", "zdt", "--trials", "0"], "--trials must be > 0"),
        (["run", "zdt", "--plot", "front.svg"], "--plot must end in .html or .png"),
        (["show", "toy", "--storage", "nosuchdb://x"], "nosuchdb://x"),
        (["show", "never_created"], "never_created"),
        (["export", "toy", "99"], "no trial 99"),
    ],
)
def test_user_errors_exit_2_with_one_line_and_no_traceback(
    args: list[str], reason: str, tmp_path: Path
) -> None:
    (tmp_path / "no_study.py").write_text("X = 1\n")
    if args[0] in ("export",):
        (tmp_path / "toy_study.py").write_text(STUDY_FILE)
        from symtune.search._spec import load_spec

        here = Path.cwd()
        os.chdir(tmp_path)
        try:
            load_spec("toy_study.py").create()
        finally:
            os.chdir(here)
    result = symtune(*args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("symtune: error:"), result.stderr
    assert reason in lines[0]


@pytest.mark.slow
def test_a_ray_address_that_does_not_answer_is_a_user_error(tmp_path: Path) -> None:
    result = symtune("run", "zdt", "--trials", "2", "--address", "127.0.0.1:1", cwd=tmp_path)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert "127.0.0.1:1" in result.stderr


def test_help_is_fast_to_import() -> None:
    code = (
        "import sys, symtune.search.cli\nsys.exit('ray' in sys.modules or 'torch' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
