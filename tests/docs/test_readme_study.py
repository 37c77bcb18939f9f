"""The README's study example ("Studies: symtune.search"), run as written on Ray workers.

That block is marked "not run by tests" because it trains an ``MLP`` with a
``train_one_epoch`` it does not define. Here both are given tiny stand-ins and the block
itself runs, with only its budget made smaller: two objectives, ``trial.report`` of both and
``trial.should_prune`` every epoch (the default ``ParetoPruner`` prunes some trials at its
rungs), ``set_user_attr``, then every reading call it shows.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"

# Stand-ins for what the block leaves to the reader, defined in the block's own namespace so
# that the objective and the model class travel to Ray workers by value.
PRELUDE = """
import torch


class MLP(torch.nn.Module):
    def __init__(self, width, depth):
        super().__init__()
        self.layers = torch.nn.Sequential(
            *[torch.nn.Linear(4 if i == 0 else width, width) for i in range(depth)]
        )


def train_one_epoch(model, lr):
    width = model.layers[0].out_features
    return 0.5 / (1 + lr * 100) + 0.1 / width
"""

# The block's budget, made small; each replaced text must be in the README as written.
SMALLER = {
    "n_trials=100, workers=4": "n_trials=12, workers=2",
    "range(20)": "range(5)",
    "trial_number=42": "trial_number=int(study.pareto_front()['number'].iloc[0])",
}


def study_block() -> str:
    text = README.read_text()
    section = text[text.index("## Studies: `symtune.search`") :]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "the README's Studies section has no Python example"
    block = match.group(1)
    for old, new in SMALLER.items():
        assert old in block, f"the README study example no longer contains {old!r}"
        block = block.replace(old, new)
    return block


@pytest.mark.slow
@pytest.mark.ray
def test_readme_study_example_completes_its_trials(
    ray_local: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from optuna.trial import TrialState

    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "readme_study_example"}
    exec(compile(PRELUDE, "README stand-ins", "exec"), namespace)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the space's classes live in a script
        exec(compile(study_block(), "README.md study example", "exec"), namespace)
    study = namespace["study"]
    trials = study.trials
    assert len(trials) == 12
    states = {t.state for t in trials}
    assert states <= {TrialState.COMPLETE, TrialState.PRUNED}, [
        t.user_attrs.get("fail_reason") for t in trials
    ]
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    assert complete and pruned  # the default ParetoPruner prunes for real
    for trial in complete:
        assert sorted(trial.intermediate_values) == [0, 1, 2, 3, 4]  # reported every epoch
        assert trial.user_attrs["epochs"] == 5
        reported = study.intermediate_values(trial.number)
        assert reported[4] == list(trial.values)  # both objectives, every epoch
    for trial in pruned:  # stopped at a rung (steps 1 and 3), judged by both objectives
        assert max(trial.intermediate_values) in (1, 3)
        assert all(None not in v for v in study.intermediate_values(trial.number).values())
    frame = study.results()
    assert set(frame["state"]) == {"COMPLETE", "PRUNED"} and "attr_epochs" in frame.columns
    assert (tmp_path / "front.html").stat().st_size > 1000
    assert isinstance(namespace["model"], namespace["MLP"])
