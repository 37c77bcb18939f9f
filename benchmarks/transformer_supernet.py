"""Weight-sharing supernet of byte-level GPTs: training cost, ranking, search and scoring cost.

Issue 11's figures, all on ``symtune.studies.stdlib_lm`` (6,561 GPT subnets over bytes of the
Python stdlib; objectives validation bits per byte and parameters, both minimised), in one
run, with the study's data, space, supernet and recipes:

1. data: the study's fixed training and validation windows (``load_lm_data``);
2. supernet training by the study's recipe (sandwich rule, in-place distillation), timed,
   against the largest subnet trained alone in plain PyTorch (``fit_standalone`` without
   patience: the same optimiser, batch size and number of steps); tokens/s of both;
3. the score table: every subnet scored with inherited weights (full mode; quick mode a
   sample; each of the 2,457 distinct networks among the 6,561 assignments once), bits per
   byte and the exact parameter count: the true front, and the seconds one trial's scoring
   takes (``Supernet.score``);
4. search on the table (a lookup, no re-scoring): predictor-guided (the study's sampler),
   NSGA-II (Optuna's, population 50, symtune's default) and random search, ``--seeds`` each;
   real evaluations until the front reaches 98% of the true front's hypervolume (reference
   point: the study's), also against a tight reference point (1.1 x the true front's nadir);
5. ranking: subnets ``SPACE.sample(100..100+n-1)`` trained stand-alone to convergence with the
   study's ``standalone_config()`` (validation loss flat: no 0.1% better in 3 epochs, at most
   40); Kendall's tau of the supernet's validation loss against theirs, beside the parameter
   and FLOPs baselines;
6. scoring cost: the median seconds of one subnet's scoring against the median stand-alone
   training of the ranking subnets;
7. the front plot: the true front with the stand-alone bits per byte of some of its members
   (trained as the ranking subnets are);
8. with ``--device cuda``: supernet training throughput in bf16 against the largest subnet
   trained alone in bf16, and scoring on CUDA; else "not run".

Targets: tau >= 0.7 and >= the best baseline + 0.1; supernet training <= 3x the largest
alone; predictor evaluations <= 1/3 of NSGA-II's (medians); scoring <= 1/100 of a
stand-alone training; on CUDA, supernet throughput >= 0.8x.

Every CPU task runs in one of two worker processes (one torch thread each; a priority queue
keeps both cores busy), so the timed tasks all ran with the other core busy too. Run
``python benchmarks/transformer_supernet.py`` (full, about 25 minutes on 2 cores) or
``--quick`` (under 3 minutes), with ``--seeds N|list``, ``--out DIR`` and ``--device
cpu|cuda|auto``. Writes ``transformer_supernet.json``, ``.md`` and ``.png`` into ``--out``
(``benchmarks/results/`` by default) and prints one summary line.
"""

from __future__ import annotations

import logging
import statistics
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import torch

from symtune.hypernets import RankingResult
from symtune.studies import stdlib_lm as study

sys.path.insert(0, str(Path(__file__).resolve().parent))
from support.lm_supernet import (
    SPACE,
    Key,
    Point,
    Pool,
    Timing,
    blank_supernet,
    evaluations_to_reach,
    gpu_scoring,
    gpu_training,
    hypervolume,
    key,
    pareto,
    plot,
    task_largest_alone,
    task_score,
    task_search,
    task_standalone,
    task_train_supernet,
    tight_reference,
)
from support.options import Options, parse
from support.report import Report, spread, table

REFERENCE: Point = (study.STUDY.reference_point[0], study.STUDY.reference_point[1])
GOAL = 0.98
TOKENS_PER_STEP = study.BATCH_SIZE * study.CONTEXT


RANKING_SAMPLE_START = 100
"""The ranking subnets are ``SPACE.sample(100..)``. The study's distillation weight (0.5) was
chosen by the largest subnet's validation bits per byte after supernet training (pure
distillation, 1.0, left it at 3.14 against 2.45 for 0.5 and 2.34 trained alone); the ranking
taus of that comparison were measured on ``SPACE.sample(0..19)``, so the figures here use other
subnets."""


