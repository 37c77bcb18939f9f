"""Sampler defaults chosen by measurement: Optuna's samplers on flat and conditional spaces.

Issue 12, item 5. Every candidate sampler runs every problem of its objective count through
``symtune.search.create_study(...).optimize(n_trials, workers=2)`` (two evaluations in flight,
on one local Ray bound to 127.0.0.1 and started once), once per seed (the sampler's seed; the
objectives are deterministic). Figures per candidate and problem, median and spread over the
seeds: the best value after N trials (one objective: the regret against the known optimum
where there is one), or the hypervolume of the trials' front inside a fixed reference point as
a fraction of the reference box (two objectives); and the driver's sampler time per trial
(``before_trial``, ``infer_relative_search_space``, ``sample_relative``,
``sample_independent`` and ``after_trial``, timed in the driver).

Problems: ``hartmann6`` (flat, one objective, optimum -3.32237), ``conditional`` (a ``oneof``
over three branches, each with its own ``floatv``/``intv`` parameters, plus one shared
parameter; optimum 0 in the ``tree`` branch), ``supernet_error`` (the digits supernet study:
a subnet's validation error with inherited weights), ``zdt1`` (``studies/zdt.py``), the
conditional function against a cost per branch, and ``supernet`` (error against FLOPs). The
supernet is trained here once per run, for fewer epochs than the study's own preparation
(only its scores matter, and they rank subnets). ``digits_mlp`` is left out: a trial trains a
network for seconds, several hundred trials per seed would not fit.

Candidates: ``random``, ``tpe_independent`` (Optuna 5's ``TPESampler()`` for several
objectives), ``tpe_multivariate`` (with the constant liar: Optuna 5's ``TPESampler()`` for one
objective, which is symtune's 1-objective default today), ``tpe_group`` (the same with
``group=True``), ``nsga2`` (several objectives: today's default) and ``gp`` (one objective,
the synthetic problems: a GP study takes ~20 s). Full mode: 5 seeds, 100 trials (about 15
minutes on two idle cores, twice that under a load of 9). ``--quick``: 2 seeds, 30 trials,
no GP and no supernet problems (each supernet study starts two workers that import torch and
build the supernet, 10-25 s a study), so its ranks cover the synthetic problems only.

    python benchmarks/samplers.py [--quick] [--seeds N|list] [--out DIR] [--device cpu|cuda|auto]
"""

from __future__ import annotations

import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from support.options import Options, parse
from support.report import Report, spread, table

from symtune.spaces import Space, floatv, intv, oneof

WORKERS = 2
TRIALS = {"full": 100, "quick": 30}
SUPERNET_EPOCHS = {"full": 40}  # quick mode leaves the supernet problems out

# -- the problems -------------------------------------------------------------------------------

HARTMANN_ALPHA = (1.0, 1.2, 3.0, 3.2)
HARTMANN_A = (
    (10, 3, 17, 3.5, 1.7, 8),
    (0.05, 10, 17, 0.1, 8, 14),
    (3, 3.5, 1.7, 10, 17, 8),
    (17, 8, 0.05, 10, 0.1, 14),
)
HARTMANN_P = (
    (1312, 1696, 5569, 124, 8283, 5886),
    (2329, 4135, 8307, 3736, 1004, 9991),
    (2348, 1451, 3522, 2883, 3047, 6650),
    (4047, 8828, 8732, 5743, 1091, 381),
)
HARTMANN_OPTIMUM = -3.32237


def hartmann6(x: Sequence[float]) -> float:
    """The 6-dimensional Hartmann function on [0, 1]^6 (minimum -3.32237)."""
    total = 0.0
    for alpha, a, p in zip(HARTMANN_ALPHA, HARTMANN_A, HARTMANN_P, strict=True):
        inner = sum(ai * (xi - pi * 1e-4) ** 2 for ai, xi, pi in zip(a, x, p, strict=True))
        total -= alpha * math.exp(-inner)
    return total


