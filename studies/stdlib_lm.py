"""Weight-sharing search over byte-level GPTs, trained on Python's own standard library.

The space (:data:`SPACE`, ``gpt_space`` with per-block choices) holds GPT-style decoders over
bytes: model width 32/48/64, depth 1-3, and per block 1/2/4 heads of 16 dimensions and an MLP
ratio of 2/3/4: 6,561 assignments (each block's choices counted, also those of blocks a
shallower subnet does not run; 2,457 distinct networks) from 25k to 187k parameters. The text
is every machine's own: the stdlib source files of ``symtune.studies.text`` (split by file,
the study records the Python version). Before the run the driver trains one supernet with the
sandwich rule and in-place distillation on the logits of the largest subnet
(:func:`train_lm_supernet`), and checks how well it ranks subnets against stand-alone training
to convergence (validation loss flat), beside the parameter-count and FLOPs baselines (the
study's user attributes). Each trial then scores one subnet with the inherited weights:
validation bits per byte on a fixed held-out sample of windows (layer norm needs no
recalibration; the windows travel with the weights). NSGA-II searches bits per byte against
parameters on the Ray workers.

``symtune run stdlib_lm_predictor`` (:data:`PREDICTOR_STUDY`) runs the same study with
predictor-guided search;
:func:`make_study` builds variants (measured latency as a third objective, another ranking
sample, the supernet's epochs)::

    from symtune.studies.stdlib_lm import make_study

    spec = make_study(latency=True, ranking_subnets=0)  # bpb, parameters, latency (ms)
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from symtune.hypernets import gpt_space
from symtune.search import StudySpec
from symtune.studies._checks import check_count
from symtune.studies._prepared import cached_prepare, nsga2_sampler, ranking_attrs
from symtune.studies.text import TextCorpus, fixed_windows, load_stdlib_corpus

if TYPE_CHECKING:
    import torch

    from symtune.hypernets import (
        RankingResult,
        ScoringData,
        StandaloneConfig,
        Supernet,
        SupernetTrainConfig,
    )

CONTEXT = 64  # bytes a model sees
BATCH_SIZE = 16  # windows per step: 1,024 next-byte predictions
TRAIN_WINDOWS = 4_096  # fixed training windows (262 KB of text) drawn across the training files
VAL_WINDOWS = 256  # fixed validation windows: every subnet is scored on the same 16 KB
SUPERNET_EPOCHS = 12  # passes over the training windows: 3,072 sandwich steps
RANKING_SUBNETS = 8  # the prepare's ranking check (benchmarks/transformer_supernet.py runs 20+)
STANDALONE_MAX_EPOCHS = 40  # the cap of stand-alone training; it stops earlier, when flat
STANDALONE_PATIENCE = 3  # epochs without a 0.1% better validation loss: converged
DISTILL_WEIGHT = 0.5  # half label loss, half distillation; see supernet_train_config
LATENCY_REPEATS = 20  # timed forward passes per subnet (the median is reported)

SPACE = gpt_space(
    context=CONTEXT,
    widths=(32, 48, 64),
    heads=(1, 2, 4),
    mlp_ratios=(2, 3, 4),
    depths=(1, 2, 3),
    head_dim=16,
)


@dataclass(frozen=True)
class LMData:
    """The study's data: fixed training and validation windows of the stdlib corpus.

    Attributes:
        corpus: the corpus the windows come from (its ``summary()`` names the Python version).
        train: ``(inputs, targets)``, ``(TRAIN_WINDOWS, CONTEXT)`` int64 tensors: the supernet
            and every stand-alone subnet train on these windows.
        val: ``(inputs, targets)``, ``(VAL_WINDOWS, CONTEXT)``: the held-out sample every
            subnet is scored on, with inherited weights or trained stand-alone.
    """

    corpus: TextCorpus
    train: tuple[torch.Tensor, torch.Tensor]
    val: tuple[torch.Tensor, torch.Tensor]

    def scoring(self, batch_size: int = 64) -> ScoringData:
        """The validation windows as scoring batches, without recalibration (layer norm)."""
        return _scoring(self.val, batch_size)

    def summary(self) -> dict[str, Any]:
        """What a report records: the corpus (Python version, files, bytes) and the windows."""
        return {
            **self.corpus.summary(),
            "context": CONTEXT,
            "train_windows": len(self.train[0]),
            "val_windows": len(self.val[0]),
        }


def _scoring(val: tuple[torch.Tensor, torch.Tensor], batch_size: int = 64) -> ScoringData:
    from symtune.hypernets import ScoringData

    x, y = val
    batches = [(x[i : i + batch_size], y[i : i + batch_size]) for i in range(0, len(x), batch_size)]
    return ScoringData(calib=None, val=batches)


@functools.cache
def load_lm_data(
    train_windows: int = TRAIN_WINDOWS, val_windows: int = VAL_WINDOWS, seed: int = 0
) -> LMData:
    """The study's windows: ``train_windows`` from the corpus's training files and
    ``val_windows`` from its validation files, the same on every call and machine (for one
    Python version). ``seed`` splits the files (:func:`load_stdlib_corpus`) and draws the
    windows. Cached: workers of one process read the corpus once."""
    check_count("train_windows", train_windows, "(load_lm_data)")
    check_count("val_windows", val_windows, "(load_lm_data)")
    corpus = load_stdlib_corpus(seed=seed)
    train = fixed_windows(corpus.train, CONTEXT, train_windows, seed=seed + 1)
    val = fixed_windows(corpus.val, CONTEXT, val_windows, seed=seed + 2)
    return LMData(corpus=corpus, train=train, val=val)


def new_supernet() -> Supernet:
    """The study's supernet, untrained: ``build_gpt`` over :data:`SPACE`, token-id inputs."""
    import torch

    from symtune.hypernets import Supernet, build_gpt

    return Supernet.from_space(SPACE, build_gpt, input_shape=(CONTEXT,), input_dtype=torch.long)


