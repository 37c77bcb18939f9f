"""Framework overhead per trial and parallel efficiency: symtune against its peers.

In one run, on one machine, with 2 workers and Optuna's RandomSampler everywhere:

1. overhead per trial on a trivial objective (wall time / trials), for 1,000 and 5,000 trials:
   symtune with its default storage; plain Optuna with SQLite; plain Optuna in memory; Ray Tune
   running the same sampler through ``OptunaSearch``;
2. efficiency on 400 trials of a 100 ms objective: ideal time (trials x 0.1 s / 2 workers) over
   measured time, for symtune and Ray Tune.

Ray is started once (127.0.0.1) and shared by symtune and Ray Tune, so neither pays its start.
``--quick`` runs 300 and 1,500 trials (Ray Tune: 100 and 300) and 80 efficiency trials, each once;
the full mode repeats symtune and plain Optuna 3 times.

    python benchmarks/overhead.py [--quick]
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from support.report import Report, spread, table

WORKERS = 2
SLOW_SECONDS = 0.1


def trivial(config: dict[str, Any], trial: Any) -> float:
    return float(config["x"])


def slow(config: dict[str, Any], trial: Any) -> float:
    time.sleep(SLOW_SECONDS)
    return float(config["x"])


# -- the contenders: each returns the wall time of n trials -------------------------------------


def run_symtune(
    n: int, objective: Callable[..., float], workdir: Path, first: list[float] | None = None
) -> float:
    """Wall time of ``n`` trials; appends the time of the first result to ``first``."""
    import optuna

    from symtune.search import create_study
    from symtune.spaces import Space, floatv

    os.chdir(workdir)  # the default storage is an embedded file in the working directory
    study = create_study(
        Space({"x": floatv(0.0, 1.0)}),
        objective,
        name=f"overhead-{n}-{time.monotonic_ns()}",
        sampler=optuna.samplers.RandomSampler(seed=0),
    )
    marks: list[float] = []
    start = time.perf_counter()
    study.optimize(n, workers=WORKERS, callbacks=[lambda *_: marks.append(time.perf_counter())])
    elapsed = time.perf_counter() - start
    if first is not None:
        first.append(marks[0] - start)
    finished = study.counts()["complete"]
    if finished != n:
        raise RuntimeError(f"symtune finished {finished} of {n} trials")
    return elapsed


def run_optuna(n: int, storage: str | None) -> float:
    import optuna

    study = optuna.create_study(storage=storage, sampler=optuna.samplers.RandomSampler(seed=0))
    start = time.perf_counter()
    study.optimize(lambda t: t.suggest_float("x", 0.0, 1.0), n_trials=n, n_jobs=WORKERS)
    return time.perf_counter() - start


def run_tune(n: int, seconds: float, workdir: Path) -> float:
    import optuna
    from ray import tune
    from ray.tune.search.optuna import OptunaSearch

    def trainable(config: dict[str, Any]) -> dict[str, float]:
        if seconds:
            time.sleep(seconds)
        return {"value": float(config["x"])}

    searcher = OptunaSearch(
        space={"x": optuna.distributions.FloatDistribution(0.0, 1.0)},
        metric="value",
        mode="min",
        sampler=optuna.samplers.RandomSampler(seed=0),
    )
    tuner = tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(
            search_alg=searcher,
            num_samples=n,
            max_concurrent_trials=WORKERS,
            reuse_actors=True,  # Tune's fastest setting: no new actor per trial
        ),
        run_config=tune.RunConfig(storage_path=str(workdir / "tune"), verbose=0),
    )
    start = time.perf_counter()
    results = tuner.fit()
    elapsed = time.perf_counter() - start
    if len(results) != n:
        raise RuntimeError(f"Ray Tune finished {len(results)} of {n} trials")
    return elapsed


# -- the benchmark ---------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, under 3 minutes")
    args = parser.parse_args()
    quick = args.quick
    sizes = (300, 1500) if quick else (1000, 5000)
    tune_sizes = (100, 300) if quick else (1000, 5000)
    repeats = 1 if quick else 3
    n_slow = 80 if quick else 400

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
    root = Path(tempfile.mkdtemp(prefix="symtune-overhead-"))
    here = Path.cwd()
    per_trial: dict[str, dict[int, Any]] = {}

    def measure(label: str, n: int, fn: Callable[[int], float], times: int) -> None:
        values = [fn(n) / n * 1000 for _ in range(times)]
        per_trial.setdefault(label, {})[n] = spread(values)
        mean = per_trial[label][n]["mean"]
        print(f"  {label:<22} {n:>5} trials: {mean:.3f} ms/trial", flush=True)

    def sqlite(n: int) -> float:
        return run_optuna(n, f"sqlite:///{root}/optuna-{n}-{time.monotonic_ns()}.db")

    try:
        for n in sizes:
            measure("symtune", n, lambda k: run_symtune(k, trivial, root), repeats)
            measure("optuna_sqlite", n, sqlite, 1)
            measure("optuna_memory", n, lambda k: run_optuna(k, None), repeats)
        for n in tune_sizes:
            measure("ray_tune", n, lambda k: run_tune(k, 0.0, root), 1)

        ideal = n_slow * SLOW_SECONDS / WORKERS
        first: list[float] = []
        measured = run_symtune(n_slow, slow, root, first)
        efficiency = {
            "symtune": ideal / measured,
            "ray_tune": ideal / run_tune(n_slow, SLOW_SECONDS, root),
            # From the first result on: the workers' start-up (Ray spawning two actor
            # processes) left out, the first trial's own time counted as ideal work.
            "symtune_after_first_result": (ideal - SLOW_SECONDS) / (measured - first[0]),
            "symtune_first_result_s": first[0],
        }
        print(f"  efficiency: {efficiency}", flush=True)
    finally:
        os.chdir(here)
        ray.shutdown()

    report = build_report(quick, sizes, tune_sizes, per_trial, efficiency, n_slow)
    json_path, _ = report.write()
    ours = per_trial["symtune"][sizes[0]]["mean"]
    ratio_sqlite = per_trial["optuna_sqlite"][sizes[0]]["mean"] / ours
    ratio_tune = per_trial["ray_tune"][tune_sizes[0]]["mean"] / ours
    growth = per_trial["symtune"][sizes[1]]["mean"] / ours
    print(
        f"overhead: symtune {ours:.2f} ms/trial, "
        f"{ratio_sqlite:.1f}x lower than Optuna+SQLite, {ratio_tune:.1f}x lower than Ray Tune, "
        f"growth {sizes[0]}->{sizes[1]} {growth:.2f}x, efficiency {efficiency['symtune']:.3f} "
        f"(Ray Tune {efficiency['ray_tune']:.3f}); targets met "
        f"{sum(t['met'] for t in report.targets)}/{len(report.targets)} -> {json_path}"
    )


def build_report(
    quick: bool,
    sizes: tuple[int, int],
    tune_sizes: tuple[int, int],
    per_trial: dict[str, dict[int, Any]],
    efficiency: dict[str, float],
    n_slow: int,
) -> Report:
    report = Report(
        name="overhead",
        mode="quick" if quick else "full",
        description=(
            "Per-trial framework overhead on a trivial objective and efficiency on "
            f"{n_slow} trials of a {SLOW_SECONDS * 1000:.0f} ms objective, {WORKERS} workers, "
            "RandomSampler, one "
            "run on one machine (Ray shared by symtune and Ray Tune, started once)."
        ),
    )
    small, large = sizes
    symtune = per_trial["symtune"]
    report.figures = {
        "per_trial_ms": {k: {str(n): v for n, v in d.items()} for k, d in per_trial.items()},
        "efficiency": efficiency,
        "sizes": list(sizes),
        "ray_tune_sizes": list(tune_sizes),
        "workers": WORKERS,
    }
    for n in sizes:
        sqlite_ratio = per_trial["optuna_sqlite"][n]["mean"] / symtune[n]["mean"]
        report.target(
            f"Optuna+SQLite overhead / symtune overhead, {n} trials", sqlite_ratio, 10.0, "higher"
        )
    tune_ratio = per_trial["ray_tune"][tune_sizes[0]]["mean"] / symtune[small]["mean"]
    report.target("Ray Tune overhead / symtune overhead", tune_ratio, 1.0, "higher")
    report.target(
        "symtune efficiency (ideal / measured, worker start-up included)",
        efficiency["symtune"],
        0.95,
        "higher",
    )
    growth = symtune[large]["mean"] / symtune[small]["mean"]
    report.target(f"symtune overhead at {large} / at {small} trials", growth, 1.5, "lower")
    rows = []
    for label, by_size in per_trial.items():
        for n, figure in sorted(by_size.items()):
            rows.append([label, n, figure["mean"], figure["std"], len(figure["values"])])
    report.markdown += ["## Overhead per trial (ms)", ""]
    report.markdown += table(["framework", "trials", "mean ms/trial", "std", "repeats"], rows)
    report.markdown += ["", f"## Efficiency on {n_slow} trials of {SLOW_SECONDS:.1f} s", ""]
    report.markdown += table(
        ["framework", "ideal / measured"], [[k, v] for k, v in efficiency.items()]
    )
    report.markdown += [
        "",
        "Overhead per trial is wall time / trials with a trivial objective, so it includes "
        "starting the worker actors, sampling, storage writes, dispatch to workers and "
        "collecting results. `symtune_after_first_result` is the efficiency from the first "
        "result on, `symtune_first_result_s` the seconds until it. Ray Tune runs "
        "with its auto callback loggers disabled (its fastest configuration); in the full mode "
        "it runs the same sizes as the others, in the quick mode smaller ones.",
    ]
    return report


if __name__ == "__main__":
    main()
