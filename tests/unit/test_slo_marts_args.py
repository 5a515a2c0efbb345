"""The dbt build arguments of the SLO marts: the run's baseline and dataset version as vars."""

from __future__ import annotations

import json


def _dbt_build_args():
    # Imported here, not at module level: importing assay.assets.slo_marts loads the dbt manifest,
    # which the session fixture in tests/conftest.py builds when it is missing.
    from assay.assets.slo_marts import dbt_build_args

    return dbt_build_args


def test_dbt_build_args_exact():
    dbt_build_args = _dbt_build_args()
    assert dbt_build_args(baseline_id="b", dataset_version="ds-1") == [
        "build",
        "--vars",
        '{"baseline_id": "b", "dataset_version": "ds-1"}',
        # the SQL unit tests run in the project's tests, not in every nightly build
        "--exclude-resource-type",
        "unit_test",
    ]


def test_dbt_build_args_vars_are_one_json_argument_even_for_odd_values():
    dbt_build_args = _dbt_build_args()
    args = dbt_build_args(baseline_id="prod v1 'quoted'", dataset_version="")
    assert args[:2] == ["build", "--vars"] and args[3:] == ["--exclude-resource-type", "unit_test"]
    assert json.loads(args[2]) == {"baseline_id": "prod v1 'quoted'", "dataset_version": ""}


def test_days_are_passed_sorted_and_deduplicated_and_validated():
    from assay.assets.slo_marts import days_from_tag

    dbt_build_args = _dbt_build_args()
    args = dbt_build_args(baseline_id="b", dataset_version="v", days=["2026-11-21", "2026-11-20", "2026-11-21"])
    assert json.loads(args[2])["days"] == ["2026-11-20", "2026-11-21"]
    assert "days" not in json.loads(dbt_build_args(baseline_id="b", dataset_version="v", days=[])[2])
    assert days_from_tag(" 2026-11-20,2026-11-21 ") == ["2026-11-20", "2026-11-21"]
    assert days_from_tag(None) == []
    import pytest

    with pytest.raises(ValueError, match="assay/days: '2026-13-40' is not a YYYY-MM-DD date"):
        days_from_tag("2026-11-20,2026-13-40")


def test_the_gate_statistics_and_the_replay_timeout_reach_dbt():
    from assay.config import GateConfig

    dbt_build_args = _dbt_build_args()
    args = dbt_build_args(baseline_id="b", dataset_version="v", gate=GateConfig(confidence=0.9, seed=7),
                          replay_timeout_s=30)
    assert json.loads(args[2]) == {
        "baseline_id": "b", "dataset_version": "v", "gate_confidence": 0.9, "gate_bootstrap_resamples": 2000,
        "gate_seed": 7, "replay_timeout_ms": 30000,
    }
