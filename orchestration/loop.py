"""The whole loop, in this process: the daily chain per day, curation, every candidate's
replay, the decision (docs/architecture.md, "The loop"). `assay run` and `assay demo` call it."""

from __future__ import annotations

from assay.assets.partitions import DAYS_TAG
from assay.orchestration.alert_sensors import send_loop_alerts
from assay.orchestration.runner import JobFailed, Runner, say

from assay.config import load_config
from assay.runtime import AssayHome


class BatchesOpen(Exception):
    """`assay run` in batch mode without waiting: the loop stops once its requests are submitted."""


def settle_batches(runner: Runner, job: str, *, wait: bool, partition_key: str | None = None, poll_s: float = 1.0,
                   max_rounds: int = 10) -> None:
    """Batch mode in this process (`judge.mode: batch`, `replay_mode: batch`): the job just run
    submitted its requests and left its partition unwritten. With `wait`, collect until no batch
    is open, then run the job again (it answers from what was collected; a repair or the
    candidate's scoring may submit a new round). Without, stop the loop: the judge_batch_sensor
    of a running daemon (`assay services`) finishes it, or `assay run --wait-batches`."""
    import time

    from assay.llm.batch import BatchLedger
    from assay.llm.configured import configured_batch_judge, configured_engine

    config = load_config()  # first: `storage.lake` (an s3:// lake) says where the ledger is
    home = AssayHome.from_env()
    ledger = BatchLedger.of_lake(home.lake)
    for _ in range(max_rounds):
        open_rows = ledger.open_batches()
        if not open_rows:
            return
        requests = sum(r["requests"] for r in open_rows)
        if not wait:
            raise BatchesOpen(f"{requests} requests wait in {len(open_rows)} open provider batch(es); the "
                              "judge_batch_sensor collects them and finishes the loop (`assay services`), "
                              "or run `assay run --wait-batches`")
        say(f"  waiting for {len(open_rows)} provider batch(es), {requests} requests ({job})")
        judge = configured_batch_judge(config, home, configured_engine(config, home), say)
        while ledger.open_intents():
            judge.collect_now()
            if ledger.open_intents():
                time.sleep(poll_s)
        runner.run(job, partition_key=partition_key, label=f"{job} (collected batches)")
    raise RuntimeError(f"{job}: batches still submitted after {max_rounds} rounds")


def run_loop(days: list[str], runner: Runner | None = None, *, wait_batches: bool = False) -> list[tuple[str, JobFailed]]:
    """The whole loop over `days`: daily chain per day, curation, every candidate, decision.
    No days: the dataset is the golden and red-team cases alone. A candidate whose replay
    fails does not stop the others: it is decided (insufficient evidence, the cause named)
    with them, and returned with its failure. `runner`: where the jobs run (default: this
    process; a `QueuedRunner` puts them on the daemon's run queue). In batch mode the loop
    waits for the provider's batches only with `wait_batches`; otherwise it raises
    `BatchesOpen` once they are submitted."""
    config = load_config()
    runner = runner or Runner()
    say(f"assay: {len(days)} day(s), {len(config.candidates)} candidate(s)")
    batch_mode = config.judge.mode == "batch" or any(c.replay_mode == "batch" for c in config.candidates)
    if batch_mode:  # each day settled before the next is submitted
        for day in days:
            runner.run("daily_job", partition_key=day)
            settle_batches(runner, "daily_job", partition_key=day, wait=wait_batches)
    else:
        runner.run_days(days)
    # The SLO marts rebuild only the days this run scored (incremental by day).
    runner.run("curate_job", label="dataset + SLO marts", tags={DAYS_TAG: ",".join(days)} if days else None)
    ids = [c.candidate_id for c in config.candidates]
    failed: list[tuple[str, JobFailed]] = []
    if ids:  # without candidates the loop monitors only: scores and SLO marts, nothing to decide
        runner.register_candidates(ids)
        if batch_mode:  # each candidate's batches settled before the next candidate's
            outcomes = []
            for cid in ids:
                try:
                    runner.run("candidate_job", partition_key=cid)
                    settle_batches(runner, "candidate_job", partition_key=cid, wait=wait_batches)
                    outcomes.append((cid, None))
                except JobFailed as exc:
                    outcomes.append((cid, exc))
        else:
            outcomes = runner.run_each("candidate_job", ids)
        for cid, exc in outcomes:
            if exc is not None:
                say(f"  FAIL candidate_job  {cid}: {exc}")
                failed.append((cid, exc))
        runner.run("decide_job", label="marts + decisions")
    # No sensor daemon watches an in-process loop: send what the alert sensors would.
    send_loop_alerts(AssayHome.from_env(), config.slos.model_dump())
    return failed
