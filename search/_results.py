"""Reading a study: the trials table, the Pareto front, hypervolume and plots.

Everything here works from the storage alone (a study loaded without its objective). The
Pareto utilities on plain arrays, :func:`non_dominated_ranks` and
:func:`hypervolume_of_losses`, are public (``symtune.search``): the samplers build on them.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import optuna
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from symtune.search import _compat
from symtune.search._errors import StudyError, one_line
from symtune.search._runs import STAMP_KEY

if TYPE_CHECKING:
    import pandas as pd
    from numpy.typing import ArrayLike

    from symtune.spaces import Space

_log = logging.getLogger("symtune.search")

_COLUMN_USER_ATTRS = ("retry_of", "retries", "fail_kind", "fail_reason")  # own columns
_BASE_COLUMNS = ("number", "state")
_TAIL_COLUMNS = (
    "duration",
    "datetime_start",
    "datetime_complete",
    "node",
    "node_id",
    "retries",
    "retry_of",
    "fail_kind",
    "fail_reason",
)


def trials_frame(
    trials: Sequence[FrozenTrial], metric_names: Sequence[str], space: Space | None
) -> pd.DataFrame:
    """One row a trial: number, state, metrics, parameters, duration, node, retries, attrs.

    Metrics appear under their names; parameters under their space names, in space order,
    with readable values (``space.describe``: a choice by its label, a ``manyof`` as one
    list), or the stored values without a space (a parameter named like another column gets a
    ``param_`` prefix). ``duration`` is in seconds from ask to
    tell; ``node``/``node_id`` name the Ray node; ``retries``/``retry_of`` link a retry to
    its first attempt; ``fail_kind``/``fail_reason`` explain a FAIL. Every other user
    attribute is a column ``attr_<key>`` (the exception of a failed trial: ``attr_exception_type``,
    ``attr_exception_message``, ``attr_exception_traceback``). Trials whose parameters do not
    fit ``space`` (another version of it) show their stored values, and one warning is logged
    naming them.
    """
    import pandas as pd

    misfits: list[tuple[int, Exception]] = []
    rows = [_row(trial, metric_names, space, misfits) for trial in trials]
    if misfits:
        _warn_misfits(misfits)
    param_cols: dict[str, None] = {}
    attr_cols: dict[str, None] = {}
    for row in rows:
        for key in row:
            if key.startswith("attr_"):
                attr_cols[key] = None
            elif key not in _BASE_COLUMNS and key not in _TAIL_COLUMNS and key not in metric_names:
                param_cols[key] = None
    columns = [*_BASE_COLUMNS, *metric_names, *_in_space_order(param_cols, space)]
    columns += [*_TAIL_COLUMNS, *attr_cols]
    frame = pd.DataFrame(rows, columns=columns)
    return frame


def _warn_misfits(misfits: list[tuple[int, Exception]]) -> None:
    """One warning for the trials whose parameters do not fit the space (up to 10 named)."""
    numbers = [str(n) for n, _ in misfits[:10]] + (["..."] if len(misfits) > 10 else [])
    number, error = misfits[0]
    _log.warning(
        "%d trial(s) (%s) do not fit the study's space (trial %d: %s); their parameters are "
        "shown as stored",
        len(misfits),
        ", ".join(numbers),
        number,
        one_line(error),
    )


def _row(
    trial: FrozenTrial,
    metric_names: Sequence[str],
    space: Space | None,
    misfits: list[tuple[int, Exception]],
) -> dict[str, Any]:
    row: dict[str, Any] = {"number": trial.number, "state": trial.state.name}
    values = trial.values if trial.values is not None else [None] * len(metric_names)
    reserved = {*_BASE_COLUMNS, *_TAIL_COLUMNS, *metric_names}
    for name, value in zip(metric_names, values, strict=False):
        row[name] = value
    try:
        readable = _readable_params(trial.params, space)
    except ValueError as error:  # a SpaceError: a trial from another version of the space
        misfits.append((trial.number, error))
        readable = dict(trial.params)
    for name, value in readable.items():
        row[f"param_{name}" if name in reserved or name.startswith("attr_") else name] = value
    start, end = trial.datetime_start, trial.datetime_complete
    stamp = trial.system_attrs.get(STAMP_KEY)
    stamp = stamp if isinstance(stamp, dict) else {}
    row.update(
        duration=(end - start).total_seconds() if start and end else None,
        datetime_start=start,
        datetime_complete=end,
        node=stamp.get("node"),
        node_id=stamp.get("node_id"),
        retries=trial.user_attrs.get("retries", 0),
        retry_of=trial.user_attrs.get("retry_of"),
        fail_kind=trial.user_attrs.get("fail_kind"),
        fail_reason=trial.user_attrs.get("fail_reason"),
    )
    for key, value in trial.user_attrs.items():
        if key not in _COLUMN_USER_ATTRS:
            row[f"attr_{key}"] = value
    return row


def _readable_params(params: dict[str, Any], space: Space | None) -> dict[str, Any]:
    """Each active parameter's readable value (``Space.describe``: a choice by its label, a
    ``manyof`` as one list under its name); the stored values when the space is unknown.
    Raises ``SpaceError`` for parameters of another version of the space."""
    if space is None or not params:
        return dict(params)
    return space.describe(params)


def _in_space_order(columns: dict[str, None], space: Space | None) -> list[str]:
    """Parameter columns in ``space.parameters`` order (prefixed names by their parameter);
    names the space does not know (another version of it) after them, as they came."""
    if space is None:
        return list(columns)
    order = {name: i for i, name in enumerate(space.parameters)}
    last = len(order)

    def rank(column: str) -> int:
        return order.get(column, order.get(column.removeprefix("param_"), last))

    return sorted(columns, key=rank)  # stable: unknown names keep their order


def readable_study(study: optuna.Study, space: Space | None) -> optuna.Study:
    """An in-memory copy of ``study`` whose trials hold readable parameters (for plots).

    Each choice becomes a categorical over its candidates' labels (``Space.describe``), a
    ``manyof`` slot the label of the candidate it chose; numbers stay as they are. Plots read
    ``trial.params`` for their hover texts, so they then show ``adam`` rather than ``1``.
    Without a space, or when a trial does not fit it, ``study`` itself is returned.
    """
    if space is None:
        return study
    try:
        trials = [_readable_trial(t, space) for t in study.get_trials(deepcopy=False)]
        storage = optuna.storages.InMemoryStorage()
        verbosity = optuna.logging.get_verbosity()
        optuna.logging.set_verbosity(optuna.logging.WARNING)  # "A new study created in memory"
        try:
            storage.create_new_study(study.directions, study.study_name)
        finally:
            optuna.logging.set_verbosity(verbosity)
        copy = optuna.Study(study_name=study.study_name, storage=storage)
        copy.add_trials(trials)
    except ValueError as error:  # a SpaceError: a trial from another version of the space
        _log.warning(
            "the plot shows parameters as stored: a trial does not fit the study's space (%s)",
            one_line(error),
        )
        return study
    return copy


def _readable_trial(trial: FrozenTrial, space: Space) -> FrozenTrial:
    from optuna.distributions import CategoricalDistribution

    from symtune.spaces import ManyOf, OneOf

    params = dict(trial.params)
    distributions = dict(trial.distributions)
    readable = space.describe(params) if params else {}
    for name, hyper in space.parameters.items():
        if name not in readable or not isinstance(hyper, (OneOf, ManyOf)):
            continue
        shown = _shown(hyper.display)
        slots = hyper.slot_names(name) if isinstance(hyper, ManyOf) else [name]
        values = readable[name] if isinstance(hyper, ManyOf) else [readable[name]]
        for slot, value in zip(slots, values, strict=True):
            params[slot] = shown[_index(hyper.display, value)]
            distributions[slot] = CategoricalDistribution(shown)
    state = trial.state if trial.state.is_finished() else TrialState.FAIL  # not plotted
    return optuna.trial.create_trial(
        state=state,
        values=trial.values if state == TrialState.COMPLETE else None,
        params=params,
        distributions=distributions,
        user_attrs=trial.user_attrs,
        intermediate_values=trial.intermediate_values,
    )


def _shown(display: tuple[Any, ...]) -> tuple[str, ...]:
    """Distinct strings for labels (``str``, or ``repr`` where ``str`` would merge them)."""
    texts = tuple(str(d) for d in display)
    return texts if len(set(texts)) == len(texts) else tuple(repr(d) for d in display)


def _index(display: tuple[Any, ...], value: Any) -> int:
    for i, label in enumerate(display):
        if type(label) is type(value) and label == value:
            return i
    raise ValueError(f"{value!r} is not among {display!r}")


def pareto_trials(study: optuna.Study) -> list[FrozenTrial]:
    """The non-dominated COMPLETE trials (Optuna's ``best_trials``), by their first metric."""
    trials = study.best_trials
    sign = 1.0 if study.directions[0] == StudyDirection.MINIMIZE else -1.0
    return sorted(trials, key=lambda t: (sign * t.values[0], t.number))


def hypervolume(study: optuna.Study, reference_point: Sequence[float]) -> float:
    """The hypervolume dominated by the COMPLETE trials, bounded by ``reference_point``.

    ``reference_point`` is in the metrics' own units, one number per objective; the axes of
    maximised metrics are negated before Optuna's WFG hypervolume is computed. Trials that
    do not dominate the reference point add nothing.
    """
    directions = study.directions
    ref = _check_reference(reference_point, len(directions))
    signs = np.array([1.0 if d == StudyDirection.MINIMIZE else -1.0 for d in directions])
    points = [t.values for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))]
    if not points:
        return 0.0
    return hypervolume_of_losses(np.asarray(points, dtype=float) * signs, ref * signs)


