"""Multi-objective pruning, checkpoint resume and predictor throughput (issue 12's figures).

1. **Pruning.** The problem is a committed table of real learning curves
   (``benchmarks/data/digits_curves.json``, made by ``support/learning_curves.py``): 243
   digits CNNs of the study's space, each trained for 27 epochs, with the validation error
   after every epoch and the parameter count. A trial picks a network (``intv`` over the
   table's rows), "trains" it by replaying its curve one epoch at a time (sleeping
   ``epoch_s`` per epoch, so that trials take time in proportion to their epochs and two
   workers interleave as real trials would), reports after every epoch, and may be pruned.
   Objectives: validation error and parameters, both minimised. Three methods, each through
   ``symtune.search`` on Ray with 2 workers and the same seeded ``RandomSampler`` (so every
   method sees the same sequence of networks and only the pruning differs):

   * ``none``: no pruning (``NopPruner``), ``n_full`` trials of 27 epochs;
   * ``asha``: Optuna's ``SuccessiveHalvingPruner`` (ASHA; min_resource 1, reduction factor 3)
     in a one-objective study of a scalarisation: error / (max error) + normalised log10
     parameters, equal weights (the two objectives are kept as user attributes);
   * ``pareto``: symtune's ``ParetoPruner`` (min_resource 1, reduction factor 3) in the
     two-objective study.

   The pruned methods run until they have spent the epochs of ``none`` (``n_full * 27``).
   Hypervolume is computed on the completed trials' final (error, normalised log10
   parameters), reference point (1.1 x the table's largest final error, 1.1), as trials
   complete, against the epochs spent by then by every trial (pruned ones included).
   Targets: ``pareto`` reaches ``none``'s final hypervolume with at most 1/3 of its epochs;
   at equal epochs its hypervolume is at least ``asha``'s.
2. **Checkpoint resume.** A 50-step trial checkpoints every step and its worker is SIGKILLed
   right after the checkpoint at step 40; the steps its retry runs are counted (target <= 12),
   next to the same trial without checkpoints.
3. **Predictor throughput.** Predictor-guided study / NSGA-II trials per second with 2
   workers on the digits supernet (``support/predictor_throughput.py``; target >= 0.8).

Run ``python benchmarks/pruning.py`` (full: 3 seeds, n_full 81) or ``--quick`` (2 seeds,
n_full 27, one throughput repeat), with the common options (``support/options.py``). Writes
``pruning.json``, ``pruning.md`` and ``pruning.png`` into ``--out``; prints one summary line.
"""

from __future__ import annotations

import math
import os
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.trial import TrialState

from symtune.search import ParetoPruner, create_study, hypervolume_of_losses, ray_session
from symtune.spaces import intv

sys.path.insert(0, str(Path(__file__).resolve().parent))
from support.learning_curves import Curves, load_curves
from support.options import parse
from support.report import Report, spread, table

METHODS = ("none", "asha", "pareto")
REDUCTION = 3
BUDGET_POINTS = (1 / 9, 1 / 3, 1.0)  # fractions of none's epochs where methods are compared


@dataclass(frozen=True)
class Setup:
    """What one run measures."""

    seeds: tuple[int, ...]
    n_full: int  # trials of the unpruned method
    epoch_s: float  # seconds a replayed epoch takes
    workers: int = 2
    chunk: int = 60  # trials a pruned method adds per optimize call, until its budget is spent
    checkpoint_steps: int = 50
    kill_at: int = 40
    quick: bool = False


