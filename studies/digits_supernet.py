"""Weight-sharing architecture search on 8x8 digits: one supernet, thousands of subnets.

The space (``symtune.studies.digits.digits_cnn_space``) has three stages, each with a width
(2/4/8/16 channels), a kernel size (3/5) and a depth (1-3 blocks): 13,824 CNNs. Before the
run, the driver trains one supernet on the space with the sandwich rule (largest, smallest and
random subnets each step, in-place distillation) and checks how well it ranks subnets against
stand-alone training to convergence (Kendall's tau, beside the taus of ranking by parameters
and by FLOPs, stored on the study). Each trial then scores one subnet with the inherited
weights (batch norm recalibrated for that subnet) in milliseconds; NSGA-II searches validation
error against FLOPs. The supernet's weights reach Ray's object store once and every worker
reuses them.

The builder is the same code for both networks: ``build_digits_cnn(config)`` makes the
stand-alone CNN of a concrete config, and ``Supernet.from_space(space, build_digits_cnn)``
makes the supernet.

``symtune run digits_supernet_predictor`` runs the same study with predictor-guided search
(:func:`predictor_sampler`) instead of NSGA-II.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from symtune.search import StudySpec
from symtune.studies._prepared import cached_prepare, nsga2_sampler, ranking_attrs
from symtune.studies.digits import (
    DIGITS_INPUT_SHAPE,
    DigitsData,
    build_digits_cnn,
    digits_cnn_space,
    load_digits_data,
)

if TYPE_CHECKING:
    from symtune.hypernets import ScoringData, StandaloneConfig, Supernet

SPACE = digits_cnn_space()
SUPERNET_EPOCHS = 100  # about a minute here; 40 already ranks well (tau ~0.73)
RANKING_SUBNETS = 12
# The ranking check's reference: each subnet trained stand-alone to convergence, judged by its
# validation loss being flat (no epoch beating the lowest so far by 0.1%) for RANKING_PATIENCE
# epochs in a row, RANKING_MAX_EPOCHS at most (SGD at lr 0.05, cosine over the cap); the best
# epoch's weights are scored. Chosen from the validation-loss curves of this study's 12 subnets
# over 100 epochs: their lowest loss came between epochs 12 and 99 (SGD's noise on 360
# validation images makes the curve stall for up to ~10 epochs before it falls again). A
# patience of 5 would have stopped them at a median 30% above that lowest loss, 10 up to 37%
# above it (a narrow subnet still learning), 15 within 13% (median 0%) after a median 45
# epochs; all 12 converged before the cap. The check then takes about 2 minutes on one thread
# (~600 epochs in all; the old fixed 6 epochs took ~15 s).
RANKING_MAX_EPOCHS = 100
RANKING_PATIENCE = 15


class SubnetObjective:
    """Scores a subnet with the supernet's weights: validation error and FLOPs.

    It holds the trained weights (a CPU state dict), so they travel to the workers with the
    objective, once; each worker builds its supernet and scoring data on first use.
    """

    def __init__(self, state_dict: dict[str, Any], study_user_attrs: dict[str, Any]) -> None:
        self.state_dict = state_dict
        self.study_user_attrs = study_user_attrs
        self._built: Any = None

    def __getstate__(self) -> dict[str, Any]:
        return {"state_dict": self.state_dict, "study_user_attrs": self.study_user_attrs}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["state_dict"], state["study_user_attrs"])  # type: ignore[misc]

    def _supernet(self, device: Any) -> Any:
        if self._built is None:
            import torch

            torch.set_num_threads(1)
            supernet = new_supernet()
            supernet.load_state_dict(self.state_dict)
            self._built = (supernet.to(device).eval(), _data_and_scoring()[1])
        return self._built

    def __call__(self, config: Any, trial: Any) -> tuple[float, int]:
        supernet, scoring = self._supernet(trial.device)
        score = supernet.score(trial.params, scoring)
        return score.error, supernet.subnet_flops(trial.params)


def train_digits_supernet(
    epochs: int | None = None, *, progress: bool = True
) -> tuple[Supernet, DigitsData, ScoringData]:
    """Train the study's supernet on CPU (one thread, seed 0): ``(supernet, data, scoring)``.

    ``data`` is the digits split (``load_digits_data()``), ``scoring`` the recalibration and
    validation data every subnet is scored with. ``epochs`` defaults to ``SUPERNET_EPOCHS``.
    """
    import torch

    from symtune.hypernets import SupernetTrainConfig, train_supernet

    torch.set_num_threads(1)  # with 2 threads on a busy 2-core machine, training crawls
    torch.manual_seed(0)
    data, scoring = _data_and_scoring()
    supernet = new_supernet()
    train_supernet(
        supernet,
        (data.x_train, data.y_train),
        SupernetTrainConfig(epochs=epochs or SUPERNET_EPOCHS, device="cpu", progress=progress),
    )
    return supernet, data, scoring


def new_supernet() -> Supernet:
    """The study's supernet, untrained: ``build_digits_cnn`` over ``SPACE``."""
    from symtune.hypernets import Supernet

    return Supernet.from_space(SPACE, build_digits_cnn, input_shape=DIGITS_INPUT_SHAPE)


