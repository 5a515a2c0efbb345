"""What the reports and alerts read from the warehouse: SLO and evaluator trends, drift flags,
a candidate's per-metric comparison with its baseline (`candidate_metric_comparison`).

The warehouse is a DuckDB file written only by dbt. A connection, even read-only, locks the
file against a writer in another process (a DuckDB rule), so each read opens it read-only, reads
everything it needs in one go and closes it at once. A missing file or table reads as empty:
a report still renders before the first dbt build, and without the `drift` mart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

TREND_DAYS = 30

DRIFT_TABLE = "drift"
DRIFT_FLAG_COLUMN = "flagged"
"""The `drift` mart's verdict column (dbt_project/models/marts/drift.yml): one row per metric
and segment, recent window against reference window, as of the latest day."""


@dataclass
class DriftFlags:
    flag_column: str
    rows: list[dict[str, Any]]
    """Flagged rows of the latest day in the mart (all its rows if it has no `day` column)."""
    day: str | None = None


@dataclass
class WarehouseSnapshot:
    slo_rows: list[dict[str, Any]] = field(default_factory=list)
    """`slo_daily` over the last TREND_DAYS days of data."""
    evaluator_rows: list[dict[str, Any]] = field(default_factory=list)
    """`evaluator_daily` summed per day and evaluator over the same days."""
    drift: DriftFlags | None = None
    """None: the warehouse has no `drift` mart (or no usable flag column)."""
    drift_note: str = ""
    metric_rows: list[dict[str, Any]] = field(default_factory=list)
    """`candidate_metric_comparison` rows of the requested candidate and dataset version."""
    agent_rows: list[dict[str, Any]] = field(default_factory=list)
    """`agent_daily` per day and subject kind (trace, session) over the same days."""


def _tables(con) -> set[str]:
    return {row[0] for row in con.execute("select table_name from information_schema.tables").fetchall()}


def _plain(value: Any) -> Any:
    # HUGEINT sums come back as Decimal: numbers in reports and JSON are ints and floats.
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def _rows(con, sql: str, params: list | None = None) -> list[dict[str, Any]]:
    rows = (con.sql(sql, params=params) if params else con.sql(sql)).to_arrow_table().to_pylist()
    return [{k: _plain(v) for k, v in row.items()} for row in rows]


def _scalar(con, sql: str) -> Any:
    rows = con.execute(sql).fetchall()
    return rows[0][0] if rows else None


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def _recent(con, tables: set[str], table: str, trend_days: int, sql: str) -> list[dict[str, Any]]:
    """`sql` (one `?`: the first day) over the last `trend_days` days of data in `table`; none
    when the table is missing or empty."""
    if table not in tables:
        return []
    latest = _scalar(con, f"select max(day) from {table}")
    if latest is None:
        return []
    return _rows(con, sql, [latest - timedelta(days=trend_days - 1)])


def read_drift(con, tables: set[str]) -> tuple[DriftFlags | None, str]:
    """The flagged rows of the `drift` mart (the most telling first), or why there are none."""
    if DRIFT_TABLE not in tables:
        return None, "no `drift` mart in the warehouse"
    rows = _rows(
        con,
        f"select * from {DRIFT_TABLE} where {DRIFT_FLAG_COLUMN} order by p_value, metric, feature, evaluator",
    )
    return DriftFlags(flag_column=DRIFT_FLAG_COLUMN, rows=[{k: _iso(v) for k, v in r.items()} for r in rows]), ""


def read_snapshot(
    warehouse: Path,
    *,
    candidate_ids: tuple[str, ...] = (),
    dataset_version: str | None = None,
    trend_days: int = TREND_DAYS,
) -> WarehouseSnapshot:
    """Everything a report or an alert needs from the warehouse, read in one short connection."""
    snapshot = WarehouseSnapshot()
    if not Path(warehouse).exists():
        snapshot.drift_note = "no warehouse yet"
        return snapshot
    import duckdb

    with duckdb.connect(str(warehouse), read_only=True) as con:
        tables = _tables(con)
        snapshot.slo_rows = _recent(con, tables, "slo_daily", trend_days, "select * from slo_daily where day >= ? order by all")
        snapshot.evaluator_rows = _recent(
            con, tables, "evaluator_daily", trend_days,
            """
            select day, evaluator, sum(completed_scores) as completed_scores,
                   sum(passed_scores) as passed_scores,
                   sum(passed_scores) / nullif(sum(completed_scores), 0) as pass_rate,
                   sum(error_scores) as error_scores
            from evaluator_daily where day >= ? group by all order by day, evaluator
            """,
        )
        # Agent runs and conversations: the mart's figures weighted by the subjects behind them.
        snapshot.agent_rows = _recent(
            con, tables, "agent_daily", trend_days,
            """
            select day, subject_kind, sum(subjects) as subjects, sum(scored_subjects) as scored_subjects,
                   sum(passed_subjects) as passed_subjects,
                   sum(passed_subjects) / nullif(sum(scored_subjects), 0) as pass_rate,
                   sum(mean_steps * subjects) / nullif(sum(subjects) filter (where mean_steps is not null), 0) as mean_steps,
                   sum(tokens_per_task * subjects) / nullif(sum(subjects) filter (where tokens_per_task is not null), 0)
                       as tokens_per_task,
                   sum(mean_turns * subjects) / nullif(sum(subjects) filter (where mean_turns is not null), 0) as mean_turns,
                   sum(tool_errors) as tool_errors
            from agent_daily where day >= ? group by all order by day, subject_kind
            """,
        )
        snapshot.drift, snapshot.drift_note = read_drift(con, tables)
        if candidate_ids and dataset_version and "candidate_metric_comparison" in tables:
            snapshot.metric_rows = _rows(
                con,
                """
                select * from candidate_metric_comparison
                where candidate_id = ? and baseline_id = ? and dataset_version = ?
                order by metric != 'case_pass_share', metric
                """,
                [candidate_ids[0], candidate_ids[1], dataset_version],
            )
    for row in snapshot.slo_rows + snapshot.evaluator_rows + snapshot.agent_rows:
        row["day"] = _iso(row["day"])
    return snapshot