class CurveObjective:
    """Replays a table's learning curves; see the module docstring. Picklable (to workers)."""

    def __init__(self, curves: Curves, scalar: bool, epoch_s: float) -> None:
        self.error = curves.val_error.tolist()
        self.params = curves.params.astype(float).tolist()
        logs = np.log10(curves.params.astype(float))
        self.log_low, self.log_span = float(logs.min()), float(np.ptp(logs))
        self.error_high = float(curves.val_error[:, -1].max())
        self.scalar = scalar
        self.epoch_s = epoch_s

    def size(self, i: int) -> float:
        """Normalised log10 parameters of network ``i``, in [0, 1]."""
        return (math.log10(self.params[i]) - self.log_low) / self.log_span

    def __call__(self, config: dict[str, Any], trial: Any) -> Any:
        i = int(config["config"])
        error = 1.0
        for epoch in range(1, len(self.error[i]) + 1):
            time.sleep(self.epoch_s)
            error = self.error[i][epoch - 1]
            if self.scalar:
                trial.report(error / self.error_high + self.size(i), epoch)
            else:
                trial.report([error, self.params[i]], epoch)
            trial.set_user_attr("epochs", epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()
        trial.set_user_attr("error", error)
        trial.set_user_attr("params", self.params[i])
        if self.scalar:
            return error / self.error_high + self.size(i)
        return error, self.params[i]


def run_method(
    method: str, seed: int, setup: Setup, curves: Curves, folder: Path
) -> dict[str, Any]:
    """One method on one seed: the hypervolume against the epochs spent."""
    objective = CurveObjective(curves, scalar=method == "asha", epoch_s=setup.epoch_s)
    pruner: optuna.pruners.BasePruner = {
        "none": optuna.pruners.NopPruner(),
        "asha": optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=REDUCTION),
        "pareto": ParetoPruner(min_resource=1, reduction_factor=REDUCTION),
    }[method]
    study = create_study(
        {"config": intv(0, curves.n_configs - 1)},
        objective,
        name=f"{method}-{seed}",
        directions=["minimize"] if method == "asha" else ["minimize", "minimize"],
        storage=str(folder / f"{method}-{seed}.journal"),
        sampler=optuna.samplers.RandomSampler(seed=seed),
        pruner=pruner,
        checkpoint_root=str(folder / "checkpoints"),
    )
    budget = setup.n_full * curves.epochs
    started = time.perf_counter()
    target = setup.n_full if method == "none" else setup.chunk
    while True:
        study.optimize(n_trials=target, workers=setup.workers)
        spent = sum(int(t.user_attrs.get("epochs", 0)) for t in study.trials)
        if method == "none" or spent >= budget:
            break
        target += setup.chunk
    wall = time.perf_counter() - started
    return {**hypervolume_curve(study.trials, objective, budget), "wall_s": wall}


def hypervolume_curve(
    trials: Sequence[optuna.trial.FrozenTrial], objective: CurveObjective, budget: int
) -> dict[str, Any]:
    """Hypervolume of the completed trials, as they completed, against the epochs spent."""
    done = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    done.sort(key=lambda t: (t.datetime_complete, t.number))
    reference = [1.1 * objective.error_high, 1.1]
    points: list[list[float]] = []
    epochs, hvs, spent = [], [], 0
    for trial in done:
        spent += int(trial.user_attrs.get("epochs", 0))
        if spent > budget:
            break
        if trial.state == TrialState.COMPLETE:
            i = int(trial.params["config"])
            points.append([float(trial.user_attrs["error"]), objective.size(i)])
        epochs.append(spent)
        hvs.append(hypervolume_of_losses(np.array(points), reference) if points else 0.0)
    states = [t.state for t in done]
    return {
        "epochs": epochs,
        "hypervolume": hvs,
        "trials": len(done),
        "complete": states.count(TrialState.COMPLETE),
        "pruned": states.count(TrialState.PRUNED),
        "reference_point": reference,
    }


def hv_at(curve: dict[str, Any], epochs: float) -> float:
    """The hypervolume once ``epochs`` were spent (0 before the first completion)."""
    best = 0.0
    for spent, hv in zip(curve["epochs"], curve["hypervolume"], strict=True):
        if spent > epochs:
            break
        best = hv
    return best


