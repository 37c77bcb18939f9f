"""The worker side of ``benchmarks/transformer_supernet.py`` (private to it; not installed).

The language-model benchmark keeps both cores of a 2-core machine busy, one torch thread a
process: :class:`Pool` holds spawned worker processes fed from a priority queue (a task is
handed to a worker only when one is free, so a task submitted later with a higher priority
still runs before queued ones), and times each task inside its worker (``time.perf_counter``
for its duration, ``time.time`` for when it ran, so the spans of a phase's tasks can be read
against each other). The tasks: the study's supernet trained by its recipe, the largest subnet
trained alone, subnets trained stand-alone to convergence, scoring with inherited weights, and
searches on the score table (a lookup objective). Every task uses the study's data, space,
supernet and recipes (``symtune.studies.stdlib_lm``); a task's ``mode`` is the benchmark's
``Mode``.
"""

from __future__ import annotations

import functools
import heapq
import io
import math
import multiprocessing
import statistics
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import torch

from symtune.hypernets import RankingResult, Supernet, fit_standalone, train_supernet
from symtune.search import hypervolume_of_losses
from symtune.studies import stdlib_lm as study
from symtune.studies.text import bits_per_byte

Point = tuple[float, float]  # (bits per byte, parameters)
Key = tuple[tuple[str, Any], ...]
SPACE = study.SPACE
NSGA2_POPULATION = 50  # Optuna's default, which symtune's studies use
TOKENS_PER_STEP = study.BATCH_SIZE * study.CONTEXT


@dataclass(frozen=True)
class Timing:
    """When a task ran (``time.time()`` at start and end) and how long (perf counter)."""

    start: float
    end: float
    seconds: float


def _timed(fn: Callable[..., Any], args: tuple[Any, ...]) -> tuple[Any, Timing]:
    start, clock = time.time(), time.perf_counter()
    result = fn(*args)
    return result, Timing(start, time.time(), time.perf_counter() - clock)


def _one_thread() -> None:
    import torch

    torch.set_num_threads(1)  # two busy threads on two cores crawl


class Pool:
    """``workers`` spawned processes (one torch thread each) fed from a priority queue.

    ``submit(tag, priority, fn, *args)`` queues a task (lower priority numbers run first; ties
    in submission order); ``wait(tags)`` runs tasks until every tag named has finished and
    returns their results. ``timings[tag]`` says when each finished task ran. A task that
    raises re-raises in ``wait``.
    """

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise ValueError(f"`workers >= 1` must hold, but got workers={workers} (Pool)")
        self.workers = workers
        self._executor = ProcessPoolExecutor(
            workers, mp_context=multiprocessing.get_context("spawn"), initializer=_one_thread
        )
        self._queue: list[tuple[int, int, str, Callable[..., Any], tuple[Any, ...]]] = []
        self._running: dict[Future[Any], str] = {}
        self._count = 0
        self.results: dict[str, Any] = {}
        self.timings: dict[str, Timing] = {}

    def submit(self, tag: str, priority: int, fn: Callable[..., Any], *args: Any) -> None:
        """Queue ``fn(*args)`` under ``tag`` (unique)."""
        known = tag in self.results or any(tag == t for *_, t, _, _ in self._queue)
        if known or tag in self._running.values():
            raise ValueError(f"task tag {tag!r} is already used (Pool.submit)")
        heapq.heappush(self._queue, (priority, self._count, tag, fn, args))
        self._count += 1
        self._fill()

    def _fill(self) -> None:
        while self._queue and len(self._running) < self.workers:
            _, _, tag, fn, args = heapq.heappop(self._queue)
            self._running[self._executor.submit(_timed, fn, args)] = tag

    def wait(self, tags: Iterable[str]) -> dict[str, Any]:
        """Run queued tasks until every one of ``tags`` has finished; their results."""
        wanted = list(tags)
        queued = {t for *_, t, _, _ in self._queue} | set(self._running.values())
        unknown = [t for t in wanted if t not in self.results and t not in queued]
        if unknown:
            raise ValueError(f"no task was submitted under {unknown} (Pool.wait)")
        while any(t not in self.results for t in wanted):
            done, _ = wait(list(self._running), return_when=FIRST_COMPLETED)
            for future in done:
                tag = self._running.pop(future)
                self.results[tag], self.timings[tag] = future.result()
                print(f"  {tag}: {self.timings[tag].seconds:.1f} s", flush=True)
            self._fill()
        return {t: self.results[t] for t in wanted}

    def close(self) -> None:
        """Stop the workers (queued tasks are dropped)."""
        self._queue.clear()
        self._executor.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def key(assignment: dict[str, Any]) -> Key:
    return tuple(sorted(assignment.items()))


