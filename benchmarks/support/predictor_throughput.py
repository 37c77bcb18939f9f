"""Predictor-guided study throughput against NSGA-II's, on the digits supernet with Ray workers.

Called by ``benchmarks/pruning.py`` (issue 12, item 4; not installed). :func:`measure` runs the
``digits_supernet`` study's objective and space through ``symtune.search`` on Ray with
``workers`` workers, the same number of trials each, repeats interleaved in one run:

- ``predictor``: the study's ``PredictorSampler`` (``predictor_sampler()``: GBR, exact FLOPs,
  rounds of 10, hypervolume selection) with its fit overlapped in a thread
  (``PredictorSearchConfig(overlap=True)``);
- ``predictor_process``: the same with its fits in a spawned process
  (``PredictorSearchConfig(fit_in="process")``: no sharing of the driver's interpreter lock);
- ``predictor_in_ask``: the same with ``overlap=False`` (the default, and the behaviour before
  the overlap: each fit in the ask, the workers waiting);
- ``nsga2``: Optuna's ``NSGAIISampler`` (population 50, as ``benchmarks/supernet.py``).

Throughput is timed from the stored trials: completed trials after the first ``WARMUP`` per
worker, over the time from the warm-up's last completion to the last completion, so the Ray
pool's start and each worker's first build of the supernet stay out of it; the preparation
(supernet training and its ranking check) is out of it too (``symtune.studies._prepared``
keeps it on disk). The wall-clock of each ``optimize`` call is reported beside it.

:func:`search_quality` measures what the overlap costs the search: evaluations to 98% of the
hypervolume of the best front both variants found (reference 1.1 x its nadir, as
``benchmarks/supernet.py``), in-process, one subnet at a time, overlap on and off, same seeds.
"""

from __future__ import annotations

import dataclasses
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from support.report import spread

WARMUP = 3  # completed trials per worker left out of the timing
TARGET = 0.8


def _samplers() -> dict[str, Callable[[int], Any]]:
    import optuna

    from symtune.studies.digits_supernet import predictor_sampler

    def variant(**changes: Any) -> Callable[[int], Any]:
        def make(seed: int) -> Any:
            sampler = predictor_sampler(seed)
            sampler.config = dataclasses.replace(sampler.config, **changes)
            return sampler

        return make

    return {
        "predictor": variant(overlap=True),
        "predictor_process": variant(overlap=True, fit_in="process"),
        "predictor_in_ask": variant(overlap=False),
        "predictor_process_lag4": variant(overlap=True, fit_in="process", overlap_lag=4),
        "nsga2": lambda seed: optuna.samplers.NSGAIISampler(population_size=50, seed=seed),
    }


def _timed_rate(trials: Sequence[Any], skip: int) -> float:
    """Completed trials per second after the first ``skip`` completions."""
    ends = sorted(t.datetime_complete.timestamp() for t in trials if t.values is not None)
    if len(ends) <= skip + 1:
        raise ValueError(f"too few completed trials to time: {len(ends)} (warm-up {skip})")
    return (len(ends) - 1 - skip) / (ends[-1] - ends[skip])


def _one_study(objective: Any, sampler: Any, name: str, n_trials: int, workers: int) -> dict:
    from symtune.search import create_study
    from symtune.studies.digits_supernet import SPACE

    with tempfile.TemporaryDirectory() as tmp:
        study = create_study(
            SPACE,
            objective,
            name=name,
            directions=["minimize", "minimize"],
            metric_names=["val_error", "flops"],
            storage=str(Path(tmp) / f"{name}.journal"),
            sampler=sampler,
        )
        start = time.perf_counter()
        study.optimize(n_trials, workers=workers)
        wall = time.perf_counter() - start
        trials = list(study.trials)
    out = {
        "trials_per_second": _timed_rate(trials, WARMUP * workers),
        "wall_seconds": wall,
        "completed": sum(t.values is not None for t in trials),
    }
    if hasattr(sampler, "fit_wait_seconds"):
        out["fit_wait_seconds"] = sampler.fit_wait_seconds
    return out


