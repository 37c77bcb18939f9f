"""Labels where a user reads a study: ``Study.results()`` (``search._results.trials_frame``),
``symtune show``/``pareto`` (which print it) and ``symtune export``'s readable config, with
parameter columns in space order. Trials are asked and told by hand: no Ray needed."""

from __future__ import annotations

import json

import optuna
import pytest
import torch

from symtune.search import create_study, load_study
from symtune.search.cli import main
from symtune.spaces import Space, floatv, manyof, oneof

optuna.logging.set_verbosity(optuna.logging.WARNING)

COLUMNS = ["model", "model[0].width", "model[1].slope", "optimizer", "optimizer[adam].lr", "aug"]


def space() -> Space:
    return Space(
        {
            "model": oneof(
                [
                    {"name": "mlp", "width": oneof([32, 64]), "activation": "relu"},
                    {"name": "leaky", "slope": floatv(0.01, 0.3), "activation": "leaky_relu"},
                ]
            ),
            "optimizer": oneof({"sgd": {"lr": 0.1}, "adam": {"lr": floatv(1e-4, 1e-2, log=True)}}),
            "aug": manyof(2, [torch.nn.Identity, torch.nn.ReLU, torch.nn.Tanh]),
        }
    )


def objective(config, trial):  # never run: trials are told by hand
    return 0.0


@pytest.fixture
def stored(tmp_path):
    storage = str(tmp_path / "labels.journal")
    assert space().parameters["model"].labels == (0, 1)  # long dicts: stored by index
    study = create_study(space(), objective, name="labels", storage=storage)
    ostudy = study.optuna_study
    # Reversed order: the first trial takes the last branches, so appearance order != space order.
    for fixed in ({"model": 1, "optimizer": "adam"}, {"model": 0, "optimizer": "sgd"}):
        ostudy.enqueue_trial(fixed, skip_if_exists=False)
    for _ in range(4):
        trial = ostudy.ask()
        space().suggest(trial)
        ostudy.tell(trial, 1.0)
    return study, storage


def test_results_show_labels_with_parameter_columns_in_space_order(stored):
    study, storage = stored
    for frame in (study.results(), load_study("labels", storage=storage).results()):
        params = [c for c in frame.columns if c in COLUMNS]
        assert params == COLUMNS
        assert frame["model"].tolist()[:2] == ["leaky", "mlp"]
        assert frame["optimizer"].tolist()[:2] == ["adam", "sgd"]
        assert all(isinstance(v, list) and len(v) == 2 for v in frame["aug"])
        assert set().union(*frame["aug"]) <= {"Identity", "ReLU", "Tanh"}
        assert frame["model[0].width"].isna().tolist()[:2] == [True, False]


def test_export_writes_the_readable_config(stored, tmp_path, monkeypatch):
    _, storage = stored
    out = tmp_path / "trial0.json"
    assert main(["export", "labels", "0", "--storage", storage, "-o", str(out)]) == 0
    exported = json.loads(out.read_text())
    assert exported["params"]["model"] == 1  # what Optuna stores is unchanged
    assert exported["config"]["model"] == "leaky"
    assert exported["config"]["optimizer"] == "adam"
    assert list(exported["config"]) == [c for c in COLUMNS if c in exported["config"]]


def test_show_prints_labels(stored, capsys):
    _, storage = stored
    assert main(["show", "labels", "--storage", storage]) == 0
    printed = capsys.readouterr().out
    assert "leaky" in printed and "adam" in printed


def test_plots_show_labels_in_their_hover_texts(tmp_path):
    from symtune.search._results import plot_pareto_front, readable_study

    study = create_study(
        space(),
        objective,
        name="labels2",
        storage=str(tmp_path / "two.journal"),
        directions=["minimize", "minimize"],
    )
    ostudy = study.optuna_study
    ostudy.enqueue_trial({"model": 1, "optimizer": "adam"}, skip_if_exists=False)
    for i in range(4):
        trial = ostudy.ask()
        space().suggest(trial)
        ostudy.tell(trial, [float(i), float(-i)])
    readable = readable_study(ostudy, space())
    first = readable.trials[0].params
    assert first["model"] == "leaky" and first["optimizer"] == "adam"
    assert {first["aug[0]"], first["aug[1]"]} <= {"Identity", "ReLU", "Tanh"}
    assert [t.values for t in readable.trials] == [t.values for t in ostudy.trials]
    for html in (
        plot_pareto_front(ostudy, ["a", "b"], tmp_path / "front.html", space=space()),
        study.plot_pareto_front(tmp_path / "study.html"),  # the public path passes its space
    ):
        text = html.read_text()  # hover texts are JSON inside JSON: quotes are escaped
        assert r"\"model\": \"leaky\"" in text and r"\"optimizer\": \"adam\"" in text


def test_a_plot_with_labels_logs_no_in_memory_study(tmp_path, caplog):
    """The readable copy behind the plot is an in-memory study: creating it must not print
    Optuna's "A new study created in memory" after `symtune run`'s output."""
    import logging

    study = create_study(space(), objective, name="quiet", storage=str(tmp_path / "q.journal"))
    trial = study.optuna_study.ask()
    space().suggest(trial)
    study.optuna_study.tell(trial, 1.0)
    optuna_logger = logging.getLogger("optuna")
    optuna_logger.addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.INFO, logger="optuna"):
            study.plot_pareto_front(tmp_path / "quiet.html")
    finally:
        optuna_logger.removeHandler(caplog.handler)
    assert not [r for r in caplog.records if "created in memory" in r.getMessage()]
