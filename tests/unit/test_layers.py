"""The layers import downward only, and no modules of the project import each other.

core `assay/` (test doubles `assay/sim`, `assay/testing` included) -> `evaluators/` -> `assets/`
-> `orchestration/` (docs/architecture.md, "Layers"). Every import is checked, the lazy ones
inside functions and the `TYPE_CHECKING` ones too: each still ties the lower layer to the upper
one. Modules importing each other at run time (two, or round a longer loop) are a cycle (a `TYPE_CHECKING` import for an
annotation is not: it never runs). A pure AST read of the project's .py files: nothing is
imported, so it runs in well under a second.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ("assay", "evaluators", "assets", "orchestration")
"""Bottom to top, by folder: each may import its own layer and the ones before it."""
IMPORT_NAMES = {"assay": "assay", "evaluators": "assay.evaluators", "assets": "assay.assets",
                "orchestration": "assay.orchestration"}
"""Each folder's import name: installed, the folders are one package, `assay` (docs/architecture.md,
"Packaging"). The bare folder names still resolve from the repository's root, where they would
load a second copy of a module: importing one is an error of its own."""
NOT_IMPORTABLE = ("tests", "bench")
"""Project folders no layer may import: tests and benchmarks sit outside the library."""
PENDING_CYCLES: dict[frozenset[str], str] = {}
"""Known pairs being untangled in parallel work (none now); an entry that no longer applies
fails the test, so it is removed with the fix."""


def project_modules(root: Path = ROOT) -> dict[str, Path]:
    modules: dict[str, Path] = {}
    for package in LAYERS:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            parts = (*IMPORT_NAMES[package].split("."), *parts[1:])
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def layer_of(module: str) -> str | None:
    """The layer (folder) of an import name: the longest import-name prefix that matches."""
    for folder, prefix in sorted(IMPORT_NAMES.items(), key=lambda item: -len(item[1])):
        if module == prefix or module.startswith(prefix + "."):
            return folder
    return None


def _type_checking_only(tree: ast.AST) -> set[int]:
    """ids of the import nodes under `if TYPE_CHECKING:` (annotations only, never run)."""
    only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            only |= {id(inner) for stmt in node.body for inner in ast.walk(stmt)}
    return only


def imports_of(name: str, path: Path, modules: dict[str, Path], *, at_run_time: bool = False) -> list[tuple[int, str]]:
    """(line, imported module) for every import in the file, at any depth; `from pkg import
    sub` counts as importing `pkg.sub` when that is a module of the project. `at_run_time`
    leaves out imports under `if TYPE_CHECKING:`."""
    found: list[tuple[int, str]] = []
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    skipped = _type_checking_only(tree) if at_run_time else set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package[: len(package) - node.level + 1], *filter(None, [node.module])])
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.append((node.lineno, sub if sub in modules else base))
    return found


def layer_violations(root: Path = ROOT) -> list[str]:
    modules = project_modules(root)
    problems = []
    for name, path in modules.items():
        layer = layer_of(name)
        allowed = LAYERS[: LAYERS.index(layer) + 1]
        for line, imported in imports_of(name, path, modules):
            top = imported.split(".")[0]
            where = f"{path.relative_to(root)}:{line}: `{layer}` imports `{imported}`"
            if top in LAYERS[1:] or top in NOT_IMPORTABLE:
                problems.append(f"{where}; import it as `{IMPORT_NAMES.get(top, top)}`"
                                if top in LAYERS else f"{where}; no layer may import {top}/")
            elif layer_of(imported) not in (None, *allowed):
                problems.append(f"{where}; it may import only "
                                f"{', '.join(IMPORT_NAMES[folder] for folder in allowed)}")
    return sorted(problems)


def import_cycles(root: Path = ROOT) -> dict[frozenset[str], str]:
    """Each set of modules that import each other at run time (directly, or round a longer
    loop), with the shortest loop through them spelled out as file:line steps."""
    modules = project_modules(root)
    edges: dict[str, dict[str, int]] = {}
    for name, path in modules.items():
        run_time = imports_of(name, path, modules, at_run_time=True)
        edges[name] = {m: line for line, m in run_time if m in modules and m != name}
    cycles: dict[frozenset[str], str] = {}
    for start in sorted(edges):
        parents: dict[str, str] = {}
        frontier = [start]
        while frontier and start not in parents:  # breadth first: the shortest way back
            following = []
            for node in frontier:
                for target in sorted(edges[node]):
                    if target not in parents:
                        parents[target] = node
                        following.append(target)
            frontier = following
        if start not in parents:
            continue
        loop = [start]
        while parents[loop[-1]] != start:
            loop.append(parents[loop[-1]])
        loop.reverse()
        loop = [start, *loop[:-1]] if loop[-1] == start else loop
        key = frozenset(loop)
        if key not in cycles:
            steps = [f"{modules[a].relative_to(root)}:{edges[a][b]}" for a, b in zip(loop, [*loop[1:], loop[0]], strict=True)]
            cycles[key] = f"{' -> '.join(steps)} (`{'` -> `'.join([*loop, loop[0]])}`)"
    return cycles


def test_every_import_points_down_the_layers():
    problems = layer_violations()
    assert not problems, "imports against the layers:\n" + "\n".join(problems)


def test_no_modules_import_each_other():
    cycles = import_cycles()
    fixed = [sorted(modules) for modules in PENDING_CYCLES if modules not in cycles]
    assert not fixed, f"no longer a cycle, remove it from PENDING_CYCLES: {fixed}"
    problems = sorted(text for modules, text in cycles.items() if modules not in PENDING_CYCLES)
    assert not problems, "import cycles:\n" + "\n".join(problems)


def test_the_check_sees_lazy_relative_and_from_package_imports(tmp_path):
    """The checker itself: a lazy import in a function, a relative import climbing into a
    sibling package and `from pkg import module` are all seen, with file and line; a
    `TYPE_CHECKING` import counts against the layers but not as a cycle (typed.py <-> thing.py)."""
    for package in LAYERS:
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "assay" / "low.py").write_text("import os\n\n\ndef f():\n    from assay.evaluators import base\n")
    (tmp_path / "evaluators" / "base.py").write_text("from ..assets import thing\nfrom assay import low\n")
    (tmp_path / "assets" / "other.py").write_text("import assay.assets.thing\nimport tests.unit\n")
    (tmp_path / "assets" / "bare.py").write_text("import orchestration.cli\n")
    (tmp_path / "assets" / "typed.py").write_text(
        "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    from assay.assets import thing\n"
        "    import assay.orchestration\n"
    )
    (tmp_path / "assets" / "thing.py").write_text("from assay.assets import other\nfrom assay.assets import typed\n")
    assert layer_violations(tmp_path) == [
        "assay/low.py:5: `assay` imports `assay.evaluators.base`; it may import only assay",
        "assets/bare.py:1: `assets` imports `orchestration.cli`; import it as `assay.orchestration`",
        "assets/other.py:2: `assets` imports `tests.unit`; no layer may import tests/",
        "assets/typed.py:5: `assets` imports `assay.orchestration`; it may import only assay, assay.evaluators, "
        "assay.assets",
        "evaluators/base.py:1: `evaluators` imports `assay.assets.thing`; it may import only assay, assay.evaluators",
    ]
    assert sorted(import_cycles(tmp_path).values()) == [
        "assets/other.py:1 -> assets/thing.py:1 (`assay.assets.other` -> `assay.assets.thing` -> `assay.assets.other`)",
        "evaluators/base.py:2 -> assay/low.py:5 (`assay.evaluators.base` -> `assay.low` -> `assay.evaluators.base`)",
    ]
    (tmp_path / "assets" / "other.py").write_text("import assay.assets.third\n")
    (tmp_path / "assets" / "third.py").write_text("import assay.assets.thing\n")
    assert sorted(import_cycles(tmp_path).values())[0] == (
        "assets/other.py:1 -> assets/third.py:1 -> assets/thing.py:1 "
        "(`assay.assets.other` -> `assay.assets.third` -> `assay.assets.thing` -> `assay.assets.other`)"
    )


OWN_PACKAGES = LAYERS
"""Folders checked for pointers outside the repository."""


def test_docstrings_and_comments_point_inside_the_repository():
    """The team's working notes (DESIGN.md, STACK.md, STYLE.md beside the clone) are not in the
    project: a module cites docs/architecture.md instead."""
    outside = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()[:100]}"
        for package in OWN_PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if any(note in line for note in ("DESIGN.md", "STACK.md", "STYLE.md", "../shared"))
    ]
    assert not outside, "pointers outside the repository:\n" + "\n".join(outside)
