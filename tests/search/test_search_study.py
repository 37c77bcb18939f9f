"""Creating and loading studies, and reading them: tables, Pareto fronts, hypervolume, plots.

No Ray here: trials are written with Optuna directly, as a driver would store them.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import TrialState, create_trial

from symtune.search import ParetoPruner, Study, StudyError, create_study, load_study
from symtune.search._runs import STAMP_KEY
from symtune.search._study_space import SpaceNotPortableWarning
from symtune.spaces import SelfTunedValue, Space, floatv, intv, oneof, selftuned, symbolic

optuna.logging.set_verbosity(optuna.logging.WARNING)

SPACE = {"x": floatv(0.0, 1.0), "act": oneof(["relu", "tanh"])}
DISTS = {"x": FloatDistribution(0.0, 1.0), "act": CategoricalDistribution(["relu", "tanh"])}


def objective(config: dict[str, Any], trial: Any) -> float:
    return float(config["x"])


def add(
    study: Study,
    values: list[float] | None,
    state: TrialState = TrialState.COMPLETE,
    x: float = 0.5,
    act: str = "relu",
    **user_attrs: Any,
) -> None:
    study.optuna_study.add_trial(
        create_trial(
            state=state,
            values=values,
            params={"x": x, "act": act},
            distributions=DISTS,
            user_attrs=user_attrs,
            system_attrs={STAMP_KEY: {"run": "r", "node": "127.0.0.1", "node_id": "n1"}},
        )
    )


@pytest.fixture()
def journal(tmp_path: Path) -> str:
    return str(tmp_path / "s.journal")


# -- creating and loading -------------------------------------------------------------------------


def test_create_study_defaults(journal: str) -> None:
    study = create_study(SPACE, objective, storage=journal)
    assert study.name == "objective"
    assert study.directions == ("minimize",)
    assert study.metric_names == ("value",)
    assert isinstance(study.space, Space)
    assert isinstance(study.sampler, optuna.samplers.TPESampler)
    assert isinstance(study.pruner, optuna.pruners.MedianPruner)
    assert study.storage_url == journal
    two = create_study(
        SPACE,
        objective,
        name="two",
        storage=journal,
        directions=["minimize", "maximize"],
        metric_names=["err", "acc"],
    )
    assert isinstance(two.sampler, optuna.samplers.TPESampler)
    assert two.optuna_study.metric_names == ["err", "acc"]


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"directions": ["minimise"]}, "'minimize' or 'maximize'"),
        ({"directions": []}, "non-empty"),
        ({"directions": ["minimize"], "metric_names": ["a", "b"]}, "each of the 1 objective"),
        ({"directions": ["minimize", "maximize"], "metric_names": ["a", "a"]}, "distinct"),
        ({"name": "has space"}, "study name"),
        ({"sampler": "tpe"}, "BaseSampler"),
        ({"pruner": object()}, "BasePruner"),
    ],
)
def test_bad_arguments_name_the_rule_and_value(
    journal: str, kwargs: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(StudyError, match=fragment):
        create_study(SPACE, objective, storage=journal, **kwargs)


def test_objective_must_be_callable(journal: str) -> None:
    with pytest.raises(StudyError, match="callable"):
        create_study(SPACE, 3, storage=journal)


def test_existing_studies_resume_or_refuse(journal: str) -> None:
    first = create_study(SPACE, objective, name="s", storage=journal, metric_names=["loss"])
    add(first, [0.3])
    again = create_study(SPACE, objective, name="s", storage=journal)
    assert len(again.trials) == 1 and again.metric_names == ("loss",)
    with pytest.raises(StudyError, match="already exists"):
        create_study(SPACE, objective, name="s", storage=journal, load_if_exists=False)
    with pytest.raises(StudyError, match="directions"):
        create_study(SPACE, objective, name="s", storage=journal, directions=["maximize"])
    with pytest.raises(StudyError, match="metric_names"):
        create_study(SPACE, objective, name="s", storage=journal, metric_names=["other"])


def test_load_study_works_from_storage_alone(journal: str) -> None:
    made = create_study(
        SPACE,
        objective,
        name="s",
        storage=journal,
        directions=["minimize", "maximize"],
        metric_names=["err", "acc"],
    )
    add(made, [0.1, 0.9], act="tanh")
    loaded = load_study("s", journal)
    assert loaded.metric_names == ("err", "acc")
    assert loaded.directions == ("minimize", "maximize")
    assert loaded.space == Space(SPACE)  # rebuilt from the JSON stored with the study
    assert loaded.objective is None
    assert loaded.results()["act"].tolist() == ["tanh"]
    with pytest.raises(StudyError, match="loaded without its objective"):
        loaded.optimize(1)


def test_load_study_errors_list_what_exists(journal: str) -> None:
    create_study(SPACE, objective, name="there", storage=journal)
    with pytest.raises(StudyError, match=r"no study named 'missing'.*\['there'\]"):
        load_study("missing", journal)
    with pytest.raises(StudyError, match=r"no study named 'there': .* does not exist"):
        load_study("there", journal + ".other")


def test_a_space_without_json_form_is_fine(journal: str) -> None:
    class Local:  # a local class cannot be stored as JSON
        def __init__(self, width: int) -> None:
            self.width = width

    with pytest.warns(SpaceNotPortableWarning, match="no JSON form.*move these classes"):
        study = create_study(
            {"model": symbolic(Local)(width=oneof([1, 2]))},
            objective,
            name="local",
            storage=journal,
        )
    study.optuna_study.add_trial(
        create_trial(
            value=1.0,
            params={"model.width": 2},
            distributions={"model.width": CategoricalDistribution([1, 2])},
        )
    )
    loaded = load_study("local", journal)
    assert loaded.space is None  # not rebuildable here: results show the stored values
    assert "no space is stored" in str(loaded.space_error)
    assert loaded.results()["model.width"].tolist() == [2]
    assert study.best_config()["model"].width == 2
    with pytest.raises(StudyError, match="no space is stored with the study"):
        loaded.best_config()


# -- counting ---------------------------------------------------------------------------------


def test_counts_separate_objective_failures_from_infrastructure_failures(journal: str) -> None:
    study = create_study(SPACE, objective, name="c", storage=journal)
    add(study, [0.1])
    add(study, None, TrialState.PRUNED)
    add(study, None, TrialState.FAIL, fail_kind="exception", fail_reason="ValueError: x")
    add(study, None, TrialState.FAIL, fail_kind="worker died", fail_reason="worker died: ...")
    add(study, None, TrialState.FAIL, fail_kind="interrupted", fail_reason="interrupted")
    add(study, None, TrialState.FAIL, fail_kind="suggest failed", fail_reason="ValueError: x")
    assert study.counts() == {
        "finished": 3,
        "complete": 1,
        "failed": 1,
        "pruned": 1,
        "running": 0,
        "infra_failed": 2,
        "suggest_failed": 1,
    }


# -- results, Pareto front, hypervolume ---------------------------------------------------------


def test_results_have_a_row_per_trial_with_named_columns(journal: str) -> None:
    study = create_study(
        SPACE,
        objective,
        name="r",
        storage=journal,
        directions=["minimize", "maximize"],
        metric_names=["err", "acc"],
    )
    add(study, [0.2, 0.8], x=0.25, act="tanh", note="hello")
    add(
        study,
        None,
        TrialState.FAIL,
        fail_kind="worker died",
        fail_reason="worker died: x",
        retry_of=0,
        retries=1,
    )
    frame = study.results()
    assert list(frame["number"]) == [0, 1]
    assert list(frame["state"]) == ["COMPLETE", "FAIL"]
    assert frame.loc[0, "err"] == 0.2 and frame.loc[0, "acc"] == 0.8
    assert frame.loc[0, "x"] == 0.25 and frame.loc[0, "act"] == "tanh"
    assert frame.loc[0, "attr_note"] == "hello"
    assert frame.loc[0, "node"] == "127.0.0.1" and frame.loc[0, "node_id"] == "n1"
    assert frame.loc[0, "duration"] >= 0
    assert frame.loc[1, "retries"] == 1 and frame.loc[1, "retry_of"] == 0
    assert frame.loc[1, "fail_kind"] == "worker died"
    assert "attr_retries" not in frame.columns


def dominates(a: Sequence[float], b: Sequence[float], signs: Sequence[float]) -> bool:
    """``a`` is at least as good as ``b`` everywhere and better somewhere (signs: +1 min)."""
    pairs = [(s * x, s * y) for s, x, y in zip(signs, a, b, strict=True)]
    return all(x <= y for x, y in pairs) and any(x < y for x, y in pairs)


@pytest.mark.parametrize("directions", list(itertools.product(["minimize", "maximize"], repeat=2)))
def test_pareto_front_matches_a_brute_force_oracle(
    journal: str, directions: tuple[str, str]
) -> None:
    rng = random.Random(7)
    study = create_study(
        SPACE,
        objective,
        name="p",
        storage=journal,
        directions=list(directions),
        metric_names=["a", "b"],
    )
    points = [[rng.randint(0, 9), rng.randint(0, 9)] for _ in range(40)]
    for point in points:
        add(study, [float(v) for v in point])
    add(study, None, TrialState.FAIL)
    add(study, None, TrialState.PRUNED)
    signs = [1.0 if d == "minimize" else -1.0 for d in directions]
    expected = {i for i, p in enumerate(points) if not any(dominates(q, p, signs) for q in points)}
    front = study.pareto_front()
    assert set(front["number"]) == expected
    assert set(front["state"]) == {"COMPLETE"}


def test_hypervolume_of_a_hand_computed_front(journal: str) -> None:
    study = create_study(
        SPACE, objective, name="h", storage=journal, directions=["minimize", "minimize"]
    )
    for point in ([1.0, 3.0], [2.0, 2.0], [3.0, 1.0], [3.5, 3.5], [5.0, 0.5]):
        add(study, point)
    # Staircase below (4, 4): widths 1, 1, 1 times heights 1, 2, 3; (3.5, 3.5) is dominated
    # and (5, 0.5) lies outside the reference box.
    assert study.hypervolume([4.0, 4.0]) == pytest.approx(6.0)


def test_hypervolume_negates_maximised_axes(journal: str) -> None:
    study = create_study(
        SPACE, objective, name="hm", storage=journal, directions=["minimize", "maximize"]
    )
    for point in ([1.0, 1.0], [2.0, 2.0], [3.0, 3.0]):
        add(study, point)
    assert study.hypervolume([4.0, 0.0]) == pytest.approx(6.0)
    assert study.hypervolume([0.5, 0.0]) == 0.0
    with pytest.raises(StudyError, match="2 finite numbers"):
        study.hypervolume([4.0])


def test_best_config_materialises_the_best_or_a_chosen_trial(journal: str) -> None:
    study = create_study(SPACE, objective, name="b", storage=journal)
    add(study, [0.7], x=0.7)
    add(study, [0.2], x=0.2, act="tanh")
    assert study.best_config() == {"x": 0.2, "act": "tanh"}
    assert study.best_config(0) == {"x": 0.7, "act": "relu"}
    with pytest.raises(StudyError, match="trial_number"):
        study.best_config(5)
    multi = create_study(
        SPACE, objective, name="bm", storage=journal, directions=["minimize", "minimize"]
    )
    add(multi, [1.0, 2.0])
    with pytest.raises(StudyError, match=r"the Pareto front has trials \[0\]"):
        multi.best_config()


def test_pareto_plots_as_html_and_png(journal: str, tmp_path: Path) -> None:
    study = create_study(
        SPACE,
        objective,
        name="plot",
        storage=journal,
        directions=["minimize", "maximize"],
        metric_names=["err", "acc"],
    )
    for i in range(6):
        add(study, [i / 6, (i % 3) / 3], x=i / 6)
    html = study.plot_pareto_front(tmp_path / "front.html")
    assert "err" in html.read_text() and html.stat().st_size > 10_000
    png = study.plot_pareto_front(tmp_path / "front.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(StudyError, match=r"'\.html' or '\.png'"):
        study.plot_pareto_front(tmp_path / "front.svg")
    single = create_study(SPACE, objective, name="one", storage=journal, metric_names=["loss"])
    with pytest.raises(StudyError, match="no COMPLETE trial"):
        single.plot_pareto_front(tmp_path / "x.html")
    add(single, [0.1])
    add(single, [0.05])
    history = single.plot_pareto_front(tmp_path / "history.html").read_text()
    assert "loss" in history and "Best Value" in history
    assert single.plot_pareto_front(tmp_path / "history.png").read_bytes()[:4] == b"\x89PNG"
    four = create_study(SPACE, objective, name="four", storage=journal, directions=["minimize"] * 4)
    add(four, [1.0, 2.0, 3.0, 4.0])
    with pytest.raises(StudyError, match="1 to 3 objectives"):
        four.plot_pareto_front(tmp_path / "x.html")


# -- resuming with another space (issue 9, item 4) ----------------------------------------------


def test_resuming_with_another_space_names_the_difference(storage_url: str) -> None:
    first = {"lr": floatv(0.001, 0.1), "act": oneof(["relu", "tanh"])}
    create_study(first, objective, name="s", storage=storage_url)
    create_study(dict(first), objective, name="s", storage=storage_url)  # the same: fine
    changed = {"lr": floatv(0.0001, 0.1), "act": oneof(["relu", "tanh"]), "depth": intv(1, 3)}
    with pytest.raises(StudyError) as caught:
        create_study(changed, objective, name="s", storage=storage_url)
    message = str(caught.value)
    assert (
        "parameter 'lr' is floatv(0.001, 0.1) in the stored space but floatv(0.0001, 0.1) now"
        in message
    )
    assert "parameter 'depth' is new" in message and "allow_space_change=True" in message
    with pytest.raises(StudyError, match="parameter 'act' is gone"):
        create_study({"lr": floatv(0.001, 0.1)}, objective, name="s", storage=storage_url)


def test_an_allowed_space_change_is_stored_and_keeps_the_old_trials(journal: str) -> None:
    study = create_study(SPACE, objective, name="s", storage=journal)
    add(study, [0.3], x=0.25)
    changed = {**SPACE, "depth": intv(1, 3)}
    again = create_study(changed, objective, name="s", storage=journal, allow_space_change=True)
    assert len(again.trials) == 1
    assert again.results()["x"].tolist() == [0.25]  # old trials' params as stored
    assert load_study("s", journal).space == Space(changed)
    create_study(changed, objective, name="s", storage=journal)  # now the stored one
    with pytest.raises(StudyError, match="'depth' is gone"):
        create_study(SPACE, objective, name="s", storage=journal)


def test_a_space_without_json_form_is_still_compared(journal: str) -> None:
    class Local:
        def __init__(self, width: int) -> None:
            self.width = width

    with pytest.warns(UserWarning):
        create_study({"m": symbolic(Local)(width=oneof([1, 2]))}, objective, storage=journal)
    create_study({"m": symbolic(Local)(width=oneof([1, 2]))}, objective, storage=journal)
    with pytest.raises(StudyError, match=r"'m.width' is oneof\(\[1, 2\]\) in the stored"):
        create_study({"m": symbolic(Local)(width=oneof([1, 4]))}, objective, storage=journal)


def test_a_study_stored_before_fingerprints_is_compared_through_its_json(journal: str) -> None:
    from symtune.search._study_space import FINGERPRINT_KEY

    study = create_study(SPACE, objective, name="old", storage=journal)
    storage = study.storage
    storage.set_study_system_attr(study.study_id, FINGERPRINT_KEY, None)  # as older versions
    with pytest.raises(StudyError, match="'x' is floatv"):
        create_study({**SPACE, "x": floatv(0.0, 2.0)}, objective, name="old", storage=journal)
    create_study(SPACE, objective, name="old", storage=journal)
    assert storage.get_study_system_attrs(study.study_id)[FINGERPRINT_KEY]  # stored now


# -- seeded studies go on after a resume (item 11) ---------------------------------------------


def _ask_tell(study: Study, n: int) -> list[tuple[Any, ...]]:
    """``n`` trials asked of the study's own sampler, as the driver does, with a fixed score."""
    points = []
    for _ in range(n):
        trial = study.optuna_study.ask()
        params = study.space.suggest_params(trial)
        x = params["x"]
        study.optuna_study.tell(trial, [x, (x - 0.5) ** 2][: len(study.directions)])
        points.append(tuple(sorted(params.items())))
    return points


