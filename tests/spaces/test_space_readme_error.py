"""The README's example of a SpaceError ("Search spaces", **Errors**) is what symtune prints:
the quoted call, run, raises exactly the quoted message, path included."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from symtune.spaces import Space, SpaceError, floatv, intv, oneof

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readmes_error_example_prints_what_it_quotes():
    text = " ".join(README.read_text().split())  # inline code may wrap across lines
    found = re.search(
        r"\*\*Errors\*\*.*?the path: `(.+?)` given `(\.materialize\(.+?\))` raises "
        r"`` (.+?) ``",
        text,
    )
    assert found, "the README's **Errors** item no longer quotes a call and its message"
    space_code, call_code, quoted = found.groups()
    space = eval(space_code, {"Space": Space, "intv": intv, "floatv": floatv, "oneof": oneof})
    with pytest.raises(SpaceError) as info:
        eval("space" + call_code, {"space": space})
    assert str(info.value) == quoted
    assert quoted.endswith("(at model.depth)")
