"""The values of a dbt build of the SLO marts: environment variables, never `--vars` (a change of
`--vars` makes dbt re-parse the whole project)."""

from __future__ import annotations

import pytest


def _dbt_run_env():
    # Imported here, not at module level: importing assay.assets.slo_marts loads the dbt manifest,
    # which the session fixture in tests/conftest.py builds when it is missing.
    from assay.assets.slo_marts import dbt_run_env

    return dbt_run_env


def test_the_build_arguments_carry_no_vars_and_skip_the_sql_unit_tests():
    from assay.assets.slo_marts import DBT_BUILD_ARGS

    # the SQL unit tests run in the project's tests, not in every nightly build
    assert DBT_BUILD_ARGS == ["build", "--exclude-resource-type", "unit_test"]


def test_every_value_is_set_even_when_empty():
    env = _dbt_run_env()(baseline_id="prod v1 'quoted'", dataset_version="")
    assert env == {
        "ASSAY_DBT_BASELINE_ID": "prod v1 'quoted'", "ASSAY_DBT_DATASET_VERSION": "", "ASSAY_DBT_DAYS": "",
        "ASSAY_DBT_GATE_CONFIDENCE": "", "ASSAY_DBT_GATE_BOOTSTRAP_RESAMPLES": "", "ASSAY_DBT_GATE_SEED": "",
        "ASSAY_DBT_REPLAY_TIMEOUT_MS": "",
    }


def test_days_are_passed_sorted_and_deduplicated_and_validated():
    from assay.assets.slo_marts import days_from_tag

    dbt_run_env = _dbt_run_env()
    env = dbt_run_env(baseline_id="b", dataset_version="v", days=["2026-11-21", "2026-11-20", "2026-11-21"])
    assert env["ASSAY_DBT_DAYS"] == "2026-11-20,2026-11-21"
    assert dbt_run_env(baseline_id="b", dataset_version="v", days=[])["ASSAY_DBT_DAYS"] == ""
    assert days_from_tag(" 2026-11-20,2026-11-21 ") == ["2026-11-20", "2026-11-21"]
    assert days_from_tag(None) == []
    with pytest.raises(ValueError, match="assay/days: '2026-13-40' is not a YYYY-MM-DD date"):
        days_from_tag("2026-11-20,2026-13-40")


def test_the_gate_statistics_and_the_replay_timeout_reach_dbt():
    from assay.config import GateConfig

    env = _dbt_run_env()(baseline_id="b", dataset_version="v", gate=GateConfig(confidence=0.9, seed=7),
                         replay_timeout_s=30)
    assert {k: v for k, v in env.items() if k.startswith(("ASSAY_DBT_GATE", "ASSAY_DBT_REPLAY"))} == {
        "ASSAY_DBT_GATE_CONFIDENCE": "0.9", "ASSAY_DBT_GATE_BOOTSTRAP_RESAMPLES": "2000", "ASSAY_DBT_GATE_SEED": "7",
        "ASSAY_DBT_REPLAY_TIMEOUT_MS": "30000",
    }
