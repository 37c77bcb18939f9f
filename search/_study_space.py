"""A study's space in its storage: stored, compared on resume, rebuilt, and materialised.

Two things are stored with a study (as study system attributes):

- ``symtune:space``: the space's JSON (``Space.to_json``), so another process can rebuild it
  (readable parameters, ``best_config``). A space without a JSON form (a class defined inside
  a function, a lambda) cannot be stored; one whose targets live in ``__main__`` or in the
  study file's folder is stored, but only a process that has those targets can read it. Both
  cases are warned about once, at ``create_study``.
- ``symtune:space_parameters``: a fingerprint of the parameters (``[[name, repr], ...]``),
  which every space has, JSON or not. Resuming a study compares it with the new space's, so a
  different space under the same name is refused instead of mixing two searches.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from symtune.search._errors import StudyError, one_line, outside_search_level
from symtune.spaces import SpaceError

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution
    from optuna.storages import BaseStorage
    from optuna.trial import FrozenTrial

    from symtune.spaces import Space

_log = logging.getLogger("symtune.search")

SPACE_KEY = "symtune:space"
FINGERPRINT_KEY = "symtune:space_parameters"
SELFTUNED_PREFIX = "selftuned."
"""User attribute prefix of a trial's final self-tuned values (``result.user_attrs()``)."""

_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
_MOST_DIFFERENCES = 6

local_modules: set[str] = set()
"""Modules that only this process can import: a study file loaded by the CLI and the sibling
modules it imported (``symtune.search._spec`` adds them; workers get them by value)."""

_warned: set[tuple[str, str]] = set()


class SpaceNotPortableWarning(UserWarning):
    """The space stored with a study cannot be read back by another process."""


# -- fingerprints and resuming --------------------------------------------------------------------


def fingerprint(space: Space) -> dict[str, str]:
    """``{name: primitive repr}`` of every sampled and self-tuned parameter (no addresses)."""
    items = {**space.parameters, **space.selftuned}
    return {name: _ADDRESS.sub("", repr(hyper)) for name, hyper in items.items()}


def differences(stored: Mapping[str, str], new: Mapping[str, str]) -> list[str]:
    """What changed between two fingerprints, one phrase per parameter, in space order."""
    out = []
    for name, text in new.items():
        if name not in stored:
            out.append(f"parameter {name!r} is new")
        elif stored[name] != text:
            out.append(f"parameter {name!r} is {stored[name]} in the stored space but {text} now")
    out.extend(f"parameter {name!r} is gone" for name in stored if name not in new)
    return out


def check_resumed_space(
    storage: BaseStorage, study_id: int, study_name: str, url: str, space: Space, allow: bool
) -> None:
    """Refuse to resume ``study_name`` with another space, unless ``allow``; store what is new.

    The stored fingerprint is compared; a study written before fingerprints were stored is
    compared through its JSON when this process can read it, and otherwise accepted.
    """
    attrs = storage.get_study_system_attrs(study_id)
    stored = _stored_fingerprint(attrs)
    new = fingerprint(space)
    if stored != new:  # or unknown: Optuna refuses some changes whatever ``allow`` says
        _check_optuna_accepts(storage, study_id, study_name, url, space)
    if stored is None or stored == new:
        if not isinstance(attrs.get(FINGERPRINT_KEY), list) or not isinstance(
            attrs.get(SPACE_KEY), str
        ):
            store_space(storage, study_id, study_name, space)
        else:
            warn_if_not_portable(study_name, space)
        return
    if not allow:
        changes = differences(stored, new)
        shown = "; ".join(changes[:_MOST_DIFFERENCES])
        if len(changes) > _MOST_DIFFERENCES:
            shown += f"; and {len(changes) - _MOST_DIFFERENCES} more"
        raise StudyError(
            f"study {study_name!r} in {url} was created with another space: {shown}. Resuming "
            "it would mix the trials of two searches: use another name (create_study(name=...)"
            ", symtune run --name), or pass allow_space_change=True (symtune run "
            "--allow-space-change) to search the new space on top of the old trials"
        )
    store_space(storage, study_id, study_name, space, replace=True)


def distributions(space: Space) -> dict[str, BaseDistribution]:
    """The Optuna distribution that ``space.suggest`` gives each parameter it may suggest
    (every ``manyof`` slot on its own), active or not, in space order
    (``Space.distributions``: defined once, beside ``suggest``)."""
    return space.distributions()