@dataclass(frozen=True)
class Mode:
    train_windows: int  # the study's 4,096; quick mode fewer
    supernet_epochs: int  # the study's 12: 3,072 sandwich steps
    table_subnets: int | None  # None: every subnet (the true front)
    budget: int  # evaluations of NSGA-II and random search per seed
    predictor_budget: int
    seeds: tuple[int, ...]
    ranking_subnets: int
    standalone_max_epochs: int  # the study's cap (40) and patience (3)
    standalone_patience: int
    front_members: int  # stand-alone members of the front in the plot
    gpu_epochs: int  # timed epochs of the CUDA throughput figures
    gpu_score_subnets: int
    score_chunks: int = 16  # scoring tasks the table is split into
    workers: int = 2

    @property
    def budgets(self) -> dict[str, int]:
        return {"predictor": self.predictor_budget, "nsga2": self.budget, "random": self.budget}


MODES = {
    "full": Mode(
        train_windows=study.TRAIN_WINDOWS,
        supernet_epochs=study.SUPERNET_EPOCHS,
        table_subnets=None,
        budget=3000,
        predictor_budget=300,
        seeds=(0, 1, 2),
        ranking_subnets=20,
        standalone_max_epochs=study.STANDALONE_MAX_EPOCHS,
        standalone_patience=study.STANDALONE_PATIENCE,
        front_members=4,
        gpu_epochs=2,
        gpu_score_subnets=200,
    ),
    "quick": Mode(
        train_windows=1024,
        supernet_epochs=2,
        table_subnets=300,
        budget=150,
        predictor_budget=40,
        seeds=(0, 1, 2),
        ranking_subnets=4,
        standalone_max_epochs=3,
        standalone_patience=1,
        front_members=3,
        gpu_epochs=1,
        gpu_score_subnets=30,
        score_chunks=4,
    ),
}


# -- the run ------------------------------------------------------------------------------------


@dataclass
class Measured:
    """Everything one run measured, for the report."""

    mode_name: str
    mode: Mode
    data: dict[str, Any]
    training: dict[str, Any]
    largest: dict[str, Any]
    table_rows: list[dict[str, Any]]
    searches: dict[str, list[dict[str, Any]]]
    ranking: list[dict[str, Any]]
    ranking_flops: list[int]
    members: list[dict[str, Any]]
    timings: dict[str, Timing]
    main_seconds: dict[str, float]
    gpu: dict[str, Any] = field(default_factory=dict)
    device: str = "cpu"

    @property
    def values(self) -> dict[Key, Point]:
        """Every subnet scored: the table and what the searches scored on top."""
        out = {key(r["assignment"]): (r["bits"], float(r["params"])) for r in self.table_rows}
        for runs in self.searches.values():
            for run in runs:
                out.update(run["scored"])
        return out

    @property
    def true_front(self) -> list[Point]:
        return pareto(list(self.values.values()))


