"""The ``symtune`` command line: run, list, show, pareto, export, checkpoints, repair,
dashboard.

User errors (a missing study file, a file without ``STUDY``, an unknown study, a bad storage URL,
a Ray address that does not answer) end with exit code 2 and one line on stderr, never a
traceback. Heavy imports (ray, torch, optuna) happen inside the commands, so ``--help`` is fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

EXIT_USER_ERROR = 2


class UserError(Exception):
    """An error the user can fix; printed as one line, exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="symtune",
        description="Distributed hyperparameter and architecture search: symbolic spaces, "
        "Optuna samplers, Ray workers.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    _run_command(sub)

    studies = sub.add_parser("studies", help="list built-in studies and the studies in a storage")
    _storage_argument(studies)

    show = sub.add_parser("show", help="a study's summary and trials")
    show.add_argument("name")
    show.add_argument("--limit", type=int, default=30, help="rows to show (latest trials)")
    _storage_argument(show)

    pareto = sub.add_parser("pareto", help="a study's Pareto front (table, plot with --plot)")
    pareto.add_argument("name")
    pareto.add_argument("--plot", help="write the front to this .html or .png file")
    _storage_argument(pareto)

    export = sub.add_parser("export", help="a trial's config as JSON")
    export.add_argument("name")
    export.add_argument("trial", type=int, nargs="?", help="trial number (default: the best)")
    export.add_argument("-o", "--output", help="write to this file instead of stdout")
    _storage_argument(export)

    _checkpoints_command(sub)

    repair = sub.add_parser(
        "repair",
        help="rewrite a damaged journal file with every readable record (keeps a backup)",
    )
    repair.add_argument("file", help="the journal file (e.g. symtune.journal)")

    dashboard = sub.add_parser("dashboard", help="open optuna-dashboard on 127.0.0.1")
    dashboard.add_argument("--port", type=int, default=8080)
    dashboard.add_argument("--host", default="127.0.0.1")
    _storage_argument(dashboard)
    return parser


def _run_command(sub: Any) -> None:
    run = sub.add_parser("run", help="run a study (a study file or a built-in study name)")
    run.add_argument("study", help="path/to/study.py (exposing STUDY) or a name from `studies`")
    run.add_argument("--name", help="study name in the storage (default: the spec's name)")
    run.add_argument("--trials", type=int, help="total finished trials (default: the spec's)")
    run.add_argument("--workers", type=int, help="trials in flight at once")
    run.add_argument("--cpus-per-trial", type=float)
    run.add_argument("--gpus-per-trial", type=float, help="fractions allowed, e.g. 0.5")
    run.add_argument("--timeout", type=float, help="stop starting trials after this many seconds")
    run.add_argument(
        "--trial-timeout",
        type=float,
        metavar="SECONDS",
        help="a trial running longer is stopped at its next report and stored as FAIL "
        "'timeout' (its worker is killed if it does not stop within 5 s)",
    )
    run.add_argument(
        "--max-retries",
        type=int,
        metavar="N",
        help="retries of a trial whose worker dies (default 2; interruptions never count)",
    )
    run.add_argument(
        "--checkpoint-root",
        metavar="PATH_OR_URL",
        help="where trials save checkpoints: a folder or an fsspec URL (stored with the "
        "study; default: symtune-checkpoints beside the storage file)",
    )
    run.add_argument("--address", help="join this Ray cluster (default: a local Ray)")
    run.add_argument("--plot", help="where to write the Pareto plot (.html or .png)")
    run.add_argument("--no-progress", action="store_true", help="no live progress bar")
    run.add_argument(
        "--stop-after-failures",
        type=int,
        metavar="N",
        help="stop when the first N trials all fail with the same exception (default 5; 0: never)",
    )
    run.add_argument(
        "--allow-space-change",
        action="store_true",
        help="resume a study of this name even if its stored space differs (old trials stay)",
    )
    _storage_argument(run)


def _checkpoints_command(sub: Any) -> None:
    checkpoints = sub.add_parser(
        "checkpoints", help="a study's trial checkpoints: where, how many, and cleaning them"
    )
    checkpoints.add_argument("name")
    checkpoints.add_argument(
        "--keep",
        choices=["all", "front", "none"],
        default="all",
        help="delete the others' checkpoints: keep those of the Pareto front, or none "
        "(running trials keep theirs; default: all, delete nothing)",
    )
    _storage_argument(checkpoints)


def _storage_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--storage",
        help="an Optuna storage URL or journal file (default: symtune's embedded file in the "
        "working directory)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``symtune`` console script."""
    args = parse_args(build_parser(), argv)
    from symtune.search import _cli_commands as commands

    handler = getattr(commands, f"cmd_{args.command}")
    try:
        return int(handler(args) or 0)
    except KeyboardInterrupt as interrupt:
        from symtune.search._errors import Terminated

        what = "terminated (SIGTERM)" if isinstance(interrupt, Terminated) else "interrupted"
        print(f"symtune: {what}; finished trials are kept in the storage", file=sys.stderr)
        return 143 if isinstance(interrupt, Terminated) else 130
    except commands.USER_ERRORS as error:
        from symtune.search._errors import one_line

        print(f"symtune: error: {one_line(error, with_type=False)}", file=sys.stderr)
        return EXIT_USER_ERROR


def parse_args(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """``parser.parse_args``, but an unknown argument after a command is reported with that
    command's usage (``symtune run: error: ...``), not the top level's; exit code 2."""
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        commands = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        command = commands[0].choices.get(args.command) if commands else None
        (command or parser).error(f"unrecognized arguments: {' '.join(unknown)}")
    return args


def write_json(data: Any, output: str | None) -> None:
    text = json.dumps(data, indent=2, default=str)
    if output:
        Path(output).write_text(text + "\n")
    else:
        print(text)


def __getattr__(name: str) -> Any:
    """``one_line``, deprecated: ``symtune.search``'s one error quoting helper replaced it."""
    if name != "one_line":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import warnings

    warnings.warn(
        "symtune.search.cli.one_line is deprecated (it goes in the next release); the CLI "
        "prints errors through symtune.search's private one_line helper",
        DeprecationWarning,
        stacklevel=2,
    )
    from symtune.search._errors import one_line

    return lambda error: one_line(error, with_type=False)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