def _check_optuna_accepts(
    storage: BaseStorage, study_id: int, study_name: str, url: str, space: Space
) -> None:
    """Refuse a space whose parameters Optuna's storages would refuse to store in this study.

    Optuna keeps one distribution kind (and log scale) per parameter name and one list of
    choices per categorical parameter for the whole study
    (``optuna.distributions.check_distribution_compatibility``): a ``oneof`` or ``manyof``
    slot that gains or loses a candidate would fail every trial at ask time. The new
    distributions are compared with those stored with the study's trials.
    """
    new = distributions(space)
    old: dict[str, BaseDistribution] = {}
    for trial in storage.get_all_trials(study_id, deepcopy=False):
        for name, distribution in trial.distributions.items():
            if name in new:
                old.setdefault(name, distribution)
        if len(old) == len(new):
            break
    for name, after in new.items():
        before = old.get(name)
        if before is not None and not _compatible(before, after):
            raise StudyError(f"study {study_name!r} in {url}: {_refusal(name, before, after)}")


def _refusal(name: str, before: BaseDistribution, after: BaseDistribution) -> str:
    from optuna.distributions import CategoricalDistribution

    if isinstance(before, CategoricalDistribution) and isinstance(after, CategoricalDistribution):
        old, new = list(before.choices), list(after.choices)
        return (
            "Optuna cannot change the candidates of a choice within one study, and parameter "
            f"{name!r} has candidates {old} in the stored trials but {new} now, so every new "
            "trial would fail (even with allow_space_change=True). Use a new study name "
            f"(create_study(name=...), symtune run --name), or keep the candidates {old} and "
            "add the new ones under a new parameter name (oneof(..., name=...))"
        )
    return (
        "Optuna cannot change a parameter's kind or log scale within one study, and parameter "
        f"{name!r} is {before} in the stored trials but {after} now, so every new trial would "
        "fail (even with allow_space_change=True). Use a new study name (create_study(name="
        "...), symtune run --name), or keep this parameter as it was and add the new one "
        "under a new parameter name (name=...)"
    )


def _compatible(old: BaseDistribution, new: BaseDistribution) -> bool:
    from optuna.distributions import check_distribution_compatibility

    try:
        check_distribution_compatibility(old, new)
    except ValueError:
        return False
    return True


def _stored_fingerprint(attrs: Mapping[str, Any]) -> dict[str, str] | None:
    raw = attrs.get(FINGERPRINT_KEY)
    if isinstance(raw, list):
        return {str(name): str(text) for name, text in raw}
    text = attrs.get(SPACE_KEY)
    if not isinstance(text, str):
        return None
    from symtune.spaces import Space

    try:
        return fingerprint(Space.from_json(text))
    except SpaceError:  # written by a process whose targets this one lacks: cannot compare
        return None
    except Exception:  # a target's module raised on import: user code, say what it was
        _log.warning("the stored space cannot be read to compare it", exc_info=True)
        return None


# -- storing and rebuilding -------------------------------------------------------------------


def store_space(
    storage: BaseStorage, study_id: int, study_name: str, space: Space, *, replace: bool = False
) -> None:
    """Store the fingerprint and, when the space has one, its JSON; warn once if another
    process will not be able to read it. ``replace``: overwrite a stored JSON even when the
    new space has none (a changed space must not be rebuilt as the old one)."""
    pairs = [[name, text] for name, text in fingerprint(space).items()]
    storage.set_study_system_attr(study_id, FINGERPRINT_KEY, pairs)
    try:
        text: str | None = space.to_json()
    except SpaceError as error:  # a class inside a function, a lambda: no JSON form
        text = None
        problem = f"the space has no JSON form ({one_line(error)}), so it is not stored"
        _warn(study_name, problem, anywhere=True)
    if text is not None or replace:
        storage.set_study_system_attr(study_id, SPACE_KEY, text)
    if text is not None:
        warn_if_not_portable(study_name, space)


def warn_if_not_portable(study_name: str, space: Space) -> None:
    """Warn (once per study and process) when another process cannot rebuild ``space``: a
    target of the space's own reckoning (``Space.unportable_reasons``: ``__main__``, the
    script's folder) or one from a study file's folder, which the CLI put on the path."""
    paths, why = space.unportable_targets(), space.unportable_reasons()
    listed = [f"{name} ({why[name]}; at {path})" for name, path in sorted(paths.items())]
    for name in sorted(_targets_in(space)):
        module, _, qualname = name.partition(":")
        if any(module == m or module.startswith(m + ".") for m in local_modules):
            listed.append(f"{module}.{qualname} (from the study file's folder)")
    if listed:
        _warn(
            study_name,
            f"the stored space uses {', '.join(listed)}, which only this process can import",
        )


