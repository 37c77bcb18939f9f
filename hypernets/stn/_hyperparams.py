"""The container of self-tuned hyperparameters that STN layers and regularisers read.

Each float hyperparameter is held as one unconstrained number ``u``: its value is
``low + (high - low) * sigmoid(u)`` (a logit scale into ``(low, high)``, right for rates such
as dropout), or ``exp`` of the same map in log space when the space said ``log=True`` (for
positive scales such as weight decay). Its perturbation scale is ``softplus(s)`` with ``s``
learned too. A categorical hyperparameter is held as one logit per choice; the STN perturbs it
by sampling choices and differentiates it through the Concrete (Gumbel-softmax) relaxation.

The container is an ``nn.Module`` whose parameters are the hyperparameters (tune them with
their own optimiser, never with the weights). The training loop puts a *batch* of sampled
hyperparameters into it (:meth:`HyperParameters.using`); STN layers then read the batch's
hypernetwork encoding and regularisers read their own hyperparameter, one value per example.
With no batch set (plain inference) everyone reads the current values.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from symtune.hypernets.stn._errors import HyperparameterError
from symtune.hypernets.stn._mip import encode_choice, encode_unit, float_width
from symtune.spaces import SelfTunedValue

Mode = Literal["train", "hyper", "mean"]

# Initial values exactly at a bound are moved this far inside (in normalised [0, 1] units),
# because the logit of 0 or 1 is infinite.
INIT_MARGIN = 0.01


@dataclass
class HyperBatch:
    """Hyperparameters sampled for one minibatch (what layers read while it is in use).

    Attributes:
        values: per hyperparameter name, a float hyperparameter's values ``[B]`` (or ``[1]``)
            or a categorical one's choice weights ``[B, K]`` (one-hot when sampled for a
            weight step, a relaxed sample for a hyperparameter step, the probabilities for
            ``mode="mean"``).
        encoding: the hypernetwork input ``[B, E]`` (``[1, E]`` for ``mode="mean"``).
        regularize: whether regularisers (dropout, noise, augmentation) act on this batch.
        mode: ``"train"``, ``"hyper"`` or ``"mean"``.
        center: the encoding of the current values ``[1, E]`` (no gradient), which centred
            STN layers subtract; None for ``mode="mean"``.
    """

    values: dict[str, Tensor]
    encoding: Tensor
    regularize: bool
    mode: Mode
    center: Tensor | None = None

    @property
    def size(self) -> int:
        """The batch dimension of the sampled hyperparameters (1 for ``mode="mean"``)."""
        return int(self.encoding.shape[0])


def collect_selftuned(config: Any) -> list[SelfTunedValue]:
    """All ``SelfTunedValue`` objects in a materialised config, in walk order.

    Walks dicts (values), lists, tuples and dataclass instances (fields). The same
    hyperparameter reached twice is returned once; two different ones with the same name
    raise :class:`HyperparameterError`.
    """
    found: dict[str, SelfTunedValue] = {}
    seen: set[int] = set()
    stack: list[Any] = [config]
    while stack:
        node = stack.pop()
        if isinstance(node, SelfTunedValue):
            old = found.setdefault(node.name, node)
            if old != node:
                raise HyperparameterError(
                    f"self-tuned hyperparameter names must be unique, but {node.name!r} names "
                    f"two different values: {old!r} and {node!r}"
                )
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, dict):
            children: list[Any] = list(node.values())
        elif isinstance(node, (list, tuple)):
            children = list(node)
        elif dataclasses.is_dataclass(node) and not isinstance(node, type):
            children = [getattr(node, f.name) for f in dataclasses.fields(node)]
        else:
            continue
        stack.extend(reversed(children))
    return list(found.values())


def _check_float(v: SelfTunedValue) -> None:
    where = f"(at {v.name})"
    if v.low is None or v.high is None or not (math.isfinite(v.low) and math.isfinite(v.high)):
        raise HyperparameterError(
            f"a self-tuned float needs finite bounds, but got low={v.low}, high={v.high} {where}"
        )
    if not v.low < v.high:
        raise HyperparameterError(
            "`low < high` must hold for a self-tuned hyperparameter (an STN cannot tune a "
            f"constant), but got low={v.low}, high={v.high} {where}"
        )
    if v.log and v.low <= 0:
        raise HyperparameterError(
            f"`low > 0` must hold for a log-scale self-tuned hyperparameter, but got "
            f"low={v.low} {where}"
        )
    init = v.init
    if isinstance(init, bool) or not isinstance(init, (int, float)) or not math.isfinite(init):
        raise HyperparameterError(
            f"the init of a self-tuned float must be a finite number, but got {init!r} {where}"
        )
    if not v.low <= init <= v.high:
        raise HyperparameterError(
            f"`low <= init <= high` must hold, but got low={v.low}, init={init}, "
            f"high={v.high} {where}"
        )


def _check_value(v: object) -> SelfTunedValue:
    if not isinstance(v, SelfTunedValue):
        raise HyperparameterError(
            f"HyperParameters holds SelfTunedValue objects (what `selftuned(...)` "
            f"materialises as), but got {type(v).__name__}: {v!r}"
        )
    if v.kind == "float":
        _check_float(v)
    elif v.kind == "categorical":
        choices = v.choices or ()
        if len(set(map(repr, choices))) < 2:
            raise HyperparameterError(
                "a self-tuned categorical needs at least 2 distinct choices, but got "
                f"choices={choices!r} (at {v.name})"
            )
        if v.init not in choices:
            raise HyperparameterError(
                f"`init in choices` must hold, but got init={v.init!r}, choices={choices!r} "
                f"(at {v.name})"
            )
    else:
        raise HyperparameterError(
            f"an STN can tune float and categorical hyperparameters, but got kind={v.kind!r} "
            f"(at {v.name})"
        )
    return v


def _inv_softplus(y: float) -> float:
    return y + math.log(-math.expm1(-y))


class HyperParameters(nn.Module):
    """Self-tuned hyperparameters, live: values, perturbation scales, encodings, history.

    Args:
        values: the ``SelfTunedValue`` objects to tune (names must be unique).
        mip: use the magnitude-invariant parametrisation (MIP, on by default): the
            constant-norm hypernetwork input encoding here, and residual STN layers (layers
            built on this container follow it unless told otherwise).
        centered: centre the STN layers' response on the current values (as Delta-STN,
            Bae & Grosse 2020): layers scale their second path by ``(e(λ) - e(λ̄)) @ A``
            instead of ``e(λ) @ A``, so the ordinary weights are the weights *at* the current
            values and the hypernetwork models only the change around them. At the current
            values the path is exactly zero, so the trained model needs no hypernetwork.
            Needs residual layers. Default (None): the same as ``mip``. The uncentred
            response of MacKay et al. lets the hypernetwork learn how to compensate for the
            noise of each example's perturbed regularisation, which biases the
            hyperparameter gradient (see ``benchmarks/stn.py`` for the measured effect).
        perturb_scale: initial perturbation scale, in unconstrained (logit) units.
        temperature: temperature of the Concrete relaxation of categorical hyperparameters.

    Raises:
        HyperparameterError: for a value the STN cannot use (see the class's checks).
    """

    def __init__(
        self,
        values: Sequence[SelfTunedValue],
        *,
        mip: bool = True,
        centered: bool | None = None,
        perturb_scale: float = 0.5,
        temperature: float = 0.5,
    ) -> None:
        super().__init__()
        if not perturb_scale > 0 or not temperature > 0:
            raise HyperparameterError(
                "`perturb_scale > 0` and `temperature > 0` must hold, but got "
                f"perturb_scale={perturb_scale}, temperature={temperature}"
            )
        checked = [_check_value(v) for v in values]
        names = [v.name for v in checked]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise HyperparameterError(f"hyperparameter names must be unique, but got {dupes}")
        self.mip = mip
        self.centered = mip if centered is None else bool(centered)
        self.temperature = temperature
        self._specs: dict[str, SelfTunedValue] = {v.name: v for v in checked}
        self._floats = [v for v in checked if v.kind == "float"]
        self._cats = [v for v in checked if v.kind == "categorical"]
        self._float_index = {v.name: i for i, v in enumerate(self._floats)}
        self._cat_index = {v.name: i for i, v in enumerate(self._cats)}
        self.loc = nn.Parameter(torch.tensor([self._init_loc(v) for v in self._floats]))
        self.scale_raw = nn.Parameter(
            torch.full((len(self._floats),), _inv_softplus(perturb_scale))
        )
        self.logits = nn.ParameterList([nn.Parameter(self._init_logits(v)) for v in self._cats])
        self._slices = self._encoding_slices(checked)
        self._shared: set[str] = set()
        self._batch: HyperBatch | None = None
        # The deprecated history read path (`record`, `schedule`): the last train_stn run's.
        self._history: HyperHistory | None = None

    @classmethod
    def from_values(cls, values: Sequence[SelfTunedValue], **kwargs: Any) -> HyperParameters:
        """Build a container from ``SelfTunedValue`` objects (keywords as the constructor)."""
        return cls(values, **kwargs)

    @classmethod
    def from_config(cls, config: Any, **kwargs: Any) -> HyperParameters:
        """Build a container from every ``SelfTunedValue`` in a materialised config.

        See :func:`collect_selftuned` for what is walked; keywords as the constructor.
        """
        return cls(collect_selftuned(config), **kwargs)

    # -- construction helpers -------------------------------------------------------------

    @staticmethod
    def _init_loc(v: SelfTunedValue) -> float:
        x = min(max(v.normalized_init(), INIT_MARGIN), 1 - INIT_MARGIN)
        return math.log(x / (1 - x))

    @staticmethod
    def _init_logits(v: SelfTunedValue) -> Tensor:
        # The initial choice gets twice the probability of each other choice.
        k = len(v.choices or ())
        logits = torch.zeros(k)
        logits[v.init_index] = math.log(2.0)
        return logits

    def _encoding_slices(self, values: Sequence[SelfTunedValue]) -> dict[str, slice]:
        slices, start = {}, 0
        for v in values:
            width = float_width(self.mip) if v.kind == "float" else len(v.choices or ())
            slices[v.name] = slice(start, start + width)
            start += width
        return slices

    # -- what it holds --------------------------------------------------------------------

    @property
    def names(self) -> tuple[str, ...]:
        """The hyperparameter names, in the order their encodings are laid out."""
        return tuple(self._specs)

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def __len__(self) -> int:
        return len(self._specs)

    def spec(self, name: str) -> SelfTunedValue:
        """The ``SelfTunedValue`` a hyperparameter was built from."""
        return self._specs[self.require(name, by="spec()")]

    def require(self, name: str | SelfTunedValue, *, by: str) -> str:
        """Return the name if this container holds it, else raise ``HyperparameterError``.

        ``by`` names the asker (a layer, a regulariser) for the message.
        """
        key = name.name if isinstance(name, SelfTunedValue) else name
        if key not in self._specs:
            held = ", ".join(repr(n) for n in self._specs) or "nothing"
            raise HyperparameterError(
                f"{by} asked for hyperparameter {key!r}, but this HyperParameters holds only: "
                f"{held}"
            )
        return key

    @property
    def encoding_width(self) -> int:
        """Number of columns of the hypernetwork input encoding."""
        return sum(s.stop - s.start for s in self._slices.values())

    def encoding_slice(self, name: str) -> slice:
        """The columns of the encoding that belong to one hyperparameter."""
        return self._slices[self.require(name, by="encoding_slice()")]

    def mark_shared(self, name: str) -> None:
        """Perturb this hyperparameter once per minibatch instead of once per example.

        For hyperparameters that act on the whole batch, such as weight decay.
        """
        self._shared.add(self.require(name, by="mark_shared()"))

    # -- sampling -------------------------------------------------------------------------

    @property
    def scales(self) -> Tensor:
        """Perturbation scales of the float hyperparameters (unconstrained units)."""
        return F.softplus(self.scale_raw)

    def _to_value(self, v: SelfTunedValue, x01: Tensor) -> Tensor:
        low, high = cast(float, v.low), cast(float, v.high)
        if v.log:
            return torch.exp(math.log(low) + (math.log(high) - math.log(low)) * x01)
        return low + (high - low) * x01

    def _float_part(self, size: int, mode: Mode) -> Tensor:
        loc = self.loc.unsqueeze(0)
        if mode == "mean":
            return torch.sigmoid(loc)
        eps = torch.randn(size, loc.shape[1], device=loc.device, dtype=loc.dtype)
        return torch.sigmoid(loc + self.scales.unsqueeze(0) * eps)

    def _cat_weights(self, j: int, size: int, mode: Mode) -> Tensor:
        logits = self.logits[j].unsqueeze(0)
        if mode == "mean":
            return torch.softmax(logits, dim=-1)
        rows = 1 if self._cats[j].name in self._shared else size
        uniform = torch.rand(rows, logits.shape[-1], device=logits.device, dtype=logits.dtype)
        noisy = logits - torch.log(-torch.log(uniform.clamp(1e-10, 1 - 1e-7)))
        if mode == "train":
            weights = F.one_hot(noisy.argmax(dim=-1), logits.shape[-1]).to(logits.dtype)
        else:
            weights = torch.softmax(noisy / self.temperature, dim=-1)
        return weights.expand(size, -1)

    def sample(self, size: int, *, mode: Mode = "train") -> HyperBatch:
        """Sample hyperparameters for a minibatch of ``size`` examples.

        ``mode="train"``: perturbed around the current values, without gradient (for weight
        steps; categoricals as sampled one-hots). ``"hyper"``: perturbed with the
        reparametrisation trick, differentiable in the values and scales (categoricals as a
        Concrete relaxed sample). ``"mean"``: the current values, ``size`` ignored.
        """
        if mode not in ("train", "hyper", "mean"):
            raise ValueError(f"`mode` must be 'train', 'hyper' or 'mean', but got {mode!r}")
        with torch.set_grad_enabled(mode != "train" and torch.is_grad_enabled()):
            x01 = self._float_part(size, mode)
            values: dict[str, Tensor] = {}
            parts: dict[str, Tensor] = {}
            rows = x01.shape[0]
            for v in self._floats:
                col = x01[:, self._float_index[v.name]]
                if v.name in self._shared:  # one sample for the batch, bit-identical rows
                    col = col[:1]
                values[v.name] = self._to_value(v, col).expand(rows)
                parts[v.name] = encode_unit(col, self.mip).expand(rows, -1)
            for v in self._cats:
                w = self._cat_weights(self._cat_index[v.name], size, mode)
                values[v.name] = w
                parts[v.name] = encode_choice(w, self.mip)
            pieces = [parts[n] for n in self._specs]
            encoding = torch.cat(pieces, dim=-1) if pieces else self.loc.new_zeros(rows, 0)
        center = None
        if mode != "mean":
            with torch.no_grad():
                center = self.sample(1, mode="mean").encoding
        return HyperBatch(values, encoding, regularize=mode == "train", mode=mode, center=center)

    @contextmanager
    def using(self, batch: HyperBatch) -> Iterator[HyperBatch]:
        """Make layers and regularisers read ``batch`` inside the ``with`` block."""
        previous, self._batch = self._batch, batch
        try:
            yield batch
        finally:
            self._batch = previous

    @property
    def batch(self) -> HyperBatch | None:
        """The batch in use, or None when layers read the current values."""
        return self._batch

    def _active(self) -> HyperBatch:
        return self._batch if self._batch is not None else self.sample(1, mode="mean")

    def encoding(self) -> Tensor:
        """The hypernetwork input in use: ``[B, E]``, or ``[1, E]`` for the current values."""
        return self._active().encoding

    def value_tensor(self, name: str) -> Tensor:
        """A float hyperparameter in use: ``[B]`` per-example values, or ``[1]``."""
        return self._active().values[self._require_kind(name, "float")]

    def choice_weights(self, name: str) -> Tensor:
        """A categorical hyperparameter in use: choice weights ``[B, K]``, or ``[1, K]``."""
        return self._active().values[self._require_kind(name, "categorical")]

    def _require_kind(self, name: str, kind: str) -> str:
        key = self.require(name, by=f"reading a {kind} value")
        if self._specs[key].kind != kind:
            raise HyperparameterError(
                f"hyperparameter {key!r} is {self._specs[key].kind}, but was read as {kind}"
            )
        return key

    def entropy(self) -> Tensor:
        """Entropy of the perturbation distribution (Gaussian scales + categoricals), up to a
        constant: ``sum(log scale) + sum(categorical entropy)``."""
        total = torch.log(self.scales).sum()
        for logits in self.logits:
            logp = torch.log_softmax(logits, dim=-1)
            total = total - (logp.exp() * logp).sum()
        return total

    # -- current values and history -------------------------------------------------------

    def probabilities(self, name: str) -> list[float]:
        """Current choice probabilities of a categorical hyperparameter."""
        j = self._cat_index[self._require_kind(name, "categorical")]
        return torch.softmax(self.logits[j].detach(), dim=-1).cpu().tolist()

    def value(self, name: str) -> Any:
        """Current value: a float, or the most probable choice of a categorical."""
        v = self._specs[self.require(name, by="value()")]
        if v.kind == "categorical":
            probs = self.probabilities(name)
            return (v.choices or ())[max(range(len(probs)), key=probs.__getitem__)]
        with torch.no_grad():
            x01 = torch.sigmoid(self.loc[self._float_index[name]])
            value = float(self._to_value(v, x01))
        return min(max(value, cast(float, v.low)), cast(float, v.high))  # float32 rounding

    def values(self) -> dict[str, Any]:
        """Current value of every hyperparameter, ``{name: value}``."""
        return {n: self.value(n) for n in self._specs}

    def set_value(self, name: str, value: Any) -> None:
        """Set a current value (a float inside the bounds, or a choice made most probable)."""
        v = self._specs[self.require(name, by="set_value()")]
        with torch.no_grad():
            if v.kind == "categorical":
                if value not in (v.choices or ()):
                    raise HyperparameterError(
                        f"`value in choices` must hold, but got value={value!r}, "
                        f"choices={v.choices!r} (at {name})"
                    )
                self.logits[self._cat_index[name]].copy_(
                    self._init_logits(dataclasses.replace(v, init=value))
                )
            else:
                _check_float(dataclasses.replace(v, init=value))
                x = dataclasses.replace(v, init=value).normalized_init()
                x = min(max(x, 1e-6), 1 - 1e-6)
                self.loc[self._float_index[name]] = math.log(x / (1 - x))

    def nonfinite(self) -> list[str]:
        """Names whose unconstrained value, scale or logits are NaN or infinite."""
        bad = [
            v.name
            for i, v in enumerate(self._floats)
            if not (torch.isfinite(self.loc[i]) and torch.isfinite(self.scale_raw[i]))
        ]
        bad += [
            v.name
            for v, lg in zip(self._cats, self.logits, strict=True)
            if not torch.isfinite(lg).all()
        ]
        return bad

    def nonfinite_grad(self) -> list[str]:
        """Names whose gradient (after a backward pass) is NaN or infinite."""

        def bad(g: Tensor | None, i: int | None = None) -> bool:
            if g is None:
                return False
            return not bool(torch.isfinite(g if i is None else g[i]).all())

        names = [
            v.name
            for i, v in enumerate(self._floats)
            if bad(self.loc.grad, i) or bad(self.scale_raw.grad, i)
        ]
        return names + [
            v.name for v, lg in zip(self._cats, self.logits, strict=True) if bad(lg.grad)
        ]

    def _legacy_history(self, what: str) -> HyperHistory:
        warnings.warn(
            f"HyperParameters.{what} is deprecated: the recorded schedule belongs to the "
            "training result (`train_stn(...).schedule` and `.probabilities`); here it is the "
            "last train_stn run's only (goes in the next release)",
            DeprecationWarning,
            stacklevel=3,
        )
        if self._history is None:
            self._history = HyperHistory(self)
        return self._history

    def record(self, step: int) -> None:
        """Deprecated: append the current values to the last training run's history (train_stn
        records into its own :class:`StnResult`)."""
        self._legacy_history("record()").record(step)

    @property
    def schedule(self) -> dict[str, list[tuple[int, Any]]]:
        """Deprecated: the last train_stn run's history, ``{name: [(step, value), ...]}``; read
        ``StnResult.schedule`` instead."""
        return self._legacy_history("schedule").schedule()

    @property
    def probability_schedule(self) -> dict[str, list[tuple[int, list[float]]]]:
        """Deprecated: the last train_stn run's categorical probabilities; read
        ``StnResult.probabilities`` instead."""
        return self._legacy_history("probability_schedule").probabilities()

    def extra_repr(self) -> str:
        vals = ", ".join(f"{n}={self.value(n)!r}" for n in self._specs)
        return f"{vals}, mip={self.mip}, centered={self.centered}"


class HyperHistory:
    """The recorded values of one container over one training run (what :func:`train_stn`
    returns as ``StnResult.schedule`` and ``StnResult.probabilities``)."""

    def __init__(self, hparams: HyperParameters) -> None:
        self.hparams = hparams
        self._values: dict[str, list[tuple[int, Any]]] = {n: [] for n in hparams.names}
        self._probs: dict[str, list[tuple[int, list[float]]]] = {
            n: [] for n in hparams.names if hparams.spec(n).kind == "categorical"
        }

    def record(self, step: int) -> None:
        """Append the current values (and choice probabilities) at ``step``."""
        for name, points in self._values.items():
            points.append((int(step), self.hparams.value(name)))
        for name, points in self._probs.items():
            points.append((int(step), self.hparams.probabilities(name)))

    def schedule(self) -> dict[str, list[tuple[int, Any]]]:
        """``{name: [(step, value), ...]}`` (categoricals: the likeliest choice)."""
        return {n: list(h) for n, h in self._values.items()}

    def probabilities(self) -> dict[str, list[tuple[int, list[float]]]]:
        """Categorical choice probabilities over time: ``{name: [(step, probs), ...]}``."""
        return {n: list(h) for n, h in self._probs.items()}


class HyperParameterReader(nn.Module):
    """Base of the modules that read a :class:`HyperParameters` container (STN layers,
    regularisers): it holds the container by reference, not as a submodule, so the
    hyperparameters are not the module's parameters (their own optimiser tunes them) and
    ``module.to(device)`` does not move them."""

    def _hold(self, hparams: HyperParameters) -> None:
        if not isinstance(hparams, HyperParameters):
            raise HyperparameterError(
                f"{type(self).__name__} needs a HyperParameters container, but got "
                f"{type(hparams).__name__}"
            )
        self.__dict__["hparams"] = hparams  # a reference, not a submodule

    @property
    def hparams(self) -> HyperParameters:
        """The container this module reads (held by reference, not owned)."""
        return cast(HyperParameters, self.__dict__["hparams"])
