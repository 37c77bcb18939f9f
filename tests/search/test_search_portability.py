"""A space whose classes live beside the running script warns that it is not portable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

MODELS = """
class WineNet:
    def __init__(self, width):
        self.width = width
"""

RUN_API = """
from models import WineNet
from symtune.search import create_study
from symtune.spaces import floatv, oneof, symbolic


def objective(config, trial):
    return config["x"]


create_study(
    {"x": floatv(0.0, 1.0), "net": symbolic(WineNet)(width=oneof([8, 16]))},
    objective,
    name="wine",
    storage="s.journal",
)
"""

LOAD = """
from symtune.search import load_study

study = load_study("wine", "JOURNAL")
print("space:", study.space)
"""

STUDY_FILE = """
from models import WineNet
from symtune.search import StudySpec
from symtune.spaces import Space, floatv, oneof, symbolic


def objective(config, trial):
    return config["x"]


STUDY = StudySpec(
    name="wine",
    space=Space({"x": floatv(0.0, 1.0), "net": symbolic(WineNet)(width=oneof([8, 16]))}),
    objective=objective,
)
"""

RUN_CLI = """
import sys
from symtune.search import Study
from symtune.search.cli import main

Study.optimize = lambda self, *a, **k: None  # no Ray: the warning comes at create_study
sys.exit(main(["run", "study.py", "--storage", "s.journal", "--no-progress"]))
"""


def python(
    code: str | None, *args: str, cwd: Path, pythonpath: str | None = None
) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, *(["-c", code] if code is not None else []), *args]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if pythonpath is not None:
        env["PYTHONPATH"] = pythonpath
    return subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, env=env, timeout=120, check=False
    )


def test_a_class_beside_the_script_warns_and_another_folder_has_no_space(tmp_path: Path) -> None:
    project = tmp_path / "x"
    project.mkdir()
    (project / "models.py").write_text(MODELS)
    (project / "run_api.py").write_text(RUN_API)
    ran = python(None, "run_api.py", cwd=project)
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert "SpaceNotPortableWarning" in ran.stderr
    assert "models.WineNet (from" in ran.stderr and "the script's folder" in ran.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    loaded = python(LOAD.replace("JOURNAL", str(project / "s.journal")), cwd=elsewhere)
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    assert "space: None" in loaded.stdout  # what the warning said would happen


def test_a_script_folder_on_pythonpath_is_portable(tmp_path: Path) -> None:
    (tmp_path / "models.py").write_text(MODELS)
    (tmp_path / "run_api.py").write_text(RUN_API)
    ran = python(None, "run_api.py", cwd=tmp_path, pythonpath=str(tmp_path))
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert "SpaceNotPortableWarning" not in ran.stderr  # any process with that path has it


def test_the_cli_prints_the_warning_as_one_line(tmp_path: Path) -> None:
    (tmp_path / "models.py").write_text(MODELS)
    (tmp_path / "study.py").write_text(STUDY_FILE)
    ran = python(RUN_CLI, cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr[-3000:]
    lines = [line for line in ran.stderr.splitlines() if "WineNet" in line]
    assert len(lines) == 1 and lines[0].startswith("symtune: warning: study 'wine': "), lines
    assert "SpaceNotPortableWarning" not in ran.stderr and "warnings.warn" not in ran.stderr
