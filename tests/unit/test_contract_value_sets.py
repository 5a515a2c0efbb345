"""One definition of each value set (docs/architecture.md, "Data contracts"): the statuses,
outcome directions and taxonomy labels live in `assay.contracts`; the Great Expectations suites
use those tuples, and every dbt `accepted_values` test must list exactly the contract's values.
A value added to a contract and not to dbt (or the reverse) fails here, naming the file, the
model and column, and the values missing or extra."""

from __future__ import annotations

import ast
from pathlib import Path

import yaml

from assay.contracts.call import CALL_STATUSES
from assay.contracts.candidate_output import OUTPUT_STATUSES
from assay.contracts.metric_comparison import DIRECTIONS
from assay.contracts.score import EVALUATION_OUTCOMES, JUDGE_MODES, SCORE_STATUSES

ROOT = Path(__file__).resolve().parents[2]

CONTRACT_OF = {
    ("stg_calls", "status"): ("assay.contracts.call.CALL_STATUSES", CALL_STATUSES),
    ("stg_call_scores", "score_status"): ("assay.contracts.score.SCORE_STATUSES", SCORE_STATUSES),
    ("stg_call_scores", "judge_mode"): ("assay.contracts.score.JUDGE_MODES", JUDGE_MODES),
    ("stg_candidate_outputs", "output_status"): ("assay.contracts.candidate_output.OUTPUT_STATUSES", OUTPUT_STATUSES),
    ("candidate_case_metrics", "outcome"): ("assay.contracts.score.EVALUATION_OUTCOMES", EVALUATION_OUTCOMES),
    ("candidate_metric_comparison", "direction"): ("assay.contracts.metric_comparison.DIRECTIONS", DIRECTIONS),
}
"""(dbt model, column) -> the contract its accepted_values must equal."""

DBT_OWNED = {
    ("drift", "metric"): "the drift mart's own metric names, made by drift.sql and read by nothing in Python",
}
"""accepted_values whose values are defined by the dbt model itself, with the reason."""


def accepted_values_tests(root: Path = ROOT) -> list[tuple[str, str, str, list]]:
    """(file relative to the repo, model, column, values) of every accepted_values test."""
    found = []
    for path in sorted((root / "dbt_project" / "models").rglob("*.yml")):
        document = yaml.safe_load(path.read_text()) or {}
        for model in document.get("models") or []:
            for column in model.get("columns") or []:
                for test in column.get("data_tests") or column.get("tests") or []:
                    if isinstance(test, dict) and "accepted_values" in test:
                        spec = test["accepted_values"]
                        values = (spec.get("arguments") or {}).get("values", spec.get("values"))
                        found.append((str(path.relative_to(root)), model["name"], column["name"], values))
    return found


def drift_between_dbt_and_contracts(root: Path = ROOT) -> list[str]:
    """One line per accepted_values test that disagrees with its contract, or has none."""
    problems = []
    for file, model, column, values in accepted_values_tests(root):
        key = (model, column)
        if key in DBT_OWNED:
            continue
        if key not in CONTRACT_OF:
            problems.append(f"{file}: {model}.{column}: accepted_values with no contract: add its value set to "
                            "assay.contracts and map it in CONTRACT_OF (or to DBT_OWNED, with the reason)")
            continue
        name, contract = CONTRACT_OF[key]
        missing = sorted(set(contract) - set(values))
        extra = sorted(set(values) - set(contract))
        if missing or extra:
            problems.append(f"{file}: {model}.{column}: accepted_values differ from {name}: "
                            f"missing {missing}, extra {extra}")
    return problems


def test_dbt_accepted_values_equal_the_contracts():
    assert drift_between_dbt_and_contracts() == []


def test_every_mapped_dbt_test_exists():
    """A renamed column or model must not silently drop the check."""
    present = {(model, column) for _, model, column, _ in accepted_values_tests()}
    assert set(CONTRACT_OF) | set(DBT_OWNED) <= present, sorted(set(CONTRACT_OF) | set(DBT_OWNED) - present)


def test_a_value_added_to_a_contract_is_reported_with_file_column_and_value(monkeypatch):
    monkeypatch.setitem(CONTRACT_OF, ("stg_call_scores", "score_status"),
                        ("assay.contracts.score.SCORE_STATUSES", (*SCORE_STATUSES, "timed_out")))
    assert drift_between_dbt_and_contracts() == [
        "dbt_project/models/staging/_staging.yml: stg_call_scores.score_status: accepted_values differ from "
        "assay.contracts.score.SCORE_STATUSES: missing ['timed_out'], extra []"
    ]


def test_a_value_only_in_dbt_is_reported(tmp_path):
    models = tmp_path / "dbt_project" / "models"
    models.mkdir(parents=True)
    (models / "x.yml").write_text(
        "version: 2\nmodels:\n  - name: stg_calls\n    columns:\n      - name: status\n        data_tests:\n"
        "          - accepted_values:\n              arguments:\n                values: [success, error, timeout]\n"
        "      - name: kind\n        data_tests:\n          - accepted_values:\n              values: [a]\n"
    )
    problems = drift_between_dbt_and_contracts(tmp_path)
    assert problems[0] == ("dbt_project/models/x.yml: stg_calls.status: accepted_values differ from "
                           "assay.contracts.call.CALL_STATUSES: missing [], extra ['timeout']")
    assert problems[1].startswith("dbt_project/models/x.yml: stg_calls.kind: accepted_values with no contract")


def test_great_expectations_value_sets_come_from_the_contracts():
    """No value set is spelled out in a GE expectation: each names a tuple of assay.contracts."""
    literal = []
    for path in sorted((ROOT / "assets").rglob("*.py")):
        tree = ast.parse(path.read_text())
        contract_names = {alias.asname or alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                          and (node.module or "").startswith("assay.contracts") for alias in node.names}
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "ExpectColumnValuesToBeInSet":
                value_set = next((k.value for k in node.keywords if k.arg == "value_set"), None)
                names = {n.id for n in ast.walk(value_set) if isinstance(n, ast.Name)} if value_set is not None else set()
                if not names & contract_names:
                    literal.append(f"{path.relative_to(ROOT)}:{node.lineno}: value_set={ast.unparse(value_set)}")
    assert literal == [], "GE value sets not taken from assay.contracts: " + "; ".join(literal)
