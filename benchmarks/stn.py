"""Self-tuning networks (STN, MIP) against Optuna TPE and random search on digits.

Issue 4's figures. On scikit-learn's digits with a deliberately small training split and an
MLP, tune input dropout, hidden dropout and input noise:

* STN: one self-tuning training run (symtune.hypernets defaults: MIP on);
* Optuna TPE: 20 ordinary training runs with the hyperparameters as constants;
* random search: the same budget;
* STN without MIP (raw encoding, plain hypernetwork form with the standard initialisation,
  the baseline of Ortiz et al.);
* extra rows: no MIP but the hypernetwork's output normalised to 1 at the initial values;
  MIP with the uncentred response; and the original STN form of MacKay et al. (raw encoding,
  residual, uncentred); they separate the effects of MIP's parts and of centring.

Every run trains the same MLP for the same number of weight steps (Adam, cosine learning
rate). TPE and random search choose by the final validation loss; the STN tunes on the same
validation split. Reported per method: test loss and accuracy of the final model, optimizer
steps, wall time and FLOPs, over several seeds (a seed fixes the split, the initialisation and
the samplers). Targets: STN's test loss / TPE best's <= 1; STN wall time / TPE's total <= 0.2;
steps MIP needs to reach the STN's final validation loss / steps no-MIP needs <= 2/3.

Every method runs once per seed (the same seeds for all). Run ``python benchmarks/stn.py``
(full: 3 seeds, 1,000 steps, 20 trials each search) or ``--quick`` (2 seeds, 400 steps, 8
trials), with the common options ``--seeds N|list``, ``--out DIR`` and
``--device cpu|cuda|auto`` (see ``support/options.py``). Writes ``stn.json``, ``stn.md`` and
``stn.png`` into ``--out`` (``benchmarks/results/`` by default) through
``support/report.py``; prints one summary line.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import optuna
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode

from symtune.hypernets import (
    HyperParameters,
    StnLinear,
    StnMLP,
    StnOptions,
    evaluate_stn,
    train_stn,
)
from symtune.spaces import SelfTunedValue
from symtune.studies.digits import load_digits_data

sys.path.insert(0, str(Path(__file__).resolve().parent))
from support.options import Options, parse
from support.report import Report, fmt_spread, spread

NAMES = ("input_dropout", "hidden_dropout", "input_noise")


@dataclass
class Setup:
    """What every run shares."""

    n_train: int = 100
    n_val: int = 200
    width: int = 256
    depth: int = 2
    steps: int = 1000
    batch_size: int = 64
    lr: float = 1e-3
    trials: int = 20
    seeds: tuple[int, ...] = (0, 1, 2)
    ranges: dict[str, tuple[float, float]] = field(
        default_factory=lambda: {
            "input_dropout": (0.0, 0.8),
            "hidden_dropout": (0.0, 0.8),
            "input_noise": (0.0, 1.0),
        }
    )
    stn_init: float = 0.1
    eval_points: int = 25
    device: str = "cpu"


# STN variants: HyperParameters keywords and StnMLP's residual flag.
VARIANTS: dict[str, dict[str, Any]] = {
    "stn": {"hp": {}, "residual": None},
    "stn_no_mip": {"hp": {"mip": False}, "residual": None},
    "stn_no_mip_unit_init": {"hp": {"mip": False}, "residual": None, "unit_init": True},
    "stn_uncentered": {"hp": {"centered": False}, "residual": None},
    "stn_mackay": {"hp": {"mip": False}, "residual": True},
}
VARIANT_LABELS = {
    "stn": "STN (symtune default: MIP, centred response)",
    "stn_no_mip": "STN without MIP (raw input, plain hypernetwork, standard init)",
    "stn_no_mip_unit_init": "STN without MIP, hypernetwork output normalised to 1 at init",
    "stn_uncentered": "STN with MIP, uncentred response",
    "stn_mackay": "STN as MacKay et al. (raw input, residual, uncentred)",
    "tpe": "Optuna TPE, best of N runs",
    "random": "random search, best of N runs",
}


# -- data and the ordinary (non-STN) run ---------------------------------------------------


def load_split(seed: int, setup: Setup) -> dict[str, tuple[Tensor, Tensor]]:
    """Digits scaled to [0, 1], split into small train / val and the rest as test."""
    d = load_digits_data(
        seed=seed, split="randperm", n_train=setup.n_train, n_val=setup.n_val, layout="flat"
    )
    parts = {"train": (d.x_train, d.y_train), "val": (d.x_val, d.y_val)}
    return {**parts, "test": (d.x_test, d.y_test)}


class Noise(nn.Module):
    """Additive Gaussian input noise for the ordinary runs."""

    def __init__(self, std: float) -> None:
        super().__init__()
        self.std = std

    def forward(self, x: Tensor) -> Tensor:
        return x + self.std * torch.randn_like(x) if self.training and self.std else x


def plain_mlp(hp: dict[str, float], setup: Setup) -> nn.Module:
    """The MLP with constant hyperparameters: plain torch layers."""
    layers: list[nn.Module] = [Noise(hp["input_noise"]), nn.Dropout(hp["input_dropout"])]
    width = 64
    for _ in range(setup.depth):
        layers += [nn.Linear(width, setup.width), nn.ReLU(), nn.Dropout(hp["hidden_dropout"])]
        width = setup.width
    return nn.Sequential(*layers, nn.Linear(width, 10))


def _batches(n: int, batch_size: int, seed: int) -> Any:
    gen = torch.Generator().manual_seed(seed)
    while True:
        yield from torch.randperm(n, generator=gen).split(batch_size)


def plain_run(hp: dict[str, float], data: dict, setup: Setup, seed: int) -> dict[str, float]:
    """One ordinary training run; returns val/test loss, test accuracy, steps, wall time."""
    dev = torch.device(setup.device)
    torch.manual_seed(seed)
    model = plain_mlp(hp, setup).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=setup.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, setup.steps)
    x, y = (t.to(dev) for t in data["train"])
    start = time.perf_counter()
    model.train()
    batches = _batches(len(x), setup.batch_size, seed)
    for _ in range(setup.steps):
        idx = next(batches).to(dev)
        loss = F.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    val = evaluate_stn(model, data["val"], device=dev)
    _sync(dev)
    wall = time.perf_counter() - start
    test = evaluate_stn(model, data["test"], device=dev)
    return {
        "val_loss": val["loss"],
        "test_loss": test["loss"],
        "test_accuracy": test["accuracy"],
        "steps": setup.steps,
        "wall_s": wall,
    }


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


# -- the searches ---------------------------------------------------------------------------


def search(kind: str, data: dict, setup: Setup, seed: int) -> dict[str, Any]:
    """TPE or random search over the constants; the best trial by validation loss."""
    sampler: optuna.samplers.BaseSampler
    if kind == "tpe":
        sampler = optuna.samplers.TPESampler(seed=seed)
    else:
        # not `seed`: TPE's startup trials are random draws from its own seed.
        sampler = optuna.samplers.RandomSampler(seed=seed + 10_000)
    study = optuna.create_study(direction="minimize", sampler=sampler)
    runs: list[dict[str, Any]] = []

    def objective(trial: optuna.Trial) -> float:
        hp = {n: trial.suggest_float(n, *setup.ranges[n]) for n in NAMES}
        result = plain_run(hp, data, setup, seed * 1000 + trial.number)
        runs.append({**result, "params": hp})
        return result["val_loss"]

    start = time.perf_counter()
    study.optimize(objective, n_trials=setup.trials)
    wall = time.perf_counter() - start
    best = runs[study.best_trial.number]
    return {
        "test_loss": best["test_loss"],
        "test_accuracy": best["test_accuracy"],
        "val_loss": best["val_loss"],
        "best_params": best["params"],
        "steps": sum(r["steps"] for r in runs),
        "wall_s": wall,
        "train_wall_s": sum(r["wall_s"] for r in runs),
        "oracle_test_loss": min(r["test_loss"] for r in runs),
    }


# -- the STN runs ---------------------------------------------------------------------------


def build_stn(variant: str, setup: Setup) -> tuple[StnMLP, HyperParameters]:
    """The STN MLP and its hyperparameters (all three initialised at ``stn_init``)."""
    values = [SelfTunedValue(n, "float", setup.stn_init, *setup.ranges[n]) for n in NAMES]
    cfg = VARIANTS[variant]
    hp = HyperParameters(values, **cfg["hp"])
    model = StnMLP(
        64,
        [setup.width] * setup.depth,
        10,
        hp,
        input_noise="input_noise",
        input_dropout="input_dropout",
        hidden_dropout="hidden_dropout",
        residual=cfg["residual"],
    )
    if cfg.get("unit_init"):
        _unit_init(model)
    return model, hp


def _unit_init(model: nn.Module) -> None:
    """Scale each plain STN layer's hypernetwork map so its output is 1 at the initial values
    (a data-dependent normalisation that removes the magnitude problem at the start only)."""
    with torch.no_grad():
        for layer in model.modules():
            if isinstance(layer, (StnLinear,)) and not layer.residual:
                e0 = layer.hparams.encoding()[0]
                unit = e0 / e0.dot(e0)
                layer.hyper_scale.copy_(unit.unsqueeze(1).expand_as(layer.hyper_scale))


def stn_options(setup: Setup, seed: int) -> StnOptions:
    """The loop options of the benchmark (library defaults except the shared ones)."""
    return StnOptions(
        steps=setup.steps,
        batch_size=setup.batch_size,
        lr=setup.lr,
        lr_schedule="cosine",
        eval_every=max(1, setup.steps // setup.eval_points),
        seed=seed,
        device=setup.device,
    )


def stn_run(variant: str, data: dict, setup: Setup, seed: int) -> dict[str, Any]:
    """One self-tuning run: final model's figures, schedule and validation curve."""
    torch.manual_seed(seed)
    model, hp = build_stn(variant, setup)
    result = train_stn(model, data["train"], data["val"], hp, stn_options(setup, seed))
    test = evaluate_stn(model, data["test"], device=setup.device)
    return {
        "test_loss": test["loss"],
        "test_accuracy": test["accuracy"],
        "val_loss": result.final_val_loss,
        "final": result.final,
        "steps": result.weight_steps + result.hyper_steps,
        "weight_steps": result.weight_steps,
        "hyper_steps": result.hyper_steps,
        "wall_s": result.wall_time_s,
        "schedule": result.schedule,
        "val_curve": result.val_curve,
    }


