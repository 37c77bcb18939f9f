"""What each ``symtune`` command does (``search/cli.py`` parses the arguments)."""

from __future__ import annotations

import argparse
import math
import sys
import warnings
from pathlib import Path
from typing import Any

from rich.markup import escape
from rich.table import Table

from symtune.search._errors import StudyError
from symtune.search._progress import output_console
from symtune.search._spec import (
    SpecError,
    StudySpec,
    load_registered,
    load_spec,
    registered_studies,
    study_origin,
)
from symtune.search.cli import UserError, write_json
from symtune.spaces import SpaceError

# Piped to a file or a CI log: 240 columns, not rich's 80 (see `output_console`).
console = output_console()


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    """symtune's own warnings as one line, ``symtune: warning: ...``: in the CLI, Python's
    format would point at the console script's ``sys.exit(main())``."""
    from symtune.search._journal import TornTailWarning
    from symtune.search._study_space import SpaceNotPortableWarning

    if issubclass(category, (SpaceNotPortableWarning, TornTailWarning)):
        text = " ".join(str(message).split())
        print(f"symtune: warning: {text}", file=file if file is not None else sys.stderr)
    else:
        _python_show_warning(message, category, filename, lineno, file, line)


_python_show_warning = warnings.showwarning
warnings.showwarning = _show_warning  # this module is imported by the CLI only


USER_ERRORS = (UserError, SpecError, StudyError, SpaceError, FileNotFoundError)
"""Errors that get a one-line message and exit code 2 instead of a traceback."""


# -- run -----------------------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    spec = load_spec(args.study)
    _check_positive(args, ("trials", "workers", "cpus_per_trial", "timeout", "trial_timeout"))
    if args.gpus_per_trial is not None and args.gpus_per_trial < 0:
        raise UserError(f"--gpus-per-trial must be >= 0, but got {args.gpus_per_trial}")
    max_retries = getattr(args, "max_retries", None)
    if max_retries is not None and max_retries < 0:
        raise UserError(f"--max-retries must be >= 0, but got {max_retries}")
    _check_plot_path(args.plot)  # before the run, not after it
    if args.address is not None:  # before the study is created: no empty study left behind
        from symtune.search._ray import check_address

        check_address(args.address)
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # the line printed below says it all
    study = spec.create(
        storage=args.storage,
        name=args.name,
        allow_space_change=args.allow_space_change,
        checkpoint_root=getattr(args, "checkpoint_root", None),
    )
    n_trials = args.trials if args.trials is not None else spec.n_trials
    workers = args.workers or spec.workers
    console.print(
        f"[bold]{escape(study.name)}[/]: {n_trials} trials, {workers} workers, "
        f"storage {escape(str(study.storage_url))}"
    )
    options = {
        "workers": workers,
        "cpus_per_trial": args.cpus_per_trial or spec.cpus_per_trial,
        "gpus_per_trial": (
            spec.gpus_per_trial if args.gpus_per_trial is None else args.gpus_per_trial
        ),
        "timeout": args.timeout,
        "trial_timeout": getattr(args, "trial_timeout", None),
        "address": args.address,
    }
    if max_retries is not None:
        options["max_retries"] = max_retries
    stop_after = getattr(args, "stop_after_failures", None)
    if stop_after is not None:
        if stop_after < 0:
            raise UserError(f"--stop-after-failures must be >= 0, but got {stop_after}")
        options["stop_after_failures"] = stop_after or None
    study.optimize(n_trials, show_progress=not args.no_progress, **options)
    finished = study.counts()["finished"]
    if args.timeout is not None and n_trials is not None and finished < n_trials:
        console.print(
            f"--timeout {args.timeout:g} s passed: no new trial was started after it "
            f"({finished} of {n_trials} trials finished; run again to go on)"
        )
    _print_front(study, spec)
    if args.plot:  # only where asked: a run writes nothing but the storage unless told to
        _write_plot(study, args.plot)
    return 0


def _check_plot_path(plot: str | None) -> None:
    """Refuse a --plot path that could not be written, before any work is done."""
    if plot is None:
        return
    if Path(plot).suffix.lower() not in (".html", ".png"):
        raise UserError(f"--plot must end in .html or .png, but got {plot!r}")
    folder = Path(plot).absolute().parent
    if not folder.is_dir():
        raise UserError(f"--plot {plot!r}: its directory {str(folder)!r} does not exist")


def _write_plot(study: Any, plot: str) -> None:
    """Write the Pareto plot to ``plot`` (.html or .png), and no other file."""
    _check_plot_path(plot)
    study.plot_pareto_front(plot)
    console.print(f"plot written to {plot}")


