"""Storage cost per trial in the driver: symtune's default journal file against Optuna's storages.

The README's storage table comes from this script. In one process, for each storage, a
driver-style loop of n trials (``ask``, three ``suggest_float``, ``tell``; RandomSampler):

* Optuna SQLite (``sqlite:///...``): a database transaction per write;
* Optuna's journal file (``JournalStorage(JournalFileBackend(path))``): a lock and an
  ``fsync`` per record;
* symtune's default (``./symtune.journal``, what ``create_study`` uses without ``storage=``:
  the same file format, group-committed fsyncs); its pending fsync is forced at the end and
  counted;
* Optuna in memory, for reference (no storage cost at all);
* PostgreSQL too, when ``$SYMTUNE_BENCH_POSTGRESQL_URL`` names a server (a fresh database per
  run is not created: the URL's database gets uniquely named studies).

Every storage runs every size once per ``--seeds`` entry (the sampler's seed), in the same
run, interleaved. Full mode: 1,000 and 5,000 trials, 3 repeats (about 10 minutes on 2 cores,
most of it SQLite's). ``--quick``: 100 and 500 trials, 1 repeat (about 20 seconds).

    python benchmarks/storage.py [--quick] [--seeds N|list] [--out DIR] [--device cpu|cuda|auto]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import optuna

sys.path.insert(0, str(Path(__file__).resolve().parent))

from support.options import Options, parse
from support.report import Report, fmt_spread, spread, table

SIZES = {"full": (1000, 5000), "quick": (100, 500)}
LABELS = {
    "optuna_sqlite": "Optuna SQLite (`sqlite:///...`)",
    "optuna_journal": "Optuna journal file (`JournalFileBackend`)",
    "symtune_default": "symtune default (`./symtune.journal`)",
    "optuna_memory": "Optuna in memory (reference)",
    "postgresql": "PostgreSQL (`postgresql+psycopg://...`)",
}
POSTGRESQL_ENV = "SYMTUNE_BENCH_POSTGRESQL_URL"


def driver_loop(storage: Any, n: int, seed: int, finish: Callable[[], None]) -> float:
    """Wall seconds of ``n`` ask / three suggestions / tell in this process, then ``finish``."""
    study = optuna.create_study(
        storage=storage,
        study_name=f"storage-{n}-{seed}-{time.monotonic_ns()}",
        sampler=optuna.samplers.RandomSampler(seed=seed),
    )
    start = time.perf_counter()
    for _ in range(n):
        trial = study.ask()
        value = sum(trial.suggest_float(name, 0.0, 1.0) for name in ("x", "y", "z"))
        study.tell(trial, value)
    finish()
    return time.perf_counter() - start


Made = tuple[Any, Callable[[], None]]  # a storage (or URL, or None) and what ends its run


def storages(root: Path) -> dict[str, Callable[[], Made]]:
    """Each storage as a factory of a fresh, empty one."""
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    from symtune.search import FastJournalFileBackend, default_storage

    def nothing() -> None:
        pass

    def fresh(kind: str) -> Path:
        return Path(tempfile.mkdtemp(prefix=f"{kind}-", dir=root))

    def optuna_journal() -> Made:
        backend = JournalFileBackend(str(fresh("journal") / "optuna.journal"))
        return JournalStorage(backend), nothing

    def symtune_default() -> Made:
        # The backend create_study opens for ./symtune.journal; its pending group fsync is
        # forced at the end (as the driver does when a run ends) and counted.
        backend = FastJournalFileBackend(default_storage(fresh("symtune")))
        return JournalStorage(backend), backend.sync

    made: dict[str, Callable[[], Made]] = {
        "optuna_sqlite": lambda: (f"sqlite:///{fresh('sqlite') / 'optuna.db'}", nothing),
        "optuna_journal": optuna_journal,
        "symtune_default": symtune_default,
        "optuna_memory": lambda: (None, nothing),
    }
    url = os.environ.get(POSTGRESQL_ENV)
    if url:
        made["postgresql"] = lambda: (url, nothing)
    return made


def measure(
    sizes: Sequence[int], seeds: Sequence[int], root: Path
) -> dict[str, dict[str, list[float]]]:
    """ms per trial, per storage and size, one value per seed."""
    out: dict[str, dict[str, list[float]]] = {}
    for seed in seeds:
        for label, make in storages(root).items():
            for n in sizes:
                storage, finish = make()
                ms = driver_loop(storage, n, seed, finish) / n * 1000
                out.setdefault(label, {}).setdefault(str(n), []).append(ms)
                print(f"  seed {seed} {label:<16} {n:>5} trials: {ms:.3f} ms/trial", flush=True)
    return out


def build_report(opts: Options, sizes: Sequence[int], ms: dict[str, Any]) -> Report:
    figures = {label: {n: spread(v) for n, v in by_size.items()} for label, by_size in ms.items()}
    report = Report(
        name="storage",
        mode="quick" if opts.quick else "full",
        description=(
            "Storage cost per trial in the driver: ask, three suggest_float and tell "
            "(RandomSampler), in one process, per Optuna storage and symtune's default; "
            f"sizes {', '.join(map(str, sizes))}; one run on one machine."
        ),
        setup={"sizes": list(sizes), "seeds": list(opts.seeds), "suggestions_per_trial": 3},
        repeats={label: len(opts.seeds) for label in figures},
        figures={"per_trial_ms": figures},
        device=opts.device,
    )
    ours = figures["symtune_default"]
    for peer in ("optuna_sqlite", "optuna_journal"):
        for n in map(str, sizes):
            ratio = figures[peer][n]["mean"] / ours[n]["mean"]
            report.figures.setdefault("ratios", {}).setdefault(peer, {})[n] = ratio
    report.markdown += ["## Storage cost per trial in the driver (ms; mean ± std)", ""]
    report.markdown += table(
        ["storage", *(f"{n:,} trials" for n in sizes), "repeats"],
        [[LABELS[label], *(fmt_spread(by[str(n)], 3) for n in sizes), report.repeats[label]]
         for label, by in figures.items()],
    )  # fmt: skip
    report.markdown += [
        "",
        "Ratios to symtune's default (peer / symtune, at "
        + ", ".join(f"{n:,}" for n in sizes)
        + " trials): "
        + "; ".join(
            f"{peer} " + " / ".join(f"{r:.1f}x" for r in by_size.values())
            for peer, by_size in report.figures["ratios"].items()
        )
        + ". No issue names a target for these figures: they are why the default storage was "
        "chosen (README, Storage). A spread of one repeat is n/a. SQLite and Optuna's journal "
        "file wait for the disk on every write, so their figures follow the disk's load.",
    ]
    return report


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, write the report, print one summary line."""
    opts = parse((__doc__ or "").splitlines()[0], argv, seeds="3", quick_seeds="1")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sizes = SIZES[opts.mode]
    with tempfile.TemporaryDirectory(prefix="symtune-storage-") as tmp:
        ms = measure(sizes, opts.seeds, Path(tmp))
    report = build_report(opts, sizes, ms)
    json_path, _ = report.write(opts.out)
    figures = report.figures["per_trial_ms"]
    print(
        f"storage ({opts.mode}, {len(opts.seeds)} repeats each): ms per trial at "
        + ", ".join(
            f"{n}: " + ", ".join(f"{k} {v[str(n)]['mean']:.2f}" for k, v in figures.items())
            for n in sizes
        )
        + f" -> {json_path}"
    )
    return report.figures


if __name__ == "__main__":
    main()
