"""The wheel must carry every subpackage on disk, under the one `symtune` namespace."""

from __future__ import annotations

import importlib
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
