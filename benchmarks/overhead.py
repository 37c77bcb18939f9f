"""Framework overhead per trial and parallel efficiency: symtune against its peers.

In one run, on one machine, with 2 workers and Optuna's RandomSampler everywhere, every system
measured the same number of times (one repeat per ``--seeds`` entry, the sampler's seed):

1. overhead on a trivial objective: the wall time of n trials at each of several sizes, for
   symtune with its default storage, plain Optuna with SQLite, plain Optuna in memory, and Ray
   Tune running the same sampler through ``OptunaSearch``. Per system, a least-squares line
   ``wall = a + b n`` over every measured (n, wall) gives the start-up ``a`` and the marginal
   cost ``b`` of one more trial; the overhead per trial at 1,000 and 5,000 trials is
   ``(a + b n) / n`` from that line. Growth is the marginal cost fitted over the larger half of
   the sizes over that of the smaller half: a per-trial cost that grows with the study (an
   O(trials) scan) shows there, where a ratio of averages would hide it behind amortised
   start-up;
2. efficiency on trials of a 100 ms objective: ideal time (trials x 0.1 s / 2 workers) over
   measured time, for symtune and Ray Tune.

Ray is started once (127.0.0.1) and shared by symtune and Ray Tune, so neither pays its start.
Full mode: sizes 500, 1,000, 2,500 and 5,000, 400 efficiency trials, 3 repeats (20 to 25
minutes on 2 cores). ``--quick``: sizes 50 to 500, 80 efficiency trials, 1 repeat (about a
minute; the 1,000 and 5,000 figures are then read off the fit beyond the sizes measured).

    python benchmarks/overhead.py [--quick] [--seeds N|list] [--out DIR] [--device cpu|cuda|auto]
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from support.options import Options, parse
from support.report import Report, fmt_spread, linear_fit, per_trial_ms, spread, table

WORKERS = 2
SLOW_SECONDS = 0.1
SIZES = {"full": (500, 1000, 2500, 5000), "quick": (50, 100, 250, 500)}
SLOW_TRIALS = {"full": 400, "quick": 80}
AT = (1000, 5000)  # the sizes the issue names
SYSTEMS = ("symtune", "optuna_sqlite", "optuna_memory", "ray_tune")


def trivial(config: dict[str, Any], trial: Any) -> float:
    return float(config["x"])


def slow(config: dict[str, Any], trial: Any) -> float:
    time.sleep(SLOW_SECONDS)
    return float(config["x"])


# -- the contenders: each returns the wall time of n trials -------------------------------------


def run_symtune(
    n: int,
    objective: Callable[..., float],
    workdir: Path,
    seed: int = 0,
    marks: list[float] | None = None,
) -> float:
    """Wall time of ``n`` trials; ``marks`` gets each result's time since the start."""
    import optuna

    from symtune.search import create_study
    from symtune.spaces import Space, floatv

    os.chdir(workdir)  # the default storage is an embedded file in the working directory
    study = create_study(
        Space({"x": floatv(0.0, 1.0)}),
        objective,
        name=f"overhead-{n}-{time.monotonic_ns()}",
        sampler=optuna.samplers.RandomSampler(seed=seed),
    )
    times: list[float] = []
    start = time.perf_counter()
    study.optimize(n, workers=WORKERS, callbacks=[lambda *_: times.append(time.perf_counter())])
    elapsed = time.perf_counter() - start
    if marks is not None:
        marks.extend(t - start for t in times)
    finished = study.counts()["complete"]
    if finished != n:
        raise RuntimeError(f"symtune finished {finished} of {n} trials")
    return elapsed


def run_optuna(
    n: int, storage: str | None, seed: int = 0, marks: list[float] | None = None
) -> float:
    """Wall time of ``n`` trials of plain Optuna (``n_jobs=WORKERS`` threads)."""
    import optuna

    study = optuna.create_study(storage=storage, sampler=optuna.samplers.RandomSampler(seed=seed))
    times: list[float] = []
    start = time.perf_counter()
    study.optimize(
        lambda t: t.suggest_float("x", 0.0, 1.0),
        n_trials=n,
        n_jobs=WORKERS,
        callbacks=[lambda *_: times.append(time.perf_counter())],
    )
    elapsed = time.perf_counter() - start
    if marks is not None:
        marks.extend(sorted(t - start for t in times))
    return elapsed