def hypervolume_of_losses(points: ArrayLike, reference: ArrayLike) -> float:
    """The hypervolume that the loss points dominate, bounded by ``reference``.

    Every objective is minimised (negate the columns of maximised ones first). ``points`` is
    an ``(n, m)`` array of ``n`` points with ``m`` objectives (a 1-D array: ``n`` points of one
    objective), ``reference`` ``m`` finite numbers. Points that do not dominate ``reference``
    add nothing; no points, or none inside, give 0. Computed by Optuna's WFG algorithm.

        >>> hypervolume_of_losses([[1.0, 2.0], [2.0, 1.0]], [3.0, 3.0])
        3.0
    """
    losses = _points(points, "hypervolume_of_losses")
    ref = np.asarray(reference, dtype=float).reshape(-1)
    m = losses.shape[1] if len(losses) else len(ref)
    if ref.shape != (m,) or not np.all(np.isfinite(ref)):
        raise StudyError(
            f"`reference` must be {m} finite numbers (one per objective), but got "
            f"{reference!r} (in hypervolume_of_losses)"
        )
    inside = np.all(losses <= ref, axis=1)
    if not inside.any():
        return 0.0
    return _compat.hypervolume(losses[inside], ref)


def non_dominated_ranks(
    points: ArrayLike, directions: Sequence[str | StudyDirection] | None = None
) -> np.ndarray:
    """The Pareto rank of each point: 0 for the non-dominated ones, 1 for those only the
    rank-0 points dominate, and so on (Deb's fast non-dominated sort).

    ``points`` is an ``(n, m)`` array (a 1-D array: one objective); ``directions`` gives
    ``"minimize"`` or ``"maximize"`` (or Optuna's ``StudyDirection``) per objective, by
    default every objective minimised. Returns ``n`` integers. A point dominates another when
    it is no worse in every objective and better in one; equal points share a rank.

        >>> non_dominated_ranks([[1, 5], [2, 2], [3, 3], [6, 6]]).tolist()
        [0, 0, 1, 2]
    """
    costs = _points(points, "non_dominated_ranks")
    if not len(costs):
        return np.zeros(0, dtype=int)
    costs = costs * _signs(directions, costs.shape[1])
    n = len(costs)
    dominates = np.zeros((n, n), dtype=bool)  # dominates[i, j]: row i dominates row j
    for start in range(0, n, 512):
        block = costs[start : start + 512, None, :]
        dominates[start : start + 512] = np.all(block <= costs[None], axis=2) & np.any(
            block < costs[None], axis=2
        )
    remaining_dominators = dominates.sum(axis=0)
    ranks = np.full(n, -1)
    front = np.flatnonzero(remaining_dominators == 0)
    rank = 0
    while front.size:
        ranks[front] = rank
        remaining_dominators -= dominates[front].sum(axis=0)
        remaining_dominators[front] = -1
        front = np.flatnonzero(remaining_dominators == 0)
        rank += 1
    return ranks


