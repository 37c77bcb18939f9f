"""An MLP on scikit-learn's 8x8 digits: accuracy against size, with self-tuned regularisation.

Optuna chooses the depth (1 to 3 hidden layers, a conditional choice: each depth has its own
widths), the widths, the activation and the learning rate. The hidden dropout rate and the
input noise are ``selftuned``: inside each trial a self-tuning network (``symtune.hypernets``)
tunes them online, and their final values and schedules are stored on the trial. The objectives
are the validation error and the parameter count of the deployed MLP, both minimised, so the
study ends with a Pareto front of small accurate networks. About 90 seconds on two CPU cores.
"""

from __future__ import annotations

from typing import Any

from symtune.search import StudySpec
from symtune.spaces import Space, floatv, oneof, selftuned
from symtune.studies.digits import build_digits_mlp, load_digits_data, mlp_params

WIDTHS = [16, 32, 64, 128]
STEPS = 600


def _widths(depth: int) -> list[Any]:
    return [oneof(WIDTHS) for _ in range(depth)]


SPACE = Space(
    {
        # Shown as "1 item" .. "3 items" (the number of hidden layers). Kept as a list `oneof`
        # (stored by index, widths under depth[i][j]) so stored studies resume unchanged.
        "hidden": oneof([_widths(1), _widths(2), _widths(3)], name="depth"),
        "activation": oneof(["relu", "tanh", "gelu"]),
        "lr": floatv(1e-3, 3e-2, log=True),
        "dropout": selftuned(floatv(0.0, 0.7), init=0.1),
        "noise": selftuned(floatv(0.0, 1.0), init=0.1),
    }
)


def objective(config: dict[str, Any], trial: Any) -> tuple[float, int]:
    """Train a self-tuning MLP; return its validation error and deployed parameter count."""
    import torch

    from symtune.hypernets import HyperParameters, StnOptions, evaluate_stn, train_stn

    torch.set_num_threads(1)
    torch.manual_seed(trial.number)
    data = load_digits_data(
        0.2, 0, split="permutation", test_fraction=0.2, layout="flat", scale="standard"
    )
    hparams = HyperParameters.from_config(config)
    model = build_digits_mlp(config, hparams)
    result = train_stn(
        model,
        (data.x_train, data.y_train),
        (data.x_val, data.y_val),
        hparams,
        StnOptions(steps=STEPS, lr=config["lr"], lr_schedule="cosine", seed=trial.number),
        device=trial.device,
    )
    for key, value in result.user_attrs().items():
        trial.set_user_attr(key, value)
    metrics = evaluate_stn(model, (data.x_val, data.y_val), device=trial.device)
    return 1.0 - metrics["accuracy"], mlp_params(config["hidden"])


STUDY = StudySpec(
    name="digits_mlp",
    space=SPACE,
    objective=objective,
    directions=("minimize", "minimize"),
    metric_names=("val_error", "params"),
    description="MLP on sklearn digits: depth, widths, activation, lr (Optuna); dropout and "
    "input noise self-tuned by an STN; error vs parameters",
    n_trials=30,
    workers=2,
    reference_point=(1.0, 30000),
)