def _check_positive(args: argparse.Namespace, names: tuple[str, ...]) -> None:
    for name in names:
        value = getattr(args, name, None)
        if value is not None and value <= 0:
            flag = "--" + name.replace("_", "-")
            raise UserError(f"{flag} must be > 0, but got {value}")


# -- inspecting studies --------------------------------------------------------------------------


def cmd_studies(args: argparse.Namespace) -> int:
    table = Table(title="Registered studies (symtune run NAME)")
    for column in ("name", "objectives", "default trials", "description", "from"):
        table.add_column(column)
    for point in registered_studies():
        table.add_row(*map(escape, (point.name, *_listed(point), study_origin(point))))
    console.print(table)
    stored_studies = _stored_studies(args.storage)
    if stored_studies:
        stored = Table(title="Studies in the storage")
        for column in ("name", "finished", "directions"):
            stored.add_column(column)
        for name, finished, directions in stored_studies:
            stored.add_row(escape(name), str(finished), directions)
        console.print(stored)
    return 0


def _listed(point: Any) -> tuple[str, str, str]:
    """``(objectives, default trials, description)`` of a registered study; one that cannot
    be loaded is listed with the reason, not dropped (nor allowed to hide the others)."""
    try:
        spec = load_registered(point)
    except SpecError as error:
        return "", "", f"cannot be loaded: {error}"
    return ", ".join(_objective_labels(spec)), str(spec.n_trials), spec.description


def _objective_labels(spec: StudySpec) -> list[str]:
    names = list(spec.metric_names or [f"objective {i}" for i in range(len(spec.directions))])
    return [f"{n} ({d[:3]})" for n, d in zip(names, spec.directions, strict=False)]


def _stored_studies(storage: str | None) -> list[tuple[str, int, str]]:
    """``(name, finished trials, directions)`` of each study in ``storage``; finished as
    ``n_trials`` counts them (infrastructure failures, retried, are not trials)."""
    import optuna

    from symtune.search import default_storage_path, is_finished, resolve_storage

    if storage is None and not Path(default_storage_path()).exists():
        return []
    opened = resolve_storage(storage)
    rows = []
    for summary in optuna.get_all_study_summaries(opened, include_best_trial=False):
        trials = optuna.load_study(study_name=summary.study_name, storage=opened).get_trials(
            deepcopy=False
        )
        directions = ", ".join(d.name.lower() for d in summary.directions)
        rows.append((summary.study_name, sum(map(is_finished, trials)), directions))
    return rows


def cmd_show(args: argparse.Namespace) -> int:
    _check_positive(args, ("limit",))
    study = _load(args)
    counts = study.counts()
    console.print(
        f"[bold]{escape(study.name)}[/]: {counts['finished']} finished "
        f"({counts['complete']} complete, {counts['failed']} failed, {counts['pruned']} pruned), "
        f"{counts['running']} running; "
        f"objectives: {escape(', '.join(_metric_labels(study)))}"
    )
    frame = study.results()
    if frame.empty:
        console.print("no trials yet")
        return 0
    console.print(_table(frame.tail(args.limit), title="Trials"))
    _print_front(study, None)
    return 0


def cmd_pareto(args: argparse.Namespace) -> int:
    _check_plot_path(args.plot)  # before the table, not after it
    study = _load(args)
    _print_front(study, None)
    if args.plot:
        _write_plot(study, args.plot)
    return 0


def cmd_checkpoints(args: argparse.Namespace) -> int:
    study = _load(args)
    summary = study.clean_checkpoints(keep=args.keep)
    kept, removed = summary["kept"], summary["removed"]
    console.print(f"[bold]{escape(study.name)}[/]: checkpoints under {escape(summary['root'])}")
    if removed:
        console.print(
            f"removed those of {len(removed)} trials ({_bytes(summary['bytes_freed'])} freed)"
        )
    numbers = ", ".join(str(n) for n in kept[:20]) + (", ..." if len(kept) > 20 else "")
    console.print(
        f"{len(kept)} trials keep checkpoints"
        + (f": {numbers}" if kept else "")
        + " (numbers of first attempts)"
    )
    return 0


def _bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB"):
        if size < 1000:
            return f"{size:.0f} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"