def hartmann_objective(config: dict[str, Any], trial: Any) -> float:
    return hartmann6(config["x"])


FLAT_SPACE = Space({"x": [floatv(0.0, 1.0) for _ in range(6)]})

CONDITIONAL_SPACE = Space(
    {
        "model": oneof(
            {
                "linear": {"kind": "linear", "a": floatv(-5.0, 5.0), "b": floatv(-5.0, 5.0)},
                "tree": {
                    "kind": "tree",
                    "depth": intv(1, 12),
                    "rate": floatv(1e-4, 1.0, log=True),
                    "c": floatv(-5.0, 5.0),
                },
                "net": {
                    "kind": "net",
                    "width": intv(8, 512, log=True),
                    "layers": intv(1, 6),
                    "d": floatv(0.0, 1.0),
                    "e": floatv(0.0, 1.0),
                },
            }
        ),
        "shared": floatv(0.0, 1.0),
    }
)
CONDITIONAL_OPTIMUM = 0.0  # tree, depth 7, rate 10^-2.5, c 0.7, shared 0.3


def conditional(config: dict[str, Any]) -> tuple[float, float]:
    """``(loss, cost)`` of a point of :data:`CONDITIONAL_SPACE`.

    Each branch is a bowl with its own floor: ``linear`` 1 (two correlated floats), ``net``
    0.5 (two ints and two correlated floats), ``tree`` 0 (an int, a log-scale float and a
    float); the shared parameter adds ``2 (shared - 0.3)^2``. The cost is 0.1 for ``linear``,
    ``depth / 12`` for ``tree`` and grows with width and layers for ``net`` (in [0, 1]).
    """
    m = config["model"]
    if m["kind"] == "linear":
        u, v = m["a"] - 1.5, m["b"] + 2.0
        loss, cost = 1.0 + (u * u + v * v + u * v) / 10.0, 0.1
    elif m["kind"] == "tree":
        loss = (m["depth"] - 7) ** 2 / 25 + (math.log10(m["rate"]) + 2.5) ** 2 / 4
        loss += (m["c"] - 0.7) ** 2 / 10
        cost = m["depth"] / 12
    else:
        s, t = m["d"] + m["e"] - 1.0, m["d"] - m["e"] + 0.6
        loss = 0.5 + (math.log2(m["width"]) - 6) ** 2 / 9 + (m["layers"] - 3) ** 2 / 9
        loss += 2 * s * s + t * t / 2
        cost = (math.log2(m["width"]) - 3) / 6 * m["layers"] / 6
    return loss + 2 * (config["shared"] - 0.3) ** 2, cost


def conditional_loss(config: dict[str, Any], trial: Any) -> float:
    return conditional(config)[0]


def conditional_both(config: dict[str, Any], trial: Any) -> tuple[float, float]:
    return conditional(config)


def zdt_objective(config: dict[str, Any], trial: Any) -> tuple[float, float]:
    from symtune.studies.zdt import zdt1

    return zdt1(config["x"])


class FirstObjective:
    """A two-objective objective reduced to its first value (picklable)."""

    def __init__(self, inner: Callable[..., Sequence[float]]) -> None:
        self.inner = inner

    def __call__(self, config: Any, trial: Any) -> float:
        return float(self.inner(config, trial)[0])


@dataclass(frozen=True)
class Problem:
    """One problem: its space, objective, objective count and how its figure is read."""

    name: str
    space: Space
    objective: Callable[..., Any]
    n_objectives: int
    conditional: bool
    optimum: float | None = None  # one objective: the figure is the regret against it
    reference: tuple[float, float] | None = None  # two objectives: the hypervolume's

    @property
    def figure(self) -> str:
        if self.n_objectives == 2:
            return "hypervolume / reference box (higher is better)"
        return "regret (lower is better)" if self.optimum is not None else "best (lower)"