@pytest.mark.parametrize("directions", [["minimize"], ["minimize", "minimize"]])
def test_a_resumed_seeded_study_goes_on_and_stays_reproducible(
    tmp_path: Path, directions: list[str]
) -> None:
    def run(folder: str) -> tuple[list[Any], list[Any]]:
        path = str(tmp_path / f"{folder}.journal")
        first = create_study(SPACE, objective, storage=path, directions=directions, seed=3)
        before = _ask_tell(first, 8)
        resumed = create_study(SPACE, objective, storage=path, directions=directions, seed=3)
        return before, _ask_tell(resumed, 8)

    before, after = run("a")
    assert not set(before) & set(after)  # continuous x: any repeat is a replay
    assert run("b") == (before, after)  # the same seed and history: the same proposals


# -- spaces that another process cannot read (item 13) -----------------------------------------


class Block:
    def __init__(self, width: int) -> None:
        self.width = width


def test_a_space_of_main_targets_warns_once_and_load_study_says_why(
    journal: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys
    import warnings

    main = sys.modules["__main__"]
    monkeypatch.setattr(Block, "__module__", "__main__")
    monkeypatch.setattr(main, "Block", Block, raising=False)
    space = {"model": symbolic(Block)(width=oneof([1, 2]))}
    with pytest.warns(SpaceNotPortableWarning) as caught:
        study = create_study(space, objective, name="main", storage=journal)
    assert len(caught) == 1
    message = str(caught[0].message)
    assert "__main__.Block" in message and "load_study()" in message
    assert "best_config()" in message and "imported by name" in message
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once: resuming in this process says nothing new
        create_study(space, objective, name="main", storage=journal)
    study.optuna_study.add_trial(
        create_trial(
            value=1.0,
            params={"model.width": 2},
            distributions={"model.width": CategoricalDistribution([1, 2])},
        )
    )
    assert load_study("main", journal).best_config(0)["model"].width == 2  # this process
    monkeypatch.delattr(main, "Block")  # as another process, which lacks the class
    loaded = load_study("main", journal)
    assert loaded.space is None and loaded.results()["model.width"].tolist() == [2]
    with pytest.raises(StudyError, match=r"cannot be rebuilt in this process: .*__main__"):
        loaded.best_config(0)


def test_a_space_of_study_file_modules_warns(journal: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from symtune.search import _study_space

    module = Block.__module__
    monkeypatch.setattr(_study_space, "local_modules", {module})
    with pytest.warns(SpaceNotPortableWarning, match=f"{module}.Block"):
        create_study({"m": symbolic(Block)(width=oneof([1, 2]))}, objective, storage=journal)


def test_a_portable_space_does_not_warn(journal: str) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        create_study({"act": oneof([torch_relu(), "tanh"])}, objective, storage=journal)


def torch_relu() -> Any:
    import torch

    return symbolic(torch.nn.ReLU)()


# -- self-tuned values in best_config (item 18) ---------------------------------------------------


def test_best_config_gives_the_final_self_tuned_values(journal: str) -> None:
    space = {"x": floatv(0.0, 1.0), "dropout": selftuned(floatv(0.0, 0.7), init=0.1)}
    study = create_study(space, objective, name="stn", storage=journal)
    for value, attrs in ((0.2, {"selftuned.dropout": 0.35}), (0.5, {})):
        study.optuna_study.add_trial(
            create_trial(
                value=value,
                params={"x": value},
                distributions={"x": FloatDistribution(0.0, 1.0)},
                user_attrs=attrs,
            )
        )
    assert study.best_config() == {"x": 0.2, "dropout": 0.35}
    with pytest.warns(UserWarning, match=r"no stored final value .*\['dropout'\]"):
        kept = study.best_config(1)
    assert isinstance(kept["dropout"], SelfTunedValue) and kept["x"] == 0.5


def test_intermediate_values_have_an_entry_per_objective(journal: str) -> None:
    from symtune.search._trial import REPORT_KEY

    single = create_study(SPACE, objective, name="one", storage=journal)
    single.optuna_study.add_trial(
        create_trial(value=0.1, intermediate_values={1: 0.5, 0: 0.9}, params={}, distributions={})
    )
    assert single.intermediate_values(0) == {0: [0.9], 1: [0.5]}
    multi = create_study(SPACE, objective, name="two", storage=journal, directions=["minimize"] * 2)
    multi.optuna_study.add_trial(
        create_trial(
            values=[0.1, 3.0],
            intermediate_values={0: 0.4},
            system_attrs={f"{REPORT_KEY}0": [0.4, 7.0]},
            params={},
            distributions={},
        )
    )
    assert multi.intermediate_values(0) == {0: [0.4, 7.0]}


# -- one way to build a Study (issue 10, rule 8) ------------------------------------------------


@pytest.mark.parametrize("names", [None, ["err", "size"]])
def test_created_resumed_and_loaded_studies_agree(tmp_path: Path, names: list[str] | None) -> None:
    path = str(tmp_path / "s.journal")
    kwargs: dict[str, Any] = {"directions": ["minimize", "maximize"], "storage": path}
    created = create_study(SPACE, objective, name="s", metric_names=names, **kwargs)
    resumed = create_study(SPACE, objective, name="s", **kwargs)  # names stored: not needed
    loaded = load_study("s", storage=path)
    expected = tuple(names) if names else ("value_0", "value_1")
    for study in (created, resumed, loaded):
        assert study.metric_names == expected
        assert study.directions == ("minimize", "maximize")
        assert isinstance(study.sampler, optuna.samplers.TPESampler)
        assert isinstance(study.pruner, ParetoPruner)  # judges several objectives
    assert resumed.space == created.space == Space(SPACE)
    assert loaded.space == Space(SPACE)
    assert loaded.objective is None and resumed.objective is objective


def test_a_study_built_from_an_optuna_study_takes_its_metric_names(tmp_path: Path) -> None:
    study = create_study(
        SPACE, objective, name="m", metric_names=["err"], storage=str(tmp_path / "m.journal")
    )
    again = Study(
        study.optuna_study,
        storage=study.storage,
        storage_url=study.storage_url,
        space=study.space,
        objective=objective,
        pruner=study.pruner,
    )
    assert again.metric_names == ("err",)
