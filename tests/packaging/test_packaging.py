"""The wheel must carry every subpackage on disk, under the one `symtune` namespace."""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import re
import subprocess
import sys
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[2]
TOP_LEVEL = ("spaces", "search", "hypernets", "studies")


def _config() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _packages_on_disk() -> set[str]:
    found = set()
    for top in TOP_LEVEL:
        for init in (ROOT / top).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / top).parts
            found.add(".".join(("symtune", top, *relative)))
    return found


def test_every_subpackage_on_disk_is_listed_in_pyproject():
    listed = set(_config()["tool"]["setuptools"]["packages"])
    missing = _packages_on_disk() - listed
    assert not missing, f"add these to [tool.setuptools] packages in pyproject.toml: {missing}"


def test_every_listed_package_maps_to_a_folder_and_imports_as_symtune():
    config = _config()["tool"]["setuptools"]
    for package in config["packages"]:
        folder = config["package-dir"][package]
        assert (ROOT / folder / "__init__.py").is_file(), f"{package} -> {folder} has no __init__"
        assert importlib.import_module(package).__name__ == package


def test_folders_are_not_importable_as_top_level_packages():
    code = (
        "import importlib.util,sys; sys.exit(any(importlib.util.find_spec(n) and "
        "'symtune' not in (importlib.util.find_spec(n).origin or '') for n in sys.argv[1:]))"
    )
    # Run from a neutral directory: only the installed distribution is visible there.
    result = subprocess.run([sys.executable, "-c", code, *TOP_LEVEL], cwd="/", check=False)
    assert result.returncode == 0


def test_licence_is_apache_2():
    assert _config()["project"]["license"] == "Apache-2.0"
    assert "Apache License" in (ROOT / "LICENSE").read_text()[:200]


def test_every_ready_made_study_is_registered_as_an_entry_point():
    """`symtune run NAME` finds studies through the `symtune.studies` entry points only."""
    registered = _config()["project"]["entry-points"]["symtune.studies"]
    modules = {
        path.stem
        for path in (ROOT / "studies").glob("*.py")
        if not path.stem.startswith("_") and "\nSTUDY = " in path.read_text()
    }
    assert modules, "no ready-made study found in studies/"
    expected = {name: f"symtune.studies.{name}:STUDY" for name in modules}
    assert {name: registered.get(name) for name in modules} == expected
    for name, value in registered.items():
        module = value.partition(":")[0]
        assert module.startswith("symtune."), f"{name} = {value!r} is not symtune's own"


def _imported_top_level_modules() -> dict[str, str]:
    """Each third-party top-level module the library imports (inside functions too), with
    one file that imports it."""
    found: dict[str, str] = {}
    for top in TOP_LEVEL:
        for path in sorted((ROOT / top).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    module = name.partition(".")[0]
                    if module not in sys.stdlib_module_names and module != "symtune":
                        found.setdefault(module, str(path.relative_to(ROOT)))
    return found


def _requirement_name(requirement: str) -> str:
    name = re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_imported_third_party_package_is_declared():
    project = _config()["project"]
    declared = {_requirement_name(r) for r in project["dependencies"]}
    for extra in project["optional-dependencies"].values():  # lazily imported optionals
        declared |= {_requirement_name(r) for r in extra if not r.startswith("symtune")}
    providers = importlib.metadata.packages_distributions()
    undeclared = {
        module: where
        for module, where in _imported_top_level_modules().items()
        if not {_requirement_name(d) for d in providers.get(module, [module])} & declared
    }
    assert not undeclared, f"imported but not declared in pyproject.toml: {undeclared}"


def test_optuna_and_ray_are_bounded_to_the_major_versions_compat_is_tested_on():
    """symtune uses private names of both (search/_compat.py): a new major must be opted in."""
    bounds = {_requirement_name(r): r for r in _config()["project"]["dependencies"]}
    for name, upper in (("optuna", "<6"), ("ray", "<3")):
        assert upper in bounds[name], bounds[name]
        version = importlib.metadata.version(name)
        major = int(version.split(".")[0])
        assert major == int(upper[1:]) - 1, f"{name} {version} is outside {bounds[name]}"