def table_assignments(mode: Mode, extra: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every subnet (full mode), or ``mode.table_subnets`` sampled ones, plus ``extra``."""
    if mode.table_subnets is None:
        chosen = [dict(a) for a in SPACE.grid()]
    else:
        rng = np.random.default_rng(1)
        chosen = [SPACE.sample(int(rng.integers(2**31 - 1))) for _ in range(mode.table_subnets)]
    unique = {key(a): a for a in [*chosen, *extra]}
    return list(unique.values())


def spread_members(front: Sequence[Point], n: int) -> list[Point]:
    """Up to ``n`` members spread evenly along ``front`` (its ends included)."""
    if len(front) <= n:
        return list(front)
    picks = np.unique(np.round(np.linspace(0, len(front) - 1, n)))
    return [front[int(i)] for i in picks]


def network_key(assignment: dict[str, Any]) -> tuple[Any, ...]:
    """The network an assignment makes: the choices of the blocks beyond ``depth`` are unused
    (6,561 assignments, 2,457 distinct networks)."""
    depth = int(assignment["depth"])
    blocks = [(assignment[f"blocks[{i}].heads"], assignment[f"blocks[{i}].mlp_ratio"])
              for i in range(depth)]  # fmt: skip
    return (assignment["width"], depth, *blocks)


def score_table(pool: Pool, state: bytes, todo: list[dict[str, Any]], mode: Mode) -> list[Any]:
    """Every assignment's row; each distinct network is scored once (its row's ``seconds``;
    ``None`` on the rows of the assignments that share it)."""
    first = list({network_key(a): a for a in todo}.values())
    chunks = [first[i :: mode.score_chunks] for i in range(mode.score_chunks)]
    tags = [f"score:{i}" for i, chunk in enumerate(chunks) if chunk]
    for tag, chunk in zip(tags, chunks, strict=False):
        pool.submit(tag, 1, task_score, state, chunk)
    scored = {network_key(row["assignment"]): row for rows in pool.wait(tags).values()
              for row in rows}  # fmt: skip
    return [scored[network_key(a)] if scored[network_key(a)]["assignment"] == a else
            {**scored[network_key(a)], "assignment": a, "seconds": None} for a in todo]  # fmt: skip


def submit_searches(
    pool: Pool, mode: Mode, values: dict[Key, Point], state: bytes
) -> dict[str, list[str]]:
    """The searches as tasks; with every subnet in the table (full mode) each stops once it
    holds 98% of the true front's hypervolume for both reference points."""
    goals: list[tuple[Point, float]] = []
    if mode.table_subnets is None:
        front = pareto(list(values.values()))
        goals = [
            (ref, GOAL * hypervolume(front, ref)) for ref in (REFERENCE, tight_reference(front))
        ]
    tags: dict[str, list[str]] = {}
    for method, budget in mode.budgets.items():
        tags[method] = [f"search:{method}:{seed}" for seed in mode.seeds]
        for tag, seed in zip(tags[method], mode.seeds, strict=True):
            pool.submit(tag, 2, task_search, method, seed, budget, values, state, goals)
    return tags


def run_pool(mode: Mode, ranking_sample: list[dict[str, Any]]) -> dict[str, Any]:
    """Phases 2-7 on the worker pool, both cores busy: the stand-alone runs wait behind the
    timed training, the scoring and the searches, and fill every idle slot."""
    with Pool(mode.workers) as pool:
        pool.submit("train:supernet", 0, task_train_supernet, mode)
        pool.submit("train:largest", 0, task_largest_alone, mode)
        ranking_tags = [f"ranking:{i}" for i in range(len(ranking_sample))]
        sizes = [blank_supernet().subnet_params(a) for a in ranking_sample]
        for i in sorted(range(len(sizes)), key=lambda i: -sizes[i]):  # the longest runs first
            pool.submit(ranking_tags[i], 3, task_standalone, ranking_sample[i], mode)
        training = pool.wait(["train:supernet"])["train:supernet"]
        state = training["state"]
        extra = [*ranking_sample, blank_supernet().largest_assignment()]
        rows = score_table(pool, state, table_assignments(mode, extra), mode)
        values = {key(r["assignment"]): (r["bits"], float(r["params"])) for r in rows}
        by_point = {v: dict(k) for k, v in values.items()}
        members = [
            by_point[p] for p in spread_members(pareto(list(values.values())), mode.front_members)
        ]
        member_tags = [f"front:{i}" for i in range(len(members))]
        for tag, assignment in zip(member_tags, members, strict=True):
            pool.submit(tag, 2, task_standalone, assignment, mode)
        search_tags = submit_searches(pool, mode, values, state)
        searches = {m: list(pool.wait(tags).values()) for m, tags in search_tags.items()}
        return {
            "training": training,
            "largest": pool.wait(["train:largest"])["train:largest"],
            "rows": rows,
            "searches": searches,
            "ranking": list(pool.wait(ranking_tags).values()),
            "members": list(pool.wait(member_tags).values()),
            "timings": dict(pool.timings),
        }


