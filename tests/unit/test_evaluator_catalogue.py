"""`assay evaluators` lists every registered type, and docs/evaluators.md ends with its current output."""

from __future__ import annotations

import json
from pathlib import Path

from assay.evaluators.catalogue import CATALOGUE_MARKER, as_markdown, with_catalogue
from assay.evaluators.registry import EVALUATOR_TYPES
from assay.orchestration.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_json_lists_every_type_with_its_metadata(capsys):
    assert main(["evaluators", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["type"] for r in rows] == list(EVALUATOR_TYPES)
    by_type = {r["type"]: r for r in rows}
    assert by_type["latency"]["inputs"] == ["latency_ms"] and by_type["latency"]["offline"] is True
    assert by_type["llm_judge"]["offline"] is False and by_type["llm_judge"]["kind"] == "judge"
    assert by_type["regex"]["vectorised"] is True and by_type["pii"]["vectorised"] is False
    assert set(rows[0]) == {"type", "kind", "inputs", "output", "offline", "vectorised", "description", "example"}


def test_table_has_a_row_per_type(capsys):
    assert main(["evaluators"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:5] == ["type", "kind", "inputs", "output", "offline"]
    assert [line.split()[0] for line in lines[1:]] == list(EVALUATOR_TYPES)


def test_docs_catalogue_is_generated_from_the_registry():
    doc = (ROOT / "docs" / "evaluators.md").read_text(encoding="utf-8")
    assert doc.endswith(CATALOGUE_MARKER + "\n" + as_markdown())
    assert doc == with_catalogue(doc), "docs/evaluators.md is stale: run `make docs`"