def _points(points: ArrayLike, where: str) -> np.ndarray:
    """``points`` as an ``(n, m)`` float array; a 1-D array is ``n`` points of one objective."""
    array = np.asarray(points, dtype=float)
    if array.ndim == 1:
        array = array.reshape(-1, 1)
    if array.ndim != 2 or (len(array) and array.shape[1] == 0):
        raise StudyError(
            f"`points` must be an (n, m) array, one row a point and one column an objective, "
            f"but got shape {array.shape} (in {where})"
        )
    return array


def _signs(directions: Sequence[str | StudyDirection] | None, m: int) -> np.ndarray:
    """+1 per minimised objective, -1 per maximised one (every objective minimised: None)."""
    if directions is None:
        return np.ones(m)
    names = [d.name.lower() if isinstance(d, StudyDirection) else d for d in directions]
    if len(names) != m or any(d not in ("minimize", "maximize") for d in names):
        raise StudyError(
            f"`directions` must be 'minimize' or 'maximize' for each of the {m} objectives, "
            f"but got {list(directions)!r} (in non_dominated_ranks)"
        )
    return np.array([1.0 if d == "minimize" else -1.0 for d in names])


def _check_reference(reference_point: Sequence[float], n: int) -> np.ndarray:
    try:
        ref = np.asarray(reference_point, dtype=float)
    except (TypeError, ValueError):
        ref = None
    if ref is None or ref.shape != (n,) or not np.all(np.isfinite(ref)):
        raise StudyError(
            f"`reference_point` must be {n} finite numbers (one per objective), but got "
            f"{reference_point!r} (in Study.hypervolume)"
        )
    return ref