def epochs_to_reach(curve: dict[str, Any], goal: float) -> int | None:
    for spent, hv in zip(curve["epochs"], curve["hypervolume"], strict=True):
        if hv >= goal * (1 - 1e-12):
            return int(spent)
    return None


def pruning_figures(setup: Setup, curves: Curves) -> dict[str, Any]:
    """Every method on every seed, interleaved; the comparisons the targets need."""
    runs: dict[str, list[dict[str, Any]]] = {m: [] for m in METHODS}
    with tempfile.TemporaryDirectory(prefix="symtune-pruning-") as tmp:
        for seed in setup.seeds:
            for method in METHODS:
                runs[method].append(run_method(method, seed, setup, curves, Path(tmp)))
                last = runs[method][-1]
                print(
                    f"  pruning {method} seed {seed}: {last['trials']} trials "
                    f"({last['pruned']} pruned), HV {last['hypervolume'][-1]:.4f}, "
                    f"{last['wall_s']:.0f} s",
                    flush=True,
                )
    budget = setup.n_full * curves.epochs
    reach = []
    for none, pareto in zip(runs["none"], runs["pareto"], strict=True):
        spent = epochs_to_reach(pareto, none["hypervolume"][-1])
        reach.append(math.nan if spent is None else spent / budget)
    at = {
        f"{fraction:.3f}": {m: [hv_at(r, fraction * budget) for r in runs[m]] for m in METHODS}
        for fraction in BUDGET_POINTS
    }
    ratios = {
        key: [p / a if a > 0 else math.nan for p, a in zip(v["pareto"], v["asha"], strict=True)]
        for key, v in at.items()
    }
    return {
        "budget_epochs": budget,
        "runs": runs,
        "pareto_epochs_to_none_final_hv": reach,
        "hv_at_budget_fraction": at,
        "pareto_over_asha_hv": ratios,
        "final_hv": {m: spread([r["hypervolume"][-1] for r in runs[m]]) for m in METHODS},
    }


# -- checkpoint resume ----------------------------------------------------------------------


class KilledAfterCheckpoint:
    """A ``steps``-step trial that SIGKILLs its worker after the checkpoint at ``kill_at``."""

    def __init__(self, steps: int, kill_at: int, marker: str, use_checkpoints: bool) -> None:
        self.steps, self.kill_at, self.marker = steps, kill_at, marker
        self.use_checkpoints = use_checkpoints

    def __call__(self, config: dict[str, Any], trial: Any) -> float:
        checkpoint = trial.load_checkpoint() if self.use_checkpoints else None
        start = 0 if checkpoint is None else checkpoint.step + 1
        ran = 0
        for step in range(start, self.steps):
            ran += 1
            trial.report(float(step), step)
            trial.set_user_attr("steps_run", ran)
            if self.use_checkpoints:
                trial.save_checkpoint({"step": step}, step=step)
            if step == self.kill_at and not os.path.exists(self.marker):
                Path(self.marker).touch()
                os.kill(os.getpid(), signal.SIGKILL)
        return float(ran)


def checkpoint_figures(setup: Setup) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="symtune-resume-") as tmp:
        for use in (True, False):
            name = "with_checkpoints" if use else "without_checkpoints"
            objective = KilledAfterCheckpoint(
                setup.checkpoint_steps, setup.kill_at, f"{tmp}/{name}.killed", use
            )
            study = create_study({"x": 1.0}, objective, name=name, storage=f"{tmp}/{name}.journal")
            study.optimize(n_trials=1)
            first, retry = study.trials
            out[name] = {
                "first_attempt": first.user_attrs.get("fail_kind"),
                "retry_steps_run": int(retry.user_attrs["steps_run"]),
                "retry_state": retry.state.name,
                "retry_reported_steps": len(retry.intermediate_values),
                "no_gap_no_duplicate": sorted(retry.intermediate_values)
                == list(range(setup.checkpoint_steps)),
            }
    return out


# -- the report -----------------------------------------------------------------------------


