"""Hypernetworks that make candidates cheap to evaluate.

Self-tuning networks (STN, MacKay et al. 2019) tune regularisation hyperparameters online inside
one training run, with magnitude-invariant parametrisations (MIP, Ortiz et al. 2023) keeping the
hypernetwork stable: mark a value ``selftuned(...)`` in a space, build the container with
:meth:`HyperParameters.from_config`, and train with :func:`train_stn`.

Weight-sharing supernetworks: one builder makes a stand-alone network from a concrete config
and, through :meth:`Supernet.from_space`, the supernet of a whole architecture space; train it
once with :func:`train_supernet` (the sandwich rule), score subnets with inherited weights
(:func:`score_many`, batch norm recalibrated per subnet), export them, measure their costs,
check the ranking against stand-alone training (:func:`ranking_check`) and search with a
predictor: :class:`PredictorSampler` in any study (``symtune.search`` studies on Ray workers
included), or :func:`predictor_guided_search` in this process.
"""

from symtune.hypernets._costs import count_flops, count_params, latency_samples, measure_latency
from symtune.hypernets._digits_cnn import (
    DigitsCNN,
    DigitsData,
    build_digits_cnn,
    digits_cnn_space,
    load_digits_data,
)
from symtune.hypernets._elastic import (
    Choice,
    Elastic,
    ElasticBatchNorm1d,
    ElasticBatchNorm2d,
    ElasticConv2d,
    ElasticLinear,
    ElasticSequential,
    MixedOp,
    export_module,
)
from symtune.hypernets._hyperparams import HyperBatch, HyperParameters, collect_selftuned
from symtune.hypernets._predictor import (
    PredictorSampler,
    PredictorSearchConfig,
    PredictorSearchResult,
    enqueue_predicted_front,
    make_regressor,
    non_dominated_ranks,
    predictor_guided_search,
    propose_candidates,
)
from symtune.hypernets._ranking import (
    RankingResult,
    StandaloneConfig,
    kendall_tau,
    ranking_check,
    train_standalone,
)
from symtune.hypernets._stn_errors import HyperparameterError, HyperparameterNaNError
from symtune.hypernets._stn_layers import StnConv2d, StnLinear
from symtune.hypernets._stn_models import StnMLP
from symtune.hypernets._stn_regularizers import (
    AUGMENTATIONS,
    HyperSpec,
    StnAugment,
    StnDropout,
    StnGaussianNoise,
    StnWeightDecay,
)
from symtune.hypernets._stn_train import StnOptions, StnResult, evaluate_stn, train_stn
from symtune.hypernets._supernet import Supernet
from symtune.hypernets._supernet_score import ScoringData, SubnetScore, recalibrate_bn, score_many
from symtune.hypernets._supernet_train import SupernetHistory, SupernetTrainConfig, train_supernet

__all__ = [
    "AUGMENTATIONS",
    "Choice",
    "DigitsCNN",
    "DigitsData",
    "Elastic",
    "ElasticBatchNorm1d",
    "ElasticBatchNorm2d",
    "ElasticConv2d",
    "ElasticLinear",
    "ElasticSequential",
    "HyperBatch",
    "HyperParameters",
    "HyperSpec",
    "HyperparameterError",
    "HyperparameterNaNError",
    "MixedOp",
    "PredictorSampler",
    "PredictorSearchConfig",
    "PredictorSearchResult",
    "RankingResult",
    "ScoringData",
    "StandaloneConfig",
    "StnAugment",
    "StnConv2d",
    "StnDropout",
    "StnGaussianNoise",
    "StnLinear",
    "StnMLP",
    "StnOptions",
    "StnResult",
    "StnWeightDecay",
    "SubnetScore",
    "Supernet",
    "SupernetHistory",
    "SupernetTrainConfig",
    "build_digits_cnn",
    "collect_selftuned",
    "count_flops",
    "count_params",
    "digits_cnn_space",
    "enqueue_predicted_front",
    "evaluate_stn",
    "export_module",
    "kendall_tau",
    "latency_samples",
    "load_digits_data",
    "make_regressor",
    "measure_latency",
    "non_dominated_ranks",
    "predictor_guided_search",
    "propose_candidates",
    "ranking_check",
    "recalibrate_bn",
    "score_many",
    "train_standalone",
    "train_stn",
    "train_supernet",
]
