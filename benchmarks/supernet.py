"""Weight-sharing supernet on digits: ranking, scoring throughput, and predictor-guided search.

Issue 5's figures, all on ``symtune.studies.digits_supernet`` (13,824 CNN subnets of sklearn's
8x8 digits; objectives validation error and FLOPs, both minimised), in one run:

1. train the study's supernet once (sandwich rule, in-place distillation; one torch thread);
2. throughput: random subnets scored per second with batch-norm recalibration (``score_many``),
   three repeats; one torch thread (the study's setting) and, for reference, two;
3. ranking: Kendall's tau between the supernet's validation error and that of the same subnets
   trained stand-alone to convergence (the study's ranking-check reference,
   ``digits_supernet.ranking_standalone_config()``: until the validation loss is flat), over
   random subnets, beside the taus of ranking them by parameter count and by FLOPs;
4. search: predictor-guided search (the study's ``PredictorSampler``: GBR on ``Space.encode``,
   exact FLOPs, after 20 random subnets rounds of the 10 predicted subnets with the largest
   hypervolume gains), NSGA-II (Optuna's, population 50) and random search,
   three seeds each. Every subnet is scored with the trained supernet (cached, so repeated
   subnets cost nothing, and every method sees the same numbers). The reference is the best
   front found by any method and seed; the figure is the number of real evaluations each run
   needs to reach 98% of that front's hypervolume (reference point: 1.1 x the front's nadir).
   NSGA-II and random search get ``budget`` evaluations; predictor-guided search, whose rounds
   cost a regressor fit each, gets ``predictor_budget``. Full mode also scores all 13,824
   subnets and reports the true front;
5. the same two searches as Ray studies (``symtune.search``, 2 workers): the path users run;
6. the final front (the reference front), its members trained stand-alone: the plot.

Targets: tau >= 0.7; >= 50 subnets/s; predictor evaluations / NSGA-II's <= 1/3 (medians);
and, from issue 11 (there for the language-model study), a supernet tau at least the best size
baseline's + 0.1.

Every search method runs once per seed (the same seeds for all: ``--seeds``, default 3); the
throughput is three repeats; each Ray study runs once. Run ``python benchmarks/supernet.py``
(full, about 20 minutes here) or ``--quick`` (about 3 minutes), with the common options
``--seeds N|list``, ``--out DIR`` and ``--device cpu|cuda|auto`` (the study trains and scores
on the CPU; a CUDA request is recorded and the report says no CUDA figures were measured).
Writes ``supernet.json``, ``supernet.md`` and ``supernet.png`` into ``--out``
(``benchmarks/results/`` by default) and prints one summary line.
"""

from __future__ import annotations

import logging
import math
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import torch

from symtune.hypernets import (
    RankingConfig,
    RankingData,
    ScoringData,
    StandaloneConfig,
    SubnetScore,
    Supernet,
    kendall_tau,
    ranking_check,
    train_standalone,
)
from symtune.search import hypervolume_of_losses
from symtune.studies import digits_supernet as study_module

sys.path.insert(0, str(Path(__file__).resolve().parent))
from support.options import Options, parse
from support.report import Report, spread, table

Point = tuple[float, float]
Key = tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class Mode:
    epochs: int  # supernet training
    throughput_subnets: int
    tau_subnets: int
    budget: int  # evaluations of NSGA-II and random search
    predictor_budget: int
    seeds: tuple[int, ...]
    exhaustive: bool  # score every subnet (the true front)
    ray_trials: int
    front_epochs: int  # stand-alone training of the final front's members
    front_members: int  # at most this many members, spread along the front

    @property
    def budgets(self) -> dict[str, int]:
        """Evaluations each search method gets per seed."""
        return {"predictor": self.predictor_budget, "nsga2": self.budget, "random": self.budget}


