"""The drift mart on the demo's injected quality shift, built by the real Dagster run.

The generator raises rag_answer's hallucination rate from the 3rd-last day on. Eight days of
traffic go through the daily chain and `curate_job` (whose `slo_marts` step runs `dbt build`,
its dbt tests reported as Dagster asset checks), as `assay run` does, minus the candidate
replays the drift does not read.
"""

from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from tests.integration.homes import generated_home

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DAYS = 8
CALLS_PER_DAY = 200
END_DAY = date(2026, 11, 20)


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    from assay.orchestration.runner import Runner

    with generated_home(
        tmp_path_factory.mktemp("assay_home"), config=ROOT / "assay.yaml", days=DAYS,
        calls_per_day=CALLS_PER_DAY, end_day=END_DAY, seed=7,
    ) as (home, days):
        runner = Runner()
        runner.run_days(days)
        runner.run("curate_job", label="dataset + SLO marts")
        yield home


def _rows(home, sql: str) -> list[dict]:
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        cursor = con.execute(sql)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def test_drift_flags_the_rag_answer_hallucination_shift_on_its_window(home):
    (row,) = _rows(
        home,
        "select * from drift where metric = 'pass_rate' and feature = 'rag_answer' and evaluator = 'faithfulness'",
    )
    assert row["flagged"], row
    assert not row["judge_or_evaluator_changed"]
    assert row["z_score"] < -3 and row["p_value"] < 1e-4 and row["effect_size"] < -0.2
    assert row["recent_value"] < row["reference_value"]
    # The shift starts on the 3rd-last day: exactly the default recent window.
    assert (row["recent_start_day"], row["recent_end_day"]) == (
        END_DAY - timedelta(days=2),
        END_DAY,
    )
    assert row["reference_end_day"] == END_DAY - timedelta(days=3)
    assert row["reference_start_day"] == END_DAY - timedelta(days=16)


def test_drift_does_not_flag_the_other_features_pass_rates(home):
    others = _rows(
        home, "select * from drift where metric = 'pass_rate' and feature != 'rag_answer'"
    )
    # The demo's agent runs and chat sessions are features of their own (assay.demo.agents).
    assert {r["feature"] for r in others} == {"classify_ticket", "tool_router", "order_agent", "support_chat"}
    assert [r for r in others if r["flagged"]] == []
    flagged = _rows(home, "select metric, feature, evaluator from drift where flagged")
    assert {r["feature"] for r in flagged} == {"rag_answer"}
    assert {r["evaluator"] for r in flagged} == {"faithfulness"}


def test_rolling_window_pools_every_call_of_the_window(home):
    (check,) = _rows(
        home,
        """
        select
            rolling.calls as rolling_calls,
            rolling.days_with_calls,
            sum(daily.calls) as daily_calls,
            rolling.error_calls / rolling.calls as error_rate_from_counts,
            rolling.error_rate
        from slo_rolling as rolling
        inner join slo_daily as daily
            on daily.feature = rolling.feature and daily.app = rolling.app
            and daily.model = rolling.model and daily.prompt_version = rolling.prompt_version
            and daily.day between rolling.window_start_day and rolling.as_of_day
        where rolling.window_days = 28 and rolling.as_of_day = date '2026-11-20' and rolling.feature = 'rag_answer'
        group by all
        """,
    )
    assert check["days_with_calls"] == DAYS
    assert check["rolling_calls"] == check["daily_calls"]
    assert check["error_rate"] == pytest.approx(check["error_rate_from_counts"])


def test_drift_dbt_tests_ran_as_passing_asset_checks(home):
    from dagster import AssetCheckKey, AssetKey, DagsterInstance

    instance = DagsterInstance.from_config(str(home.dagster_home))
    for asset, check in [
        (
            "drift",
            "unique_combination_of_columns_drift_metric__app__feature__evaluator__evaluator_metric",
        ),
        ("drift", "not_null_drift_p_value"),
        (
            "slo_rolling",
            "unique_combination_of_columns_slo_rolling_as_of_day__window_days__app__feature__model__prompt_version",
        ),
        (
            "slo_daily",
            "unique_combination_of_columns_slo_daily_day__app__feature__model__prompt_version",
        ),
    ]:
        records = instance.event_log_storage.get_asset_check_execution_history(
            AssetCheckKey(AssetKey(asset), check), limit=5
        )
        assert [r.status.value for r in records] == ["SUCCEEDED"], (asset, check)
    instance.dispose()