def _data_and_scoring() -> tuple[DigitsData, ScoringData]:
    """The digits split and the data every subnet is scored with (the same in every process)."""
    from symtune.hypernets import ScoringData

    data = load_digits_data()
    return data, ScoringData.from_tensors(data.x_train, data.x_val, data.y_val)


def ranking_standalone_config() -> StandaloneConfig:
    """The stand-alone reference of the ranking check (and of ``benchmarks/supernet.py``):
    training to convergence, ``RANKING_PATIENCE`` flat epochs, ``RANKING_MAX_EPOCHS`` at most,
    on CPU."""
    from symtune.hypernets import StandaloneConfig

    return StandaloneConfig(epochs=RANKING_MAX_EPOCHS, patience=RANKING_PATIENCE, device="cpu")


def prepare(spec: StudySpec) -> SubnetObjective:
    """Train the supernet once in the driver and check its ranking against subnets trained
    stand-alone to convergence; return the objective. The weights and attributes are kept on
    disk per recipe (``symtune.studies._prepared``), so a resume loads them instead of
    training again."""
    from importlib.metadata import version

    recipe = {
        "supernet_epochs": SUPERNET_EPOCHS, "ranking_subnets": RANKING_SUBNETS,
        "ranking_max_epochs": RANKING_MAX_EPOCHS, "ranking_patience": RANKING_PATIENCE,
        "space": SPACE.to_json(), "scikit-learn": version("scikit-learn"),
    }  # fmt: skip
    state, attrs = cached_prepare("digits_supernet", recipe, __file__, _train_and_rank)
    return SubnetObjective(state, attrs)


def _train_and_rank() -> tuple[dict[str, Any], dict[str, Any]]:
    """The supernet's weights (on CPU) and the study attributes of its ranking check."""
    import statistics

    from symtune.hypernets import RankingConfig, RankingData, ranking_check

    supernet, data, scoring = train_digits_supernet()
    sample = [SPACE.sample(seed) for seed in range(RANKING_SUBNETS)]
    ranking = ranking_check(
        supernet,
        sample,
        RankingData(scoring, (data.x_train, data.y_train), (data.x_val, data.y_val)),
        RankingConfig(ranking_standalone_config(), progress=True),
    )
    attrs = {
        **ranking_attrs(ranking),
        # How converged the reference is: the median epochs the subnets trained, the rule.
        "supernet.standalone_median_epochs": float(statistics.median(ranking.standalone_epochs)),
        "supernet.standalone_patience": RANKING_PATIENCE,
        "supernet.standalone_max_epochs": RANKING_MAX_EPOCHS,
        "supernet.epochs": SUPERNET_EPOCHS,
    }
    return {k: v.detach().cpu() for k, v in supernet.state_dict().items()}, attrs


@functools.cache
def _flops_supernet() -> Supernet:
    """An untrained supernet of the space: FLOPs depend on the architecture, not the weights."""
    return new_supernet()


def subnet_flops(assignment: dict[str, Any]) -> int:
    """FLOPs of one forward pass of the subnet ``assignment`` on one image (counted once per
    subnet, about 7 ms on this machine's CPU, with ``torch.utils.flop_counter``)."""
    return _flops_supernet().subnet_flops(assignment)


def predictor_sampler(seed: int = 0) -> Any:
    """The predictor-guided sampler for this study: a GBR predicts validation error from
    ``SPACE.encode`` vectors, FLOPs are computed exactly (:func:`subnet_flops`), and each round
    takes the 10 predicted subnets with the largest hypervolume gains (``benchmarks/supernet.py``
    measures it against NSGA-II and random search)."""
    from symtune.search.samplers import PredictorSampler, PredictorSearchConfig

    config = PredictorSearchConfig(n_initial=20, batch_size=10, selection="hypervolume", seed=seed)
    return PredictorSampler(SPACE, config, exact_objectives={1: subnet_flops})


def _not_prepared(config: Any, trial: Any) -> None:
    raise RuntimeError("digits_supernet's objective is made by `prepare` (StudySpec.create)")


STUDY = StudySpec(
    name="digits_supernet",
    space=SPACE,
    objective=_not_prepared,
    prepare=prepare,
    directions=("minimize", "minimize"),
    metric_names=("val_error", "flops"),
    description="CNN supernet on sklearn digits: per-stage width, kernel, depth (13,824 "
    "subnets) scored with shared weights; error vs FLOPs, NSGA-II",
    n_trials=300,
    workers=2,
    sampler=nsga2_sampler,
    reference_point=(1.0, 2_000_000),
)