MODES = {
    "full": Mode(
        epochs=study_module.SUPERNET_EPOCHS,
        throughput_subnets=300,
        tau_subnets=30,
        budget=2000,
        predictor_budget=500,
        seeds=(0, 1, 2),
        exhaustive=True,
        ray_trials=200,
        front_epochs=20,
        front_members=16,
    ),
    "quick": Mode(
        epochs=30,
        throughput_subnets=25,
        tau_subnets=6,  # each trained to convergence: ~45 epochs, ~8 s
        budget=300,
        predictor_budget=80,
        seeds=(0, 1, 2),
        exhaustive=False,
        ray_trials=20,
        front_epochs=6,
        front_members=5,
    ),
}
SPACE = study_module.SPACE
GOAL = 0.98
PREDICTOR = study_module.predictor_sampler().config  # the study's: rounds of 10, HV selection
NSGA2_POPULATION = 50


def key(assignment: dict[str, Any]) -> Key:
    return tuple(sorted(assignment.items()))


class ScoreTable:
    """Every subnet scored so far: ``(validation error, FLOPs)``, scored once each."""

    def __init__(self, supernet: Supernet, scoring: ScoringData) -> None:
        self.supernet = supernet
        self.scoring = scoring
        self.values: dict[Key, Point] = {}
        self.seconds = 0.0

    def evaluate(self, batch: Sequence[dict[str, Any]]) -> list[Point]:
        missing = list({key(a): a for a in batch if key(a) not in self.values}.values())
        if missing:
            start = time.perf_counter()
            for assignment, score in zip(
                missing, self.supernet.score_many(missing, self.scoring), strict=True
            ):
                self.values[key(assignment)] = (
                    score.error,
                    float(study_module.subnet_flops(assignment)),
                )
            self.seconds += time.perf_counter() - start
        return [self.values[key(a)] for a in batch]


# -- hypervolume --------------------------------------------------------------------------------


def pareto(points: Sequence[Point]) -> list[Point]:
    """The non-dominated points (both objectives minimised), by increasing FLOPs."""
    front: list[Point] = []
    for error, flops in sorted(set(points), key=lambda p: (p[1], p[0])):
        if not front or error < front[-1][0]:
            front.append((error, flops))
    return front


def hypervolume(points: Sequence[Point], reference: Point) -> float:
    """The hypervolume ``points`` dominate inside ``reference`` (both objectives minimised)."""
    return hypervolume_of_losses(np.asarray(points, dtype=float), np.asarray(reference))


def evaluations_to_reach(values: Sequence[Point], goal: float, reference: Point) -> int | None:
    """The fewest leading evaluations of ``values`` whose hypervolume reaches ``goal``."""
    front: list[Point] = []
    for n, point in enumerate(values, start=1):
        if any(p[0] <= point[0] and p[1] <= point[1] for p in front):
            continue
        front = [p for p in front if not (point[0] <= p[0] and point[1] <= p[1])] + [point]
        if hypervolume(front, reference) >= goal:
            return n
    return None


# -- the phases ---------------------------------------------------------------------------------


def measure_throughput(
    supernet: Supernet, scoring: ScoringData, n: int, repeats: int = 3
) -> dict[str, Any]:
    rng = np.random.default_rng(1)
    pool = [SPACE.sample(int(rng.integers(2**31 - 1))) for _ in range(n)]
    supernet.score_many(pool[:10], scoring)  # warm-up
    out: dict[str, Any] = {"subnets": n}
    for threads in (1, 2):
        torch.set_num_threads(threads)
        rates = []
        for _ in range(repeats):
            start = time.perf_counter()
            supernet.score_many(pool, scoring)
            rates.append(n / (time.perf_counter() - start))
        out[f"per_second_{threads}_thread{'s' if threads > 1 else ''}"] = spread(rates)
    torch.set_num_threads(1)
    return out


def standalone_errors(
    supernet: Supernet, data: Any, assignments: Sequence[dict[str, Any]], epochs: int
) -> list[float]:
    config = StandaloneConfig(epochs=epochs, device="cpu")
    errors = []
    for i, assignment in enumerate(assignments):
        torch.manual_seed(i)
        model = supernet.build_standalone(assignment)
        error, _ = train_standalone(
            model, (data.x_train, data.y_train), (data.x_val, data.y_val), config, seed=i
        )
        errors.append(error)
    return errors


