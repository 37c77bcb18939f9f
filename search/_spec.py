"""``StudySpec``: a study packaged so the CLI can run it by name or from a file."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.metadata import EntryPoint
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from symtune.search._errors import one_line

if TYPE_CHECKING:
    import optuna

    from symtune.search._study import Study


class SpecError(ValueError):
    """A study file or name that cannot be loaded (missing file, no ``STUDY``, unknown name)."""


@dataclass(frozen=True)
class StudySpec:
    """Everything needed to create and run a study: a study file, or a module registered as a
    ``symtune.studies`` entry point (see :func:`registered_studies`), exposes one as STUDY.

    Attributes:
        name: the default study name in the storage (``symtune run NAME`` finds a registered
            study by its entry point's name; the built-in studies keep the two equal).
        space: a ``symtune.spaces.Space`` or any value ``Space(...)`` accepts.
        objective: ``objective(config, trial) -> float | sequence of floats``.
        directions: ``"minimize"`` / ``"maximize"`` per objective.
        metric_names: a label per objective (shown in tables, plots and optuna-dashboard).
        description: one line for ``symtune studies``.
        n_trials, workers, cpus_per_trial, gpus_per_trial: defaults for ``symtune run``.
        sampler, pruner: an Optuna sampler / pruner instance (e.g. ``NopPruner()``), or a
            factory called once per run that returns one (e.g. ``lambda: TPESampler(seed=0)``,
            or the class itself); ``None`` keeps symtune's defaults (TPE; MedianPruner for one
            objective, ParetoPruner for several). Anything else is a :class:`SpecError`.
        reference_point: for the hypervolume of the front, in metric units (optional).
        prepare: optional driver-side setup, called once by :meth:`create` before a run, that
            returns the objective to use: e.g. train a supernet once and return an objective
            that holds its weights (they reach the workers once, through Ray's object store).
            If the returned objective has a ``study_user_attrs`` dict, it is stored on the
            study (``symtune show`` prints it next to the front).
    """

    name: str
    space: Any
    objective: Callable[..., Any]
    directions: Sequence[str] = ("minimize",)
    metric_names: Sequence[str] | None = None
    description: str = ""
    n_trials: int = 20
    workers: int = 2
    cpus_per_trial: float = 1
    gpus_per_trial: float = 0
    sampler: optuna.samplers.BaseSampler | Callable[[], optuna.samplers.BaseSampler] | None = None
    pruner: optuna.pruners.BasePruner | Callable[[], optuna.pruners.BasePruner] | None = None
    reference_point: Sequence[float] | None = None
    prepare: Callable[[StudySpec], Callable[..., Any]] | None = None

    def __post_init__(self) -> None:
        for field_name, base in _optuna_bases().items():
            value = getattr(self, field_name)
            if value is not None and not isinstance(value, base) and not callable(value):
                raise SpecError(
                    f"StudySpec `{field_name}` must be an {_dotted(base)} instance or a factory "
                    f"(a callable that returns one), but got {value!r} (in StudySpec "
                    f"{self.name!r})"
                )

    def _built(self, field_name: str) -> Any:
        """The sampler or pruner for one run: the instance, or what the factory returns."""
        base = _optuna_bases()[field_name]
        value = getattr(self, field_name)
        if value is None or isinstance(value, base):
            return value
        built = value()
        if not isinstance(built, base):
            raise SpecError(
                f"StudySpec `{field_name}` factory {value!r} must return an {_dotted(base)}, "
                f"but returned {built!r} (in StudySpec {self.name!r})"
            )
        return built

    def create(
        self,
        *,
        storage: Any = None,
        name: str | None = None,
        allow_space_change: bool = False,
        checkpoint_root: Any = None,
    ) -> Study:
        """Create (or resume, when it exists in ``storage``) the study this spec describes.

        ``allow_space_change``: resume a stored study of this name even when its space
        differs from :attr:`space`; ``checkpoint_root``: where trials save checkpoints
        (both as in :func:`~symtune.search.create_study`).
        """
        from symtune.search._study import create_study

        objective = self.prepare(self) if self.prepare is not None else self.objective
        study = create_study(
            self.space,
            objective,
            name=self.name if name is None else name,
            directions=tuple(self.directions),
            metric_names=list(self.metric_names) if self.metric_names else None,
            storage=storage,
            sampler=self._built("sampler"),
            pruner=self._built("pruner"),
            load_if_exists=True,
            allow_space_change=allow_space_change,
            checkpoint_root=checkpoint_root,
        )
        for key, value in getattr(objective, "study_user_attrs", {}).items():
            study.optuna_study.set_user_attr(key, value)
        return study


def _optuna_bases() -> dict[str, type]:
    import optuna

    return {"sampler": optuna.samplers.BaseSampler, "pruner": optuna.pruners.BasePruner}


def _dotted(base: type) -> str:
    """``optuna.samplers.BaseSampler``: the public path of a class in a private module."""
    return f"{base.__module__.split('._')[0]}.{base.__name__}"


STUDIES_GROUP = "symtune.studies"
"""The entry-point group through which installed packages register studies by name."""


def registered_studies() -> list[EntryPoint]:
    """The studies installed packages register (``symtune.studies`` entry points), by name.

    Nothing is imported: an entry point's module is loaded by :func:`load_registered` only.
    A package registers its studies in its ``pyproject.toml``::

        [project.entry-points."symtune.studies"]
        my_study = "my_package.my_study:STUDY"
    """
    found = importlib.metadata.entry_points(group=STUDIES_GROUP)
    return sorted(found, key=lambda point: (point.name, study_origin(point)))


def study_origin(point: EntryPoint) -> str:
    """``symtune (symtune.studies.zdt:STUDY)``: the distribution and the entry point's value."""
    dist = getattr(point, "dist", None)
    name = dist.name if dist is not None else "unknown distribution"
    return f"{name} ({point.value})"


def load_registered(point: EntryPoint) -> StudySpec:
    """The ``StudySpec`` a registered entry point names (a ``StudySpec``, or a module with
    ``STUDY``); its module is imported here."""
    where = f"study {point.name!r} from {study_origin(point)}"
    try:
        loaded = point.load()
    except Exception as error:  # importing another package's module may raise anything
        raise SpecError(f"loading {where} failed: {one_line(error)}") from error
    spec = getattr(loaded, "STUDY", None) if isinstance(loaded, ModuleType) else loaded
    if not isinstance(spec, StudySpec):
        found = "nothing" if spec is None else type(spec).__name__
        raise SpecError(f"{where} must name a `StudySpec(...)`, but it names {found}")
    return spec


def load_spec(target: str) -> StudySpec:
    """The ``StudySpec`` of a study file (``path/to/study.py``) or of a registered study name
    (see :func:`registered_studies`)."""
    looks_like_file = target.endswith(".py") or "/" in target or Path(target).exists()
    if not looks_like_file:
        return load_registered(_registered(target))
    module = _import_file(Path(target))
    spec = getattr(module, "STUDY", None)
    if not isinstance(spec, StudySpec):
        found = "nothing" if spec is None else type(spec).__name__
        raise SpecError(
            f"study file {target} must define `STUDY = StudySpec(...)`, but it defines {found}"
        )
    return spec


def _registered(name: str) -> EntryPoint:
    """The one entry point registered as ``name``; a :class:`SpecError` for none or two."""
    points = registered_studies()
    matches = [point for point in points if point.name == name]
    if not matches:
        known = sorted({point.name for point in points})
        listed = ", ".join(known) if known else "none (is symtune installed, with its metadata?)"
        raise SpecError(f"unknown study {name!r}; registered studies: {listed}")
    if len(matches) > 1:
        origins = "; ".join(map(study_origin, matches))
        raise SpecError(f"study {name!r} is registered more than once: {origins}")
    return matches[0]


def _import_file(path: Path) -> Any:
    if not path.is_file():
        raise SpecError(f"study file {str(path)!r} does not exist")
    module_name = f"symtune_user_study_{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise SpecError(f"study file {str(path)!r} is not a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    # The file's own imports (a models.py beside it) must resolve on the driver and workers.
    folder = path.resolve().parent
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    try:
        spec.loader.exec_module(module)
    except Exception as error:  # the user's study file may raise anything: reported
        del sys.modules[module_name]
        where = _location(error, folder)
        raise SpecError(
            f"importing study file {str(path)!r} failed: {one_line(error)}{where}"
        ) from error
    _ship_by_value([module, *_sibling_modules(folder)])
    return module


def _location(error: BaseException, folder: Path) -> str:
    """`` (at study.py:12)``: the innermost frame of ``error`` in a file of the study's folder
    (the study file or a sibling module; a syntax error's own line), or ``""``."""
    found: tuple[str, int | None] | None = None
    tb = error.__traceback__
    while tb is not None:
        if _in_folder(tb.tb_frame.f_code.co_filename, folder):
            found = (tb.tb_frame.f_code.co_filename, tb.tb_lineno)
        tb = tb.tb_next
    if isinstance(error, SyntaxError) and error.filename and _in_folder(error.filename, folder):
        found = (error.filename, error.lineno)
    if found is None:
        return ""
    file, line = found
    shown = Path(file).resolve().relative_to(folder)
    return f" (at {shown}:{line})" if line is not None else f" (in {shown})"


def _in_folder(file: str, folder: Path) -> bool:
    try:
        resolved = Path(file).resolve()
    except OSError:
        return False
    return folder in resolved.parents and not _installed(resolved) and resolved.is_file()


def _installed(path: Path) -> bool:
    """Whether ``path`` is under a ``site-packages``/``dist-packages`` directory."""
    return bool({"site-packages", "dist-packages"} & set(path.parts))


def _ship_by_value(modules: list[Any]) -> None:
    """Pickle the study file and its sibling modules by value, so workers need neither.

    Workers cannot import the study file by name, nor its siblings (a ``models.py`` beside
    it): the study's folder is on the driver's ``sys.path`` only. Registering them with
    cloudpickle (which Ray uses) ships their functions and classes with the objective and
    the space, to any node, without a shared file system. A Ray ``runtime_env`` with a
    ``working_dir`` would do it too, but it uploads the whole folder (data, checkpoints) to
    Ray's object store on every run, needs ``address=`` clusters to accept runtime
    environments, and conflicts with a ``runtime_env`` the user's job already has; by-value
    pickling ships exactly the code the objective and space use. A sibling that is first
    imported inside the objective, on the worker, is not shipped: import it at the top.
    """
    from ray import cloudpickle

    from symtune.search._study_space import local_modules

    for module in modules:
        cloudpickle.register_pickle_by_value(module)
        local_modules.add(module.__name__)


def _sibling_modules(folder: Path) -> list[Any]:
    """The modules imported from ``folder`` itself: ``folder/NAME.py`` or ``folder/NAME/``.

    A module counts only when its top-level name lives in ``folder`` (so an installed
    package, or symtune itself when the folder is a checkout of it, never does) and its file
    is not under a ``site-packages``/``dist-packages`` directory.
    """
    found = []
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if not file or name.startswith("symtune_user_study_"):
            continue
        top = name.partition(".")[0]
        try:
            resolved = Path(file).resolve()
        except OSError:
            continue
        own = resolved == folder / f"{top}.py" or folder / top in resolved.parents
        if own and not _installed(resolved):
            found.append(module)
    return found
