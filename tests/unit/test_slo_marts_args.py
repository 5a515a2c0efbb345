"""The dbt build arguments of the SLO marts: the run's baseline and dataset version as vars."""

from __future__ import annotations

import json


def _dbt_build_args():
    # Imported here, not at module level: importing assets.slo_marts loads the dbt manifest,
    # which the session fixture in tests/conftest.py builds when it is missing.
    from assets.slo_marts import dbt_build_args

    return dbt_build_args


def test_dbt_build_args_exact():
    dbt_build_args = _dbt_build_args()
    assert dbt_build_args(baseline_id="b", dataset_version="ds-1") == [
        "build",
        "--vars",
        '{"baseline_id": "b", "dataset_version": "ds-1"}',
    ]


def test_dbt_build_args_vars_are_one_json_argument_even_for_odd_values():
    dbt_build_args = _dbt_build_args()
    args = dbt_build_args(baseline_id="prod v1 'quoted'", dataset_version="")
    assert args[:2] == ["build", "--vars"] and len(args) == 3
    assert json.loads(args[2]) == {"baseline_id": "prod v1 'quoted'", "dataset_version": ""}
