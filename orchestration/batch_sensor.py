"""The judge batch sensor: collects open provider batches and re-runs the partitions whose
batches are all collected (`judge.mode: batch`, a candidate's `replay_mode: batch`).

Submission happened in the partition's own run (call_scores, candidate_outputs,
candidate_scores submit and are not materialised). Here, every minute, whichever process the
daemon runs this in: each open batch is polled once (`assay.llm.batch.BatchJudge.collect`),
finished ones are collected into the lake and the response cache (failed lines retried in new
batches), and a partition whose batches are all collected is requested again; its run then
answers every request from what was collected and writes the scores, and what follows it
(failures, curation, decisions) runs as after a synchronous run. The open batches are shown on
`call_scores` as an observation (`open_judge_batches`: provider, requests, submitted at,
status, expiry).
"""

from __future__ import annotations

import dagster as dg
from assay.orchestration.jobs import candidate_job, daily_job

from assay.config import load_config
from assay.runtime import AssayHome


def plan_batch_runs(complete_scopes: list[str], collected_at: dict[str, str]) -> list[dg.RunRequest]:
    """The runs that write the partitions whose batches are all collected: a day's scores (and
    its failures), or a candidate's replay and scores. The run key carries the last collection,
    so a partition is requested once per round of batches."""
    requests = []
    for scope in complete_scopes:
        asset, _, rest = scope.partition("/")
        keys = dict(part.split("=", 1) for part in rest.split("/") if "=" in part)
        run_key = f"judge-batches:{scope}:{collected_at.get(scope, '')}"
        if asset == "call_scores" and "day" in keys:
            requests.append(dg.RunRequest(
                run_key=run_key, job_name=daily_job.name, partition_key=keys["day"],
                asset_selection=[dg.AssetKey("call_scores"), dg.AssetKey("failures")],
            ))
        elif asset in ("candidate_outputs", "candidate_scores") and "candidate" in keys:
            requests.append(dg.RunRequest(run_key=run_key, job_name=candidate_job.name, partition_key=keys["candidate"]))
    return requests


@dg.sensor(
    jobs=[daily_job, candidate_job],
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Polls the open judge/replay batches of the provider Batch APIs, collects the "
    "finished ones, and re-runs each partition whose batches are all collected.",
)
def judge_batch_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
    from assay.llm.batch import BatchLedger, open_batches_markdown
    from assay.llm.configured import configured_batch_judge, configured_engine

    config = load_config()  # first: `storage.lake` (an s3:// lake) says where the ledger is
    home = AssayHome.from_env()
    ledger = BatchLedger.of_lake(home.lake)
    if not ledger.open_intents():
        return dg.SkipReason("no open judge batches")
    engine = configured_engine(config, home, context.log.info)
    judge = configured_batch_judge(config, home, engine, context.log.info)
    report = judge.collect_now()
    collected_at = {
        scope: max((i.get("collected_at") or "") for i in ledger.intents(scope)) for scope in report.complete_scopes
    }
    open_rows = ledger.open_batches()
    observation = dg.AssetObservation(
        asset_key="call_scores",
        metadata={
            "open_judge_batches": dg.MetadataValue.md(open_batches_markdown(ledger)),
            "open_judge_batches_count": len(open_rows),
            "open_judge_requests": sum(r["requests"] for r in open_rows),
        },
    )
    context.log.info(
        f"judge batches: {report.collected_batches} collected ({report.completed} answered, {report.retried} retried, "
        f"{report.sync_fallback} judged sync, {report.errors} errors, {report.skipped} skipped), {len(open_rows)} open"
    )
    return dg.SensorResult(run_requests=plan_batch_runs(report.complete_scopes, collected_at), asset_events=[observation])
