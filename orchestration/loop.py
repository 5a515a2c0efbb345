"""The whole loop, in this process: the daily chain per day, curation, every candidate's
replay, the decision (docs/architecture.md, "The loop"). `assay run` and `assay demo` call it."""

from __future__ import annotations

from assay.assets.partitions import DAYS_TAG
from assay.orchestration.alert_sensors import send_loop_alerts
from assay.orchestration.runner import JobFailed, Runner, say

from assay.config import load_config
from assay.runtime import AssayHome


def run_loop(days: list[str], runner: Runner | None = None) -> list[tuple[str, JobFailed]]:
    """The whole loop over `days`: daily chain per day, curation, every candidate, decision.
    No days: the dataset is the golden and red-team cases alone. A candidate whose replay
    fails does not stop the others: it is decided (insufficient evidence, the cause named)
    with them, and returned with its failure. `runner`: where the jobs run (default: this
    process; a `QueuedRunner` puts them on the daemon's run queue)."""
    config = load_config()
    runner = runner or Runner()
    say(f"assay: {len(days)} day(s), {len(config.candidates)} candidate(s)")
    runner.run_days(days)
    # The SLO marts rebuild only the days this run scored (incremental by day).
    runner.run("curate_job", label="dataset + SLO marts", tags={DAYS_TAG: ",".join(days)} if days else None)
    ids = [c.candidate_id for c in config.candidates]
    failed: list[tuple[str, JobFailed]] = []
    if ids:  # without candidates the loop monitors only: scores and SLO marts, nothing to decide
        runner.register_candidates(ids)
        for cid, exc in runner.run_each("candidate_job", ids):
            if exc is not None:
                say(f"  FAIL candidate_job  {cid}: {exc}")
                failed.append((cid, exc))
        runner.run("decide_job", label="marts + decisions")
    # No sensor daemon watches an in-process loop: send what the alert sensors would.
    send_loop_alerts(AssayHome.from_env(), config.slos.model_dump())
    return failed
