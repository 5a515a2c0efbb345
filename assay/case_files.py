"""Hand-written case files: YAML with a `cases` list, checked key by key (golden scenarios in
`assay.evaluators.golden`, red-team packs in `assay.evaluators.redteam`). One reader and one set of checks, so
every such file's error names the file, the case and the key the same way."""

from __future__ import annotations

import typing
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from assay.contracts.case import Tier

TIERS: tuple[str, ...] = typing.get_args(Tier)


class CaseFileError(ValueError):
    """A case file that does not validate: names the file, the case and the key."""

    @classmethod
    def at(cls, path: Path, case: str, key: str, problem: str) -> CaseFileError:
        return cls(f"{path}: case {case}: key {key!r}: {problem}")


def read_case_document(path: Path, error: type[CaseFileError]) -> dict[str, Any]:
    """The file's YAML mapping, which holds a `cases` list."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise error(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(document, dict) or not isinstance(document.get("cases"), list):
        raise error(f"{path}: must be a mapping with a `cases` list")
    return document


def check_case_keys(
    path: Path,
    index: int,
    raw: Any,
    *,
    required: tuple[str, ...],
    optional: tuple[str, ...],
    error: type[CaseFileError],
) -> str:
    """The case's label in errors (its id, else `#<position from 1>`), once it is a mapping
    with no unknown key and every required key given."""
    label = f"#{index + 1}"
    if not isinstance(raw, dict):
        raise error.at(path, label, "-", f"must be a mapping, got {type(raw).__name__}")
    label = str(raw.get("id") or label)
    unknown = sorted(set(raw) - set(required) - set(optional))
    if unknown:
        raise error.at(path, label, unknown[0], f"unknown key; valid: {', '.join(required + optional)}")
    for key in required:
        if raw.get(key) in (None, "", []):
            raise error.at(path, label, key, "is required")
    return label


def check_values(
    path: Path, label: str, raw: dict[str, Any], checks: Iterable[tuple[str, bool, str]], error: type[CaseFileError]
) -> None:
    """`checks` are (key, holds, what a valid value is): the first that does not hold fails."""
    for key, holds, problem in checks:
        if not holds:
            raise error.at(path, label, key, f"{problem}, got {raw.get(key)!r}")
