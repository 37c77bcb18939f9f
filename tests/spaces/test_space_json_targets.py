"""JSON of spaces whose targets live in ``__main__`` (a script, a notebook), and the portability
check that ``create_study`` uses to warn about them."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from tests_support_models import Block, make_block

from symtune.spaces import Space, SpaceError, intv, oneof, symbolic


@pytest.fixture
def main_block(monkeypatch):
    """A symbolic class defined in ``__main__``, as a script or notebook defines it."""

    class MainBlock:
        def __init__(self, width: int) -> None:
            self.width = width

    MainBlock.__module__ = "__main__"
    MainBlock.__qualname__ = "MainBlock"
    wrapped = symbolic(MainBlock)
    monkeypatch.setattr(sys.modules["__main__"], "MainBlock", wrapped, raising=False)
    return wrapped


def test_a_space_over_a_main_target_round_trips_in_the_same_process(main_block):
    space = Space({"model": {"blocks": [main_block(width=oneof([8, 16]))]}, "n": intv(1, 3)})
    again = Space.from_json(space.to_json())
    assert again == space
    built = again.materialize({"model.blocks[0].width": 16, "n": 2})
    assert isinstance(built["model"]["blocks"][0], main_block.target)
    assert built["model"]["blocks"][0].width == 16


def test_from_json_without_the_main_target_names_it_and_its_path(main_block, monkeypatch):
    text = Space({"model": {"blocks": [main_block(width=oneof([8, 16]))]}}).to_json()
    monkeypatch.delattr(sys.modules["__main__"], "MainBlock")
    with pytest.raises(SpaceError, match=r"`__main__\.MainBlock`.*\(at model\.blocks\[0\]\)"):
        Space.from_json(text)


def test_another_process_cannot_read_a_script_s_space_and_is_told_why(tmp_path):
    script = tmp_path / "study_script.py"
    script.write_text(
        textwrap.dedent(
            """
            import sys
            from symtune.spaces import Space, oneof, symbolic

            @symbolic
            class Block:
                def __init__(self, width):
                    self.width = width

            space = Space({"net": [Block(width=oneof([8, 16]))]})
            assert Space.from_json(space.to_json()) == space  # this process reads it back
            print(space.unportable_targets())
            sys.stderr.write(space.to_json())
            """
        )
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == "{'__main__.Block': 'net[0]'}"
    with pytest.raises(SpaceError, match=r"`__main__\.Block`.*move it into .*\(at net\[0\]\)"):
        Space.from_json(done.stderr)


def test_unportable_targets_lists_main_local_and_lambda_targets(main_block):
    def local_fn(x: int) -> int:
        return x

    space = Space(
        {
            "a": Block(width=oneof([1, 2])),
            "b": oneof([make_block, local_fn]),
            "c": [main_block(width=3)],
            "d": symbolic(lambda x: x)(intv(1, 2)),
        }
    )
    found = space.unportable_targets()
    assert found["__main__.MainBlock"] == "c[0]"
    assert found[f"{__name__}.{local_fn.__qualname__}"] == "b[1]"
    assert any("<lambda>" in name and path == "d" for name, path in found.items())
    assert len(found) == 3
    assert Space({"a": Block(width=oneof([1, 2])), "f": make_block}).unportable_targets() == {}