def supernet_train_config(
    epochs: int = SUPERNET_EPOCHS, *, device: str = "cpu", progress: bool = False, **options: Any
) -> SupernetTrainConfig:
    """The study's supernet recipe: AdamW (peak lr 3e-3, weight decay 0.01, gradient norm
    clipped at 1), the sandwich rule with two random subnets, in-place distillation from the
    largest subnet's logits; ``options`` override any other field.

    The subnets other than the largest learn half from the labels and half from the largest
    subnet's logits (``DISTILL_WEIGHT``). Pure distillation (1.0, the library's default) held
    the whole supernet back on this short schedule: after 12 epochs its largest subnet scored
    3.14 bits per byte, against 2.45 with 0.5, 2.47 with 0.25, 2.48 without distillation and
    2.34 for the largest trained alone for the same steps (measured on this machine's CPU)."""
    from symtune.hypernets import SupernetTrainConfig

    recipe: dict[str, Any] = {
        "epochs": epochs, "batch_size": BATCH_SIZE, "optimizer": "adamw", "lr": 3e-3,
        "weight_decay": 0.01, "warmup_epochs": 0.5, "n_random": 2, "distill": True,
        "distill_weight": DISTILL_WEIGHT,
        "grad_clip": 1.0, "device": device, "progress": progress,
    }  # fmt: skip
    recipe.update(options)
    return SupernetTrainConfig(**recipe)


def standalone_config(
    max_epochs: int = STANDALONE_MAX_EPOCHS, *, device: str = "cpu", **options: Any
) -> StandaloneConfig:
    """The stand-alone reference: the same optimiser as the supernet's, trained until the
    validation loss is flat (no 0.1% improvement in ``STANDALONE_PATIENCE`` epochs; the best
    epoch's scores) or ``max_epochs``; ``options`` override any other field."""
    from symtune.hypernets import StandaloneConfig

    recipe: dict[str, Any] = {
        "epochs": max_epochs, "batch_size": BATCH_SIZE, "optimizer": "adamw", "lr": 3e-3,
        "weight_decay": 0.01, "grad_clip": 1.0, "patience": STANDALONE_PATIENCE,
        "min_delta": 1e-3, "device": device,
    }  # fmt: skip
    recipe.update(options)
    return StandaloneConfig(**recipe)


def train_lm_supernet(
    epochs: int = SUPERNET_EPOCHS, *, data: LMData | None = None, progress: bool = True,
    device: str = "cpu",
) -> tuple[Supernet, LMData]:  # fmt: skip
    """Train the study's supernet (weights seeded with 0; one thread on CPU):
    ``(supernet, data)``."""
    import torch

    from symtune.hypernets import train_supernet

    if device == "cpu":
        torch.set_num_threads(1)  # two busy threads on two cores crawl
    data = load_lm_data() if data is None else data
    with torch.random.fork_rng():
        torch.manual_seed(0)
        supernet = new_supernet()
    train_supernet(
        supernet, data.train, supernet_train_config(epochs, device=device, progress=progress)
    )
    return supernet, data


@functools.cache
def _sizes_supernet() -> Supernet:
    """An untrained supernet: parameter counts depend on the architecture only."""
    return new_supernet()


