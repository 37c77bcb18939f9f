"""The README's study example ("Studies: symtune.search"), run as written on Ray workers.

That block is marked "not run by tests" because it trains an ``MLP`` with a
``train_one_epoch`` it does not define. Here both are given tiny stand-ins and the block
itself runs, with only its budget made smaller: two objectives, ``trial.report`` and
``trial.should_prune`` every epoch, ``set_user_attr``, then every reading call it shows.
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
    "n_trials=100, workers=4": "n_trials=6, workers=2",
    "range(20)": "range(3)",
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
    import optuna

    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "readme_study_example"}
    exec(compile(PRELUDE, "README stand-ins", "exec"), namespace)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the space's classes live in a script
        exec(compile(study_block(), "README.md study example", "exec"), namespace)
    study = namespace["study"]
    trials = study.trials
    assert len(trials) == 6
    assert {t.state for t in trials} == {optuna.trial.TrialState.COMPLETE}, [
        t.user_attrs.get("fail_reason") for t in trials
    ]
    for trial in trials:
        assert sorted(trial.intermediate_values) == [0, 1, 2]  # reported every epoch
        assert trial.user_attrs["epochs"] == 3
        reported = study.intermediate_values(trial.number)
        assert list(reported) == [0, 1, 2] and all(v[1] is None for v in reported.values())
        assert reported[2][0] == trial.values[0]  # the error the objective returned
    frame = study.results()
    assert set(frame["state"]) == {"COMPLETE"} and "attr_epochs" in frame.columns
    assert (tmp_path / "front.html").stat().st_size > 1000
    assert isinstance(namespace["model"], namespace["MLP"])