# -- worker tasks (each in a pool process, one torch thread) ------------------------------------


def _pack(supernet: Supernet) -> bytes:
    buffer = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in supernet.state_dict().items()}, buffer)
    return buffer.getvalue()


def trained_supernet(state: bytes, device: str = "cpu") -> Supernet:
    """The study's supernet with the weights of ``state`` (``_pack``), in eval mode."""
    with torch.random.fork_rng():
        supernet = study.new_supernet()
    supernet.load_state_dict(torch.load(io.BytesIO(state), weights_only=True))
    return supernet.to(device).eval()


@functools.cache
def blank_supernet() -> Supernet:
    """An untrained supernet: builds stand-alone subnets and counts FLOPs (architecture only)."""
    with torch.random.fork_rng():
        return study.new_supernet()


def task_train_supernet(mode: Any) -> dict[str, Any]:
    """The study's supernet trained by its recipe (``train_lm_supernet``'s seeding), timed."""
    data = study.load_lm_data(train_windows=mode.train_windows)
    start = time.perf_counter()
    with torch.random.fork_rng():
        torch.manual_seed(0)
        supernet = study.new_supernet()
    history = train_supernet(
        supernet, data.train, study.supernet_train_config(mode.supernet_epochs)
    )
    seconds = time.perf_counter() - start
    return {
        "state": _pack(supernet),
        "seconds": seconds,
        "steps": history.steps,
        "largest_loss": history.largest_loss,
        "mean_loss": history.mean_loss,
    }


def task_largest_alone(mode: Any) -> dict[str, Any]:
    """The largest subnet trained alone in plain PyTorch for as many steps, timed."""
    data = study.load_lm_data(train_windows=mode.train_windows)
    config = study.standalone_config(mode.supernet_epochs, patience=None)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = blank_supernet().build_standalone(blank_supernet().largest_assignment())
        start = time.perf_counter()
        run = fit_standalone(model, data.train, data.val, config, seed=0)
        seconds = time.perf_counter() - start
    steps = mode.supernet_epochs * math.ceil((len(data.train[0]) - 1) / config.batch_size)
    return {"seconds": seconds, "steps": steps, "val_bits": bits_per_byte(run.loss)}


def task_standalone(assignment: dict[str, Any], mode: Any) -> dict[str, Any]:
    """One subnet trained stand-alone to convergence, seeded as ``ranking_check`` seeds it."""
    data = study.load_lm_data(train_windows=mode.train_windows)
    config = study.standalone_config(mode.standalone_max_epochs, patience=mode.standalone_patience)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = blank_supernet().build_standalone(assignment)
        start = time.perf_counter()
        run = fit_standalone(model, data.train, data.val, config, seed=0)
        seconds = time.perf_counter() - start
    return {
        "assignment": assignment,
        "loss": run.loss,
        "bits": bits_per_byte(run.loss),
        "error": run.error,
        "epochs": run.epochs,
        "best_epoch": run.best_epoch,
        "converged": run.converged,
        "val_losses": list(run.val_losses),
        "seconds": seconds,
    }


