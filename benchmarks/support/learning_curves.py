"""A learning-curve table of digits CNNs: the multi-fidelity problem of ``benchmarks/pruning.py``.

Issue 12's pruning figures need a multi-objective, multi-fidelity problem with real learning
curves. This module generates one once (it is committed as ``benchmarks/data/digits_curves.json``)
and loads it: ``C`` distinct CNNs of the digits study space
(``symtune.studies.digits.digits_cnn_space``, 13,824 networks), each trained from scratch for
``E`` epochs with the study's stand-alone recipe (``StandaloneConfig``'s defaults: SGD, Nesterov
momentum 0.9, lr 0.05, weight decay 1e-4, batches of 64, half an epoch of warm-up then cosine
decay to zero over the ``E`` epochs), the validation error and loss recorded after every epoch
on the study's split (``load_digits_data()``: stratified, 20% validation, seed 0), and the
parameter count and FLOPs (``symtune.studies.digits_supernet.subnet_flops``) once per network.
The defaults, ``C = 243`` and ``E = 27``, give rungs 1, 3, 9, 27 at reduction factor 3.

A benchmark replays the table instead of training: a trial "trained for ``e`` epochs" reports
``curves.val_error[i, :e]``, so thousands of pruned and unpruned trials cost nothing.

Generate (about 19 minutes of CPU on one thread here; the committed table took 40 minutes of
wall time on a 2-core machine shared by other jobs, load 6-14)::

    OMP_NUM_THREADS=1 python benchmarks/support/learning_curves.py \\
        --out benchmarks/data/digits_curves.json

(or ``python -m support.learning_curves`` from ``benchmarks/``). Load::

    from support.learning_curves import load_curves

    curves = load_curves()  # the committed table
    curves.val_error.shape  # (243, 27)
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "DEFAULT_PATH",
    "GENERATE_COMMAND",
    "Curves",
    "CurvesConfig",
    "generate",
    "load_curves",
    "non_dominated",
    "summarize",
    "train_curve",
]

DEFAULT_PATH = Path(__file__).resolve().parents[1] / "data" / "digits_curves.json"
GENERATE_COMMAND = (
    "OMP_NUM_THREADS=1 python benchmarks/support/learning_curves.py "
    "--out benchmarks/data/digits_curves.json"
)
_FORMAT = 1


@dataclass(frozen=True)
class CurvesConfig:
    """What the generator trains.

    Attributes:
        n_configs: distinct networks of the space (``C``), drawn by ``Space.sample`` with
            seeds ``seed, seed + 1, ...`` (a repeated network is skipped).
        epochs: epochs each trains (``E``); the learning-rate schedule spans them.
        seed: the first sampling seed; network ``i`` is initialised and shuffled with
            ``seed + i``.
        batch_size, lr, momentum, weight_decay: the optimiser (SGD, Nesterov momentum), as
            ``symtune.hypernets.StandaloneConfig``'s defaults.
    """

    n_configs: int = 243
    epochs: int = 27
    seed: int = 0
    batch_size: int = 64
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 1e-4

    def __post_init__(self) -> None:
        for name in ("n_configs", "epochs", "batch_size"):
            value = getattr(self, name)
            least = 2 if name == "batch_size" else 1
            if not isinstance(value, int) or isinstance(value, bool) or value < least:
                raise ValueError(
                    f"`{name} >= {least}` must hold (an int), but got {name}={value!r} "
                    "(CurvesConfig)"
                )
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise ValueError(
                f"`seed >= 0` must hold (an int), but got seed={self.seed!r} (CurvesConfig)"
            )
        if not (self.lr > 0 and 0 <= self.momentum < 1 and self.weight_decay >= 0):
            raise ValueError(
                "`lr > 0`, `0 <= momentum < 1` and `weight_decay >= 0` must hold, but got "
                f"lr={self.lr}, momentum={self.momentum}, weight_decay={self.weight_decay} "
                "(CurvesConfig)"
            )


@dataclass(frozen=True)
class Curves:
    """A loaded table: ``C`` networks, ``E`` epochs.

    Attributes:
        val_error: ``(C, E)`` validation error after epochs ``1..E`` (``[:, e - 1]`` is epoch e).
        val_loss: ``(C, E)`` mean validation cross-entropy (nats) after every epoch.
        params: ``(C,)`` parameter counts (int64).
        flops: ``(C,)`` FLOPs of one forward pass on one image (int64).
        assignments: the ``C`` space assignments (``digits_cnn_space()`` parameter names).
        meta: how the table was made (recipe, seeds, split, versions, generation time).
    """

    val_error: np.ndarray
    val_loss: np.ndarray
    params: np.ndarray
    flops: np.ndarray
    assignments: tuple[dict[str, Any], ...]
    meta: dict[str, Any] = field(repr=False)

    @property
    def n_configs(self) -> int:
        return int(self.val_error.shape[0])

    @property
    def epochs(self) -> int:
        return int(self.val_error.shape[1])


def _sample(n: int, seed: int) -> list[tuple[int, dict[str, Any]]]:
    """``n`` distinct assignments of the CNN space with the sampling seed of each."""
    from symtune.studies.digits import digits_cnn_space

    space = digits_cnn_space()
    seen: set[str] = set()
    drawn: list[tuple[int, dict[str, Any]]] = []
    s = seed
    while len(drawn) < n:
        assignment = space.sample(s)
        key = json.dumps(assignment, sort_keys=True)
        if key not in seen:
            seen.add(key)
            drawn.append((s, assignment))
        s += 1
    return drawn


def _lr_factor(step: int, total: int, warmup: int) -> float:
    """Linear warm-up over ``warmup`` steps, then cosine decay to zero (as stand-alone training)."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def train_curve(
    assignment: dict[str, Any], data: Any, config: CurvesConfig, seed: int
) -> tuple[list[float], list[float], int]:
    """Train the CNN of ``assignment`` from scratch on ``data`` (a ``DigitsData``) for
    ``config.epochs`` epochs: ``(val_errors, val_losses, params)``, one error and loss per epoch.
    Initialisation and batch order are seeded by ``seed``."""
    import torch
    import torch.nn.functional as F

    from symtune.studies.digits import build_digits_cnn, digits_cnn_space

    torch.manual_seed(seed)
    model = build_digits_cnn(digits_cnn_space().materialize(assignment))
    optimizer = torch.optim.SGD(
        model.parameters(), lr=config.lr, momentum=config.momentum,
        nesterov=config.momentum > 0, weight_decay=config.weight_decay,
    )  # fmt: skip
    generator = torch.Generator().manual_seed(seed)
    n = len(data.x_train)
    per_epoch = max(1, math.ceil((n - 1) / config.batch_size))  # a last batch of 1 is dropped
    total, step = per_epoch * config.epochs, 0
    errors: list[float] = []
    losses: list[float] = []
    for _ in range(config.epochs):
        model.train()
        parts = list(torch.randperm(n, generator=generator).split(config.batch_size))
        if len(parts[-1]) == 1:
            parts.pop()  # batch norm needs two examples
        for idx in parts:
            for group in optimizer.param_groups:
                group["lr"] = config.lr * _lr_factor(step, total, per_epoch // 2)
            optimizer.zero_grad(set_to_none=True)
            F.cross_entropy(model(data.x_train[idx]), data.y_train[idx]).backward()
            optimizer.step()
            step += 1
        model.eval()
        with torch.no_grad():
            logits = model(data.x_val)
            losses.append(float(F.cross_entropy(logits, data.y_val)))
            errors.append(float((logits.argmax(dim=1) != data.y_val).float().mean()))
    return errors, losses, sum(p.numel() for p in model.parameters())


def _meta(config: CurvesConfig, data: Any, seconds: float) -> dict[str, Any]:
    import torch

    return {
        "format": _FORMAT,
        "space": "symtune.studies.digits.digits_cnn_space()",
        "n_configs": config.n_configs,
        "epochs": config.epochs,
        "config": asdict(config),
        "recipe": (
            f"SGD (Nesterov momentum {config.momentum}), lr {config.lr}, weight decay "
            f"{config.weight_decay}, batch {config.batch_size} (a last batch of 1 dropped), "
            f"linear warm-up over half an epoch then cosine to zero over {config.epochs} epochs; "
            "network i initialised and shuffled with torch seed config.seed + i; validation "
            "after every epoch in eval mode"
        ),
        "split": {
            "loader": "load_digits_data()",
            "policy": "stratified",
            "val_fraction": 0.2,
            "seed": 0,
            "n_train": len(data.x_train),
            "n_val": len(data.x_val),
        },
        "flops": "symtune.studies.digits_supernet.subnet_flops (one image, flop_counter)",
        "versions": {
            "python": sys.version.split()[0],
            "torch": torch.__version__,
            "numpy": np.__version__,
        },
        "platform": platform.platform(),
        "threads": torch.get_num_threads(),
        "generated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "generation_s": round(seconds, 1),
        "generator": GENERATE_COMMAND,
    }


def generate(config: CurvesConfig | None = None, *, progress: bool = False) -> dict[str, Any]:
    """Train every network of ``config`` (default :class:`CurvesConfig`) and return the table:
    ``{"meta": {...}, "configs": [{"assignment", "sample_seed", "train_seed", "params",
    "flops", "val_error", "val_loss"}, ...]}`` (errors and losses rounded to 6 digits)."""
    import torch

    from symtune.studies.digits import load_digits_data
    from symtune.studies.digits_supernet import subnet_flops

    config = CurvesConfig() if config is None else config
    torch.set_num_threads(1)
    start = time.perf_counter()
    data = load_digits_data()
    rows = []
    for i, (sample_seed, assignment) in enumerate(_sample(config.n_configs, config.seed)):
        errors, losses, params = train_curve(assignment, data, config, config.seed + i)
        rows.append({
            "assignment": assignment,
            "sample_seed": sample_seed,
            "train_seed": config.seed + i,
            "params": params,
            "flops": int(subnet_flops(assignment)),
            "val_error": [round(v, 6) for v in errors],
            "val_loss": [round(v, 6) for v in losses],
        })  # fmt: skip
        if progress:
            elapsed = time.perf_counter() - start
            print(f"{i + 1}/{config.n_configs} err@E={errors[-1]:.3f} {elapsed:.0f}s", flush=True)
    return {"meta": _meta(config, data, time.perf_counter() - start), "configs": rows}


def _bad(path: Path, rule: str, got: Any) -> ValueError:
    return ValueError(f"{rule} must hold, but got {got} (learning-curve table {path})")


def load_curves(path: str | Path | None = None) -> Curves:
    """The table at ``path`` (default: the committed ``benchmarks/data/digits_curves.json``).

    Raises:
        FileNotFoundError: no file there (the message names the path and the generator).
        ValueError: a table whose curves do not all have ``meta["epochs"]`` values in [0, 1],
            or whose parameter counts are not positive.
    """
    path = DEFAULT_PATH if path is None else Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"no learning-curve table at {path}; generate it with `{GENERATE_COMMAND}` "
            "(about 20 minutes of CPU on one thread)"
        )
    table = json.loads(path.read_text())
    meta, rows = table["meta"], table["configs"]
    if not rows:
        raise _bad(path, "`at least one config`", "none")
    epochs = meta["epochs"]
    lengths = {len(r["val_error"]) for r in rows} | {len(r["val_loss"]) for r in rows}
    if lengths != {epochs}:
        raise _bad(path, f"`every curve has meta.epochs={epochs} values`", f"lengths {lengths}")
    val_error = np.array([r["val_error"] for r in rows], dtype=np.float64)
    if not np.all((val_error >= 0) & (val_error <= 1)):
        raise _bad(path, "`0 <= val_error <= 1`", f"min {val_error.min()}, max {val_error.max()}")
    params = np.array([r["params"] for r in rows], dtype=np.int64)
    if np.any(params < 1):
        raise _bad(path, "`params >= 1`", f"min {params.min()}")
    return Curves(
        val_error=val_error,
        val_loss=np.array([r["val_loss"] for r in rows], dtype=np.float64),
        params=params,
        flops=np.array([r["flops"] for r in rows], dtype=np.int64),
        assignments=tuple(r["assignment"] for r in rows),
        meta=meta,
    )