def measure_ranking(supernet: Supernet, data: Any, table_: ScoreTable, n: int) -> dict[str, Any]:
    """The study's ranking check on ``n`` random subnets: the reference trained to convergence
    (the study's ``ranking_standalone_config()``), the three taus, how many converged."""
    rng = np.random.default_rng(2)
    sample = [SPACE.sample(int(rng.integers(2**31 - 1))) for _ in range(n)]
    ours = [SubnetScore(a, error, math.nan) for a, (error, _) in zip(
        sample, table_.evaluate(sample), strict=True)]  # fmt: skip
    config = study_module.ranking_standalone_config()
    start = time.perf_counter()
    result = ranking_check(
        supernet, sample,
        RankingData(table_.scoring, (data.x_train, data.y_train), (data.x_val, data.y_val)),
        RankingConfig(config), supernet_scores=ours,
    )  # fmt: skip
    return {
        "subnets": n,
        "standalone": asdict(config),
        "standalone_epochs": list(result.standalone_epochs),
        "standalone_median_epochs": statistics.median(result.standalone_epochs),
        "converged": list(result.converged),
        "converged_count": result.converged_count,
        "kendall_tau": result.tau,
        "p_value": result.p_value,
        "kendall_tau_params": result.tau_params,
        "kendall_tau_flops": result.tau_flops,
        "params": list(result.params),
        "flops": list(result.flops),
        "standalone_seconds": time.perf_counter() - start,
        "pairs": [list(pair) for pair in result.pairs],
        "summary": result.summary(),
    }


def run_search(method: str, seed: int, n_trials: int, table_: ScoreTable) -> list[Point]:
    """One in-process search; returns the objective values in evaluation order."""
    sampler: optuna.samplers.BaseSampler
    if method == "predictor":
        sampler = study_module.predictor_sampler(seed)
    elif method == "nsga2":
        sampler = optuna.samplers.NSGAIISampler(population_size=NSGA2_POPULATION, seed=seed)
    else:
        sampler = optuna.samplers.RandomSampler(seed=seed)
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=sampler)
    study.optimize(lambda t: table_.evaluate([SPACE.suggest_params(t)])[0], n_trials=n_trials)
    return [(float(t.values[0]), float(t.values[1])) for t in study.trials]


def ray_studies(state: dict[str, Any], n_trials: int) -> dict[str, Any]:
    """Predictor-guided and NSGA-II studies through symtune.search on 2 Ray workers."""
    from symtune.search import create_study, ray_session

    out: dict[str, Any] = {"trials": n_trials, "workers": 2}
    samplers: dict[str, Callable[[], optuna.samplers.BaseSampler]] = {
        "predictor": study_module.predictor_sampler,
        "nsga2": lambda: optuna.samplers.NSGAIISampler(population_size=NSGA2_POPULATION, seed=0),
    }
    with tempfile.TemporaryDirectory() as tmp, ray_session(None):
        for method, make in samplers.items():
            study = create_study(
                SPACE,
                study_module.SubnetObjective(state, {}),
                name=method,
                directions=["minimize", "minimize"],
                metric_names=["val_error", "flops"],
                storage=str(Path(tmp) / f"{method}.journal"),
                sampler=make(),
            )
            start = time.perf_counter()
            study.optimize(n_trials, workers=2)
            seconds = time.perf_counter() - start
            trials = [t for t in study.trials if t.values is not None]
            out[method] = {
                "seconds": seconds,
                "trials_per_second": len(trials) / seconds,
                "values": [(float(t.values[0]), float(t.values[1])) for t in trials],
            }
    return out