def task_score(state: bytes, assignments: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each subnet scored with inherited weights as a trial scores it (``Supernet.score``),
    timed, and its exact parameter count."""
    supernet = trained_supernet(state)
    scoring = study.load_lm_data().scoring()  # the validation windows do not depend on train
    out = []
    for assignment in assignments:
        start = time.perf_counter()
        score = supernet.score(assignment, scoring)
        seconds = time.perf_counter() - start
        out.append(
            {
                "assignment": assignment,
                "bits": score.bits,
                "loss": score.loss,
                "params": supernet.subnet_params(assignment),
                "seconds": seconds,
            }
        )
    return out


class Lookup:
    """The score table as an objective: ``(bits, params)`` of a subnet, looked up; a subnet not
    in it (quick mode's partial table) is scored once and kept in ``scored``."""

    def __init__(self, values: dict[Key, Point], state: bytes) -> None:
        self.values, self.state = values, state
        self.scored: dict[Key, Point] = {}
        self._params: dict[Key, float] = {}
        self._supernet: Supernet | None = None

    def __call__(self, assignment: dict[str, Any]) -> Point:
        k = key(assignment)
        if k not in self.values:
            if self._supernet is None:
                self._supernet = trained_supernet(self.state)
            bits = self._supernet.score(assignment, study.load_lm_data().scoring()).bits
            params = float(self._supernet.subnet_params(assignment))
            self.values[k] = self.scored[k] = (bits, params)
        return self.values[k]

    def params(self, assignment: dict[str, Any]) -> float:
        """The exact parameter count (the predictor's exact objective): from the table, else
        counted once (``Supernet.subnet_params``, what the study's ``subnet_params`` does)."""
        k = key(assignment)
        if k in self.values:
            return self.values[k][1]
        if k not in self._params:
            self._params[k] = float(blank_supernet().subnet_params(assignment))
        return self._params[k]


class Goals:
    """Tracks a run's front and stops the study once it holds ``GOAL`` of each reference
    front's hypervolume (full mode, where the true front is known before the search)."""

    def __init__(self, goals: Sequence[tuple[Point, float]]) -> None:
        self.goals = list(goals)
        self.front: list[Point] = []
        self.reached: list[int | None] = [None] * len(self.goals)
        self.n = 0

    def add(self, point: Point) -> None:
        self.n += 1
        if any(p[0] <= point[0] and p[1] <= point[1] for p in self.front):
            return
        self.front = [p for p in self.front if not (point[0] <= p[0] and point[1] <= p[1])]
        self.front.append(point)
        for i, (reference, target) in enumerate(self.goals):
            if self.reached[i] is None and hypervolume(self.front, reference) >= target:
                self.reached[i] = self.n

    def stop_when_done(self, study_: optuna.Study, trial: Any) -> None:
        if self.goals and all(r is not None for r in self.reached):
            study_.stop()


def _sampler(method: str, seed: int, lookup: Lookup) -> optuna.samplers.BaseSampler:
    if method == "predictor":
        from symtune.search.samplers import PredictorSampler

        config = study.predictor_sampler(seed).config  # the study's: rounds of 10, HV picks
        return PredictorSampler(SPACE, config, exact_objectives={1: lookup.params})
    if method == "nsga2":
        return optuna.samplers.NSGAIISampler(population_size=NSGA2_POPULATION, seed=seed)
    return optuna.samplers.RandomSampler(seed=seed)


def task_search(
    method: str,
    seed: int,
    budget: int,
    values: dict[Key, Point],
    state: bytes,
    goals: list[tuple[Point, float]],
) -> dict[str, Any]:
    """One in-process search on the table; its evaluations in order (stopped early once every
    goal is reached, when goals are given)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    lookup, tracker = Lookup(values, state), Goals(goals)

    def objective(trial: optuna.Trial) -> Point:
        point = lookup(SPACE.suggest_params(trial))
        tracker.add(point)
        return point

    run = optuna.create_study(directions=["minimize"] * 2, sampler=_sampler(method, seed, lookup))
    run.optimize(objective, n_trials=budget, callbacks=[tracker.stop_when_done])
    points = [(float(t.values[0]), float(t.values[1])) for t in run.trials if t.values]
    return {"values": points, "scored": lookup.scored, "stopped_early": len(points) < budget}


# -- hypervolume --------------------------------------------------------------------------------


def pareto(points: Sequence[Point]) -> list[Point]:
    """The non-dominated points (both objectives minimised), by increasing parameters."""
    front: list[Point] = []
    for bits, params in sorted(set(points), key=lambda p: (p[1], p[0])):
        if not front or bits < front[-1][0]:
            front.append((bits, params))
    return front


def hypervolume(points: Sequence[Point], reference: Point) -> float:
    """The hypervolume ``points`` dominate inside ``reference`` (both objectives minimised)."""
    inside = [p for p in points if p[0] < reference[0] and p[1] < reference[1]]
    if not inside:
        return 0.0
    return hypervolume_of_losses(np.asarray(inside, dtype=float), np.asarray(reference))


def evaluations_to_reach(values: Sequence[Point], goal: float, reference: Point) -> int | None:
    """The fewest leading evaluations of ``values`` whose hypervolume reaches ``goal``."""
    tracker = Goals([(reference, goal)])
    for point in values:
        tracker.add(point)
        if tracker.reached[0] is not None:
            return tracker.reached[0]
    return None


def tight_reference(front: Sequence[Point]) -> Point:
    """1.1 x the front's nadir: a reference point where every part of the front counts."""
    return (1.1 * max(p[0] for p in front), 1.1 * max(p[1] for p in front))


# -- CUDA ---------------------------------------------------------------------------------------


def _cuda_seconds(fn: Any) -> float:
    torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    torch.cuda.synchronize()
    return time.perf_counter() - start


def gpu_training(mode: Any) -> dict[str, Any]:
    """Supernet training throughput in bf16 on CUDA against the largest subnet alone in bf16
    (plain PyTorch, ``fit_standalone``), the same steps; after a warm-up run of each."""
    data = study.load_lm_data(train_windows=mode.train_windows)
    warm = (data.train[0][:256], data.train[1][:256])

    def supernet_run(train: Any, epochs: int) -> None:
        with torch.random.fork_rng():
            torch.manual_seed(0)
            supernet = study.new_supernet()
        config = study.supernet_train_config(epochs, device="cuda", precision="bf16")
        train_supernet(supernet, train, config)

    def largest_run(train: Any, epochs: int) -> None:
        with torch.random.fork_rng():
            torch.manual_seed(0)
            model = blank_supernet().build_standalone(blank_supernet().largest_assignment())
        config = study.standalone_config(epochs, device="cuda", precision="bf16", patience=None)
        fit_standalone(model, train, data.val, config, seed=0)

    supernet_run(warm, 1)  # CUDA context, kernels, autotuning
    largest_run(warm, 1)
    steps = mode.gpu_epochs * math.ceil((len(data.train[0]) - 1) / study.BATCH_SIZE)
    supernet_s = _cuda_seconds(lambda: supernet_run(data.train, mode.gpu_epochs))
    largest_s = _cuda_seconds(lambda: largest_run(data.train, mode.gpu_epochs))
    supernet_tps, largest_tps = (
        steps * TOKENS_PER_STEP / supernet_s,
        steps * TOKENS_PER_STEP / largest_s,
    )
    return {
        "device": torch.cuda.get_device_name(0),
        "precision": "bf16",
        "steps": steps,
        "supernet_seconds": supernet_s,
        "largest_seconds": largest_s,
        "supernet_tokens_per_second": supernet_tps,
        "largest_tokens_per_second": largest_tps,
        "throughput_ratio": supernet_tps / largest_tps,
    }


def gpu_scoring(mode: Any, state: bytes, cpu_values: dict[Key, Point]) -> dict[str, Any]:
    """Scoring on CUDA in fp32 and bf16: the median seconds a subnet, and how far its bits per
    byte are from the CPU table's (the same subnets)."""
    supernet = trained_supernet(state, "cuda")
    keys = list(cpu_values)
    rng = np.random.default_rng(3)
    picks = rng.choice(len(keys), size=min(mode.gpu_score_subnets, len(keys)), replace=False)
    todo = [dict(keys[int(i)]) for i in picks]
    out: dict[str, Any] = {"subnets": len(todo)}
    for precision in ("fp32", "bf16"):
        scoring = replace(study.load_lm_data().scoring(), precision=precision).to("cuda")
        supernet.score(todo[0], scoring)  # warm-up
        seconds, diffs = [], []
        for assignment in todo:
            start = time.perf_counter()
            bits = supernet.score(assignment, scoring).bits  # a float: synchronised
            seconds.append(time.perf_counter() - start)
            diffs.append(abs(bits - cpu_values[key(assignment)][0]))
        out[precision] = {
            "median_seconds": statistics.median(seconds),
            "max_abs_bits_diff_vs_cpu": max(diffs),
        }
    return out


# -- the plot -----------------------------------------------------------------------------------


def plot(
    path: Path, values: dict[Key, Point], members: list[dict[str, Any]], ranking: RankingResult
) -> None:
    """The front by supernet scores with members' stand-alone scores; the ranking scatter."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(12, 4.6))
    points = np.array(list(values.values()))
    ax.scatter(points[:, 1], points[:, 0], s=3, c="0.8", label=f"subnets scored ({len(points):,})")
    front = np.array(pareto(list(values.values())))
    ax.plot(front[:, 1], front[:, 0], ".-", c="C0", ms=4, label="front: supernet bits per byte")
    members = sorted(members, key=lambda m: m["params"])
    ax.plot(
        [m["params"] for m in members],
        [m["supernet_bits"] for m in members],
        "o",
        c="C0",
        label="members: supernet bits per byte",
    )
    ax.plot(
        [m["params"] for m in members],
        [m["bits"] for m in members],
        "s--",
        c="C3",
        label="the same members trained stand-alone",
    )
    ax.set_xlabel("parameters")
    ax.set_ylabel("validation bits per byte")
    high = float(np.quantile(points[:, 0], 0.98))
    ax.set_ylim(min(float(points[:, 0].min()), *(m["bits"] for m in members)) - 0.05, high)
    ax.set_title("stdlib_lm: the front by supernet scores")
    ax.legend(loc="upper right", fontsize=8)
    pairs = np.array(
        [bits_per_byte(v) for v in (*ranking.supernet_scores, *ranking.standalone_scores)]
    )
    n = len(ranking.supernet_scores)
    bx.scatter(pairs[:n], pairs[n:], s=16, c="C0")
    bx.set_xlabel("bits per byte with supernet weights")
    bx.set_ylabel("stand-alone bits per byte (converged)")
    bx.set_title(
        f"ranking over {n}: tau supernet {ranking.tau:.2f}, params "
        f"{ranking.tau_params:.2f}, FLOPs {ranking.tau_flops:.2f}"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