def synthetic_problems() -> list[Problem]:
    from symtune.studies.zdt import SPACE as ZDT_SPACE

    return [
        Problem("hartmann6", FLAT_SPACE, hartmann_objective, 1, False, HARTMANN_OPTIMUM),
        Problem("conditional", CONDITIONAL_SPACE, conditional_loss, 1, True, CONDITIONAL_OPTIMUM),
        Problem("zdt1", ZDT_SPACE, zdt_objective, 2, False, reference=(1.1, 10.0)),
        Problem(
            "conditional_cost", CONDITIONAL_SPACE, conditional_both, 2, True, reference=(5.0, 1.1)
        ),
    ]


def supernet_problems(epochs: int) -> list[Problem]:
    """The digits supernet study, its supernet trained here for ``epochs`` (one thread)."""
    from symtune.studies.digits_supernet import SPACE, SubnetObjective, train_digits_supernet

    start = time.perf_counter()
    supernet, _, _ = train_digits_supernet(epochs, progress=False)
    state = {k: v.detach().cpu() for k, v in supernet.state_dict().items()}
    print(f"  supernet trained ({epochs} epochs) in {time.perf_counter() - start:.0f} s")
    objective = SubnetObjective(state, {})
    return [
        Problem("supernet_error", SPACE, FirstObjective(objective), 1, False),
        Problem("supernet", SPACE, objective, 2, False, reference=(1.0, 2_000_000.0)),
    ]


# -- the candidates -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """A sampler: its label, the constructor call shown in the report, and its factory."""

    name: str
    call: str
    make: Callable[[int], Any]
    objectives: tuple[int, ...] = (1, 2)
    skip: tuple[str, ...] = ()  # problems it does not run

    def runs(self, problem: Problem) -> bool:
        return problem.n_objectives in self.objectives and problem.name not in self.skip


def candidates(quick: bool) -> list[Candidate]:
    import optuna

    s = optuna.samplers
    found = [
        Candidate("random", "RandomSampler()", lambda seed: s.RandomSampler(seed=seed)),
        Candidate(
            "tpe_independent",
            "TPESampler(multivariate=False)",
            lambda seed: s.TPESampler(multivariate=False, seed=seed),
        ),
        Candidate(
            "tpe_multivariate",
            "TPESampler(multivariate=True, constant_liar=True)",
            lambda seed: s.TPESampler(multivariate=True, constant_liar=True, seed=seed),
        ),
        Candidate(
            "tpe_group",
            "TPESampler(multivariate=True, group=True, constant_liar=True)",
            lambda seed: s.TPESampler(multivariate=True, group=True, constant_liar=True, seed=seed),
        ),
        Candidate("nsga2", "NSGAIISampler()", lambda seed: s.NSGAIISampler(seed=seed), (2,)),
    ]
    if not quick:
        found.append(
            Candidate(
                "gp",
                "GPSampler()",
                lambda seed: s.GPSampler(seed=seed, warn_independent_sampling=False),
                (1,),
                skip=("supernet_error",),  # the budget: 5 more supernet studies of ~25 s
            )
        )
    return found


# Today's defaults (``search/_study.py``): TPESampler(seed=seed), which in Optuna 5 is the
# multivariate TPE with the constant liar for one objective, and NSGA-II for several.
CURRENT = {1: "tpe_multivariate", 2: "nsga2"}

# -- measuring ----------------------------------------------------------------------------------

SAMPLER_METHODS = (
    "before_trial",
    "infer_relative_search_space",
    "sample_relative",
    "sample_independent",
    "after_trial",
)