def run_tune(
    n: int, seconds: float, workdir: Path, seed: int = 0, marks: list[float] | None = None
) -> float:
    """Wall time of ``n`` trials of Ray Tune with Optuna's sampler (``OptunaSearch``)."""
    import optuna
    from ray import tune
    from ray.tune.search.optuna import OptunaSearch

    def trainable(config: dict[str, Any]) -> dict[str, float]:
        if seconds:
            time.sleep(seconds)
        return {"value": float(config["x"])}

    times: list[float] = []

    class Marks(tune.Callback):
        def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            times.append(time.perf_counter())

    searcher = OptunaSearch(
        space={"x": optuna.distributions.FloatDistribution(0.0, 1.0)},
        metric="value",
        mode="min",
        sampler=optuna.samplers.RandomSampler(seed=seed),
    )
    tuner = tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(
            search_alg=searcher,
            num_samples=n,
            max_concurrent_trials=WORKERS,
            reuse_actors=True,  # Tune's fastest setting: no new actor per trial
        ),
        run_config=tune.RunConfig(
            storage_path=str(workdir / "tune"), verbose=0, callbacks=[Marks()]
        ),
    )
    start = time.perf_counter()
    results = tuner.fit()
    elapsed = time.perf_counter() - start
    if len(results) != n:
        raise RuntimeError(f"Ray Tune finished {len(results)} of {n} trials")
    if marks is not None:
        marks.extend(t - start for t in times)
    return elapsed


def local_marginal_ms(marks: Sequence[float], end: int, window: int) -> float:
    """The marginal cost (ms a trial) over results ``end - window + 1 .. end`` of one run: the
    slope of a line through their completion times, so no start-up enters it."""
    if end > len(marks) or window < 2 or end - window < 0:
        raise ValueError(
            f"a window of {window} results ending at result {end} needs 2 <= window <= end "
            f"<= {len(marks)} (the results of the run)"
        )
    index = range(end - window + 1, end + 1)
    return float(linear_fit(list(index), list(marks[end - window : end]))["b_ms"])


# -- the benchmark ---------------------------------------------------------------------------------


def start_ray() -> None:
    """One local Ray on 127.0.0.1 with ``WORKERS`` CPUs, quiet."""
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    warnings.filterwarnings("ignore")
    import optuna
    import ray

    from symtune.search import keep_on_loopback

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logging.getLogger("ray").setLevel(logging.ERROR)
    keep_on_loopback()
    ray.init(
        num_cpus=WORKERS,
        _node_ip_address="127.0.0.1",
        include_dashboard=False,
        log_to_driver=False,
        logging_level=logging.ERROR,
    )


Run = Callable[[int, list[float]], float]  # n, completion marks -> wall seconds


def contenders(root: Path, seed: int) -> dict[str, Run]:
    """Each system as ``(n, marks) -> wall seconds of n trivial trials`` (sampler ``seed``)."""

    def sqlite(n: int, marks: list[float]) -> float:
        url = f"sqlite:///{root}/optuna-{n}-{time.monotonic_ns()}.db"
        return run_optuna(n, url, seed, marks)

    return {
        "symtune": lambda n, marks: run_symtune(n, trivial, root, seed, marks),
        "optuna_sqlite": sqlite,
        "optuna_memory": lambda n, marks: run_optuna(n, None, seed, marks),
        "ray_tune": lambda n, marks: run_tune(n, 0.0, root, seed, marks),
    }


@dataclass
class Measured:
    """What one run of the benchmark measured."""

    walls: dict[str, list[tuple[int, float]]]  # per system: (n, wall seconds), every repeat
    marks: dict[str, list[list[float]]]  # per system: completion times of the largest runs
    efficiency: dict[str, list[float]]  # per figure: one value per repeat


def measure(sizes: Sequence[int], seeds: Sequence[int], n_slow: int, root: Path) -> Measured:
    """Every system at every size once per seed, then the efficiency runs once per seed."""
    out = Measured({s: [] for s in SYSTEMS}, {s: [] for s in SYSTEMS}, {})
    ideal = n_slow * SLOW_SECONDS / WORKERS
    for seed in seeds:
        for label, run in contenders(root, seed).items():
            for n in sizes:
                marks: list[float] = []
                out.walls[label].append((n, run(n, marks)))
                if n == max(sizes):
                    out.marks[label].append(marks)
                print(f"  seed {seed} {label:<14} {n:>5} trials: "
                      f"{out.walls[label][-1][1] / n * 1000:.3f} ms/trial", flush=True)  # fmt: skip
        first: list[float] = []
        measured = run_symtune(n_slow, slow, root, seed, first)
        tune = run_tune(n_slow, SLOW_SECONDS, root, seed)
        for name, value in {
            "symtune": ideal / measured,
            "ray_tune": ideal / tune,
            # From the first result on: the workers' start-up (Ray spawning two actor
            # processes) left out, the first trial's own time counted as ideal work.
            "symtune_after_first_result": (ideal - SLOW_SECONDS) / (measured - first[0]),
            "symtune_first_result_s": first[0],
        }.items():
            out.efficiency.setdefault(name, []).append(value)
        print(f"  seed {seed} efficiency: symtune {ideal / measured:.3f}, "
              f"Ray Tune {ideal / tune:.3f}", flush=True)  # fmt: skip
    return out


