"""The house rules of the README's Architecture section, checked on the source tree.

`lint-imports` (the contracts in pyproject.toml, run by `.ci/run`) checks the direction of the
imports between the installed packages and that a private module is imported only inside its
own package. This module checks what import-linter cannot see: the benchmarks (not installed),
private *names* taken from another package's public module, the layout of `hypernets`, and the
sizes of modules and functions. Every rule has a test that feeds it a violating snippet, so a
rule that silently stops matching fails here too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("spaces", "search", "hypernets", "studies")
# Who may import whom (an import inside a function counts the same).
ALLOWED = {
    "spaces": set(),
    "search": {"spaces"},
    "hypernets": {"spaces"},
    "studies": {"spaces", "search", "hypernets"},
    "benchmarks": {"spaces", "search", "hypernets", "studies"},
}
MAX_MODULE_LINES = 800
MAX_FUNCTION_LINES = 60


def _sources() -> list[tuple[str, Path]]:
    found = []
    for top in (*PACKAGES, "benchmarks"):
        for path in sorted((ROOT / top).rglob("*.py")):
            if "results" not in path.relative_to(ROOT).parts:
                found.append((top, path))
    return found


def import_problems(owner: str, source: str, where: str) -> list[str]:
    """Imports in `source` (a module of package `owner`) that break rule 1 or 2."""
    problems = []
    for node in ast.walk(ast.parse(source)):
        targets: list[tuple[str, list[str]]]
        if isinstance(node, ast.Import):
            targets = [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            targets = [(node.module, [alias.name for alias in node.names])]
        else:
            continue
        for module, names in targets:
            parts = module.split(".")
            if parts[0] != "symtune" or len(parts) < 2 or parts[1] == owner:
                continue
            at = f"{where}:{node.lineno}"
            if parts[1] not in ALLOWED[owner]:
                problems.append(f"{at}: {owner} must not import {module} (rule 1, direction)")
            private = [p for p in parts[2:] if p.startswith("_")]
            private += [n for n in names if n.startswith("_")]
            if private:
                problems.append(f"{at}: private {', '.join(private)} of {module} (rule 2)")
    return problems


def code_lines(source: str, node: ast.AST) -> int:
    """Lines of code in a function: blank lines, comments and its docstring do not count."""
    assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    skip: set[int] = set()
    first = node.body[0]
    if isinstance(first, ast.Expr) and isinstance(getattr(first.value, "value", None), str):
        skip = set(range(first.lineno, (first.end_lineno or first.lineno) + 1))
    lines = source.splitlines()[node.lineno - 1 : node.end_lineno]
    return sum(
        1
        for number, line in enumerate(lines, node.lineno)
        if line.strip() and not line.strip().startswith("#") and number not in skip
    )


def size_problems(source: str, where: str) -> list[str]:
    """Rule 10: modules up to 800 lines, functions up to 60 lines of code."""
    problems = []
    if len(source.splitlines()) > MAX_MODULE_LINES:
        problems.append(f"{where}: {len(source.splitlines())} lines (> {MAX_MODULE_LINES})")
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            count = code_lines(source, node)
            if count > MAX_FUNCTION_LINES:
                problems.append(
                    f"{where}:{node.lineno}: {node.name} has {count} lines of code "
                    f"(> {MAX_FUNCTION_LINES})"
                )
    return problems


def test_imports_go_down_the_tree_and_take_public_names_only():
    problems = []
    for owner, path in _sources():
        problems += import_problems(owner, path.read_text(), str(path.relative_to(ROOT)))
    assert not problems, "\n".join(problems)


def test_modules_and_functions_stay_small():
    problems = []
    for _, path in _sources():
        problems += size_problems(path.read_text(), str(path.relative_to(ROOT)))
    assert not problems, "\n".join(problems)


def test_hypernets_holds_two_subpackages_and_no_dataset_specific_name():
    for sub in ("stn", "supernet"):
        init = ROOT / "hypernets" / sub / "__init__.py"
        assert init.is_file(), f"hypernets/{sub}/ must be a subpackage"
        assert ast.get_docstring(ast.parse(init.read_text())), f"{init} needs a docstring"
    import symtune.hypernets

    dataset_names = [n for n in symtune.hypernets.__all__ if "digits" in n.lower()]
    assert not dataset_names, f"move these to symtune.studies: {dataset_names}"


@pytest.mark.parametrize(
    ("owner", "snippet", "expected"),
    [
        ("search", "import symtune.studies.zdt", "rule 1"),
        ("search", "def f():\n    from symtune.hypernets import Supernet", "rule 1"),
        ("hypernets", "from symtune.search import create_study", "rule 1"),
        ("spaces", "from symtune.search import StudySpec", "rule 1"),
        ("studies", "from symtune.search._study import Study", "rule 2"),
        ("benchmarks", "from symtune.search import _compat", "rule 2"),
    ],
)
def test_the_import_rules_catch_a_violation(owner, snippet, expected):
    problems = import_problems(owner, snippet, "snippet.py")
    assert problems and expected in problems[0]


def test_the_import_rules_allow_what_the_tree_allows():
    snippet = "from symtune.spaces import Space\nimport symtune.search._study as mine\n"
    assert import_problems("search", snippet, "snippet.py") == []
    assert import_problems("studies", "from symtune.hypernets import Supernet", "s.py") == []


def test_the_size_rule_counts_code_not_docstrings_or_comments():
    body = "".join(f"    x{i} = {i}\n" for i in range(MAX_FUNCTION_LINES - 1))  # + the def line
    docstring = '    """A docstring\n\n    over several lines."""\n    # a comment\n\n'
    fits = f"def f():\n{docstring}{body}"
    assert size_problems(fits, "m.py") == []
    too_long = f"def f():\n{body}    return 0\n"
    assert f"f has {MAX_FUNCTION_LINES + 1} lines of code" in size_problems(too_long, "m.py")[0]