class SamplerClock:
    """Times the sampler's calls made by the driver (outermost calls only, so a method calling
    another is counted once)."""

    def __init__(self, sampler: Any) -> None:
        self.seconds = 0.0
        self._depth = 0
        for name in SAMPLER_METHODS:
            setattr(sampler, name, self._timed(getattr(sampler, name)))

    def _timed(self, method: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            self._depth += 1
            start = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                self._depth -= 1
                if self._depth == 0:
                    self.seconds += time.perf_counter() - start

        return timed


def hypervolume(points: Sequence[Sequence[float]], reference: Sequence[float]) -> float:
    """The area ``points`` dominate inside ``reference`` (two objectives, both minimised)."""
    inside = sorted((p[0], p[1]) for p in points if p[0] < reference[0] and p[1] < reference[1])
    area, best = 0.0, reference[1]
    for i, (x, y) in enumerate(inside):
        best = min(best, y)
        right = inside[i + 1][0] if i + 1 < len(inside) else reference[0]
        area += (right - x) * (reference[1] - best)
    return area


def score(problem: Problem, values: Sequence[Sequence[float]]) -> float:
    """The problem's figure over the trials' values (see :attr:`Problem.figure`)."""
    if problem.n_objectives == 2:
        assert problem.reference is not None
        r1, r2 = problem.reference
        return hypervolume(values, problem.reference) / (r1 * r2)
    best = min(v[0] for v in values)
    return best - problem.optimum if problem.optimum is not None else best


@dataclass
class Cell:
    """One candidate on one problem: a figure, a sampler time and a wall time per seed."""

    figure: list[float] = field(default_factory=list)
    sampler_ms: list[float] = field(default_factory=list)
    wall_s: list[float] = field(default_factory=list)


def run_one(problem: Problem, candidate: Candidate, seed: int, n: int, root: Path) -> Cell:
    """One study of ``n`` trials; returns its figure, sampler ms per trial and wall time."""
    from symtune.search import create_study

    sampler = candidate.make(seed)
    clock = SamplerClock(sampler)
    study = create_study(
        problem.space,
        problem.objective,
        name=f"{problem.name}-{candidate.name}-{seed}",
        directions=("minimize",) * problem.n_objectives,
        storage=str(root / f"{problem.name}-{candidate.name}-{seed}.journal"),
        sampler=sampler,
        load_if_exists=False,
    )
    start = time.perf_counter()
    study.optimize(n, workers=WORKERS)
    wall = time.perf_counter() - start
    values = [t.values for t in study.trials if t.values is not None]
    if len(values) < n:
        raise RuntimeError(f"{problem.name}/{candidate.name} finished {len(values)} of {n}")
    return Cell([score(problem, values)], [clock.seconds / len(values) * 1000], [wall])


def measure(
    problems: Sequence[Problem], pool: Sequence[Candidate], seeds: Sequence[int], n: int
) -> dict[str, dict[str, Cell]]:
    """Every candidate of each problem's objective count on it, once per seed."""
    root = Path(tempfile.mkdtemp(prefix="symtune-samplers-"))
    cells: dict[str, dict[str, Cell]] = {}
    for problem in problems:
        row = cells.setdefault(problem.name, {})
        for candidate in pool:
            if not candidate.runs(problem):
                continue
            cell = row.setdefault(candidate.name, Cell())
            for seed in seeds:
                one = run_one(problem, candidate, seed, n, root)
                cell.figure += one.figure
                cell.sampler_ms += one.sampler_ms
                cell.wall_s += one.wall_s
            print(f"  {problem.name:<17} {candidate.name:<17} median "
                  f"{statistics.median(cell.figure):.4g}, sampler "
                  f"{statistics.median(cell.sampler_ms):.1f} ms/trial, "
                  f"{sum(cell.wall_s):.0f} s", flush=True)  # fmt: skip
    return cells


# -- choosing and reporting ---------------------------------------------------------------------


def ranks(problem: Problem, row: dict[str, Cell]) -> dict[str, float]:
    """Each candidate's rank on the problem (1 best; ties share the mean place): the run of
    each seed ranked against the other candidates' runs of that seed, averaged over seeds
    (every run counts, not only the medians, which on a problem where all candidates come
    within the seeds' spread would decide by noise)."""
    higher = problem.n_objectives == 2
    seeds = min(len(c.figure) for c in row.values())
    out: dict[str, list[float]] = {name: [] for name in row}
    for s in range(seeds):
        ordered = sorted((c.figure[s] for c in row.values()), reverse=higher)
        for name, c in row.items():
            places = [i + 1 for i, v in enumerate(ordered) if v == c.figure[s]]
            out[name].append(statistics.fmean(places))
    return {name: statistics.fmean(r) for name, r in out.items()}


def mean_ranks(
    problems: Sequence[Problem], cells: dict[str, dict[str, Cell]], n_objectives: int
) -> dict[str, float]:
    """Each candidate's mean rank over the problems with ``n_objectives`` objectives."""
    per: dict[str, list[float]] = {}
    for problem in problems:
        if problem.n_objectives != n_objectives:
            continue
        for name, r in ranks(problem, cells[problem.name]).items():
            per.setdefault(name, []).append(r)
    return {name: statistics.fmean(rs) for name, rs in per.items()}


def recommend(mean: dict[str, float]) -> str:
    """The candidate with the best mean rank (ties: the earlier candidate, random never)."""
    usable = {k: v for k, v in mean.items() if k != "random"}
    return min(usable, key=lambda k: usable[k])


def median_spread(values: Sequence[float]) -> str:
    """``median [min, max]`` with 3 significant digits."""
    if len(values) == 1:
        return f"{values[0]:.3g} [n/a]"
    return f"{statistics.median(values):.3g} [{min(values):.3g}, {max(values):.3g}]"


def build_report(
    opts: Options,
    problems: Sequence[Problem],
    pool: Sequence[Candidate],
    cells: dict[str, dict[str, Cell]],
    n: int,
    wall_s: float | None = None,
) -> Report:
    report = Report(
        name="samplers",
        mode="quick" if opts.quick else "full",
        description=(
            f"Optuna samplers through symtune.search, {n} trials per study, {WORKERS} "
            f"workers, seeds {', '.join(map(str, opts.seeds))}: the best value (regret) or the "
            "hypervolume (fraction of the reference box), median [min, max] over seeds, and the "
            "driver's sampler time per trial."
        ),
        setup={
            "trials": n,
            "workers": WORKERS,
            "seeds": list(opts.seeds),
            "supernet_epochs": SUPERNET_EPOCHS.get(opts.mode),
            "candidates": {c.name: c.call for c in pool},
            "problems": {
                p.name: {
                    "objectives": p.n_objectives,
                    "conditional": p.conditional,
                    "figure": p.figure,
                    "optimum": p.optimum,
                    "reference": p.reference,
                }
                for p in problems
            },
            "current_defaults": {str(k): v for k, v in CURRENT.items()},
            "wall_s": wall_s,
            "load_average": os.getloadavg()[2],
        },
        repeats={c.name: len(opts.seeds) for c in pool},
        device=opts.device,
    )
    report.figures = {
        p.name: {
            name: {
                "figure": spread(c.figure),
                "median": statistics.median(c.figure),
                "sampler_ms_per_trial": spread(c.sampler_ms),
                "wall_s": spread(c.wall_s),
            }
            for name, c in cells[p.name].items()
        }
        for p in problems
    }
    choose(report, problems, pool, cells)
    report.markdown += markdown(report, problems, pool, cells)
    return report


def choose(
    report: Report,
    problems: Sequence[Problem],
    pool: Sequence[Candidate],
    cells: dict[str, dict[str, Cell]],
) -> None:
    """Mean ranks, the recommended default per objective count, and the comparison with
    today's default as a ``targets`` entry (no numeric target: recommended <= current)."""
    calls = {c.name: c.call for c in pool}
    chosen: dict[str, Any] = {}
    for k in (1, 2):
        mean = mean_ranks(problems, cells, k)
        best = recommend(mean)
        chosen[str(k)] = {"mean_ranks": mean, "recommended": best, "call": calls[best]}
        report.target(
            f"{k} objective{'s' if k > 1 else ''}: mean rank of the recommended {best} "
            f"(<= that of today's {CURRENT[k]})",
            mean[best],
            mean[CURRENT[k]],
            "lower",
        )
    report.figures["choice"] = chosen


def markdown(
    report: Report,
    problems: Sequence[Problem],
    pool: Sequence[Candidate],
    cells: dict[str, dict[str, Cell]],
) -> list[str]:
    names = [c.name for c in pool]
    md = ["## Figures: median [min, max] over seeds", ""]
    md += table(
        ["problem", "figure", *names],
        [
            [p.name, p.figure, *(median_spread(cells[p.name][c].figure)
                                 if c in cells[p.name] else "-" for c in names)]
            for p in problems
        ],
    )  # fmt: skip
    md += ["", "## Driver's sampler time per trial (ms, median over seeds)", ""]
    md += table(
        ["problem", *names],
        [
            [p.name, *(statistics.median(cells[p.name][c].sampler_ms)
                       if c in cells[p.name] else "-" for c in names)]
            for p in problems
        ],
    )  # fmt: skip
    choice = report.figures["choice"]
    md += ["", "## Mean rank (1 is best; each seed's run ranked among that seed's runs)", ""]
    md += table(
        ["objectives", *names, "recommended"],
        [
            [k, *(choice[k]["mean_ranks"].get(c, "-") for c in names), choice[k]["call"]]
            for k in ("1", "2")
        ],
    )
    md += ["", "Candidates: " + "; ".join(f"`{c.name}` = `{c.call}`" for c in pool) + ". "
           "Today's defaults are `TPESampler(seed=seed)` for one objective (in Optuna 5 the "
           "multivariate TPE with the constant liar, `tpe_multivariate`) and `NSGAIISampler` "
           "for several. Every candidate is seeded with the run's seed. The recommended "
           "default is the candidate (random excluded) with the best mean rank over the "
           "problems of its objective count (a problem's rank: each seed's run ranked among "
           "the candidates' runs of that seed, averaged over the seeds); a candidate that "
           "skips a problem (`gp` on the supernet) is ranked over those it ran. The sampler "
           "time is the driver's time in the sampler's methods per trial, on a shared "
           "2-core machine (under load it reads high)."]  # fmt: skip
    if report.setup.get("wall_s"):
        md += [
            "",
            f"This run took {report.setup['wall_s'] / 60:.1f} minutes; the machine's "
            f"15-minute load average at its end: {report.setup['load_average']:.1f}.",
        ]
    return md


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, write the report, print one summary line."""
    from overhead import start_ray

    opts = parse((__doc__ or "").splitlines()[0], argv, seeds="5", quick_seeds="2")
    n = TRIALS[opts.mode]
    _pickle_by_value()
    start_ray()
    import optuna
    import ray

    optuna.logging.set_verbosity(optuna.logging.ERROR)

    start = time.perf_counter()
    try:
        problems = synthetic_problems()
        if not opts.quick:
            problems += supernet_problems(SUPERNET_EPOCHS["full"])
        pool = candidates(opts.quick)
        cells = measure(problems, pool, opts.seeds, n)
    finally:
        ray.shutdown()
    report = build_report(opts, problems, pool, cells, n, time.perf_counter() - start)
    json_path, _ = report.write(opts.out)
    choice = report.figures["choice"]
    print(
        f"samplers ({opts.mode}, {len(opts.seeds)} seeds, {n} trials): recommended "
        f"{choice['1']['call']} for 1 objective, {choice['2']['call']} for several -> "
        f"{json_path}"
    )
    return report.figures


def _pickle_by_value() -> None:
    """Ray's workers cannot import this script: send its objectives by value."""
    if __name__ != "__main__":
        from ray import cloudpickle

        cloudpickle.register_pickle_by_value(sys.modules[__name__])


if __name__ == "__main__":
    main()
