"""Bad input at the public hooks of spaces: assignment keys, map_primitives, the encoding."""

from __future__ import annotations

import gc
from typing import Any

import numpy as np
import pytest

from symtune.spaces import Space, SpaceError, assignment_key, floatv, intv, oneof

# -- assignment_key: one rule, by value, for every value ---------------------------------------


def test_assignment_key_sets_compare_by_value():
    assert assignment_key({"a": {1, 2}}) == assignment_key({"a": {2, 1}})
    assert assignment_key({"a": frozenset({1, 2})}) == assignment_key({"a": {1, 2}})
    assert assignment_key({"a": {1, 2}}) != assignment_key({"a": {1, 3}})


def test_assignment_key_of_a_freed_set_is_not_reused():
    first = assignment_key({"a": {1, 2}})
    gc.collect()
    assert assignment_key({"a": {3, 4}}) != first


def test_assignment_key_numpy_arrays_by_dtype_shape_and_contents():
    a = np.arange(4)
    assert assignment_key({"a": a}) == assignment_key({"a": np.arange(4)})
    assert assignment_key({"a": a}) != assignment_key({"a": np.arange(4).reshape(2, 2)})
    assert assignment_key({"a": a}) != assignment_key({"a": np.arange(4, dtype=np.float32)})
    assert assignment_key({"a": a}) != assignment_key({"a": np.arange(1, 5)})
    hash(assignment_key({"a": a}))


def test_assignment_key_torch_tensors_by_value():
    torch = pytest.importorskip("torch")
    first = assignment_key({"a": torch.tensor([1.0, 2.0])})
    assert first == assignment_key({"a": torch.tensor([1.0, 2.0])})
    assert first != assignment_key({"a": torch.tensor([1.0, 3.0])})
    assert first != assignment_key({"a": torch.tensor([1, 2])})
    assert len({first, assignment_key({"a": torch.tensor([1.0, 3.0])})}) == 2


def test_assignment_key_dict_values_by_the_same_rule():
    assert assignment_key({"a": {"b": 1}}) == assignment_key({"a": {"b": 1.0}})
    assert assignment_key({"a": {"b": [1]}}) == assignment_key({"a": {"b": (1.0,)}})
    assert assignment_key({"a": {"b": 1, "c": 2}}) == assignment_key({"a": {"c": 2, "b": 1}})
    assert assignment_key({"a": {"b": True}}) != assignment_key({"a": {"b": 1}})


def test_assignment_key_refuses_an_unhashable_object_by_name():
    class Bag:
        __hash__ = None  # type: ignore[assignment]

    with pytest.raises(SpaceError, match=r"must be hashable.*Bag.*\(at width\)"):
        assignment_key({"width": Bag()})


def test_assignment_key_refuses_a_non_mapping():
    with pytest.raises(SpaceError, match=r"must be a mapping.*list"):
        assignment_key([("a", 1)])


def test_assignment_key_refuses_a_value_that_contains_itself():
    loop: list[Any] = [1]
    loop.append(loop)
    with pytest.raises(SpaceError, match=r"must not contain itself.*\(at a\)"):
        assignment_key({"a": loop})


def test_assignment_key_names_must_be_strings():
    with pytest.raises(SpaceError, match=r"names must be strings.*1 \(a int\)"):
        assignment_key({1: 0})
    assert assignment_key({"1": 0}) == (("1", ("number", 0)),)


def test_a_choice_reads_an_unhashable_label_as_a_bad_label():
    space = Space({"a": oneof([1, 2])})
    with pytest.raises(SpaceError, match="must be one of"):
        space.materialize({"a": [1]})


# -- map_primitives: arguments checked up front, a failing `replace` named ---------------------


def test_map_primitives_refuses_a_replace_that_is_not_callable():
    space = Space({"a": oneof([1, 2])})
    with pytest.raises(SpaceError, match=r"`replace` must be callable.*dict"):
        space.map_primitives({})


def test_map_primitives_build_must_be_a_bool():
    space = Space({"a": oneof([1, 2])})
    with pytest.raises(SpaceError, match=r"`build` must be True or False.*'no'"):
        space.map_primitives(lambda info, candidates: None, build="no")


def test_an_error_of_replace_propagates_with_a_note_naming_the_parameter():
    space = Space({"model": {"width": intv(1, 4), "act": oneof(["relu", "gelu"])}})

    def replace(info: Any, candidates: tuple[Any, ...]) -> Any:
        if info.name == "model.act":
            raise KeyError("no act")
        return info.name

    with pytest.raises(KeyError, match="no act") as caught:
        space.map_primitives(replace)
    if hasattr(caught.value, "add_note"):  # Python 3.11+
        assert caught.value.__notes__ == [
            "raised by `replace` for parameter 'model.act' (at model.act)"
        ]


# -- the encoding: unit and value agree, bad numbers and vectors named ----------------------


def test_unit_refuses_a_value_outside_the_range():
    block = Space({"lr": floatv(1e-4, 1e-1, log=True)}).encoding_layout["lr"]
    with pytest.raises(SpaceError, match=r"range \[0.0001, 0.1\] on a log scale.*0.0 \(at lr\)"):
        block.unit(0.0)
    with pytest.raises(SpaceError, match=r"range.*-1\.0 \(at lr\)"):
        block.unit(-1.0)
    with pytest.raises(SpaceError, match=r"range.*5\.0 \(at lr\)"):
        block.unit(5.0)
    with pytest.raises(SpaceError, match=r"needs a number.*'x'"):
        block.unit("x")


def test_unit_and_value_agree_on_the_range():
    block = Space({"w": intv(1, 9)}).encoding_layout["w"]
    for v in (1, 5, 9):
        assert 0.0 <= block.unit(v) <= 1.0
        assert block.value(block.unit(v)) == v
    with pytest.raises(SpaceError, match=r"range \[1, 9\], but got 10"):
        block.unit(10)


def test_decode_refuses_what_is_not_a_vector_of_numbers():
    space = Space({"a": oneof([1, 2]), "b": floatv(0.0, 1.0)})
    with pytest.raises(SpaceError, match=r"`decode` needs a sequence of 3 finite numbers.*'abc'"):
        space.decode("abc")
    with pytest.raises(SpaceError, match=r"`decode` needs a sequence of 3.*list"):
        space.decode([1, "x", 0])


def test_encode_keeps_a_number_within_the_tolerance_in_the_unit_range():
    space = Space({"b": floatv(0.0, 1.0)})
    assert space.encode({"b": 1.0 + 1e-13}).tolist() == [1.0]
    assert space.encoding_layout["b"].unit(1.0 + 1e-13) == 1.0
