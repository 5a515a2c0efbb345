"""Why a Dagster run failed, in the words of the exception a user can act on.

Dagster wraps a user exception in its own error types (a step execution error whose cause is
the asset's exception); the run's failure event says only "Steps failed". These read the
innermost cause, for the CLI's one-line error and for a decision that has to say why a
candidate's replay produced nothing.
"""

from __future__ import annotations

from collections.abc import Iterable

import dagster as dg


def first_step_failure(events: Iterable[dg.DagsterEvent]) -> tuple[str, str, str]:
    """(step key, the exception's own message on one line, the whole trace) of a failed
    run's first failed step. Dagster wraps a user exception in its own error types; the
    innermost cause is the one the user can act on."""
    failed = next((e for e in events if e.is_step_failure), None)
    if failed is None:
        failure = next((e for e in events if e.is_failure), None)
        message = failure.message if failure is not None and failure.message else "the run failed before any step"
        return "run", " ".join(message.split()), ""
    error = failed.step_failure_data.error
    if error is None:
        return failed.step_key, "the step failed without an error message", ""
    trace = error.to_string()
    while error.cause is not None:
        error = error.cause
    message = error.message.strip()
    # "pkg.module.Failure: text" -> "text" for dg.Failure; other exceptions keep their class.
    head, sep, rest = message.partition(": ")
    if sep and head.split(".")[-1] == "Failure":
        message = rest
    elif sep and "." in head:
        message = f"{head.split('.')[-1]}: {rest}"
    return failed.step_key, "; ".join(line.strip() for line in message.splitlines() if line.strip()), trace


def latest_run_failure(instance: dg.DagsterInstance, job_name: str, partition_key: str) -> str | None:
    """`<job> run <id> failed at <step>: <cause>` when the latest run of `job_name` for this
    partition failed; None when it succeeded, is still going, or never ran."""
    records = instance.get_run_records(
        filters=dg.RunsFilter(job_name=job_name, tags={"dagster/partition": partition_key}), limit=1
    )
    if not records or records[0].dagster_run.status != dg.DagsterRunStatus.FAILURE:
        return None
    run_id = records[0].dagster_run.run_id
    events = [entry.dagster_event for entry in instance.all_logs(run_id) if entry.dagster_event is not None]
    step, cause, _ = first_step_failure(events)
    return f"{job_name} run {run_id[:8]} failed at {step}: {cause}"
