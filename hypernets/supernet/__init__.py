"""Weight-sharing supernetworks: one set of weights, every subnet of an architecture space.

What lives here: the elastic layers (width, kernel size, depth and op choice; the largest
option allocated, the active one run) for CNNs and MLPs and for transformers (token
embedding, layer norm, multi-head self-attention with elastic heads, elastic-rank LoRA, and
the GPT-style decoder builder :func:`build_gpt` over :func:`gpt_space`), :class:`Supernet` and
its :meth:`Supernet.from_space` (one builder makes both the stand-alone network and the
supernet; ``input_dtype=torch.long`` for token inputs), training with the sandwich rule and
in-place distillation (:func:`train_supernet`, on class or per-token logits, in fp32, bf16 or
fp16), scoring subnets with inherited weights, batch norm recalibrated per subnet where there
is any (:func:`score_many`), export to plain ``torch.nn`` modules, cost measures (parameters,
FLOPs, latency) and the ranking check against stand-alone training (:func:`ranking_check`:
Kendall's tau, beside the tau of parameter count and of FLOPs; :func:`fit_standalone` trains
the reference, to convergence with ``StandaloneConfig(patience=...)``). ``symtune.hypernets``
re-exports every name here.
"""

from __future__ import annotations

from symtune.hypernets.supernet._costs import (
    count_flops,
    count_params,
    latency_samples,
    measure_latency,
)
from symtune.hypernets.supernet._elastic import (
    Elastic,
    ElasticBatchNorm1d,
    ElasticBatchNorm2d,
    ElasticChoice,
    ElasticConv2d,
    ElasticLinear,
    ElasticSequential,
    MixedOp,
    export_module,
)
from symtune.hypernets.supernet._gpt import GPT, ElasticMLP, build_gpt, gpt_space
from symtune.hypernets.supernet._ranking import (
    RankingConfig,
    RankingData,
    RankingResult,
    kendall_tau,
    ranking_check,
)
from symtune.hypernets.supernet._score import (
    ScoringData,
    SubnetScore,
    recalibrate_bn,
    score_many,
)
from symtune.hypernets.supernet._standalone import (
    StandaloneConfig,
    StandaloneRun,
    fit_standalone,
    train_standalone,
)
from symtune.hypernets.supernet._supernet import Supernet
from symtune.hypernets.supernet._train import (
    SupernetHistory,
    SupernetTrainConfig,
    train_supernet,
)
from symtune.hypernets.supernet._transformer import (
    ElasticEmbedding,
    ElasticLayerNorm,
    ElasticLoRALinear,
    ElasticSelfAttention,
    LoRALinear,
    SelfAttention,
)

__all__ = [
    "GPT",
    "Elastic",
    "ElasticBatchNorm1d",
    "ElasticBatchNorm2d",
    "ElasticChoice",
    "ElasticConv2d",
    "ElasticEmbedding",
    "ElasticLayerNorm",
    "ElasticLinear",
    "ElasticLoRALinear",
    "ElasticMLP",
    "ElasticSelfAttention",
    "ElasticSequential",
    "LoRALinear",
    "MixedOp",
    "RankingConfig",
    "RankingData",
    "RankingResult",
    "ScoringData",
    "SelfAttention",
    "StandaloneConfig",
    "StandaloneRun",
    "SubnetScore",
    "Supernet",
    "SupernetHistory",
    "SupernetTrainConfig",
    "build_gpt",
    "count_flops",
    "count_params",
    "export_module",
    "fit_standalone",
    "gpt_space",
    "kendall_tau",
    "latency_samples",
    "measure_latency",
    "ranking_check",
    "recalibrate_bn",
    "score_many",
    "train_standalone",
    "train_supernet",
]
