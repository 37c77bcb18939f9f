"""The benchmarks' shared harness (``benchmarks/support``) and each benchmark's report path.

What a reader of a report relies on: a spread of one run reads "n/a" (JSON null), never 0;
the overhead's line ``wall = a + b n`` and its growth figure are right on data whose answer is
known; every benchmark takes the same options; each benchmark's report is written into
``--out`` with its repeat counts. Nothing here times anything.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import overhead  # noqa: E402
import stn  # noqa: E402
import storage  # noqa: E402
from support.options import parse, parse_seeds  # noqa: E402
from support.report import Report, fmt_spread, linear_fit, per_trial_ms, spread, table  # noqa: E402

# -- spread: one run has none -------------------------------------------------------------------


def test_a_single_run_has_no_spread_not_a_zero_one() -> None:
    one = spread([2.5])
    assert one["std"] is None
    assert one["n"] == 1
    assert fmt_spread(one, 2) == "2.50 ± n/a"
    assert table(["x", "std"], [["a", one["std"]]])[-1] == "| a | n/a |"
    several = spread([1.0, 3.0])
    assert several["std"] == pytest.approx(2**0.5)
    assert fmt_spread(several, 2) == "2.00 ± 1.41"


def test_a_report_writes_a_single_runs_spread_as_null_and_says_n_a(tmp_path: Path) -> None:
    report = Report(
        name="demo",
        mode="quick",
        description="a demo",
        repeats={"symtune": 1, "peer": 1},
        figures={"x": spread([1.0])},
    )
    report.target("x", 1.0, 2.0, "lower")
    json_path, md_path = report.write(tmp_path / "out")
    document = json.loads(json_path.read_text())
    assert document["figures"]["x"]["std"] is None
    assert document["repeats"] == {"symtune": 1, "peer": 1}
    assert document["targets"][0]["met"] is True
    assert "symtune 1, peer 1" in md_path.read_text()


# -- the fitted line and the growth figure ------------------------------------------------------


def test_linear_fit_recovers_start_up_and_marginal_cost() -> None:
    ns = [500, 1000, 2500, 5000] * 2
    walls = [0.8 + 0.0007 * n for n in ns]
    fit = linear_fit(ns, walls)
    assert fit["a_s"] == pytest.approx(0.8)
    assert fit["b_ms"] == pytest.approx(0.7)
    assert fit["r2"] == pytest.approx(1.0)
    assert fit["residual_rms_s"] == pytest.approx(0.0, abs=1e-9)
    assert per_trial_ms(fit, 1000) == pytest.approx(1.5)  # 0.8 s / 1,000 + 0.7 ms
    assert per_trial_ms(fit, 5000) == pytest.approx(0.86)


def test_linear_fit_reports_a_poor_fit_and_refuses_one_size() -> None:
    ns = [100, 200, 300, 400]
    noisy = linear_fit(ns, [1.0, 3.0, 1.0, 3.0])
    assert noisy["r2"] is not None and noisy["r2"] < 0.5
    assert noisy["residual_rms_s"] > 0.5
    with pytest.raises(ValueError, match="two distinct sizes"):
        linear_fit([100, 100], [1.0, 1.1])


def test_growth_is_read_inside_the_run_so_start_up_does_not_hide_it() -> None:
    # Two runs of 1,000 trials with a 2 s start-up: one at a flat 1 ms a trial, one whose
    # trials cost more the more the study holds (an O(trials) scan).
    flat = [2.0 + 0.001 * k for k in range(1, 1001)]
    growing = [2.0 + 0.001 * k + 2e-6 * k * k for k in range(1, 1001)]
    window, early, late = overhead.growth_windows(1000)
    assert (window, early, late) == (100, 200, 1000)
    assert overhead.local_marginal_ms(flat, early, window) == pytest.approx(1.0)
    assert overhead.local_marginal_ms(flat, late, window) == pytest.approx(1.0)
    ratio = overhead.local_marginal_ms(growing, late, window) / overhead.local_marginal_ms(
        growing, early, window
    )
    assert ratio > 1.5  # what the target catches; wall / n at 1,000 vs 200 would not
    with pytest.raises(ValueError, match="window"):
        overhead.local_marginal_ms(flat[:100], 200, 100)


def test_overhead_report_fits_every_system_and_counts_repeats(tmp_path: Path) -> None:
    sizes = (50, 100, 250, 500)
    seeds = (0, 1)
    walls: dict[str, list[tuple[int, float]]] = {}
    marks: dict[str, list[list[float]]] = {}
    for i, label in enumerate(overhead.SYSTEMS):
        b = 0.001 * (i + 1)
        walls[label] = [(n, 1.0 + b * n + 0.01 * s) for s in seeds for n in sizes]
        marks[label] = [[1.0 + b * k for k in range(1, 501)] for _ in seeds]
    efficiency = {
        "symtune": [0.9, 0.92],
        "ray_tune": [0.7, 0.72],
        "symtune_after_first_result": [0.97, 0.98],
        "symtune_first_result_s": [1.0, 1.1],
    }
    opts = parse("overhead", ["--quick", "--seeds", "2", "--out", str(tmp_path)], seeds="3")
    report = overhead.build_report(opts, sizes, overhead.Measured(walls, marks, efficiency), 80)
    fit = report.figures["fit"]
    assert set(fit) == set(overhead.SYSTEMS)
    assert fit["symtune"]["b_ms"] == pytest.approx(1.0)
    assert fit["symtune"]["a_s"] == pytest.approx(1.005)
    assert fit["symtune"]["growth"]["mean"] == pytest.approx(1.0)
    assert report.repeats["symtune"] == report.repeats["optuna_sqlite"] == 2
    assert report.repeats["ray_tune"] == report.repeats["efficiency ray_tune"] == 2
    names = [t["name"] for t in report.targets]
    assert len(names) == 5 and any("marginal cost" in n for n in names)
    json_path, _ = report.write(opts.out)
    assert json.loads(json_path.read_text())["figures"]["fit"]["ray_tune"]["b_ms"] == (
        pytest.approx(4.0)
    )


# -- the common options -------------------------------------------------------------------------


def test_seeds_take_a_count_or_a_list() -> None:
    assert parse_seeds("3") == (0, 1, 2)
    assert parse_seeds("0,4,7") == (0, 4, 7)
    assert parse_seeds("5,") == (5,)
    opts = parse("x", ["--out", "/tmp/x"], seeds="3", quick_seeds="1")
    assert (opts.seeds, opts.quick, opts.device, str(opts.out)) == (
        (0, 1, 2),
        False,
        "cpu",
        "/tmp/x",
    )
    assert parse("x", ["--quick"], seeds="3", quick_seeds="1").seeds == (0,)


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--seeds", "two"], "--seeds takes a count"),
        (["--seeds", "0"], "--seeds count must be >= 1"),
        (["--seeds", "1,1"], "distinct seeds"),
        (["--device", "tpu"], "invalid choice"),
    ],
)
def test_bad_options_exit_2_with_one_line(
    argv: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        parse("x", argv, seeds="3")
    assert exit_.value.code == 2
    assert says in capsys.readouterr().err.strip().splitlines()[-1]


def test_device_auto_is_the_cpu_without_a_gpu_and_cuda_needs_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        assert parse("x", ["--device", "auto"], seeds="1").device == "cuda"
        return
    assert parse("x", ["--device", "auto"], seeds="1").device == "cpu"
    with pytest.raises(SystemExit) as exit_:
        parse("x", ["--device", "cuda"], seeds="1")
    assert exit_.value.code == 2
    assert "needs a CUDA device" in capsys.readouterr().err


# -- each benchmark's report path, made small ---------------------------------------------------


def test_storage_benchmark_measures_every_storage_as_often(tmp_path: Path) -> None:
    opts = parse("storage", ["--seeds", "0,1", "--out", str(tmp_path)], seeds="3")
    ms = storage.measure((5, 10), opts.seeds, tmp_path)
    assert {"optuna_sqlite", "optuna_journal", "symtune_default", "optuna_memory"} <= set(ms)
    assert all(len(v) == 2 for by_size in ms.values() for v in by_size.values())
    report = storage.build_report(opts, (5, 10), ms)
    json_path, md_path = report.write(opts.out)
    document = json.loads(json_path.read_text())
    assert document["repeats"]["symtune_default"] == document["repeats"]["optuna_sqlite"] == 2
    assert document["figures"]["per_trial_ms"]["symtune_default"]["10"]["n"] == 2
    assert "symtune default (`./symtune.journal`)" in md_path.read_text()


def test_storage_benchmark_reads_n_a_for_one_repeat(tmp_path: Path) -> None:
    opts = parse("storage", ["--seeds", "1", "--out", str(tmp_path)], seeds="3")
    report = storage.build_report(opts, (5,), storage.measure((5,), opts.seeds, tmp_path))
    json_path, md_path = report.write(opts.out)
    assert (
        json.loads(json_path.read_text())["figures"]["per_trial_ms"]["optuna_sqlite"]["5"]["std"]
        is None
    )
    assert "± n/a" in md_path.read_text()


@pytest.mark.slow  # trains 5 tiny STNs and 4 plain MLPs: several seconds on 2 cores
def test_stn_report_goes_through_the_harness(tmp_path: Path) -> None:
    setup = stn.Setup(steps=6, trials=2, eval_points=3, width=16, seeds=(0,))
    figures: dict[str, Any] = stn.run(setup)
    report = stn.build_report(figures, quick=True)
    json_path, md_path = report.write(tmp_path)
    document = json.loads(json_path.read_text())
    assert document["benchmark"] == "stn" and document["mode"] == "quick"
    assert document["repeats"]["tpe"] == document["repeats"]["stn"] == 1
    assert document["figures"]["aggregate"]["stn"]["test_loss"]["std"] is None
    assert len(document["targets"]) == 3
    assert "± n/a" in md_path.read_text()