def measure(quick: bool, repeats: int | None = None, workers: int = 2) -> dict[str, Any]:
    """Trials/s of the predictor-guided study (overlapped fit, and fit in the ask) and of
    NSGA-II on the digits supernet with ``workers`` Ray workers.

    ``repeats`` (default 1 in quick mode, 3 in full) of each, interleaved, seeds 0, 1, ...;
    quick mode runs 60 trials a study and leaves out the process variant, full mode 300 (the
    study's ``n_trials``). Returns the trials/s of each (mean, std, min, max, n, values), the
    ratios predictor / NSGA-II of the means (``ratio``: overlap in a thread;
    ``ratio_process``: in a process, ``None`` in quick mode; ``ratio_before``:
    ``overlap=False``, the default and the behaviour before), the target, and what ran.
    Call it from a script's ``if __name__ == "__main__":`` block (the fit process is spawned).
    """
    from symtune.search import ray_session
    from symtune.studies.digits_supernet import STUDY, prepare

    repeats = repeats if repeats is not None else (1 if quick else 3)
    if repeats < 1 or workers < 1:
        raise ValueError(f"`repeats >= 1` and `workers >= 1` must hold, got {repeats}, {workers}")
    n_trials = 60 if quick else 300
    objective = prepare(STUDY)  # cached on disk: not timed
    names = ["predictor", "predictor_in_ask", "nsga2"] + ([] if quick else ["predictor_process"])
    samplers = {name: _samplers()[name] for name in names}
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in samplers}
    with ray_session(None):
        for seed in range(repeats):
            for name, make in samplers.items():
                runs[name].append(
                    _one_study(objective, make(seed), f"{name}-{seed}", n_trials, workers)
                )
    rates = {name: [r["trials_per_second"] for r in rs] for name, rs in runs.items()}
    nsga2 = statistics.fmean(rates["nsga2"])
    return {
        "trials_per_second": {name: spread(v) for name, v in rates.items()},
        "ratio": statistics.fmean(rates["predictor"]) / nsga2,
        "ratio_process": (
            statistics.fmean(rates["predictor_process"]) / nsga2 if not quick else None
        ),
        "ratio_before": statistics.fmean(rates["predictor_in_ask"]) / nsga2,
        "ratio_per_repeat": [
            p / n for p, n in zip(rates["predictor"], rates["nsga2"], strict=True)
        ],
        "target": TARGET,
        "n": repeats,
        "runs": runs,
        "ran": {
            "study": "digits_supernet (objective, space), through symtune.search on Ray",
            "workers": workers,
            "trials_per_study": n_trials,
            "repeats": repeats,
            "order": "interleaved per repeat: " + ", ".join(samplers),
            "timing": f"completions after the first {WARMUP} per worker (pool start and "
            "the workers' first supernet build left out); preparation cached, not timed",
        },
    }


def search_quality(seeds: Sequence[int], budget: int = 150) -> dict[str, Any]:
    """Evaluations to 98% hypervolume: the overlapped fit (in a process; ``overlap_lag`` 10,
    the default, and 4), and the fit in the ask.

    In-process (one subnet at a time, a score table shared by all runs), ``budget``
    evaluations a run; the 98% is of the best front the variants found together.
    """
    import optuna
    import supernet as bench  # benchmarks/supernet.py, read-only: its table and HV code

    from symtune.hypernets import ScoringData
    from symtune.studies import digits_supernet as study_module
    from symtune.studies.digits import load_digits_data

    supernet = study_module.new_supernet()  # the study's prepared weights (cached on disk)
    supernet.load_state_dict(study_module.prepare(study_module.STUDY).state_dict)
    data = load_digits_data()
    scoring = ScoringData.from_tensors(data.x_train, data.x_val, data.y_val)
    table = bench.ScoreTable(supernet.eval(), scoring)
    # In processes: the exact FLOPs of a fit in a thread would share the study's FLOPs supernet
    # with this thread's scoring (a race); a process fit proposes what a thread fit proposes.
    names = ("predictor_process", "predictor_process_lag4", "predictor_in_ask")
    runs: dict[str, list[list[Any]]] = {name: [] for name in names}
    for seed in seeds:
        for name in runs:
            sampler = _samplers()[name](seed)
            study = optuna.create_study(directions=["minimize"] * 2, sampler=sampler)
            study.optimize(
                lambda t: table.evaluate([study_module.SPACE.suggest_params(t)])[0],
                n_trials=budget,
            )
            runs[name].append([tuple(t.values) for t in study.trials])
    front = bench.pareto([p for rs in runs.values() for run in rs for p in run])
    reference = (1.1 * max(p[0] for p in front), 1.1 * max(p[1] for p in front))
    goal = bench.GOAL * bench.hypervolume(front, reference)
    needed = {
        name: [bench.evaluations_to_reach(run, goal, reference) for run in rs]
        for name, rs in runs.items()
    }
    medians = {
        name: statistics.median(budget + 1 if n is None else n for n in ns)
        for name, ns in needed.items()
    }
    return {
        "evaluations_to_98pct": needed,
        "medians": medians,
        "seeds": list(seeds),
        "budget": budget,
        "note": "unreached runs count as budget + 1 in the medians",
    }