def subnet_params(assignment: dict[str, Any]) -> int:
    """The parameter count of the subnet ``assignment`` (embeddings and head included)."""
    return _sizes_supernet().subnet_params(assignment)


def subnet_latency_ms(
    supernet: Supernet, assignment: dict[str, Any], repeats: int = LATENCY_REPEATS
) -> float:
    """The measured latency of the exported subnet: the median wall time in milliseconds of
    a forward pass over one window of ``CONTEXT`` bytes, on the supernet's device, after one
    warm-up pass (CUDA synchronised)."""
    import torch

    model = supernet.export(assignment).eval()
    device = next(supernet.parameters()).device
    tokens = torch.zeros((1, CONTEXT), dtype=torch.long, device=device)
    times = []
    with torch.no_grad():
        for i in range(repeats + 1):
            start = time.perf_counter()
            model(tokens)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            if i:  # the first pass warms up
                times.append(time.perf_counter() - start)
    times.sort()
    return 1000.0 * times[len(times) // 2]


class SubnetObjective:
    """Scores a subnet with the supernet's weights: validation bits per byte and parameters
    (and measured latency in ms, with ``latency=True``).

    It holds the trained weights (a CPU state dict) and the validation windows ``val``
    (``LMData.val``; ``None``: :func:`load_lm_data`'s), so they reach the workers with the
    objective once and every worker scores on the driver's windows, also one whose stdlib
    differs; each worker builds its supernet on first use.
    """

    def __init__(
        self, state_dict: dict[str, Any], study_user_attrs: dict[str, Any], latency: bool = False,
        val: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> None:  # fmt: skip
        self.state_dict = state_dict
        self.study_user_attrs = study_user_attrs
        self.latency = latency
        self.val = val
        self._built: Any = None

    def __getstate__(self) -> dict[str, Any]:
        return {
            "state_dict": self.state_dict,
            "study_user_attrs": self.study_user_attrs,
            "latency": self.latency,
            "val": self.val,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(  # type: ignore[misc]
            state["state_dict"], state["study_user_attrs"], state["latency"], state.get("val")
        )

    def _supernet(self, device: Any) -> tuple[Supernet, ScoringData]:
        if self._built is None:
            import torch

            torch.set_num_threads(1)
            supernet = new_supernet()
            supernet.load_state_dict(self.state_dict)
            val = load_lm_data().val if self.val is None else self.val  # the driver's, when given
            self._built = (supernet.to(device).eval(), _scoring(val))
        return self._built

    def __call__(self, config: Any, trial: Any) -> tuple[float, ...]:
        supernet, scoring = self._supernet(trial.device)
        bits = supernet.score(trial.params, scoring).bits
        params = float(supernet.subnet_params(trial.params))
        if not self.latency:
            return bits, params
        return bits, params, subnet_latency_ms(supernet, trial.params)


def check_ranking(
    supernet: Supernet, data: LMData, n: int, *, device: str = "cpu", progress: bool = False,
    max_epochs: int = STANDALONE_MAX_EPOCHS,
) -> RankingResult:  # fmt: skip
    """The supernet's ranking of ``n`` subnets (``SPACE.sample(0..n-1)``) against stand-alone
    training to convergence (:func:`standalone_config`), by validation loss (the ranking of
    bits per byte), with the parameter and FLOPs baselines."""
    from symtune.hypernets import RankingConfig, RankingData, ranking_check

    sample = [SPACE.sample(seed) for seed in range(n)]
    return ranking_check(
        supernet,
        sample,
        RankingData(data.scoring(), data.train, data.val),
        RankingConfig(
            standalone_config(max_epochs, device=device), metric="loss", progress=progress
        ),
    )


def _prepare(
    spec: StudySpec, *, epochs: int, ranking_subnets: int, latency: bool
) -> SubnetObjective:
    """Train the supernet once in the driver (on its GPU when it has one), check its ranking
    (unless ``ranking_subnets`` is 0), and return the objective with the weights and
    validation windows. The sizes are the module's constants, read at call time. The weights
    and attributes are kept on disk per recipe (``symtune.studies._prepared``), so a resume
    loads them instead of training again."""
    import torch

    data = load_lm_data(TRAIN_WINDOWS, VAL_WINDOWS)
    device = "cuda" if torch.cuda.is_available() else "cpu"  # the driver's GPU, if it has one
    recipe = {
        "device": device,
        "epochs": epochs, "ranking_subnets": ranking_subnets, "context": CONTEXT,
        "batch_size": BATCH_SIZE, "train_windows": TRAIN_WINDOWS, "val_windows": VAL_WINDOWS,
        "standalone_max_epochs": STANDALONE_MAX_EPOCHS, "patience": STANDALONE_PATIENCE,
        "space": SPACE.to_json(), "corpus": data.corpus.summary(),
    }  # fmt: skip

    def build() -> tuple[dict[str, Any], dict[str, Any]]:
        supernet, _ = train_lm_supernet(epochs, data=data, device=device)
        attrs: dict[str, Any] = {
            "supernet.epochs": epochs,
            "supernet.device": device,
            "corpus.python_version": data.corpus.python_version,
        }
        if ranking_subnets:
            ranking = check_ranking(
                supernet, data, ranking_subnets, device=device, progress=True,
                max_epochs=STANDALONE_MAX_EPOCHS,
            )  # fmt: skip
            attrs.update(ranking_attrs(ranking))
        return {k: v.detach().cpu() for k, v in supernet.state_dict().items()}, attrs

    state, attrs = cached_prepare("stdlib_lm", recipe, __file__, build)
    return SubnetObjective(state, attrs, latency=latency, val=data.val)


def predictor_sampler(seed: int = 0) -> Any:
    """The predictor-guided sampler: a GBR predicts bits per byte (and latency, in the
    latency variant) from ``SPACE.encode`` vectors, the parameter count is exact
    (:func:`subnet_params`), and each round scores the 10 predicted subnets with the largest
    hypervolume gains."""
    from symtune.search.samplers import PredictorSampler, PredictorSearchConfig

    config = PredictorSearchConfig(n_initial=20, batch_size=10, selection="hypervolume", seed=seed)
    return PredictorSampler(SPACE, config, exact_objectives={1: subnet_params})


def _not_prepared(config: Any, trial: Any) -> None:
    raise RuntimeError("stdlib_lm's objective is made by `prepare` (StudySpec.create)")


def make_study(
    *,
    sampler: Literal["nsga2", "predictor"] = "nsga2",
    latency: bool = False,
    epochs: int = SUPERNET_EPOCHS,
    ranking_subnets: int = RANKING_SUBNETS,
) -> StudySpec:
    """The byte-level LM supernet study: NSGA-II (``sampler="nsga2"``, 300 trials) or
    predictor-guided (``"predictor"``, 150 trials); objectives bits per byte and parameters,
    and with ``latency=True`` measured latency in ms; ``epochs`` of supernet training;
    ``ranking_subnets`` for the ranking check in ``prepare`` (0: none)."""
    if sampler not in ("nsga2", "predictor"):
        raise ValueError(
            f"`sampler` must be 'nsga2' or 'predictor', but got {sampler!r} (make_study)"
        )
    check_count("epochs", epochs, "(make_study)")
    check_count("ranking_subnets", ranking_subnets, "(make_study)", least=0)
    if ranking_subnets == 1:
        raise ValueError(
            "`ranking_subnets` must be 0 (no check) or at least 2, but got 1 (make_study)"
        )
    names = ["bits_per_byte", "params"] + (["latency_ms"] if latency else [])
    reference = [8.0, 250_000.0] + ([100.0] if latency else [])
    prepare: Callable[[StudySpec], SubnetObjective] = functools.partial(
        _prepare, epochs=epochs, ranking_subnets=ranking_subnets, latency=latency
    )
    predictor = sampler == "predictor"
    return StudySpec(
        name="stdlib_lm" + ("_predictor" if predictor else "") + ("_latency" if latency else ""),
        space=SPACE,
        objective=_not_prepared,
        prepare=prepare,
        directions=("minimize",) * len(names),
        metric_names=tuple(names),
        description="byte-level GPT supernet on the Python stdlib (6,561 subnets: width, depth, "
        f"heads and MLP ratio per block); {' vs '.join(names)}, "
        + ("a GBR predictor in rounds of 10" if predictor else "NSGA-II"),
        n_trials=150 if predictor else 300,
        workers=2,
        sampler=predictor_sampler if predictor else nsga2_sampler,
        reference_point=tuple(reference),
    )


STUDY = make_study()
PREDICTOR_STUDY = make_study(sampler="predictor")

__all__ = [
    "PREDICTOR_STUDY",
    "SPACE",
    "STUDY",
    "LMData",
    "SubnetObjective",
    "check_ranking",
    "load_lm_data",
    "make_study",
    "new_supernet",
    "predictor_sampler",
    "ranking_attrs",
    "standalone_config",
    "subnet_latency_ms",
    "subnet_params",
    "supernet_train_config",
    "train_lm_supernet",
]