def measure(mode_name: str, mode: Mode, device: str) -> Measured:
    """Every phase of the benchmark, in order (2-7 overlapping on the pool)."""
    main: dict[str, float] = {}
    start = time.perf_counter()
    data = study.load_lm_data(train_windows=mode.train_windows)
    summary = data.summary()
    main["data"] = time.perf_counter() - start
    ranking_sample = [SPACE.sample(RANKING_SAMPLE_START + i) for i in range(mode.ranking_subnets)]
    start = time.perf_counter()
    out = run_pool(mode, ranking_sample)
    main["pool (phases 2-7)"] = time.perf_counter() - start
    start = time.perf_counter()
    flops = [blank_supernet().subnet_flops(a) for a in ranking_sample]
    main["ranking FLOPs"] = time.perf_counter() - start
    training = {k: v for k, v in out["training"].items() if k != "state"}
    measured = Measured(
        mode_name,
        mode,
        summary,
        training,
        out["largest"],
        out["rows"],
        out["searches"],
        out["ranking"],
        flops,
        out["members"],
        out["timings"],
        main,
        device=device,
    )
    for member in measured.members:
        member["supernet_bits"], member["params"] = measured.values[key(member["assignment"])]
    if device == "cuda":
        start = time.perf_counter()
        measured.gpu = {
            "training": gpu_training(mode),
            "scoring": gpu_scoring(mode, out["training"]["state"], measured.values),
        }
        main["gpu"] = time.perf_counter() - start
    return measured


# -- the report ---------------------------------------------------------------------------------


def ranking_result(r: Measured) -> RankingResult:
    """Supernet validation loss (inherited weights) against converged stand-alone loss."""
    values = {key(row["assignment"]): row for row in r.table_rows}
    rows = [values[key(run["assignment"])] for run in r.ranking]
    return RankingResult.from_scores(
        [row["loss"] for row in rows],
        [run["loss"] for run in r.ranking],
        params=[row["params"] for row in rows],
        flops=r.ranking_flops,
        metric="loss",
        assignments=[run["assignment"] for run in r.ranking],
        standalone_epochs=[run["epochs"] for run in r.ranking],
        converged=[run["converged"] for run in r.ranking],
        standalone_patience=r.mode.standalone_patience,
    )


def _median(values: Sequence[int | None], budget: int) -> float:
    """The median, counting a run that never reached the goal as ``budget + 1``."""
    return float(statistics.median([v if v is not None else budget + 1 for v in values]))


def search_figures(r: Measured) -> dict[str, Any]:
    """Evaluations to 98% of the true front's hypervolume, per method and seed, for the
    study's reference point and a tight one; the final shares."""
    front = r.true_front
    out: dict[str, Any] = {"goal": GOAL, "true_front_size": len(front)}
    for name, reference in (("study", REFERENCE), ("tight", tight_reference(front))):
        best = hypervolume(front, reference)
        needed = {
            m: [evaluations_to_reach(run["values"], GOAL * best, reference) for run in runs]
            for m, runs in r.searches.items()
        }
        medians = {m: _median(v, r.mode.budgets[m]) for m, v in needed.items()}
        out[name] = {
            "reference_point": reference,
            "true_front_hypervolume": best,
            "evaluations_to_goal": needed,
            "median_evaluations_to_goal": medians,
            "spread_evaluations_to_goal": {
                m: spread([v if v is not None else r.mode.budgets[m] + 1 for v in vs])
                for m, vs in needed.items()
            },
            "final_hypervolume_share": {
                m: [hypervolume(run["values"], reference) / best for run in runs]
                for m, runs in r.searches.items()
            },
            "predictor_over_nsga2": medians["predictor"] / medians["nsga2"],
        }
    out["evaluations_run"] = {
        m: [len(run["values"]) for run in runs] for m, runs in r.searches.items()
    }
    return out


