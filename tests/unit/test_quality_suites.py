"""The Great Expectations suites that block each stage: they pass on good partitions and name
what is wrong on bad ones."""

import pandas as pd
import pytest
from assay.assets.quality import validate_candidate_outputs_partition, validate_scores_partition


def _scores(**changes) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "subject_id": ["c1", "c1", "c2"],
            "evaluator": ["json", "judge", "json"],
            "evaluator_version": ["1", "faithfulness.v1", "1"],
            "metric": ["json", "faithfulness", "json"],
            "status": ["completed", "skipped", "completed"],
            "passed": [True, None, False],
            "explanation": [None, "budget: would exceed the run budget", "not JSON"],
            "failure_category": [None, None, "format_break"],
            "judge_input_tokens": [None, None, None],
            "judge_output_tokens": [None, None, None],
            "judge_cost_usd": [None, 0.0, None],
            "duration_ms": [0.1, None, 0.2],
        }
    )
    for column, (row, value) in changes.items():
        frame.loc[row, column] = value
    return frame


def test_a_good_scores_partition_passes():
    assert validate_scores_partition(_scores(), name="call_scores").passed


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"subject_id": (1, "c1"), "evaluator": (1, "json"), "metric": (1, "json")}, "compound_columns_to_be_unique"),
        ({"passed": (0, None)}, "not_be_null on passed"),  # completed without a verdict
        ({"explanation": (1, None)}, "not_be_null on explanation"),  # skipped without a reason
        ({"failure_category": (2, "bad_vibes")}, "in_set on failure_category"),
        ({"judge_cost_usd": (1, -0.01)}, "between on judge_cost_usd"),
    ],
)
def test_a_bad_scores_partition_fails_naming_the_problem(changes, named):
    result = validate_scores_partition(_scores(**changes), name="call_scores")
    assert not result.passed
    assert any(named in line for line in result.failed), result.failed


def test_candidate_outputs_suite():
    good = pd.DataFrame(
        {
            "candidate_id": ["v2", "v2"], "case_id": ["a", "b"], "dataset_version": ["ds-1", "ds-1"],
            "status": ["completed", "error"], "error_type": [None, "RateLimitError"],
            "latency_ms": [120.0, None], "input_tokens": [10, None], "output_tokens": [5, None], "cost_usd": [0.001, None],
        }
    )
    assert validate_candidate_outputs_partition(good).passed
    bad = good.copy()
    bad.loc[1, "case_id"] = "a"
    bad.loc[1, "error_type"] = None
    failed = validate_candidate_outputs_partition(bad).failed
    assert any("unique on case_id" in f for f in failed) and any("error_type" in f for f in failed)
