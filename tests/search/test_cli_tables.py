"""What `symtune show` and `symtune pareto` print: every column header as `results()` names it
(labels and indices in brackets are not eaten as rich markup, so no two headers read the same),
and cells that look like markup printed as they are. Trials are asked and told by hand: no Ray.
"""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from symtune.search import create_study
from symtune.search.cli import main
from symtune.spaces import Space, floatv, intv, oneof

optuna.logging.set_verbosity(optuna.logging.WARNING)


def space() -> Space:
    return Space(
        {
            "optimizer": oneof(
                {
                    "sgd": {"lr": floatv(1e-3, 1e-1, log=True), "momentum": floatv(0.0, 0.99)},
                    "adam": {"lr": floatv(1e-4, 1e-2, log=True)},
                },
                name="optimizer",
            ),
            "depth": oneof({"one": [intv(1, 4)], "two": [intv(1, 4), intv(1, 4)]}),
            "color": oneof(["[red]", "[bold]blue"]),
        }
    )


def objective(config, trial):  # never run: trials are told by hand
    return 0.0


def header_cells(printed: str) -> list[list[str]]:
    """The header row of each table rich printed (the line after each top border)."""
    lines = printed.splitlines()
    rows = [lines[i + 1] for i, line in enumerate(lines[:-1]) if line.startswith("┏")]
    return [[cell.strip() for cell in row.strip("┃").split("┃")] for row in rows]


@pytest.fixture
def storage(tmp_path: Path) -> str:
    url = str(tmp_path / "headers.journal")
    study = create_study(space(), objective, name="headers", storage=url)
    ostudy = study.optuna_study
    fixed = [
        {"optimizer": "sgd", "depth": "two", "color": "[red]"},
        {"optimizer": "adam", "depth": "one", "color": "[bold]blue"},
    ]
    for params in fixed:
        ostudy.enqueue_trial(params, skip_if_exists=False)
        trial = ostudy.ask()
        space().suggest(trial)
        ostudy.tell(trial, 1.0)
    return url


@pytest.mark.parametrize("command", ["show", "pareto"])
def test_headers_are_distinct_and_as_results_names_them(
    command: str, storage: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from symtune.search import load_study

    params = [c for c in load_study("headers", storage=storage).results().columns if "[" in c]
    assert "optimizer[sgd].lr" in params and "optimizer[adam].lr" in params
    assert main([command, "headers", "--storage", storage]) == 0
    printed = capsys.readouterr().out
    tables = header_cells(printed)
    assert tables
    for headers in tables:
        assert len(headers) == len(set(headers)), headers
        assert [h for h in headers if "[" in h] == params
    assert "[red]" in printed and "[bold]blue" in printed  # cells are not markup either