def phase_times(r: Measured) -> dict[str, dict[str, Any]]:
    """Per phase: its tasks, their summed seconds (each on one core) and its span (from the
    first task's start to the last one's end)."""
    groups: dict[str, list[Timing]] = {}
    names = {
        "train:supernet": "2 supernet training",
        "train:largest": "2 largest alone",
        "score": "3 score table",
        "search": "4 search",
        "ranking": "5 ranking stand-alone",
        "front": "7 front members stand-alone",
    }
    for tag, timing in r.timings.items():
        prefix = tag if tag.startswith("train:") else tag.split(":")[0]
        groups.setdefault(names[prefix], []).append(timing)
    t0 = min(t.start for t in r.timings.values())
    return {
        name: {
            "tasks": len(ts),
            "task_seconds": sum(t.seconds for t in ts),
            "span_seconds": max(t.end for t in ts) - min(t.start for t in ts),
            "started_at_s": min(t.start for t in ts) - t0,
        }
        for name, ts in sorted(groups.items())
    }


def figures(r: Measured, ranking: RankingResult) -> dict[str, Any]:
    """Every figure of the run, for the JSON."""
    train, largest = r.training, r.largest
    seconds = [row["seconds"] for row in r.table_rows if row["seconds"] is not None]
    standalone = [run["seconds"] for run in r.ranking]
    front = r.true_front
    by_point = {v: dict(k) for k, v in r.values.items()}
    return {
        "data": r.data,
        "training": {
            "supernet": {
                **train,
                "tokens_per_second": train["steps"] * TOKENS_PER_STEP / train["seconds"],
            },
            "largest_alone": {
                **largest,
                "tokens_per_second": largest["steps"] * TOKENS_PER_STEP / largest["seconds"],
            },
            "ratio": train["seconds"] / largest["seconds"],
            "supernet_largest_val_bits": r.values[key(blank_supernet().largest_assignment())][0],
        },
        "score_table": {
            "subnets": len(r.table_rows),
            "networks_scored": len(seconds),
            "all_subnets": r.mode.table_subnets is None,
            "median_seconds": statistics.median(seconds),
            "seconds": spread(seconds),
            "true_front": [
                {"bits": b, "params": p, "assignment": by_point[(b, p)]} for b, p in front
            ],
        },
        "search": search_figures(r),
        "ranking": {
            **ranking.to_dict(),
            "summary": ranking.summary(),
            "standalone_seconds": standalone,
            "runs": r.ranking,
            "cap_epochs": r.mode.standalone_max_epochs,
        },
        "scoring_cost": {
            "median_score_seconds": statistics.median(seconds),
            "median_standalone_seconds": statistics.median(standalone),
            "ratio": statistics.median(seconds) / statistics.median(standalone),
        },
        "front_members": r.members,
        "cuda": {"measured": True, **r.gpu} if r.gpu else {"measured": False, "why": _no_gpu(r)},
        "phases": phase_times(r),
        "main_process_seconds": r.main_seconds,
    }


def _no_gpu(r: Measured) -> str:
    if torch.cuda.is_available():
        return "not run: --device cpu (give --device cuda)"
    return "not run: no GPU"


