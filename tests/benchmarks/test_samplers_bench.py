"""benchmarks/samplers.py: its problems' known optima, its figures and its choice (issue 12,
item 5), made small (no study runs here; nothing is timed).

What a reader of the report relies on: the regrets are measured against the problems' true
optima (Hartmann-6's minimiser, the conditional function's floor in the ``tree`` branch), the
hypervolume is the area a front dominates, the sampler clock counts a nested call once, and
the recommended default is the candidate with the best mean rank, compared in ``targets``
with today's default.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import samplers as bench  # noqa: E402
from support.options import parse  # noqa: E402


def test_the_synthetic_optima_are_where_the_report_says() -> None:
    minimiser = (0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573)
    assert bench.hartmann6(minimiser) == pytest.approx(bench.HARTMANN_OPTIMUM, abs=1e-4)
    best = {"kind": "tree", "depth": 7, "rate": 10**-2.5, "c": 0.7}
    assert bench.conditional({"model": best, "shared": 0.3}) == pytest.approx((0.0, 7 / 12))
    floors = [
        {"kind": "linear", "a": 1.5, "b": -2.0},
        {"kind": "net", "width": 64, "layers": 3, "d": 0.2, "e": 0.8},
    ]
    losses = [bench.conditional({"model": m, "shared": 0.3})[0] for m in floors]
    assert losses == pytest.approx([1.0, 0.5])


def test_hypervolume_is_the_dominated_area_inside_the_reference() -> None:
    reference = (4.0, 4.0)
    assert bench.hypervolume([(1.0, 3.0), (3.0, 1.0)], reference) == pytest.approx(5.0)
    assert bench.hypervolume([(1.0, 3.0), (3.0, 1.0), (3.5, 3.5)], reference) == 5.0
    assert bench.hypervolume([(1.0, 1.0), (2.0, 2.0)], reference) == pytest.approx(9.0)
    assert bench.hypervolume([(5.0, 1.0)], reference) == 0.0


def test_the_sampler_clock_counts_a_nested_call_once() -> None:
    class Sampler:
        def before_trial(self) -> None:
            time.sleep(0.01)

        def sample_relative(self) -> None:
            self.sample_independent()

        def sample_independent(self) -> None:
            time.sleep(0.01)

        def infer_relative_search_space(self) -> None: ...

        def after_trial(self) -> None: ...

    sampler = Sampler()
    clock = bench.SamplerClock(sampler)
    sampler.before_trial()
    sampler.sample_relative()
    assert 0.02 <= clock.seconds < 0.04  # the nested sample_independent not counted twice


def _cells(medians: dict[str, float]) -> dict[str, bench.Cell]:
    return {k: bench.Cell([v, v], [1.0, 2.0], [3.0, 3.0]) for k, v in medians.items()}


def test_the_recommendation_is_the_best_mean_rank_and_is_compared_with_today(
    tmp_path: Path,
) -> None:
    one = bench.Problem("p1", bench.FLAT_SPACE, bench.hartmann_objective, 1, False, -1.0)
    two = bench.Problem("p2", bench.FLAT_SPACE, bench.hartmann_objective, 2, False, None, (1, 1))
    pool = bench.candidates(quick=True)
    names = [c.name for c in pool]
    cells = {
        # lower is better; the tie shares rank 1.5
        "p1": _cells(
            {"random": 0.9, "tpe_independent": 0.2, "tpe_multivariate": 0.5, "tpe_group": 0.2}
        ),
        "p2": _cells({n: 0.1 * i for i, n in enumerate(names)}),  # higher is better
    }
    assert bench.ranks(one, cells["p1"]) == {
        "random": 4.0, "tpe_independent": 1.5, "tpe_multivariate": 3.0, "tpe_group": 1.5,
    }  # fmt: skip
    opts = parse("x", ["--quick", "--seeds", "2"], seeds="5", quick_seeds="2")
    report = bench.build_report(opts, [one, two], pool, cells, 30)
    choice = report.figures["choice"]
    assert choice["1"]["recommended"] == "tpe_independent"  # the earlier of the tie
    assert choice["2"]["recommended"] == "nsga2"
    first, second = report.targets
    assert (first["value"], first["target"], first["met"]) == (1.5, 3.0, True)
    assert second["met"]
    json_path, md_path = report.write(tmp_path)
    document = json.loads(json_path.read_text())
    assert document["figures"]["p1"]["random"]["figure"]["n"] == 2
    assert "| p1 |" in md_path.read_text()
