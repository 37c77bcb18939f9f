"""unportable_targets names a module beside the running script, as create_study warns."""

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

SCRIPT = """
from models import WineNet
from symtune.spaces import Space, oneof, symbolic

space = Space({"net": symbolic(WineNet)(width=oneof([8, 16]))})
print("targets:", space.unportable_targets())
print("reasons:", space.unportable_reasons())
"""


def _run(project: Path, pythonpath: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if pythonpath is not None:
        env["PYTHONPATH"] = pythonpath
    ran = subprocess.run(
        [sys.executable, "run.py"],
        cwd=project,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    return ran.stdout


def test_a_module_beside_the_script_is_unportable_with_its_reason(tmp_path: Path) -> None:
    (tmp_path / "models.py").write_text(MODELS)
    (tmp_path / "run.py").write_text(SCRIPT)
    out = _run(tmp_path, None)
    assert "targets: {'models.WineNet': 'net'}" in out
    assert f"reasons: {{'models.WineNet': \"from {tmp_path.resolve()}, the script's folder" in out


def test_a_module_also_on_pythonpath_is_portable(tmp_path: Path) -> None:
    (tmp_path / "models.py").write_text(MODELS)
    (tmp_path / "run.py").write_text(SCRIPT)
    out = _run(tmp_path, str(tmp_path))
    assert "targets: {}" in out