def build_report(r: Measured) -> Report:
    """The report: figures, the issue's targets and the Markdown body."""
    ranking = ranking_result(r)
    figs = figures(r, ranking)
    report = Report(
        name="transformer_supernet",
        mode="quick" if r.mode_name == "quick" else "full",
        description=(
            f"`symtune.studies.stdlib_lm` ({SPACE.cardinality:,} byte-level GPT subnets; "
            f"Python {r.data['python_version']} stdlib): supernet trained {r.mode.supernet_epochs}"
            f" epochs over {r.mode.train_windows:,} windows on CPU; {r.mode.workers} worker "
            "processes of one torch thread each. See the script's docstring for the method."
        ),
        setup={"mode": asdict(r.mode), "device": r.device, "reference_point": REFERENCE},
        repeats={
            **{f"search {m}": len(runs) for m, runs in r.searches.items()},
            "supernet training": 1,
            "largest alone": 1,
            "stand-alone runs per ranking subnet": 1,
        },
        device=r.device,
    )
    report.figures = figs
    report.target("Kendall tau, supernet vs converged stand-alone", ranking.tau, 0.7, "higher")
    report.target(
        "supernet tau minus the best baseline's (params, FLOPs)",
        ranking.tau - ranking.best_baseline_tau,
        0.1,
        "higher",
    )
    report.target(
        "supernet training / largest subnet alone (wall time)",
        figs["training"]["ratio"],
        3.0,
        "lower",
    )
    report.target(
        "evaluations to 98% hypervolume: predictor / NSGA-II (medians)",
        figs["search"]["study"]["predictor_over_nsga2"],
        1 / 3,
        "lower",
    )
    report.target(
        "scoring one subnet / its stand-alone training (medians)",
        figs["scoring_cost"]["ratio"],
        0.01,
        "lower",
    )
    if r.gpu:
        report.target(
            "CUDA bf16 throughput: supernet / largest alone (tokens/s)",
            r.gpu["training"]["throughput_ratio"],
            0.8,
            "higher",
        )
    report.markdown += training_markdown(r, figs)
    report.markdown += search_markdown(r, figs)
    report.markdown += ranking_markdown(r, ranking, figs)
    report.markdown += front_markdown(r, figs)
    return report


def training_markdown(r: Measured, figs: dict[str, Any]) -> list[str]:
    d, t, table_ = r.data, figs["training"], figs["score_table"]
    md = [
        "## Data",
        "",
        f"Python {d['python_version']} stdlib, {d['files']['train']} / {d['files']['val']} / "
        f"{d['files']['test']} files ({d['bytes']['train']:,} / {d['bytes']['val']:,} / "
        f"{d['bytes']['test']:,} bytes) for training / validation / test; "
        f"{d['train_windows']:,} training and {d['val_windows']} validation windows of "
        f"{d['context']} bytes.",
        "",
        "## Supernet training against the largest subnet alone",
        "",
    ]
    rows = [
        [
            name,
            t[k]["steps"],
            t[k]["seconds"],
            1000 * t[k]["seconds"] / t[k]["steps"],
            t[k]["tokens_per_second"],
        ]
        for name, k in (
            ("supernet (sandwich, 4 subnets a step)", "supernet"),
            ("largest subnet alone (fit_standalone)", "largest_alone"),
        )
    ]
    md += table(["training", "steps", "seconds", "ms/step", "tokens/s"], rows)
    md += [
        "",
        f"Ratio: **{t['ratio']:.2f}x** (target <= 3x). Both batch size "
        f"{study.BATCH_SIZE} x {study.CONTEXT} bytes, AdamW with the study's schedule, one "
        "torch thread, the other core busy with another task of this run. Validation bits "
        f"per byte of the largest subnet: {t['supernet_largest_val_bits']:.3f} with supernet "
        f"weights, {t['largest_alone']['val_bits']:.3f} trained alone for the same steps.",
        "",
        "## Score table",
        "",
        f"{table_['subnets']:,} subnets scored with inherited weights "
        f"({'every subnet' if table_['all_subnets'] else 'a random sample'}; each of the "
        f"{table_['networks_scored']:,} distinct networks among them once: the choices of "
        "blocks beyond the depth are unused); one subnet's "
        f"score (`Supernet.score`: {d['val_windows']} windows) takes "
        f"{1000 * table_['median_seconds']:.1f} ms (median; one thread). The front by "
        f"supernet bits per byte has {len(table_['true_front'])} points.",
        "",
    ]
    return md


