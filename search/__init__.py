"""Studies: Ray-distributed, fault-tolerant Optuna studies over symbolic spaces.

    from symtune.search import create_study

    study = create_study(space, objective, directions=["minimize", "minimize"],
                         metric_names=["error", "params"])
    study.optimize(n_trials=100, workers=4)
    study.pareto_front()            # a pandas DataFrame
    study.plot_pareto_front("front.html")

See :func:`create_study`, :class:`Study` and the README for a tour. Pareto utilities on plain
arrays: :func:`non_dominated_ranks` and :func:`hypervolume_of_losses`. Samplers, predictor-guided
search among them: ``symtune.search.samplers``. Multi-objective pruning (successive halving on
Pareto fronts, MOASHA): :class:`ParetoPruner`.
"""

from symtune.search._checkpoints import Checkpoint
from symtune.search._errors import StudyError, Terminated
from symtune.search._journal import (
    JournalDamageError,
    RepairReport,
    TornTailWarning,
    repair_journal,
)
from symtune.search._pareto_pruner import ParetoPruner
from symtune.search._ray import keep_on_loopback, ray_session
from symtune.search._results import hypervolume_of_losses, non_dominated_ranks
from symtune.search._runs import is_finished
from symtune.search._spec import StudySpec
from symtune.search._storage import (
    DEFAULT_STORAGE_FILE,
    FastJournalFileBackend,
    default_storage,
    default_storage_path,
    open_storage,
    resolve_storage,
)
from symtune.search._study import Study, create_study, load_study
from symtune.search._study_space import SpaceNotPortableWarning
from symtune.search._trial import TrialHandle, TrialTimeout, device_for

__all__ = [
    "DEFAULT_STORAGE_FILE",
    "Checkpoint",
    "FastJournalFileBackend",
    "JournalDamageError",
    "ParetoPruner",
    "RepairReport",
    "SpaceNotPortableWarning",
    "Study",
    "StudyError",
    "StudySpec",
    "Terminated",
    "TornTailWarning",
    "TrialHandle",
    "TrialTimeout",
    "create_study",
    "default_storage",
    "default_storage_path",
    "device_for",
    "hypervolume_of_losses",
    "is_finished",
    "keep_on_loopback",
    "load_study",
    "non_dominated_ranks",
    "open_storage",
    "ray_session",
    "repair_journal",
    "resolve_storage",
]
