"""scikit-learn's 8x8 digits for the ready-made studies: data, the CNN space and the MLP.

What lives here: the one digits loader (:func:`load_digits_data`, with the split policies the
studies and benchmarks use) and its :class:`DigitsData`; the CNN architecture space
(:func:`digits_cnn_space`) with its one builder (:func:`build_digits_cnn`, for stand-alone
networks and, through ``symtune.hypernets.Supernet.from_space``, the supernet); and the
self-tuning MLP of the ``digits_mlp`` study (:func:`build_digits_mlp`, :func:`mlp_params`).
These moved here from ``symtune.hypernets``, which holds no dataset-specific name.
"""

from __future__ import annotations

from symtune.studies.digits._cnn import DigitsCNN, build_digits_cnn, digits_cnn_space
from symtune.studies.digits._data import DIGITS_INPUT_SHAPE, DigitsData, load_digits_data
from symtune.studies.digits._mlp import build_digits_mlp, mlp_params

__all__ = [
    "DIGITS_INPUT_SHAPE",
    "DigitsCNN",
    "DigitsData",
    "build_digits_cnn",
    "build_digits_mlp",
    "digits_cnn_space",
    "load_digits_data",
    "mlp_params",
]