def search_markdown(r: Measured, figs: dict[str, Any]) -> list[str]:
    s = figs["search"]
    md = ["## Search: evaluations to 98% of the true front's hypervolume", ""]
    for name in ("study", "tight"):
        part = s[name]
        ref = part["reference_point"]
        md += [
            f"Reference point ({ref[0]:.3g} bits per byte, {ref[1]:,.0f} parameters)"
            + (" (the study's):" if name == "study" else " (1.1 x the true front's nadir):"),
            "",
        ]
        rows = []
        for method, needed in part["evaluations_to_goal"].items():
            rows.append(
                [
                    method,
                    r.mode.budgets[method],
                    " / ".join(str(v) if v else "not reached" for v in needed),
                    part["median_evaluations_to_goal"][method],
                    part["spread_evaluations_to_goal"][method]["std"],
                    min(part["final_hypervolume_share"][method]),
                    len(needed),
                ]
            )
        md += table(
            [
                "method",
                "budget",
                "evaluations per seed",
                "median",
                "std",
                "min final HV share",
                "seeds",
            ],
            rows,
        )
        md += ["", f"Predictor / NSGA-II (medians): **{part['predictor_over_nsga2']:.3f}**.", ""]
    md += [
        "Each search looks subnets up in the score table (no re-scoring; the predictor's "
        "exact parameter count too, the same numbers the study's `subnet_params` gives). "
        "A run that never reaches the goal counts as budget + 1. "
        + (
            "With every subnet in the table the true front is known, so each run stops once "
            "it reaches both goals."
            if r.mode.table_subnets is None
            else "Quick mode: the table is a sample; subnets the searches propose beyond it are "
            "scored once, and the 'true front' is the front of everything scored."
        ),
        "",
    ]
    return md


def ranking_markdown(r: Measured, ranking: RankingResult, figs: dict[str, Any]) -> list[str]:
    epochs = [run["epochs"] for run in r.ranking]
    capped = sum(not run["converged"] for run in r.ranking)
    cost = figs["scoring_cost"]
    md = ["## Ranking against converged stand-alone training", ""]
    md += table(
        ["ranking by", "Kendall tau"],
        [
            ["supernet (validation loss, inherited weights)", ranking.tau],
            ["parameter count (bigger = better)", ranking.tau_params],
            ["FLOPs (bigger = better)", ranking.tau_flops],
        ],
    )
    md += [
        "",
        ranking.summary() + ".",
        "",
        f"{len(r.ranking)} subnets `SPACE.sample({RANKING_SAMPLE_START}.."
        f"{RANKING_SAMPLE_START + len(r.ranking) - 1})` (held out from the recipe's choice, "
        "see the script's docstring), each trained "
        "from scratch with the study's `standalone_config` (AdamW, the supernet's optimiser "
        f"settings). Convergence: after every epoch the validation loss is evaluated; "
        f"training stops once {_epochs(r.mode.standalone_patience)} in a row bring no 0.1% "
        f"improvement over the best so far (the best epoch's weights and scores are kept), "
        f"at most {r.mode.standalone_max_epochs} epochs. Converged "
        f"{len(r.ranking) - capped}/{len(r.ranking)}; {capped} hit the cap. Epochs: median "
        f"{statistics.median(epochs):g}, range {min(epochs)}-{max(epochs)}; seconds per "
        f"run: median {cost['median_standalone_seconds']:.0f}.",
        "",
        "## Scoring cost",
        "",
        f"One subnet scored with inherited weights: {1000 * cost['median_score_seconds']:.1f}"
        f" ms; one trained stand-alone to convergence: {cost['median_standalone_seconds']:.0f}"
        f" s (medians): **{cost['ratio']:.2e}** (target <= 1/100).",
        "",
    ]
    return md


