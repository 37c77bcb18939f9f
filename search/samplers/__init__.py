"""Samplers for symtune studies: predictor-guided multi-objective search (DyNAS-T style).

Real evaluations are the expensive part of a search. Predictor-guided search spends them where
a cheap model of the objectives says the Pareto front is:

1. fit one regressor per objective on ``space.encode(assignment)`` vectors of every
   assignment scored so far (objectives that are cheap to compute exactly, such as FLOPs, are
   computed instead of predicted);
2. run an inner NSGA-II over ``space.encode`` vectors (decoded with ``space.decode``) whose
   objectives are the regressors' predictions;
3. score members of its predicted front for real, and repeat.

:class:`PredictorSampler` is that loop as an Optuna sampler, so it runs wherever a sampler
does (``symtune.search`` studies on Ray workers included); it fits each round in a background
thread while the workers score the previous one (:class:`PredictorFitError` if a fit fails)::

    from symtune.search import create_study
    from symtune.search.samplers import PredictorSampler, PredictorSearchConfig

    sampler = PredictorSampler(space, PredictorSearchConfig(batch_size=10),
                               exact_objectives={1: flops})
    study = create_study(space, objective, directions=["minimize"] * 2, sampler=sampler)

:func:`propose_candidates` is the pure step (history in, assignments out);
:func:`enqueue_predicted_front` enqueues it into any Optuna study;
:func:`predictor_guided_search` runs the loop in this process with an evaluation callable and
Optuna's ask-and-tell interface. The non-dominated sorting and hypervolume they use are
``symtune.search``'s public :func:`~symtune.search.non_dominated_ranks` and
:func:`~symtune.search.hypervolume_of_losses`.
"""

from symtune.search.samplers._background import PredictorFitError
from symtune.search.samplers._config import (
    PredictorSearchConfig,
    PredictorSearchResult,
    make_regressor,
)
from symtune.search.samplers._loop import enqueue_predicted_front, predictor_guided_search
from symtune.search.samplers._propose import propose_candidates
from symtune.search.samplers._sampler import PredictorSampler

__all__ = [
    "PredictorFitError",
    "PredictorSampler",
    "PredictorSearchConfig",
    "PredictorSearchResult",
    "enqueue_predicted_front",
    "make_regressor",
    "predictor_guided_search",
    "propose_candidates",
]
