"""Packaging (docs/architecture.md, "Packaging"): the repository's folders install under the one
import name `assay` (`assay.assets`, `assay.evaluators`, `assay.orchestration`,
`assay.dbt_project`). pyproject lists the packages explicitly (setuptools cannot find packages
through `package-dir`): a new subpackage or data folder left out of it would be missing from a
`pip install .` / `uv tool install .` while every test run from the checkout still passed.

Copy to tests/unit/test_packaging.py after running rename24.py.
"""

from __future__ import annotations

import tomllib
from fnmatch import fnmatch
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = {"assay": "assay", "assay.assets": "assets", "assay.evaluators": "evaluators",
           "assay.orchestration": "orchestration", "assay.dbt_project": "dbt_project"}
IGNORED = {"__pycache__", "target", "logs", "dbt_packages"}


def _setuptools() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def _packages_on_disk() -> set[str]:
    found = {"assay.dbt_project"}
    for dotted, folder in FOLDERS.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            if not IGNORED & set(init.parts):
                found.add(".".join((dotted, *init.parent.relative_to(ROOT / folder).parts)))
    return found


def test_every_package_folder_is_installed_under_assay():
    config = _setuptools()
    assert config["package-dir"] == FOLDERS
    assert set(config["packages"]) == _packages_on_disk()


def _matches(rel: str, pattern: str) -> bool:
    """setuptools' package-data glob: `*` stays inside one folder."""
    parts, pattern_parts = rel.split("/"), pattern.split("/")
    return len(parts) == len(pattern_parts) and all(fnmatch(a, b) for a, b in zip(parts, pattern_parts, strict=True))


def test_every_data_file_is_package_data():
    """Rubrics, red-team packs, the dbt project (its Python models too): each file an installed
    folder needs that is not a module of a listed package matches a package-data pattern."""
    setuptools = _setuptools()
    data, packages = setuptools["package-data"], setuptools["packages"]
    missing = []
    for dotted, folder in FOLDERS.items():
        for path in sorted((ROOT / folder).rglob("*")):
            rel_parts = path.relative_to(ROOT / folder).parts
            if not path.is_file() or IGNORED & set(rel_parts) or path.suffix == ".pyc":
                continue
            # The deepest listed package whose folder holds the file.
            owner, base = dotted, ROOT / folder
            for depth in range(len(rel_parts) - 1, 0, -1):
                candidate = ".".join((dotted, *rel_parts[:depth]))
                if candidate in packages:
                    owner, base = candidate, ROOT / folder / Path(*rel_parts[:depth])
                    break
            rel = path.relative_to(base).as_posix()
            if path.suffix == ".py" and "/" not in rel:
                continue  # a module of its package
            if not any(_matches(rel, pattern) for pattern in data.get(owner, []) + data.get("*", [])):
                missing.append(f"{folder}/{path.relative_to(ROOT / folder).as_posix()} (package {owner})")
    assert missing == [], "not installed by `pip install .`: " + ", ".join(missing)