# -- FLOPs ----------------------------------------------------------------------------------


def _flops(fn: Callable[[], None]) -> int:
    counter = FlopCounterMode(display=False)
    with counter:
        fn()
    return int(counter.get_total_flops())


def step_flops(data: dict, setup: Setup) -> dict[str, int]:
    """FLOPs of one ordinary step, one STN weight step and one STN hyperparameter step."""
    x, y = (t[: setup.batch_size] for t in data["train"])
    plain = plain_mlp(dict.fromkeys(NAMES, 0.1), setup)

    def plain_step() -> None:
        F.cross_entropy(plain(x), y).backward()

    model, hp = build_stn("stn", setup)

    def weight_step() -> None:
        with hp.using(hp.sample(len(x), mode="train")):
            F.cross_entropy(model(x), y).backward()

    def hyper_step() -> None:
        batch = hp.sample(len(x), mode="hyper")
        batch.regularize = False
        with hp.using(batch):
            loss = F.cross_entropy(model(x), y) - 1e-3 * hp.entropy()
        torch.autograd.grad(loss, [p for p in hp.parameters() if p.numel()])

    return {
        "plain_step": _flops(plain_step),
        "stn_weight_step": _flops(weight_step),
        "stn_hyper_step": _flops(hyper_step),
    }