def _median(values: Sequence[float]) -> float:
    """The median; a seed that never got there (NaN) counts as worse than any that did, and a
    median that falls on such a seed is NaN."""
    ordered = sorted(values, key=lambda v: (math.isnan(v), v))
    middle = statistics.median_low(range(len(ordered)))
    if len(ordered) % 2 == 1 or math.isnan(ordered[middle + 1]):
        return ordered[middle] if len(ordered) % 2 == 1 else math.nan
    return (ordered[middle] + ordered[middle + 1]) / 2


def build_report(figures: dict[str, Any], setup: Setup) -> Report:
    pruning, resume = figures["pruning"], figures["resume"]
    report = Report(
        name="pruning",
        mode="quick" if setup.quick else "full",
        description=(
            "Multi-objective pruning (symtune's ParetoPruner against no pruning and Optuna's "
            "ASHA on a scalarisation) on a table of real digits-CNN learning curves, checkpoint "
            "resume after a SIGKILL, and predictor-guided / NSGA-II throughput (issue 12)."
        ),
        setup={**asdict(setup), "curves": figures["curves_meta"]},
        repeats={**{m: len(setup.seeds) for m in METHODS}, **figures["throughput_repeats"]},
        figures=figures,
    )
    reach = pruning["pareto_epochs_to_none_final_hv"]
    report.target(
        "ParetoPruner epochs to no-pruning's final HV / no-pruning's epochs (median)",
        _median(reach),
        1 / 3,
        "lower",
    )
    worst = min(_median(v) for v in pruning["pareto_over_asha_hv"].values())
    report.target("ParetoPruner HV / ASHA HV at equal epochs (worst point)", worst, 1.0, "higher")
    report.target(
        "steps the retry of a 50-step trial killed at step 40 runs",
        resume["with_checkpoints"]["retry_steps_run"],
        12,
        "lower",
    )
    report.target(
        "predictor-guided / NSGA-II trials per second, 2 workers, digits supernet",
        figures["throughput"]["ratio"],
        0.8,
        "higher",
    )
    report.markdown += markdown(figures, setup)
    return report


def markdown(figures: dict[str, Any], setup: Setup) -> list[str]:
    pruning, resume, budget = (
        figures["pruning"],
        figures["resume"],
        figures["pruning"]["budget_epochs"],
    )
    rows = []
    for method in METHODS:
        runs = pruning["runs"][method]
        rows.append(
            [
                method,
                " / ".join(f"{r['hypervolume'][-1]:.4f}" for r in runs),
                " / ".join(str(r["trials"]) for r in runs),
                " / ".join(str(r["pruned"]) for r in runs),
                " / ".join(f"{r['wall_s']:.0f}" for r in runs),
            ]
        )
    lines = [
        "## Pruning",
        "",
        f"Seeds {list(setup.seeds)}; budget {budget} epochs (no pruning: {setup.n_full} trials "
        f"x 27 epochs); 2 workers; {setup.epoch_s * 1000:.0f} ms per replayed epoch.",
        "",
        *table(["method", "final HV (per seed)", "trials", "pruned", "wall s"], rows),
        "",
        "Hypervolume at equal epochs (median over seeds; per seed in the JSON):",
        "",
    ]
    at = pruning["hv_at_budget_fraction"]
    lines += table(
        ["epochs", *METHODS, "pareto / asha"],
        [
            [
                f"{float(k) * budget:.0f} ({float(k):.2f} of budget)",
                *[_median(v[m]) for m in METHODS],
                _median(pruning["pareto_over_asha_hv"][k]),
            ]
            for k, v in at.items()
        ],
    )
    reach = pruning["pareto_epochs_to_none_final_hv"]
    lines += [
        "",
        "ParetoPruner's epochs to reach no pruning's final hypervolume, as a fraction of no "
        "pruning's epochs, per seed: "
        + ", ".join("not reached" if math.isnan(r) else f"{r:.3f}" for r in reach),
        "",
    ]
    return lines + resume_markdown(resume) + throughput_markdown(figures["throughput"])