def non_dominated(points: np.ndarray) -> np.ndarray:
    """Boolean mask of the rows of ``points`` (``(n, m)``, all minimised) that no other row
    dominates (no worse in every column, better in one)."""
    points = np.asarray(points, dtype=np.float64)
    worse_eq = np.all(points[:, None, :] >= points[None, :, :], axis=2)
    strictly = np.any(points[:, None, :] > points[None, :, :], axis=2)
    return ~np.any(worse_eq & strictly, axis=1)


def summarize(curves: Curves, rungs: Sequence[int] = (1, 3, 9, 27)) -> dict[str, Any]:
    """What the check prints: the error range at each rung (within ``curves.epochs``), the
    share of curves whose error fell from epoch 1 to ``E``, the share of epoch-to-epoch steps
    that did not rise, the Pareto front's size (error vs parameters) at ``E``, and Spearman's
    rank correlation of each rung's error with the error at ``E``."""
    from scipy.stats import spearmanr

    err, last = curves.val_error, curves.epochs
    steps = np.diff(err, axis=1)
    out: dict[str, Any] = {
        "n_configs": curves.n_configs,
        "epochs": last,
        "fell_1_to_E": float(np.mean(err[:, -1] < err[:, 0])),
        "steps_not_rising": float(np.mean(steps <= 0)) if steps.size else math.nan,
        "front_at_E": int(non_dominated(np.column_stack([err[:, -1], curves.params])).sum()),
        "rungs": {},
    }
    for e in (r for r in rungs if r <= last):
        col = err[:, e - 1]
        rho = float(spearmanr(col, err[:, -1]).statistic) if curves.n_configs > 2 else math.nan
        out["rungs"][e] = {
            "min": float(col.min()),
            "median": float(np.median(col)),
            "max": float(col.max()),
            "spearman_vs_E": rho,
        }
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Generate the table into ``--out``, load it back and print the summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_PATH)
    parser.add_argument("--configs", type=int, default=CurvesConfig.n_configs)
    parser.add_argument("--epochs", type=int, default=CurvesConfig.epochs)
    parser.add_argument("--seed", type=int, default=CurvesConfig.seed)
    parser.add_argument("--quiet", action="store_true", help="no line per network")
    args = parser.parse_args(argv)
    try:
        config = CurvesConfig(n_configs=args.configs, epochs=args.epochs, seed=args.seed)
    except ValueError as error:
        parser.error(str(error))
    table = generate(config, progress=not args.quiet)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(table, separators=(",", ":")) + "\n")
    print(json.dumps(summarize(load_curves(args.out)), indent=1))
    size_kb = args.out.stat().st_size / 1e3
    print(f"wrote {args.out} ({size_kb:.0f} kB) in {table['meta']['generation_s']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