# -- figures --------------------------------------------------------------------------------


def _smooth(curve: Sequence[Sequence[float]], window: int = 3) -> list[tuple[int, float]]:
    out = []
    for i in range(len(curve)):
        chunk = [v for _, v in curve[max(0, i - window + 1) : i + 1]]
        out.append((int(curve[i][0]), sum(chunk) / len(chunk)))
    return out


def steps_to_reach(curve: Sequence[Sequence[float]], threshold: float) -> int | None:
    """First weight step where the smoothed validation curve is <= threshold (None: never)."""
    for step, value in _smooth(curve):
        if value <= threshold + 1e-12:
            return step
    return None


SPEED_VARIANTS = ("stn", "stn_no_mip", "stn_no_mip_unit_init")
SPEED_TOLERANCE = 0.02


def mip_speed(runs: dict[str, Any], total: int) -> dict[str, Any]:
    """Weight steps each variant needs to reach the STN's final validation loss.

    All variants ran with the same options and budget. The STN's final validation loss is
    the last value of its smoothed (3-point moving average) curve; a run reaches it at the
    first evaluation where its smoothed curve is within ``SPEED_TOLERANCE`` (2 %, about the
    evaluation noise) of it: with a cosine learning rate a run meets its own final value only
    at its very end. A run that never gets there is censored at the budget (its count is a
    lower bound, so a ratio with it in the denominator is an upper bound).
    """
    final = _smooth(runs["stn"]["val_curve"])[-1][1]
    threshold = final * (1 + SPEED_TOLERANCE)
    out: dict[str, Any] = {"final": final, "threshold": threshold, "budget": total}
    for v in SPEED_VARIANTS:
        reached = steps_to_reach(runs[v]["val_curve"], threshold)
        out[v] = {"steps": total if reached is None else reached, "censored": reached is None}
    out["ratio"] = out["stn"]["steps"] / max(out["stn_no_mip"]["steps"], 1)
    out["ratio_vs_unit_init"] = out["stn"]["steps"] / max(out["stn_no_mip_unit_init"]["steps"], 1)
    return out