def growth_windows(largest: int) -> tuple[int, int, int]:
    """``(window, early end, late end)``: the marginal cost is read over the ``window``
    results ending at a fifth of the largest run (1,000 of 5,000) and at its end."""
    return max(2, largest // 10), largest // 5, largest


def fits(measured: Measured, sizes: Sequence[int]) -> dict[str, Any]:
    """Per system: the line over every (size, repeat), its overhead per trial at 1,000 and
    5,000 trials, and the marginal cost early and late inside the largest runs (its growth)."""
    window, early, late = growth_windows(max(sizes))
    out: dict[str, Any] = {}
    for label, pairs in measured.walls.items():
        line = linear_fit([n for n, _ in pairs], [w for _, w in pairs])
        lows = [local_marginal_ms(m, early, window) for m in measured.marks[label]]
        highs = [local_marginal_ms(m, late, window) for m in measured.marks[label]]
        out[label] = {
            **line,
            "per_trial_ms_at": {str(n): per_trial_ms(line, n) for n in AT},
            f"marginal_ms_at_{early}": spread(lows),
            f"marginal_ms_at_{late}": spread(highs),
            "growth": spread([h / lo for h, lo in zip(highs, lows, strict=True)]),
        }
    return out


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, write the report, print one summary line."""
    opts = parse((__doc__ or "").splitlines()[0], argv, seeds="3", quick_seeds="1")
    sizes, n_slow = SIZES[opts.mode], SLOW_TRIALS[opts.mode]
    start_ray()
    import ray

    root = Path(tempfile.mkdtemp(prefix="symtune-overhead-"))
    here = Path.cwd()
    try:
        measured = measure(sizes, opts.seeds, n_slow, root)
    finally:
        os.chdir(here)
        ray.shutdown()
    report = build_report(opts, sizes, measured, n_slow)
    json_path, _ = report.write(opts.out)
    f = report.figures["fit"]
    ours = f["symtune"]["per_trial_ms_at"]
    print(
        f"overhead ({opts.mode}, {len(opts.seeds)} repeats each): symtune a = "
        f"{f['symtune']['a_s']:.2f} s, b = {f['symtune']['b_ms']:.3f} ms/trial; per trial "
        f"{ours['1000']:.2f} ms at 1,000 and {ours['5000']:.2f} ms at 5,000, "
        + ", ".join(f"{t['value']:.2f} ({t['name'].split(':')[0]})" for t in report.targets)
        + f"; targets met {sum(t['met'] for t in report.targets)}/{len(report.targets)} "
        f"-> {json_path}"
    )
    return report.figures


def build_report(
    opts: Options,
    sizes: Sequence[int],
    measured: Measured,
    n_slow: int,
) -> Report:
    report = Report(
        name="overhead",
        mode="quick" if opts.quick else "full",
        description=(
            "Per-trial framework overhead on a trivial objective (a line `wall = a + b n` "
            f"fitted per system over sizes {', '.join(map(str, sizes))}) and efficiency on "
            f"{n_slow} trials of a {SLOW_SECONDS * 1000:.0f} ms objective, {WORKERS} workers, "
            "RandomSampler, one run on one machine (Ray shared by symtune and Ray Tune, "
            "started once)."
        ),
        setup={
            "sizes": list(sizes),
            "efficiency_trials": n_slow,
            "workers": WORKERS,
            "seeds": list(opts.seeds),
            "sizes_read_off_the_fit": list(AT),
        },
        repeats={
            s: len(opts.seeds) for s in (*SYSTEMS, "efficiency symtune", "efficiency ray_tune")
        },
        device=opts.device,
    )
    per_trial = {
        label: {str(n): spread([w / n * 1000 for k, w in pairs if k == n]) for n in sizes}
        for label, pairs in measured.walls.items()
    }
    fit = fits(measured, sizes)
    report.figures = {
        "per_trial_ms": per_trial,
        "fit": fit,
        "walls_s": {label: [list(p) for p in pairs] for label, pairs in measured.walls.items()},
        "efficiency": {k: spread(v) for k, v in measured.efficiency.items()},
    }
    add_targets(report, fit, sizes)
    report.markdown += overhead_markdown(report, sizes, n_slow)
    return report


def add_targets(report: Report, fit: dict[str, Any], sizes: Sequence[int]) -> None:
    """The issue's targets, on the fitted figures (their meaning as before the fit)."""
    ours = fit["symtune"]["per_trial_ms_at"]
    for n in AT:
        ratio = fit["optuna_sqlite"]["per_trial_ms_at"][str(n)] / ours[str(n)]
        report.target(
            f"Optuna+SQLite overhead / symtune overhead, {n} trials (fits)", ratio, 10.0, "higher"
        )
    tune = fit["ray_tune"]["per_trial_ms_at"]["1000"] / ours["1000"]
    report.target("Ray Tune overhead / symtune overhead, 1000 trials (fits)", tune, 1.0, "higher")
    report.target(
        "symtune efficiency (ideal / measured, worker start-up included; mean)",
        report.figures["efficiency"]["symtune"]["mean"],
        0.95,
        "higher",
    )
    _, early, late = growth_windows(max(sizes))
    report.target(
        f"symtune marginal cost per trial at {late} / at {early} trials (inside the "
        f"{late}-trial runs; mean)",
        fit["symtune"]["growth"]["mean"],
        1.5,
        "lower",
    )


def overhead_markdown(report: Report, sizes: Sequence[int], n_slow: int) -> list[str]:
    fit, figures = report.figures["fit"], report.figures
    window, early, late = growth_windows(max(sizes))
    md = ["## Overhead: the fitted line `wall = a + b n` per system", ""]
    md += table(
        ["framework", "start-up a (s)", "marginal b (ms/trial)", "R^2", "residual rms (s)",
         "per trial at 1,000 (ms)", "per trial at 5,000 (ms)", "repeats"],
        [[label, f["a_s"], f["b_ms"], f["r2"], f["residual_rms_s"], f["per_trial_ms_at"]["1000"],
          f["per_trial_ms_at"]["5000"], report.repeats[label]] for label, f in fit.items()],
    )  # fmt: skip
    md += ["", f"## Growth: marginal cost inside the {late}-trial runs (ms/trial; mean ± std)", ""]
    md += table(
        ["framework", f"results {early - window + 1}-{early}",
         f"results {late - window + 1}-{late}", "late / early"],
        [[label, fmt_spread(f[f"marginal_ms_at_{early}"], 3),
          fmt_spread(f[f"marginal_ms_at_{late}"], 3), fmt_spread(f["growth"], 3)]
         for label, f in fit.items()],
    )  # fmt: skip
    md += ["", "## Overhead per trial as measured (wall / trials, ms; mean ± std)", ""]
    md += table(
        ["framework", *(f"{n} trials" for n in sizes)],
        [[label, *(fmt_spread(by_size[str(n)], 3) for n in sizes)]
         for label, by_size in figures["per_trial_ms"].items()],
    )  # fmt: skip
    md += ["", f"## Efficiency on {n_slow} trials of {SLOW_SECONDS:.1f} s (mean ± std)", ""]
    md += table(
        ["figure", "value", "repeats"],
        [[k, fmt_spread(v, 3), v["n"]] for k, v in figures["efficiency"].items()],
    )
    md += [
        "",
        "Wall time with a trivial objective includes starting the worker actors, sampling, "
        "storage writes, dispatch to workers and collecting results. The line `wall = a + b n` "
        "is a least-squares fit over every (size, repeat); `a` is what a study pays once "
        "(mostly Ray spawning the worker actors), `b` what each further trial costs; the "
        "overhead per trial at n trials is `(a + b n) / n`. Growth is read inside each of the "
        f"largest runs, from the completion time of every result: the slope over {window} "
        f"results ending at result {early} and over those ending at {late}, so start-up does "
        "not enter it; above 1 when a trial costs more the more trials the study holds. "
        "`symtune_after_first_result` is the efficiency from the first "
        "result on, `symtune_first_result_s` the seconds until it. Ray Tune runs with its auto "
        "callback loggers disabled and `reuse_actors=True` (its fastest configuration). A "
        "spread of one repeat is n/a.",
    ]
    if report.mode == "quick":
        md += ["", "Quick mode: the figures at 1,000 and 5,000 trials extrapolate the fit "
               f"beyond the largest size measured ({sizes[-1]})."]  # fmt: skip
    return md


if __name__ == "__main__":
    main()
