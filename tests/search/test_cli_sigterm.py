"""SIGTERM to a running ``symtune run`` (a batch system preempting the driver, ``kill``,
``docker stop``) is handled like Ctrl-C: in-flight trials stored FAIL "interrupted", exit
code 143 and one line. Before, Ray's failure-signal handler dumped a native stack and the
process ended with exit code 1."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from optuna.trial import TrialState

from symtune.search import load_study

STUDY_FILE = """
import time
from pathlib import Path
from symtune.search import StudySpec
from symtune.spaces import floatv

def objective(config, trial):
    Path(__file__).with_name("started").touch()
    time.sleep(30)
    return config["x"]

STUDY = StudySpec(name="long", space={"x": floatv(0.0, 1.0)}, objective=objective, n_trials=4)
"""


@pytest.mark.slow
def test_sigterm_stops_a_run_like_ctrl_c_with_exit_code_143(tmp_path: Path) -> None:
    (tmp_path / "long_study.py").write_text(STUDY_FILE)
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    driver = subprocess.Popen(
        [sys.executable, "-m", "symtune.search.cli", "run", "long_study.py", "--no-progress"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not (tmp_path / "started").exists():
        assert driver.poll() is None, driver.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "no trial started"
        time.sleep(0.1)
    time.sleep(0.5)
    driver.send_signal(signal.SIGTERM)
    _, stderr = driver.communicate(timeout=120)
    assert driver.returncode == 143, stderr[-3000:]
    assert "terminated (SIGTERM); finished trials are kept" in stderr
    assert "SIGTERM received" not in stderr and "Traceback" not in stderr
    trials = load_study("long", storage=str(tmp_path / "symtune.journal")).trials
    assert trials and all(t.state == TrialState.FAIL for t in trials)
    assert {t.user_attrs["fail_kind"] for t in trials} == {"interrupted"}