def _warn(study_name: str, problem: str, *, anywhere: bool = False) -> None:
    key = (study_name, problem)
    if key in _warned:
        return
    _warned.add(key)
    where = "" if anywhere else "in another process "
    warnings.warn(
        f"study {study_name!r}: {problem}. Trials run, but {where}"
        "load_study() has no space (results show stored parameter values), best_config() "
        "there fails, and symtune show/export print no readable config. To fix it, move these "
        "classes and functions into a module that is imported by name (a .py file on the "
        "Python path, or an installed package) and import them from there",
        SpaceNotPortableWarning,
        stacklevel=outside_search_level(),
    )


def _targets_in(space: Space) -> set[str]:
    """Every target (``"module:qualname"``) that the space refers to (its JSON imports)."""
    return set(space.targets())


def stored_space(storage: BaseStorage, study_id: int) -> tuple[Space | None, str | None]:
    """The space stored with a study, or ``None`` and why it could not be rebuilt here."""
    from symtune.spaces import Space

    attrs = storage.get_study_system_attrs(study_id)
    text = attrs.get(SPACE_KEY)
    if not isinstance(text, str):
        return None, (
            "no space is stored with the study (it had no JSON form when the study was "
            "created: a class defined inside a function, or a lambda)"
        )
    reason = "the stored space cannot be rebuilt in this process"
    try:
        return Space.from_json(text), None
    except SpaceError as error:  # the space's targets are not importable in this process
        return None, f"{reason}: {one_line(error)}"
    except Exception as error:  # a target's module raised on import: user code
        _log.warning("%s", reason, exc_info=True)
        return None, f"{reason}: {one_line(error)}"


def _rebuilt(node: Any, items: Any) -> Any:
    """A container subclass (a namedtuple, an OrderedDict) rebuilt from new items."""
    try:
        return type(node)(*items) if hasattr(node, "_fields") else type(node)(items)
    except Exception:  # a subclass with its own constructor: the plain container
        _log.debug("cannot rebuild a %s from its items", type(node).__name__, exc_info=True)
        if isinstance(node, dict):
            return dict(items)
        return list(items) if isinstance(node, list) else tuple(items)


# -- self-tuned values --------------------------------------------------------------------------


def with_tuned_values(config: Any, trial: FrozenTrial) -> Any:
    """``config`` with each ``SelfTunedValue`` replaced by the trial's final tuned value.

    The values are the trial's user attributes ``selftuned.NAME`` (what
    ``symtune.hypernets`` training results store). Dicts, lists, tuples and dataclass
    instances are walked; a hyperparameter without a stored value keeps its placeholder, with
    a warning.
    """
    from symtune.spaces import SelfTunedValue

    missing: list[str] = []

    def walk(node: Any) -> Any:
        if isinstance(node, SelfTunedValue):
            key = SELFTUNED_PREFIX + node.name
            if key in trial.user_attrs:
                return trial.user_attrs[key]
            missing.append(node.name)
            return node
        if isinstance(node, dict):
            items = {k: walk(v) for k, v in node.items()}
            if all(items[k] is v for k, v in node.items()):
                return node
            return items if type(node) is dict else _rebuilt(node, items)
        if isinstance(node, (list, tuple)):
            values = [walk(v) for v in node]
            if all(a is b for a, b in zip(values, node, strict=True)):
                return node
            if type(node) in (list, tuple):
                return type(node)(values)
            return _rebuilt(node, values)
        if dataclasses.is_dataclass(node) and not isinstance(node, type):
            fields = [f.name for f in dataclasses.fields(node) if f.init]
            changes = {name: walk(getattr(node, name)) for name in fields}
            if any(changes[k] is not getattr(node, k) for k in changes):
                return dataclasses.replace(node, **changes)
        return node

    out = walk(config)
    if missing:
        warnings.warn(
            f"trial {trial.number} has no stored final value for the self-tuned "
            f"hyperparameter(s) {sorted(set(missing))} (user attributes "
            f"{[SELFTUNED_PREFIX + n for n in sorted(set(missing))]}), so best_config() keeps "
            "their SelfTunedValue placeholders",
            UserWarning,
            stacklevel=3,
        )
    return out
