"""Studies by name: the ``symtune.studies`` entry-point group, built-in and third-party alike."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests_support_cli import run_symtune

from symtune.search import StudySpec
from symtune.search._spec import SpecError, load_spec, registered_studies
from symtune.search.cli import main

BUILT_IN = ("digits_mlp", "digits_supernet", "digits_supernet_predictor", "zdt")

FAKE_MODULE = """
from symtune.search import StudySpec
from symtune.spaces import Space, floatv


def objective(config, trial):
    return (config["x"] - 0.25) ** 2


STUDY = StudySpec(
    name="fake_quadratic",
    space=Space({"x": floatv(0.0, 1.0)}),
    objective=objective,
    metric_names=("loss",),
    description="a third-party quadratic",
    n_trials=3,
    workers=1,
)
"""


def fake_distribution(folder: Path, entry: str = "fake_quadratic = fake_studies:STUDY") -> Path:
    """An installed third-party distribution, ``fake-studies``, registering one study."""
    folder.mkdir()
    (folder / "fake_studies.py").write_text(FAKE_MODULE)
    info = folder / "fake_studies-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-studies\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[symtune.studies]\n{entry}\n")
    return folder


@pytest.fixture
def installed_fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    folder = fake_distribution(tmp_path / "site")
    monkeypatch.syspath_prepend(str(folder))
    yield folder
    sys.modules.pop("fake_studies", None)


def test_every_built_in_study_is_registered_by_symtune_and_loads_by_name() -> None:
    points = {point.name: point for point in registered_studies()}
    assert set(BUILT_IN) <= set(points)
    for name in BUILT_IN:
        assert points[name].value == f"symtune.studies.{name}:STUDY"
        assert points[name].dist is not None and points[name].dist.name == "symtune"
    spec = load_spec("zdt")
    assert isinstance(spec, StudySpec) and spec.name == "zdt"


def test_listing_names_imports_no_study_module() -> None:
    code = (
        "import sys; from symtune.search._spec import registered_studies; "
        "names = [p.name for p in registered_studies()]; "
        "assert 'zdt' in names, names; "
        "assert not [m for m in sys.modules if m.startswith('symtune.studies')]; "
        "assert 'torch' not in sys.modules"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_a_third_party_study_is_listed_with_where_it_comes_from(
    installed_fake: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)  # no stored studies
    assert main(["studies"]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if "fake_quadratic" in line)
    assert "fake-studies" in row and "fake_studies:STUDY" in row
    assert "a third-party quadratic" in row and "loss (min)" in row
    zdt = next(line for line in out.splitlines() if "zdt" in line)
    assert "symtune (symtune.studies.zdt:STUDY)" in zdt


def test_a_third_party_study_loads_by_name(installed_fake: Path) -> None:
    spec = load_spec("fake_quadratic")
    assert spec.name == "fake_quadratic" and spec.description == "a third-party quadratic"


def test_an_unknown_name_lists_the_registered_ones(installed_fake: Path) -> None:
    with pytest.raises(SpecError, match="unknown study 'nope'; registered studies: ") as caught:
        load_spec("nope")
    assert "fake_quadratic" in str(caught.value) and "zdt" in str(caught.value)


def test_a_broken_entry_point_is_listed_with_its_reason_and_refused_by_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = fake_distribution(tmp_path / "site", "broken = fake_studies:NO_SUCH_NAME")
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.chdir(tmp_path)
    try:
        assert main(["studies"]) == 0
        out = capsys.readouterr().out
        assert "broken" in out and "cannot be loaded" in out and "zdt" in out
        assert main(["run", "broken"]) == 2
        err = capsys.readouterr().err
        assert "loading study 'broken' from fake-studies (fake_studies:NO_SUCH_NAME) failed" in err
    finally:
        sys.modules.pop("fake_studies", None)


def test_a_name_registered_twice_is_refused_naming_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    twice = fake_distribution(tmp_path / "site", "zdt = fake_studies:STUDY")
    monkeypatch.syspath_prepend(str(twice))
    with pytest.raises(SpecError, match="'zdt' is registered more than once") as caught:
        load_spec("zdt")
    assert "fake-studies" in str(caught.value) and "symtune (" in str(caught.value)


def test_entry_points_are_read_from_the_group(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []
    real = importlib.metadata.entry_points

    def recording(**kwargs: str) -> Any:
        asked.append(kwargs["group"])
        return real(**kwargs)

    monkeypatch.setattr(importlib.metadata, "entry_points", recording)
    registered_studies()
    assert asked == ["symtune.studies"]


@pytest.mark.slow
@pytest.mark.ray
def test_a_third_party_study_runs_by_name(tmp_path: Path) -> None:
    site = fake_distribution(tmp_path / "site")
    work = tmp_path / "work"
    work.mkdir()
    path = os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])
    env = {"PYTHONPATH": path, "PYTHONWARNINGS": "ignore"}
    result = run_symtune("run", "fake_quadratic", "--no-progress", cwd=work, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "fake_quadratic" in result.stdout and "3 trials" in result.stdout
    shown = run_symtune("show", "fake_quadratic", cwd=work, env=env, timeout=120)
    assert "3 finished" in shown.stdout, shown.stderr[-2000:]