def plot_pareto_front(
    study: optuna.Study, metric_names: Sequence[str], path: str | Path, space: Space | None = None
) -> Path:
    """Write the Pareto front plot to ``path``: ``.html`` (plotly) or ``.png`` (matplotlib).

    With ``space``, hover texts show each choice by its label (:func:`readable_study`).

    Two or three objectives: Optuna's Pareto front plot (dominated trials greyed). One
    objective: its front is the best value so far, so the plot is Optuna's optimization
    history (each trial's value and the best so far). A metric whose positive values span
    more than two decades (a parameter count, FLOPs) gets a log axis (see
    :data:`LOG_AXIS_DECADES`).
    """
    target = Path(path)
    suffix = target.suffix.lower()
    n = len(study.directions)
    where = "(in Study.plot_pareto_front)"
    if suffix not in (".html", ".png"):
        raise StudyError(
            f"the plot path must end in '.html' or '.png', but got {str(path)!r} {where}"
        )
    if n > 3:
        raise StudyError(
            f"a Pareto front plot shows 1 to 3 objectives, but study {study.study_name!r} has "
            f"{n} ({list(metric_names)}) {where}"
        )
    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        raise StudyError(f"study {study.study_name!r} has no COMPLETE trial to plot {where}")
    if not target.parent.exists():
        raise StudyError(f"the directory of {str(path)!r} does not exist {where}")
    names = list(metric_names)
    study = readable_study(study, space)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if suffix == ".html":
            _plotly_figure(study, names).write_html(str(target))
        else:
            _write_png(study, names, target)
    return target


LOG_AXIS_DECADES = 2.0
"""A metric whose values are all positive and span more than this many decades (largest over
smallest above 100) is drawn on a log axis, in HTML and PNG alike: a parameter count or FLOPs
objective, whose small models would otherwise sit on the axis. A metric with a value <= 0 keeps
a linear axis (a log axis would hide those points)."""


def log_axes(study: optuna.Study) -> list[bool]:
    """For each metric, whether its plot axis is logarithmic (see :data:`LOG_AXIS_DECADES`)."""
    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    values = np.array([t.values for t in trials], dtype=float).reshape(len(trials), -1)
    out = []
    for column in values.T:
        finite = column[np.isfinite(column)]
        out.append(
            bool(
                finite.size
                and finite.min() > 0
                and np.log10(finite.max() / finite.min()) > LOG_AXIS_DECADES
            )
        )
    return out


def _plotly_figure(study: optuna.Study, names: list[str]) -> Any:
    logs = log_axes(study)
    if len(names) == 1:
        figure = optuna.visualization.plot_optimization_history(study, target_name=names[0])
        if logs[0]:
            figure.update_yaxes(type="log")
        return figure
    figure = optuna.visualization.plot_pareto_front(study, target_names=names)
    axes = ("xaxis", "yaxis", "zaxis")
    if len(names) == 2:
        figure.update_layout({axes[i]: {"type": "log"} for i, log in enumerate(logs) if log})
    else:
        figure.update_layout(scene={axes[i]: {"type": "log"} for i, log in enumerate(logs) if log})
    return figure


def _matplotlib_figure(study: optuna.Study, names: list[str]) -> Any:
    """Optuna's matplotlib plot, with log axes as for HTML (not in 3-D, which matplotlib's
    3-D axes cannot scale)."""
    from matplotlib.figure import Figure

    plots = optuna.visualization.matplotlib
    logs = log_axes(study)
    if len(names) == 1:
        axes = plots.plot_optimization_history(study, target_name=names[0])
        if logs[0]:
            axes.set_yscale("log")
    else:
        axes = plots.plot_pareto_front(study, target_names=names)
        if len(names) == 2:
            if logs[0]:
                axes.set_xscale("log")
            if logs[1]:
                axes.set_yscale("log")
    figure = axes.get_figure()
    if not isinstance(figure, Figure):
        raise RuntimeError(f"Optuna's plot returned no figure: {figure!r}")
    return figure


def _write_png(study: optuna.Study, names: list[str], target: Path) -> None:
    import matplotlib.pyplot as plt

    figure = _matplotlib_figure(study, names)
    figure.tight_layout()
    figure.savefig(str(target), dpi=120)
    plt.close(figure)