def _compact(value: Any, max_points: int = 50) -> Any:
    """Round floats to 6 significant digits and thin long schedules (for the JSON report)."""
    if isinstance(value, float):
        return float(f"{value:.6g}")
    if isinstance(value, dict):
        return {k: _compact(v, max_points) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        items = list(value)
        if len(items) > max_points + 1 and all(isinstance(i, (list, tuple)) for i in items):
            stride = math.ceil(len(items) / max_points)
            items = items[::stride] + ([items[-1]] if (len(items) - 1) % stride else [])
        return [_compact(v, max_points) for v in items]
    return value


# -- the run --------------------------------------------------------------------------------


def run_seed(seed: int, setup: Setup, variants: Sequence[str]) -> dict[str, Any]:
    """Every method on one seed's split."""
    data = load_split(seed, setup)
    out: dict[str, Any] = {}
    for v in variants:
        out[v] = stn_run(v, data, setup, seed)
        print(f"  seed {seed} {v}: test loss {out[v]['test_loss']:.4f}", file=sys.stderr)
    for kind in ("tpe", "random"):
        out[kind] = search(kind, data, setup, seed)
        print(f"  seed {seed} {kind}: test loss {out[kind]['test_loss']:.4f}", file=sys.stderr)
    out["mip_speed"] = mip_speed(out, setup.steps)
    return out


def aggregate(per_seed: list[dict[str, Any]], methods: Sequence[str]) -> dict[str, Any]:
    """Every figure with its spread over seeds."""
    agg: dict[str, Any] = {}
    for m in methods:
        agg[m] = {
            k: spread([r[m][k] for r in per_seed])
            for k in ("test_loss", "test_accuracy", "val_loss", "steps", "wall_s")
        }
    agg["stn_over_tpe_test_loss"] = spread(
        [r["stn"]["test_loss"] / r["tpe"]["test_loss"] for r in per_seed]
    )
    agg["stn_wall_share_of_tpe"] = spread(
        [r["stn"]["wall_s"] / r["tpe"]["wall_s"] for r in per_seed]
    )
    agg["stn_step_share_of_tpe"] = spread([r["stn"]["steps"] / r["tpe"]["steps"] for r in per_seed])
    agg["mip_over_no_mip_steps"] = spread([r["mip_speed"]["ratio"] for r in per_seed])
    agg["mip_over_no_mip_unit_init_steps"] = spread(
        [r["mip_speed"]["ratio_vs_unit_init"] for r in per_seed]
    )
    return agg


def add_targets(report: Report, agg: dict[str, Any]) -> None:
    """One entry per target the issue names."""
    report.target(
        "STN test loss / TPE best-of-N test loss (mean over seeds)",
        agg["stn"]["test_loss"]["mean"] / agg["tpe"]["test_loss"]["mean"],
        1.0,
        "lower",
    )
    report.target(
        "STN training wall time / TPE total wall time (mean over seeds)",
        agg["stn"]["wall_s"]["mean"] / agg["tpe"]["wall_s"]["mean"],
        0.2,
        "lower",
    )
    report.target(
        "steps MIP / steps no-MIP to reach the STN's final val loss (mean; "
        "an upper bound where no-MIP never reaches it)",
        agg["mip_over_no_mip_steps"]["mean"],
        2 / 3,
        "lower",
    )


def _fmt(s: dict[str, Any], digits: int = 4) -> str:
    return fmt_spread(s, digits)


def _steps(entry: dict[str, Any]) -> str:
    return f"{'>' if entry['censored'] else ''}{entry['steps']}"


def markdown(report: dict[str, Any], mode: str) -> list[str]:
    """The report's Markdown body (the harness adds the environment and the targets)."""
    agg, setup = report["aggregate"], report["setup"]
    lines = [
        "## Self-tuning networks on digits (issue 4)",
        "",
        f"Mode: {mode}. Digits, {setup['n_train']} training / {setup['n_val']} "
        f"validation examples, the rest ({report['n_test']}) for test; MLP "
        f"64-{'-'.join([str(setup['width'])] * setup['depth'])}-10, {setup['steps']} Adam "
        f"steps (cosine lr) per run, batch {setup['batch_size']}; tuning input dropout, "
        f"hidden dropout, input noise. Seeds: {list(setup['seeds'])} (mean ± std over seeds). "
        f"TPE and random search: {setup['trials']} runs each, best by validation loss. "
        f"Device: {setup['device']}.",
        "",
        "| method | test loss | test accuracy | optimizer steps | wall time (s) |",
        "|---|---|---|---|---|",
    ]
    for m in report["methods"]:
        a = agg[m]
        lines.append(
            f"| {VARIANT_LABELS[m]} | {_fmt(a['test_loss'])} | {_fmt(a['test_accuracy'])} | "
            f"{a['steps']['mean']:.0f} | {_fmt(a['wall_s'], 1)} |"
        )
    flops = report["flops"]
    lines += [
        "",
        f"FLOPs per step (batch {setup['batch_size']}): ordinary {flops['plain_step']:,}, "
        f"STN weight step {flops['stn_weight_step']:,}, STN hyperparameter step "
        f"{flops['stn_hyper_step']:,}. STN FLOP share of TPE: "
        f"{report['flop_share']:.3f}; step share {_fmt(agg['stn_step_share_of_tpe'], 3)}; "
        f"wall-time share {_fmt(agg['stn_wall_share_of_tpe'], 3)}.",
        "",
        "MIP vs no MIP: weight steps to get within "
        f"{SPEED_TOLERANCE:.0%} of the default STN's final (smoothed) validation loss, same "
        "runs as the table (MIP / no MIP / no MIP with the unit init), per seed: "
        + "; ".join(
            f"seed {s}: " + " / ".join(_steps(r["mip_speed"][v]) for v in SPEED_VARIANTS)
            for s, r in zip(setup["seeds"], report["per_seed"], strict=True)
        )
        + f" ('>': not within the {setup['steps']} steps; a ratio with it below is then an "
        "upper bound). MIP / no-MIP-with-unit-init ratio: "
        f"{_fmt(agg['mip_over_no_mip_unit_init_steps'], 3)}.",
        "",
        "![STN schedule](stn.png)",
        "",
    ]
    if mode == "quick":
        lines += [
            f"Quick mode: {setup['steps']} steps a run and {setup['trials']} runs per search, so "
            "the wall-time and FLOP shares (STN against a whole search) are larger than the "
            "full mode's, which has 20 runs per search; the loss ratio and the MIP step ratio "
            "compare as they are.",
            "",
        ]
    return lines


def plot(report: dict[str, Any], path: Path) -> None:
    """The STN schedules (one line per seed) and MIP / no-MIP validation curves."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(NAMES) + 1, figsize=(4.2 * (len(NAMES) + 1), 3.4))
    for seed, run in zip(report["setup"]["seeds"], report["per_seed"], strict=True):
        for ax, name in zip(axes, NAMES, strict=False):
            steps, values = zip(*run["stn"]["schedule"][name], strict=True)
            ax.plot(steps, values, label=f"seed {seed}")
    first = report["per_seed"][0]
    labels = {"stn": "MIP", "stn_no_mip": "no MIP", "stn_no_mip_unit_init": "no MIP, unit init"}
    for v in SPEED_VARIANTS:
        steps, values = zip(*first[v]["val_curve"], strict=True)
        axes[-1].plot(steps, values, label=labels[v])
    axes[-1].axhline(first["mip_speed"]["threshold"], color="grey", linestyle=":", label="target")
    for ax, name in zip(axes, NAMES, strict=False):
        ax.set_title(f"STN schedule: {name}")
        ax.set_xlabel("weight step")
        ax.legend(fontsize=7)
    axes[-1].set_title(f"validation loss (seed {report['setup']['seeds'][0]})")
    axes[-1].set_xlabel("weight step")
    axes[-1].set_yscale("log")
    axes[-1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def setup_for(opts: Options) -> Setup:
    """The benchmark's setup for the common options."""
    setup = Setup(device=opts.device)
    if opts.quick:
        setup = Setup(device=opts.device, steps=400, trials=8, eval_points=20)
    setup.seeds = opts.seeds
    return setup


def run(setup: Setup) -> dict[str, Any]:
    """Every method on every seed, the aggregate figures and FLOPs (everything reported)."""
    variants = list(VARIANTS)
    start = time.perf_counter()
    per_seed = [run_seed(s, setup, variants) for s in setup.seeds]
    methods = [*variants, "tpe", "random"]
    data = load_split(setup.seeds[0], setup)
    flops = step_flops(data, setup)
    stn0 = per_seed[0]["stn"]
    stn_flops = stn0["weight_steps"] * flops["stn_weight_step"]
    stn_flops += stn0["hyper_steps"] * flops["stn_hyper_step"]
    return {
        "setup": asdict(setup),
        "n_test": len(data["test"][0]),
        "methods": methods,
        "per_seed": per_seed,
        "aggregate": aggregate(per_seed, methods),
        "flops": flops,
        "flop_share": stn_flops / (setup.trials * setup.steps * flops["plain_step"]),
        "total_wall_s": time.perf_counter() - start,
    }


def build_report(figures: dict[str, Any], *, quick: bool) -> Report:
    """The report of :func:`run`'s figures: setup, repeats, targets, Markdown body."""
    setup = figures["setup"]
    report = Report(
        name="stn",
        mode="quick" if quick else "full",
        description=(
            "Self-tuning networks (STN, MIP) against Optuna TPE and random search on digits "
            "(issue 4); every method runs once per seed."
        ),
        setup=setup,
        repeats={m: len(setup["seeds"]) for m in figures["methods"]},
        figures=_compact({k: v for k, v in figures.items() if k != "setup"}),
        device=setup["device"],
    )
    add_targets(report, figures["aggregate"])
    report.markdown += markdown(figures, report.mode)
    return report


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, write the report, print one summary line."""
    opts = parse((__doc__ or "").splitlines()[0], argv, seeds="3", quick_seeds="2")
    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    setup = setup_for(opts)
    figures = run(setup)
    report = build_report(figures, quick=opts.quick)
    json_path, _ = report.write(opts.out)
    plot(figures, opts.out / "stn.png")
    t, agg = report.targets, figures["aggregate"]
    print(
        f"stn ({report.mode}, {len(setup.seeds)} seeds): test loss STN "
        f"{_fmt(agg['stn']['test_loss'])} vs TPE best {_fmt(agg['tpe']['test_loss'])} (ratio "
        f"{t[0]['value']:.3f}, target <= 1); compute share {t[1]['value']:.3f} (<= 0.2); "
        f"MIP/no-MIP steps {t[2]['value']:.3f} (<= 0.667); {figures['total_wall_s']:.0f}s "
        f"-> {json_path}"
    )
    return figures


if __name__ == "__main__":
    main()
