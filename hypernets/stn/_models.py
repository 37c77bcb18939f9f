"""A ready-made self-tuning MLP for tabular or flattened data."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from symtune.hypernets.stn._hyperparams import HyperParameters
from symtune.hypernets.stn._layers import StnLinear
from symtune.hypernets.stn._regularizers import (
    HyperSpec,
    StnDropout,
    StnGaussianNoise,
    StnWeightDecay,
)

_ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
    "silu": nn.SiLU,
}


class StnMLP(nn.Module):
    """An MLP of :class:`StnLinear` layers with self-tunable input noise, dropout and L2.

    The forward pass is: input noise, input dropout, then for each hidden layer
    ``StnLinear -> activation -> dropout``, then the output ``StnLinear``. Every regulariser
    takes a spec (see :mod:`symtune.hypernets.stn._regularizers`): the name or
    ``SelfTunedValue`` of a held hyperparameter (tuned), a number (constant) or None (off), so
    a config value can be passed whether the study's sampler chose it or ``selftuned`` did.

    Args:
        in_features, hidden, out_features: the layer sizes (``hidden`` may be empty).
        hparams: the container the layers and regularisers read.
        input_noise: std of additive Gaussian noise on the input.
        input_dropout: dropout rate on the input.
        hidden_dropout: one rate for every hidden layer, or a sequence of one per layer.
        weight_decay: L2 coefficient on the weights (not biases); see :meth:`stn_penalty`.
        activation: ``"relu"``, ``"gelu"``, ``"tanh"`` or ``"silu"``.
        residual: STN layer form; default ``hparams.mip`` (see :class:`StnLinear`).
    """

    def __init__(
        self,
        in_features: int,
        hidden: Sequence[int],
        out_features: int,
        hparams: HyperParameters,
        *,
        input_noise: HyperSpec = None,
        input_dropout: HyperSpec = None,
        hidden_dropout: HyperSpec | Sequence[HyperSpec] = None,
        weight_decay: HyperSpec = None,
        activation: str = "relu",
        residual: bool | None = None,
    ) -> None:
        super().__init__()
        if activation not in _ACTIVATIONS:
            raise ValueError(
                f"`activation` must be one of {sorted(_ACTIVATIONS)}, but got {activation!r}"
            )
        hidden = list(hidden)
        rates = self._hidden_rates(hidden_dropout, len(hidden))
        self.noise = StnGaussianNoise(hparams, input_noise)
        self.input_dropout = StnDropout(hparams, input_dropout)
        sizes = [in_features, *hidden]
        self.layers = nn.ModuleList(
            StnLinear(a, b, hparams, residual=residual) for a, b in zip(sizes, hidden, strict=False)
        )
        self.dropouts = nn.ModuleList(StnDropout(hparams, r) for r in rates)
        self.activation = _ACTIVATIONS[activation]()
        self.head = StnLinear(sizes[-1], out_features, hparams, residual=residual)
        self.weight_decay = StnWeightDecay(hparams, weight_decay)

    @staticmethod
    def _hidden_rates(spec: HyperSpec | Sequence[HyperSpec], n: int) -> list[HyperSpec]:
        if isinstance(spec, Sequence) and not isinstance(spec, str):
            rates = list(spec)
            if len(rates) != n:
                raise ValueError(
                    "`len(hidden_dropout) == len(hidden)` must hold, but got "
                    f"len(hidden_dropout)={len(rates)}, len(hidden)={n}"
                )
            return rates
        return [spec] * n

    def forward(self, x: Tensor) -> Tensor:
        """Logits for ``x`` of shape ``[B, in_features]``."""
        x = self.input_dropout(self.noise(x))
        for layer, dropout in zip(self.layers, self.dropouts, strict=True):
            x = dropout(self.activation(layer(x)))
        out: Tensor = self.head(x)
        return out

    def stn_penalty(self) -> Tensor:
        """The L2 penalty on all weight matrices (the training loop adds it to the loss)."""
        weights = []
        for layer in [*self.layers, self.head]:
            weights.append(layer.weight)
            if layer.hyper_weight is not None:
                weights.append(layer.hyper_weight)
        return self.weight_decay.penalty(weights)
