"""CLI details a new user met (issue 9, item 20): plots written only where asked, a flag error
reported against its subcommand, `studies` counting finished trials, log axes for metrics that
span decades. No Ray: studies are filled with `optuna.trial.create_trial`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from symtune.search import Study, create_study
from symtune.search._results import _matplotlib_figure, _plotly_figure
from symtune.search.cli import main
from symtune.spaces import floatv

optuna.logging.set_verbosity(optuna.logging.WARNING)

STUDY_FILE = """
from symtune.search import StudySpec
from symtune.spaces import Space, floatv


def objective(config, trial):
    return (config["x"] - 0.3) ** 2, 10 ** (6 * config["x"])


STUDY = StudySpec(
    name="sized",
    space=Space({"x": floatv(0.0, 1.0)}),
    objective=objective,
    directions=("minimize", "minimize"),
    metric_names=("error", "params"),
    n_trials=4,
)
"""


def objective(config: dict[str, Any], trial: Any) -> tuple[float, float]:
    return (config["x"] - 0.3) ** 2, 10 ** (6 * config["x"])


def add_trials(study: Study, xs: list[float], state: TrialState = TrialState.COMPLETE) -> None:
    """Store finished trials of ``objective`` without running anything."""
    for x in xs:
        values = list(objective({"x": x}, None)) if state == TrialState.COMPLETE else None
        values = values[: len(study.directions)] if values else None
        study.optuna_study.add_trial(
            create_trial(
                params={"x": x},
                distributions={"x": FloatDistribution(0.0, 1.0)},
                values=values,
                state=state,
            )
        )


def sized_study(tmp_path: Path, name: str = "sized") -> Study:
    study = create_study(
        {"x": floatv(0.0, 1.0)},
        objective,
        name=name,
        directions=("minimize", "minimize"),
        metric_names=("error", "params"),
        storage=str(tmp_path / "s.journal"),
    )
    add_trials(study, [0.1, 0.3, 0.5, 0.9])
    return study


# -- plots are written only where asked ----------------------------------------------------------


def test_pareto_writes_only_the_plot_it_was_asked_for(tmp_path: Path) -> None:
    sized_study(tmp_path)
    storage = str(tmp_path / "s.journal")
    assert main(["pareto", "sized", "--storage", storage, "--plot", str(tmp_path / "x.html")]) == 0
    assert (tmp_path / "x.html").exists()
    assert not (tmp_path / "x.png").exists()
    assert main(["pareto", "sized", "--storage", storage, "--plot", str(tmp_path / "y.png")]) == 0
    assert (tmp_path / "y.png").stat().st_size > 1000 and not (tmp_path / "y.html").exists()


def fake_optimize(self: Study, n_trials: int | None = None, **kwargs: Any) -> None:
    add_trials(self, [0.2, 0.4, 0.8][: n_trials or 3])


def test_run_writes_a_plot_only_with_plot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "sized_study.py").write_text(STUDY_FILE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(Study, "optimize", fake_optimize)  # no Ray: trials appear at once
    before = set(tmp_path.iterdir())
    assert main(["run", "sized_study.py", "--no-progress", "--trials", "3"]) == 0
    written = {p.name for p in set(tmp_path.iterdir()) - before}
    assert not [name for name in written if name.endswith((".html", ".png"))], written
    assert "plot written" not in capsys.readouterr().out
    assert main(["run", "sized_study.py", "--no-progress", "--plot", "front.html"]) == 0
    assert (tmp_path / "front.html").exists() and not (tmp_path / "front.png").exists()
    assert "plot written to front.html" in capsys.readouterr().out


# -- a bad flag is reported against its subcommand -----------------------------------------------


def test_an_unknown_flag_of_run_shows_runs_usage(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["run", "f.py", "--bogus"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "usage: symtune run " in err and "--trials" in err  # run's usage, not the top level
    assert err.strip().splitlines()[-1] == "symtune run: error: unrecognized arguments: --bogus"


def test_an_unknown_flag_of_another_subcommand_names_it(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["show", "toy", "--bogus", "1"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1] == "symtune show: error: unrecognized arguments: --bogus 1"


# -- `studies` counts finished trials ------------------------------------------------------------


def test_studies_counts_finished_trials_not_infrastructure_failures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    study = sized_study(tmp_path, name="counted")  # 4 complete
    add_trials(study, [0.6], state=TrialState.PRUNED)
    for kind in ("worker died", "interrupted", "stale", "exception"):
        study.optuna_study.add_trial(
            create_trial(
                params={"x": 0.7},
                distributions={"x": FloatDistribution(0.0, 1.0)},
                state=TrialState.FAIL,
                user_attrs={"fail_kind": kind},
            )
        )
    assert study.counts()["finished"] == 6  # 4 complete, 1 pruned, 1 objective failure
    assert main(["studies", "--storage", str(tmp_path / "s.journal")]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if "counted" in line)
    cells = [cell.strip() for cell in re.split(r"[│|]", row) if cell.strip()]
    assert cells[:2] == ["counted", "6"], row
    assert "finished" in out


# -- log axes for metrics that span decades ------------------------------------------------------


def test_a_metric_spanning_decades_gets_a_log_axis_in_html_and_png(tmp_path: Path) -> None:
    study = sized_study(tmp_path)  # params from 10**0.6 to 10**5.4; error within one decade
    names = ["error", "params"]
    figure = _plotly_figure(study.optuna_study, names)
    assert figure.layout.yaxis.type == "log"
    assert figure.layout.xaxis.type in (None, "linear", "-")
    axes = _matplotlib_figure(study.optuna_study, names).axes[0]
    assert axes.get_yscale() == "log" and axes.get_xscale() == "linear"


def test_a_single_objective_spanning_decades_gets_a_log_value_axis(tmp_path: Path) -> None:
    study = create_study(
        {"x": floatv(0.0, 1.0)},
        lambda config, trial: 0.0,
        name="one",
        storage=str(tmp_path / "s.journal"),
    )
    for x, value in ((0.1, 1e-4), (0.2, 3e-2), (0.3, 2.0)):
        study.optuna_study.add_trial(
            create_trial(
                params={"x": x}, distributions={"x": FloatDistribution(0.0, 1.0)}, value=value
            )
        )
    assert _plotly_figure(study.optuna_study, ["loss"]).layout.yaxis.type == "log"
    assert _matplotlib_figure(study.optuna_study, ["loss"]).axes[0].get_yscale() == "log"


@pytest.mark.parametrize("values", [(-1.0, 1000.0), (1.0, 50.0), (0.0, 1e6)])
def test_metrics_that_are_narrow_or_not_positive_keep_a_linear_axis(
    tmp_path: Path, values: tuple[float, float]
) -> None:
    study = create_study(
        {"x": floatv(0.0, 1.0)},
        lambda config, trial: 0.0,
        name="linear",
        storage=str(tmp_path / "s.journal"),
    )
    for x, value in zip((0.1, 0.2), values, strict=True):
        study.optuna_study.add_trial(
            create_trial(
                params={"x": x}, distributions={"x": FloatDistribution(0.0, 1.0)}, value=value
            )
        )
    assert _plotly_figure(study.optuna_study, ["loss"]).layout.yaxis.type in (None, "linear", "-")
    assert _matplotlib_figure(study.optuna_study, ["loss"]).axes[0].get_yscale() == "linear"


# -- the dashboard ------------------------------------------------------------------------------


@pytest.mark.parametrize(("host", "warned"), [("127.0.0.1", False), ("0.0.0.0", True)])
def test_a_dashboard_beyond_loopback_is_warned_about(
    host: str,
    warned: bool,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    optuna_dashboard = pytest.importorskip("optuna_dashboard")
    served: list[tuple[str, int]] = []
    monkeypatch.setattr(
        optuna_dashboard, "run_server", lambda storage, host, port: served.append((host, port))
    )
    sized_study(tmp_path)
    storage = str(tmp_path / "s.journal")
    assert main(["dashboard", "--storage", storage, "--host", host, "--port", "8099"]) == 0
    assert served == [(host, 8099)]
    out = " ".join(capsys.readouterr().out.split())
    assert ("no authentication" in out) is warned


def test_three_objectives_get_a_log_axis_in_the_html_scene() -> None:
    study = optuna.create_study(directions=["minimize"] * 3)
    for i in range(1, 6):
        study.tell(study.ask(), [i * 0.1, 10.0**i, -i])
    scene = _plotly_figure(study, ["error", "params", "margin"]).layout.scene
    assert scene.yaxis.type == "log"
    assert scene.xaxis.type in (None, "linear", "-") and scene.zaxis.type in (None, "linear", "-")
    assert _matplotlib_figure(study, ["error", "params", "margin"]) is not None  # 3-D stays linear
