"""Bad options of ``load_digits_data``: refused up front, each naming the rule and the value."""

from __future__ import annotations

from typing import Any

import pytest

from symtune.studies.digits import load_digits_data

PERM = {"split": "permutation"}
RANDPERM = {"split": "randperm", "n_train": 100, "n_val": 200}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        # impossible sizes
        ({**PERM, "val_fraction": 0.6, "test_fraction": 0.5}, "leave -179 training"),
        ({**PERM, "val_fraction": 0.0001}, "leave 1797 training and 0 validation"),
        ({"val_fraction": 0.001}, "at least 10 training and 10 validation examples"),
        # options the split does not use
        ({**PERM, "n_train": 100}, "permutation split has .* `val_fraction` and `test_fraction`"),
        ({**PERM, "n_val": 100}, "only, but got n_val=100"),
        ({**RANDPERM, "val_fraction": 0.2}, "randperm split has .* `n_train` and `n_val` only"),
        ({**RANDPERM, "test_fraction": 0.1}, "only, but got test_fraction=0.1"),
        ({"n_train": 100, "n_val": 200}, "stratified split has train and validation parts"),
        # seeds
        ({"seed": -1}, r"`0 <= seed < 2\*\*32` must hold, but got seed=-1"),
        ({**PERM, "seed": -1}, r"`0 <= seed < 2\*\*32`"),
        ({**RANDPERM, "seed": -1}, r"`0 <= seed < 2\*\*32`"),
        ({"seed": 2**32}, "but got seed=4294967296"),
    ],
)
def test_impossible_or_unused_options_are_value_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message) as error:
        load_digits_data(**kwargs)
    assert "(load_digits_data)" in str(error.value)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"val_fraction": "0.2"}, "`val_fraction` must be a number, but got str '0.2'"),
        ({**PERM, "test_fraction": True}, "`test_fraction` must be a number, but got bool"),
        ({"seed": None}, "`seed` must be an int, but got NoneType None"),
        ({"seed": 1.5}, "`seed` must be an int, but got float 1.5"),
        ({**PERM, "seed": True}, "`seed` must be an int, but got bool True"),
        ({**RANDPERM, "n_train": 100.5}, "`n_train` must be an int, but got float 100.5"),
        ({**RANDPERM, "n_val": True}, "`n_val` must be an int, but got bool True"),
    ],
)
def test_options_of_the_wrong_type_are_type_errors(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(TypeError, match=message):
        load_digits_data(**kwargs)


def test_the_defaults_and_the_smallest_valid_sizes_still_load() -> None:
    data = load_digits_data(0.2, 0, split="permutation", test_fraction=0.2)
    assert (len(data.x_train), len(data.x_val), len(data.x_test)) == (1079, 359, 359)
    assert len(load_digits_data(**PERM).x_val) == 359  # val_fraction defaults to 0.2
    tiny = load_digits_data(val_fraction=10 / 1797)
    assert len(tiny.x_val) == 10 and set(tiny.y_val.tolist()) == set(range(10))
    one = load_digits_data(0.999, split="permutation")
    assert (len(one.x_train), len(one.x_val)) == (2, 1795)