def resume_markdown(resume: dict[str, Any]) -> list[str]:
    rows = [
        [
            name.replace("_", " "),
            r["first_attempt"],
            r["retry_steps_run"],
            r["retry_reported_steps"],
            r["no_gap_no_duplicate"],
        ]
        for name, r in resume.items()
    ]
    header = ["trial", "first attempt", "retry ran steps", "retry reported steps", "no gap/dup"]
    return ["## Checkpoint resume", "", *table(header, rows), ""]


def throughput_markdown(tp: dict[str, Any]) -> list[str]:
    rates = tp.get("trials_per_second", {})
    rows = [[name, v.get("mean"), v.get("std"), v.get("n")] for name, v in rates.items()]
    return [
        "## Predictor throughput",
        "",
        "Trials per second on the digits supernet with 2 workers "
        f"({tp.get('ran', {}).get('trials_per_study', '?')} trials a study, interleaved):",
        "",
        *table(["sampler", "trials/s", "std", "n"], rows),
        "",
        f"Ratio predictor / NSGA-II: {tp['ratio']:.3f} (fit in the ask, the default: "
        f"{tp.get('ratio_before', math.nan):.3f}).",
    ]


def plot(figures: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pruning = figures["pruning"]
    budget = pruning["budget_epochs"]
    grid = np.linspace(0, budget, 200)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for method, colour in zip(METHODS, ("tab:gray", "tab:orange", "tab:blue"), strict=True):
        curves = np.array([[hv_at(r, e) for e in grid] for r in pruning["runs"][method]])
        ax.plot(grid, np.median(curves, axis=0), color=colour, label=method)
        ax.fill_between(grid, curves.min(axis=0), curves.max(axis=0), color=colour, alpha=0.2)
    ax.set_xlabel("epochs spent (all trials)")
    ax.set_ylabel("hypervolume (error, log10 params)")
    ax.set_title("Pruning on digits-CNN learning curves (median, min-max over seeds)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def setup_for(opts: Any) -> Setup:
    if opts.quick:
        return Setup(seeds=opts.seeds, n_full=27, epoch_s=0.005, chunk=40, quick=True)
    return Setup(seeds=opts.seeds, n_full=81, epoch_s=0.01)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    opts = parse((__doc__ or "").splitlines()[0], argv, seeds="3", quick_seeds="2")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    setup = setup_for(opts)
    curves = load_curves()
    started = time.perf_counter()
    from support.predictor_throughput import measure

    with ray_session(None):
        throughput = measure(quick=setup.quick)  # first: the timings want a quiet machine
        pruning = pruning_figures(setup, curves)
        resume = checkpoint_figures(setup)
    figures: dict[str, Any] = {
        "pruning": pruning,
        "resume": resume,
        "throughput": throughput,
        "throughput_repeats": {
            k: int(v.get("n", 0)) for k, v in throughput.get("trials_per_second", {}).items()
        },
        "curves_meta": {
            "n_configs": curves.n_configs,
            "epochs": curves.epochs,
            **{k: curves.meta[k] for k in ("space", "recipe") if k in curves.meta},
        },
    }
    figures["total_wall_s"] = time.perf_counter() - started
    report = build_report(figures, setup)
    json_path, _ = report.write(opts.out)
    plot(figures, opts.out / "pruning.png")
    t = report.targets
    print(
        f"pruning ({report.mode}, {len(setup.seeds)} seeds): ParetoPruner reaches no pruning's "
        f"HV with {t[0]['value']:.3f} of its epochs (<= 0.333); HV vs ASHA {t[1]['value']:.3f} "
        f"(>= 1); retry ran {t[2]['value']} steps (<= 12); predictor/NSGA-II "
        f"{t[3]['value']:.3f} (>= 0.8); {figures['total_wall_s']:.0f}s -> {json_path}"
    )
    return figures


if __name__ == "__main__":
    main()
