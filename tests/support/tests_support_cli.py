"""Running the ``symtune`` command line in a fresh process, as a user's shell would."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path


def run_symtune(
    *args: str, cwd: Path, env: Mapping[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """``symtune ARGS`` (the console script's module) in ``cwd``; ``env`` adds variables.

    Tables are 200 columns wide, so assertions on their text do not depend on the terminal.
    """
    return subprocess.run(
        [sys.executable, "-m", "symtune.search.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
        timeout=timeout,
        check=False,
    )
