"""A supernet study's prepare is kept on disk per recipe, so a resume does not train again."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from symtune.studies._prepared import Prepared, cache_folder, cached_prepare


def _builder(calls: list[int], value: float = 1.0) -> Callable[[], Prepared]:
    def build() -> Prepared:
        calls.append(1)
        return {"w": torch.full((3,), value)}, {"supernet.kendall_tau": 0.5, "note": "x"}

    return build


def test_the_second_prepare_of_a_recipe_loads_what_the_first_built(tmp_path: Path) -> None:
    calls: list[int] = []
    first = cached_prepare("demo", {"epochs": 2}, __file__, _builder(calls))
    second = cached_prepare("demo", {"epochs": 2}, __file__, _builder(calls, value=9.0))
    assert calls == [1]  # built once
    assert torch.equal(second[0]["w"], first[0]["w"]) and second[1] == first[1]
    files = list((cache_folder() or tmp_path).glob("studies/demo-*.pt"))
    assert len(files) == 1 and not list(files[0].parent.glob(".*.tmp"))  # no temporary left


def test_another_recipe_builds_again() -> None:
    calls: list[int] = []
    cached_prepare("demo", {"epochs": 2}, __file__, _builder(calls))
    cached_prepare("demo", {"epochs": 3}, __file__, _builder(calls))
    assert calls == [1, 1]


def test_a_damaged_file_is_built_again_with_a_warning() -> None:
    calls: list[int] = []
    cached_prepare("demo", {"epochs": 2}, __file__, _builder(calls))
    folder = cache_folder()
    assert folder is not None
    (path,) = folder.glob("studies/demo-*.pt")
    path.write_bytes(path.read_bytes()[:20])  # torn
    with pytest.warns(RuntimeWarning, match="cannot be read"):
        state, _ = cached_prepare("demo", {"epochs": 2}, __file__, _builder(calls, value=2.0))
    assert calls == [1, 1] and torch.equal(state["w"], torch.full((3,), 2.0))
    assert cached_prepare("demo", {"epochs": 2}, __file__, _builder(calls))[0]["w"][0] == 2.0


def test_off_builds_every_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYMTUNE_CACHE_DIR", "off")
    calls: list[int] = []
    for _ in range(2):
        cached_prepare("demo", {"epochs": 2}, __file__, _builder(calls))
    assert calls == [1, 1] and cache_folder() is None


def test_an_unwritable_folder_still_prepares(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("SYMTUNE_CACHE_DIR", str(blocker))
    calls: list[int] = []
    warned_before: list[bool] = []

    def build() -> Prepared:  # the warning comes before the (long) build, not after it
        warned_before.append(bool(caught))
        return _builder(calls)()

    with pytest.warns(RuntimeWarning, match="a resume trains again") as caught:
        _, attrs = cached_prepare("demo", {"epochs": 2}, __file__, build)
    assert calls == [1] and attrs["note"] == "x" and warned_before == [True]


def test_the_stdlib_lm_study_trains_once_for_two_prepares(monkeypatch: pytest.MonkeyPatch) -> None:
    import symtune.studies.stdlib_lm as module

    monkeypatch.setattr(module, "TRAIN_WINDOWS", 32)
    monkeypatch.setattr(module, "VAL_WINDOWS", 8)
    trained: list[int] = []
    real = module.train_lm_supernet

    def counting(*args: Any, **kwargs: Any) -> Any:
        trained.append(1)
        return real(*args, **{**kwargs, "progress": False})

    monkeypatch.setattr(module, "train_lm_supernet", counting)
    spec = module.make_study(epochs=1, ranking_subnets=0)
    assert spec.prepare is not None
    first, second = spec.prepare(spec), spec.prepare(spec)
    assert trained == [1]
    assert all(torch.equal(first.state_dict[k], second.state_dict[k]) for k in first.state_dict)
    assert second.study_user_attrs == first.study_user_attrs