def cmd_export(args: argparse.Namespace) -> int:
    study = _load(args)
    trials = {t.number: t for t in study.optuna_study.get_trials(deepcopy=False)}
    number = args.trial
    if number is None:
        front = study.pareto_front()
        if front.empty:
            raise UserError(f"study {study.name!r} has no completed trial to export")
        number = int(front["number"].iloc[0])
    if number not in trials:
        raise UserError(
            f"study {study.name!r} has no trial {number}; its trials are 0..{len(trials) - 1}"
        )
    trial = trials[number]
    data: dict[str, Any] = {
        "study": study.name,
        "trial": number,
        "state": trial.state.name,
        "values": dict(zip(study.metric_names, trial.values or [], strict=False)),
        "params": trial.params,
    }
    if study.space is not None:
        data["config"] = study.space.describe(trial.params)
    else:  # say so, and why: a config missing without a word reads as an empty one
        data["config"] = None
        data["config_missing"] = study.space_error or "the study's space is unknown"
        print(f"symtune: no readable config: {data['config_missing']}", file=sys.stderr)
    write_json(data, args.output)
    return 0


def cmd_dashboard(args: argparse.Namespace) -> int:
    try:
        import optuna_dashboard
    except ImportError as error:
        raise UserError(
            "optuna-dashboard is not installed: pip install 'symtune[dashboard]'"
        ) from error
    from symtune.search import resolve_storage

    storage = resolve_storage(args.storage)
    if not _is_loopback(args.host):
        console.print(
            f"[bold]warning[/]: optuna-dashboard has no authentication; anyone who can reach "
            f"{args.host}:{args.port} can read and change every study in this storage"
        )
    console.print(f"optuna-dashboard on http://{args.host}:{args.port} (Ctrl-C to stop)")
    optuna_dashboard.run_server(storage, host=args.host, port=args.port)
    return 0


# -- shared ----------------------------------------------------------------------------------------


def _is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _load(args: argparse.Namespace) -> Any:
    from symtune.search import load_study

    return load_study(args.name, storage=args.storage)


def _metric_labels(study: Any) -> list[str]:
    return [f"{n} ({d})" for n, d in zip(study.metric_names, study.directions, strict=False)]


def _print_front(study: Any, spec: StudySpec | None) -> None:
    front = study.pareto_front()
    title = "Pareto front" if len(study.directions) > 1 else "Best trial"
    if front.empty:
        console.print(f"{title}: no completed trial")
        return
    console.print(_table(front, title=f"{title} ({len(front)} trials)"))
    attrs = dict(study.optuna_study.user_attrs)  # e.g. a supernet's ranking check
    taus = {
        label: attrs.pop(f"supernet.kendall_tau{suffix}")
        for label, suffix in (("supernet", ""), ("parameters", "_params"), ("FLOPs", "_flops"))
        if f"supernet.kendall_tau{suffix}" in attrs
    }
    if taus:  # one line for the three ranking taus of a supernet study
        shown = ", ".join(f"{label} {_tau(value)}" for label, value in taus.items())
        console.print(escape(f"ranking (Kendall's tau, higher = better): {shown}"))
    for key, value in attrs.items():
        console.print(escape(f"{key}: {_cell(value)}"))
    reference = spec.reference_point if spec else None
    if reference is not None and len(study.directions) > 1:
        volume = study.hypervolume(reference)
        console.print(f"hypervolume (reference {list(reference)}): {volume:.4g}")


_HIDDEN_COLUMNS = ("datetime_", "node_id", "attr_selftuned_schedule.", "attr_exception_")


def _table(frame: Any, *, title: str) -> Table:
    """The informative columns of a results frame: no timestamps, ids, schedules or
    tracebacks (``symtune export`` and ``Study.results()`` have them), none that is empty.
    Headers and cells are printed as they are, never read as rich markup."""
    table = Table(title=title)
    columns = [
        c
        for c in frame.columns
        if not str(c).startswith(_HIDDEN_COLUMNS) and frame[c].notna().any()
    ]
    if frame["state"].eq("COMPLETE").all():
        columns.remove("state")
    for column in columns:  # escaped: `optimizer[sgd].lr` is a column, not rich markup
        table.add_column(escape(str(column)), overflow="fold")
    for _, row in frame[columns].iterrows():
        table.add_row(*(escape(_cell(row[c])) for c in columns))
    return table


def _tau(value: Any) -> str:
    return f"{value:.2f}" if isinstance(value, (int, float)) else _cell(value)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.4g}"
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."


# -- repair --------------------------------------------------------------------------------------


def cmd_repair(args: argparse.Namespace) -> int:
    """Rewrite a damaged journal file with its readable records; the original is kept."""
    from symtune.search import repair_journal

    report = repair_journal(args.file)
    console.print(report.summary(), soft_wrap=True, highlight=False, markup=False)
    return 0
