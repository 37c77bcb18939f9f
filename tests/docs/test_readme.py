"""The README's Python examples run as written, top to bottom, in one namespace."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
SKIP = "<!-- not run by tests -->"


def python_blocks() -> list[str]:
    text = README.read_text()
    blocks = []
    for match in re.finditer(r"(<!-- [^>]* -->\n)?```python\n(.*?)```", text, re.S):
        if match.group(1) and match.group(1).strip() == SKIP:
            continue
        blocks.append(match.group(2))
    return blocks


@pytest.mark.slow
def test_readme_python_examples_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "readme_example"}
    blocks = python_blocks()
    assert blocks, "the README has no Python example"
    for number, block in enumerate(blocks, 1):
        try:
            exec(compile(block, f"README.md python block {number}", "exec"), namespace)
        except Exception as error:  # pragma: no cover - the message is the point
            pytest.fail(f"README python block {number} failed: {type(error).__name__}: {error}")
