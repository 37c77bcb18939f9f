"""A primitive object written at two paths of a supernet space is two elastic choices."""

from symtune.hypernets.supernet._space import choice_config
from symtune.spaces import Space, intv


def test_a_reused_primitive_is_two_elastic_choices() -> None:
    width = intv(1, 4)
    config, params = choice_config(Space({"a": width, "b": width}))
    assert sorted(params) == ["a", "b"]
    assert (config["a"].name, config["b"].name) == ("a", "b")
