"""The errors of self-tuning networks (STN)."""

from __future__ import annotations

from collections.abc import Sequence


class HyperparameterError(ValueError):
    """A self-tuned hyperparameter that an STN cannot use, or one that is not there.

    Raised when a ``selftuned(...)`` value has no room to tune (``low == high``), bad bounds
    or an ``init`` outside them, when a regulariser gets a hyperparameter whose range it
    cannot take (a dropout rate that may reach 1), and when an STN layer or regulariser asks
    for a hyperparameter name that its :class:`HyperParameters` container does not hold.
    Every message names the rule, the value and the hyperparameter.
    """


class HyperparameterNaNError(FloatingPointError):
    """The hyperparameter step of STN training produced NaN (or an infinity).

    A study turns this into a failed trial whose reason is the message. Attributes:
    ``step`` (weight steps done when it happened), ``hyper_step`` (hyperparameter steps done
    before it) and ``names`` (the hyperparameters whose gradient or value was not finite).
    """

    def __init__(self, step: int, hyper_step: int, names: Sequence[str], detail: str) -> None:
        self.step = step
        self.hyper_step = hyper_step
        self.names = tuple(names)
        which = ", ".join(repr(n) for n in self.names) or "(none identified)"
        super().__init__(
            f"the hyperparameter step produced NaN at step {step} (hyperparameter step "
            f"{hyper_step}): not finite in hyperparameter(s) {which}; {detail}"
        )