def front_markdown(r: Measured, figs: dict[str, Any]) -> list[str]:
    md = [
        "## The front, and some members trained stand-alone",
        "",
        "![front](transformer_supernet.png)",
        "",
    ]
    md += table(
        [
            "parameters",
            "supernet bits/byte",
            "stand-alone bits/byte",
            "epochs",
            "converged",
            "subnet",
        ],
        [
            [
                m["params"],
                m["supernet_bits"],
                m["bits"],
                m["epochs"],
                m["converged"],
                _describe(m["assignment"]),
            ]
            for m in sorted(r.members, key=lambda m: m["params"])
        ],
    )
    md += ["", "## CUDA", ""]
    if r.gpu:
        g, s = r.gpu["training"], r.gpu["scoring"]
        md += [
            f"{g['device']}, bf16, {g['steps']} steps each: supernet "
            f"{g['supernet_tokens_per_second']:,.0f} tokens/s, largest alone "
            f"{g['largest_tokens_per_second']:,.0f}: **{g['throughput_ratio']:.2f}x** "
            f"(target >= 0.8x). Scoring {s['subnets']} subnets: fp32 "
            f"{1000 * s['fp32']['median_seconds']:.2f} ms, bf16 "
            f"{1000 * s['bf16']['median_seconds']:.2f} ms a subnet (medians); largest "
            f"|bits per byte - CPU's|: fp32 {s['fp32']['max_abs_bits_diff_vs_cpu']:.2g}, "
            f"bf16 {s['bf16']['max_abs_bits_diff_vs_cpu']:.2g}.",
            "",
        ]
    else:
        md += [figs["cuda"]["why"] + ".", ""]
    md += ["## Time", ""]
    md += table(
        ["phase", "tasks", "task seconds (one core each)", "span seconds", "started at"],
        [
            [k, v["tasks"], v["task_seconds"], v["span_seconds"], v["started_at_s"]]
            for k, v in figs["phases"].items()
        ],
    )
    md += [
        "",
        "Main process: " + ", ".join(f"{k} {v:.1f} s" for k, v in r.main_seconds.items()) + ".",
    ]
    return md


def _epochs(n: int) -> str:
    return f"{n} epoch{'' if n == 1 else 's'}"


def _describe(assignment: dict[str, Any]) -> str:
    """``width 64, depth 2, heads 4/2, mlp 3/4``: the blocks in use only."""
    depth = int(assignment["depth"])
    heads = "/".join(str(assignment[f"blocks[{i}].heads"]) for i in range(depth))
    mlp = "/".join(str(assignment[f"blocks[{i}].mlp_ratio"]) for i in range(depth))
    return f"width {assignment['width']}, depth {depth}, heads {heads}, mlp {mlp}"


# -- main ---------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, write the report and the plot, print one summary line."""
    opts: Options = parse((__doc__ or "").splitlines()[0], argv, seeds="3")
    mode = replace(MODES[opts.mode], seeds=opts.seeds)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    logging.getLogger("symtune.search").setLevel(logging.WARNING)
    torch.set_num_threads(1)
    started = time.perf_counter()
    measured = measure(opts.mode, mode, opts.device)
    opts.out.mkdir(parents=True, exist_ok=True)
    report = build_report(measured)
    plot(
        opts.out / "transformer_supernet.png",
        measured.values,
        measured.members,
        ranking_result(measured),
    )
    report.figures["total_seconds"] = time.perf_counter() - started
    json_path, _ = report.write(opts.out)
    figs, met = report.figures, sum(t["met"] for t in report.targets)
    medians = figs["search"]["study"]["median_evaluations_to_goal"]
    print(
        f"transformer_supernet ({opts.mode}): tau {figs['ranking']['tau']:.2f} (params "
        f"{figs['ranking']['tau_params']:.2f}, FLOPs {figs['ranking']['tau_flops']:.2f}) over "
        f"{len(measured.ranking)} subnets; training {figs['training']['ratio']:.2f}x the largest "
        f"alone; evaluations to 98% (median of {len(mode.seeds)}): predictor "
        f"{medians['predictor']:.0f}, NSGA-II {medians['nsga2']:.0f}, random "
        f"{medians['random']:.0f}; scoring {figs['scoring_cost']['ratio']:.1e} of a stand-alone"
        f" run; targets met {met}/{len(report.targets)}; {figs['total_seconds']:.0f} s -> "
        f"{json_path}"
    )
    return figs


if __name__ == "__main__":
    main()