def plot(path: Path, everything: Sequence[Point], members: Sequence[dict[str, Any]],
         ranking: dict[str, Any]) -> None:  # fmt: skip
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(12, 4.6))
    xs = np.array([p[1] for p in everything])
    ys = 1 - np.array([p[0] for p in everything])
    ax.scatter(xs, ys, s=4, c="0.8", label=f"subnets scored ({len(everything):,})")
    fx = [m["flops"] for m in members]
    ax.plot(fx, [1 - m["supernet_error"] for m in members], "o-", c="C0",
            label="final front: supernet accuracy")  # fmt: skip
    ax.plot(fx, [1 - m["standalone_error"] for m in members], "s--", c="C3",
            label="same subnets trained stand-alone")  # fmt: skip
    ax.set_xscale("log")
    ax.set_xlabel("FLOPs per image")
    ax.set_ylabel("validation accuracy")
    lowest = min(float(ys.min()), *(1 - m["standalone_error"] for m in members))
    ax.set_ylim(max(0.0, lowest - 0.05), 1.0)
    ax.set_title("digits_supernet: the final Pareto front")
    ax.legend(loc="lower right", fontsize=8)
    pairs = np.array(ranking["pairs"])
    bx.scatter(1 - pairs[:, 0], 1 - pairs[:, 1], s=14, c="C0")
    bx.set_xlabel("accuracy with supernet weights")
    bx.set_ylabel(f"stand-alone accuracy (converged, median {ranking['standalone_median_epochs']:g}"
                  " epochs)")  # fmt: skip
    bx.set_title(f"ranking: Kendall tau {ranking['kendall_tau']:.2f} over {ranking['subnets']}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# -- main ---------------------------------------------------------------------------------------


@dataclass
class Measured:
    """Everything one run measured, for the report."""

    mode_name: str
    mode: Mode
    seconds: dict[str, float]
    throughput: dict[str, Any]
    ranking: dict[str, Any]
    runs: dict[str, list[list[Point]]]
    needed: dict[str, list[int | None]]
    reference: Point
    best: float
    ray: dict[str, Any]
    true_front: dict[str, Any] | None
    members: list[dict[str, Any]]
    member_tau: float
    table_: ScoreTable
    device: str = "cpu"


class Phases:
    """Times each phase and prints it as it ends."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._t0 = time.perf_counter()

    def done(self, name: str) -> None:
        self.seconds[name] = time.perf_counter() - self._t0
        print(f"  {name}: {self.seconds[name]:.1f} s", flush=True)
        self._t0 = time.perf_counter()


def exhaustive_front(
    table_: ScoreTable, runs: dict[str, list[list[Point]]], reference: Point, best: float
) -> dict[str, Any]:
    """Score every subnet: the true front, and each run's evaluations to 98% of it."""
    table_.evaluate(list(SPACE.grid()))
    everything = list(table_.values.values())
    true = pareto(everything)
    true_best = hypervolume(true, reference)
    return {
        "subnets": len(everything),
        "front_size": len(true),
        "hypervolume": true_best,
        "found_front_share": best / true_best,
        f"evaluations_to_{GOAL:.0%}_of_true_front": {
            m: [evaluations_to_reach(run, GOAL * true_best, reference) for run in method_runs]
            for m, method_runs in runs.items()
        },
    }


def front_members(
    supernet: Supernet, data: Any, table_: ScoreTable, front: list[Point], mode: Mode
) -> tuple[list[dict[str, Any]], float]:
    """Up to ``mode.front_members`` members spread along the front, trained stand-alone."""
    by_point = {v: dict(k) for k, v in table_.values.items()}
    spread_front = front
    if len(front) > mode.front_members:
        picks = np.unique(np.round(np.linspace(0, len(front) - 1, mode.front_members)))
        spread_front = [front[int(i)] for i in picks]
    configs = [by_point[p] for p in spread_front]
    standalone = standalone_errors(supernet, data, configs, mode.front_epochs)
    members = [
        {"assignment": a, "supernet_error": p[0], "flops": p[1], "standalone_error": e}
        for a, p, e in zip(configs, spread_front, standalone, strict=True)
    ]
    return members, kendall_tau([m["supernet_error"] for m in members], standalone)[0]


def measure(mode_name: str, mode: Mode, device: str) -> Measured:
    """Every phase of the benchmark, in order."""
    phases = Phases()
    supernet, data, scoring = study_module.train_digits_supernet(mode.epochs, progress=False)
    supernet.eval()
    phases.done("supernet_training")
    throughput = measure_throughput(supernet, scoring, mode.throughput_subnets)
    phases.done("throughput")
    table_ = ScoreTable(supernet, scoring)
    ranking = measure_ranking(supernet, data, table_, mode.tau_subnets)
    phases.done("ranking")
    runs: dict[str, list[list[Point]]] = {m: [] for m in mode.budgets}
    for method, budget in mode.budgets.items():
        runs[method] = [run_search(method, seed, budget, table_) for seed in mode.seeds]
        phases.done(f"search_{method}")
    state = {k: v.detach().cpu() for k, v in supernet.state_dict().items()}
    ray = ray_studies(state, mode.ray_trials)
    phases.done("ray_studies")
    front = pareto([p for method_runs in runs.values() for run in method_runs for p in run])
    reference = (1.1 * max(p[0] for p in front), 1.1 * max(p[1] for p in front))
    best = hypervolume(front, reference)
    needed: dict[str, list[int | None]] = {
        m: [evaluations_to_reach(run, GOAL * best, reference) for run in method_runs]
        for m, method_runs in runs.items()
    }
    true_front = None
    if mode.exhaustive:
        true_front = exhaustive_front(table_, runs, reference, best)
        phases.done("exhaustive_scoring")
    members, member_tau = front_members(supernet, data, table_, front, mode)
    phases.done("front_standalone")
    return Measured(
        mode_name, mode, phases.seconds, throughput, ranking, runs, needed, reference, best,
        ray, true_front, members, member_tau, table_, device,
    )  # fmt: skip


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, write the report and the plot, print one summary line."""
    opts: Options = parse((__doc__ or "").splitlines()[0], argv, seeds="3")
    mode = replace(MODES[opts.mode], seeds=opts.seeds)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    logging.getLogger("symtune.search").setLevel(logging.WARNING)
    started = time.perf_counter()
    measured = measure(opts.mode, mode, opts.device)
    opts.out.mkdir(parents=True, exist_ok=True)
    plot(opts.out / "supernet.png", list(measured.table_.values.values()), measured.members,
         measured.ranking)  # fmt: skip
    report = build_report(measured)
    report.figures["total_seconds"] = time.perf_counter() - started
    json_path, _ = report.write(opts.out)
    met = sum(t["met"] for t in report.targets)
    medians = report.figures["search"]["median_evaluations_to_goal"]
    print(
        f"supernet ({opts.mode}): tau {measured.ranking['kendall_tau']:.2f} (parameters "
        f"{measured.ranking['kendall_tau_params']:.2f}, FLOPs "
        f"{measured.ranking['kendall_tau_flops']:.2f}) over {mode.tau_subnets} subnets, "
        f"converged {measured.ranking['converged_count']}/{mode.tau_subnets}; "
        f"{measured.throughput['per_second_1_thread']['mean']:.0f} "
        f"subnets/s; evaluations to 98% of the best front's hypervolume (median of "
        f"{len(mode.seeds)}): predictor {_text(medians['predictor'])}, NSGA-II "
        f"{_text(medians['nsga2'])}, random {_text(medians['random'])}; targets met "
        f"{met}/{len(report.targets)} -> {json_path}"
    )
    return report.figures


def _median(values: Sequence[int | None], budget: int) -> float:
    """The median, counting a run that never reached the goal as ``budget + 1``."""
    return float(statistics.median([v if v is not None else budget + 1 for v in values]))


def _describe(assignment: dict[str, Any]) -> str:
    """``width 2/4/16, kernel 3/3/5, depth 1/2/3``: one value per stage."""
    stages = sorted({name.split(".")[0] for name in assignment})
    return ", ".join(
        f"{field} " + "/".join(str(assignment[f"{stage}.{field}"]) for stage in stages)
        for field in ("width", "kernel", "depth")
    )


def _text(value: float) -> str:
    return f"{value:.0f}"


def build_report(r: Measured) -> Report:
    """The report: figures, the issue's targets and the Markdown body."""
    mode = r.mode
    medians = {m: _median(v, mode.budgets[m]) for m, v in r.needed.items()}
    report = Report(
        name="supernet",
        mode="quick" if r.mode_name == "quick" else "full",
        description=(
            f"`symtune.studies.digits_supernet` ({SPACE.cardinality:,} subnets): supernet "
            f"trained {mode.epochs} epochs on CPU (one torch thread); {len(mode.seeds)} search "
            f"seeds per method; budgets: NSGA-II and random {mode.budget}, predictor-guided "
            f"{mode.predictor_budget} evaluations. See the script's docstring for the method."
        ),
        setup={"mode": asdict(mode), "device": r.device},
        repeats={
            **{f"search {m}": len(runs) for m, runs in r.runs.items()},
            "throughput (per thread count)": len(r.throughput["per_second_1_thread"]["values"]),
            **{f"Ray study {m}": 1 for m in ("predictor", "nsga2")},
        },
        device=r.device,
    )
    report.figures = figures(r, medians)
    report.target("Kendall tau, supernet vs stand-alone", r.ranking["kendall_tau"], 0.7, "higher")
    best_baseline = max(r.ranking["kendall_tau_params"], r.ranking["kendall_tau_flops"])
    report.target(
        "Kendall tau margin, supernet - best of parameters and FLOPs",
        r.ranking["kendall_tau"] - best_baseline,
        0.1,
        "higher",
    )
    report.target(
        "subnets scored per second (BN recalibration, 1 thread)",
        r.throughput["per_second_1_thread"]["mean"],
        50.0,
        "higher",
    )
    report.target(
        "evaluations to 98% hypervolume: predictor / NSGA-II (medians)",
        medians["predictor"] / medians["nsga2"],
        1 / 3,
        "lower",
    )
    report.markdown += scoring_markdown(r)
    report.markdown += search_markdown(r, medians, report.figures)
    report.markdown += front_markdown(r, report.figures)
    return report


def figures(r: Measured, medians: dict[str, float]) -> dict[str, Any]:
    """Every figure of the run, for the JSON."""
    reference, best = r.reference, r.best
    ray = {
        k: (
            {
                **{kk: vv for kk, vv in v.items() if kk != "values"},
                "hypervolume_share": hypervolume(v["values"], reference) / best,
                "evaluations_to_goal": evaluations_to_reach(v["values"], GOAL * best, reference),
            }
            if isinstance(v, dict)
            else v
        )
        for k, v in r.ray.items()
    }
    if not torch.cuda.is_available():
        cuda = {"measured": False, "why": "no GPU was lent to this session"}
    else:
        cuda = {"measured": False, "why": "CUDA figures are not implemented in this script"}
    return {
        "mode": asdict(r.mode),
        "seconds": r.seconds,
        "subnets_scored": len(r.table_.values),
        "scoring_seconds_in_table": r.table_.seconds,
        "throughput": r.throughput,
        "ranking": r.ranking,
        "search": {
            "goal": GOAL,
            "reference_point": reference,
            "best_front": pareto([p for rs in r.runs.values() for run in rs for p in run]),
            "best_front_hypervolume": best,
            "evaluations_to_goal": r.needed,
            "median_evaluations_to_goal": medians,
            "final_hypervolume_share": {
                m: [hypervolume(run, reference) / best for run in rs] for m, rs in r.runs.items()
            },
            "predictor_config": asdict(PREDICTOR),
            "nsga2_population": NSGA2_POPULATION,
        },
        "true_front": r.true_front,
        "ray_studies": ray,
        "front_members": r.members,
        "front_members_tau": r.member_tau,
        "cuda": cuda,
    }


def scoring_markdown(r: Measured) -> list[str]:
    rate1, rate2 = r.throughput["per_second_1_thread"], r.throughput["per_second_2_threads"]
    md = ["## Scoring throughput", ""]
    md += table(
        ["torch threads", "subnets/s (mean)", "std", "repeats"],
        [
            [1, rate1["mean"], rate1["std"], rate1["n"]],
            [2, rate2["mean"], rate2["std"], rate2["n"]],
        ],
    )
    md += [
        "",
        f"Each score: activate the subnet, recalibrate batch norm on one batch of 256 training "
        f"images, evaluate the {sum(len(y) for _, y in r.table_.scoring.val)} validation "
        f"images. {r.throughput['subnets']} random subnets per repeat.",
        "",
    ]
    return md + ranking_markdown(r.ranking)


def ranking_markdown(ranking: dict[str, Any]) -> list[str]:
    """The ranking section: the three taus against a converged stand-alone reference."""
    config = ranking["standalone"]
    md = ["## Ranking quality", ""]
    md += table(
        ["ranked by", "Kendall tau vs stand-alone (higher = better)"],
        [["supernet validation error", ranking["kendall_tau"]],
         ["parameters (more predicted better)", ranking["kendall_tau_params"]],
         ["FLOPs (more predicted better)", ranking["kendall_tau_flops"]]],
    )  # fmt: skip
    epochs = ranking["standalone_epochs"]
    md += [
        "",
        f"Over {ranking['subnets']} random subnets (supernet p = {ranking['p_value']:.2g}). The "
        f"stand-alone reference trains each subnet to convergence ({config['optimizer']}, "
        f"lr {config['lr']:g}, cosine over the cap): it stops once the validation loss has not "
        f"improved by {config['min_delta']:.1%} for {config['patience']} epochs in a row, at "
        f"most {config['epochs']} epochs, and scores the best epoch's weights. Converged "
        f"(stopped by the flat validation loss, not the cap): **{ranking['converged_count']}/"
        f"{ranking['subnets']}**; epochs run: median {ranking['standalone_median_epochs']:g}, "
        f"min {min(epochs):g}, max {max(epochs):g}; {ranking['standalone_seconds']:.0f} s in "
        "all. One seed per subnet.",
        "",
    ]
    return md


def search_markdown(r: Measured, medians: dict[str, float], figs: dict[str, Any]) -> list[str]:
    reference, best, budgets = r.reference, r.best, r.mode.budgets
    md = ["## Search: evaluations to 98% of the best front's hypervolume", ""]
    rows = []
    for method, values in r.needed.items():
        shares = [hypervolume(run, reference) / best for run in r.runs[method]]
        rows.append([
            method, budgets[method], " / ".join(_text(v) if v else "not reached" for v in values),
            medians[method], min(shares), len(values),
        ])  # fmt: skip
    md += table(
        ["method", "budget", "evaluations per seed", "median", "min final HV share", "seeds"],
        rows,
    )
    md += [
        "",
        f"Predictor / NSGA-II (medians): **{medians['predictor'] / medians['nsga2']:.3f}**. A "
        "run that never reaches the goal counts as budget + 1 in the median. The best front is "
        f"the Pareto front of everything every run evaluated ({len(figs['search']['best_front'])}"
        f" points); the reference point is ({reference[0]:.3f}, {reference[1]:,.0f} FLOPs).",
    ]
    if r.true_front is not None:
        true_front = r.true_front
        md += [
            "",
            f"All {true_front['subnets']:,} subnets scored: the true front has "
            f"{true_front['front_size']} members; the best front found holds "
            f"{true_front['found_front_share']:.4f} of its hypervolume. Evaluations to 98% of "
            "the true front's hypervolume: "
            + "; ".join(
                f"{m} " + " / ".join(_text(v) if v else "not reached" for v in vs)
                for m, vs in true_front[f"evaluations_to_{GOAL:.0%}_of_true_front"].items()
            )
            + ".",
        ]
    md += ["", "## The same searches as Ray studies (symtune.search, 2 workers)", ""]
    ray_rows = []
    for method in ("predictor", "nsga2"):
        ray = figs["ray_studies"][method]
        ray_rows.append([
            method, r.ray["trials"], ray["seconds"], ray["trials_per_second"],
            ray["hypervolume_share"], ray["evaluations_to_goal"] or "not reached",
        ])  # fmt: skip
    md += table(
        ["sampler", "trials", "seconds", "trials/s", "HV share of best front", "trials to 98%"],
        ray_rows,
    )
    md += [
        "",
        "Each Ray worker receives the supernet's weights once (with the objective) and scores "
        "one subnet per trial; the predictor refits in the driver when its queue runs dry. "
        "Each Ray study ran once (no spread).",
        "",
    ]
    return md


def front_markdown(r: Measured, figs: dict[str, Any]) -> list[str]:
    md = ["## The final front, trained stand-alone", "", "![front](supernet.png)", ""]
    md += table(
        ["FLOPs", "supernet accuracy", f"stand-alone accuracy ({r.mode.front_epochs} epochs)",
         "subnet (per stage)"],
        [[f"{m['flops']:,.0f}", 1 - m["supernet_error"], 1 - m["standalone_error"],
          _describe(m["assignment"])] for m in r.members],
    )  # fmt: skip
    md += [
        "",
        f"Kendall's tau along the front (supernet vs stand-alone error): {r.member_tau:.2f}.",
        "",
        "## Time",
        "",
    ]
    md += table(["phase", "seconds"], [[k, v] for k, v in r.seconds.items()])
    return [*md, "", "CUDA: " + figs["cuda"]["why"] + "."]


if __name__ == "__main__":
    main()
