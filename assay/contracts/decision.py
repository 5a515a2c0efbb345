"""The decision: the gate applied to one candidate against the baseline."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import pyarrow as pa
from pydantic import BaseModel, ConfigDict

from assay.contracts._arrow import UTC_TIMESTAMP

DECISION_SCHEMA_VERSION = 3
"""3: gates carry `unit` and `breakdown`; a gate turned off in config has status `off`."""

Verdict = Literal["approved", "rejected", "insufficient_evidence"]
GateStatus = Literal["pass", "fail", "unavailable", "off"]
"""`unavailable`: not enough evidence to tell (the verdict is then never approved). `off`: the
team turned the gate off in config (`gate.cost_per_request_usd: null`), or chose a replay that
cannot measure it (the latency of a `replay_mode: batch` candidate, `breakdown.not_measured`);
shown, never decisive."""
GateUnit = Literal["cases", "share", "delta", "ms", "usd", "count"]


class GateResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    gate: str
    status: GateStatus
    observed: float | None = None
    threshold: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    n: int = 0
    detail: str = ""
    """One sentence a person can read: what was measured and why it passed or failed."""
    unit: GateUnit | None = None
    """What observed, threshold and the interval are in, so reports show them with units."""
    breakdown: dict[str, Any] | None = None
    """The counts behind the gate (the evidence gate's errors and skips by side, source and
    type; the latency gate's failed replays; the critical gate's confirmed and flaky cases)."""


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    candidate_id: str
    baseline_id: str
    dataset_version: str
    window: str
    """What evidence the decision covers, e.g. `dataset v3f2a..., 412 cases`."""
    verdict: Verdict
    gates: list[GateResult]
    reasons: list[str]
    report_path: str | None = None
    decided_at: datetime
    policy_version: str = ""
    """The gate policy that decided: `<version>+<hash of every gate and SLO setting>`."""
    rank: int | None = None
    """1 = best of the candidates decided together (approved first, then by the quality
    interval's lower bound)."""


DECISION_ARROW_SCHEMA = pa.schema(
    [
        ("candidate_id", pa.string()),
        ("baseline_id", pa.string()),
        ("dataset_version", pa.string()),
        ("window", pa.string()),
        ("verdict", pa.string()),
        ("gates", pa.string()),
        ("reasons", pa.string()),
        ("report_path", pa.string()),
        ("decided_at", UTC_TIMESTAMP),
        ("policy_version", pa.string()),
        ("rank", pa.int64()),
    ],
    metadata={"contract": "decision", "version": str(DECISION_SCHEMA_VERSION)},
)

DECISION_JSON_COLUMNS = frozenset({"gates", "reasons"})

assert set(DECISION_ARROW_SCHEMA.names) == set(Decision.model_fields), "decision contract drift"
