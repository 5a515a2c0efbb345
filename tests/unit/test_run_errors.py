"""A failed step reaches the CLI user as one line: the job, the step, the exception's own
message, the run id and the log file; `--verbose` adds the trace."""

from __future__ import annotations

import dagster as dg
from assay.assets.run_failures import first_step_failure
from assay.orchestration.runner import JobFailed, Runner, SignalStop


@dg.asset
def reads_the_config() -> None:
    raise ValueError("assay.yaml:12: key `evaluators.3.type`: unknown evaluator type 'refusl'\nsecond line")


@dg.asset
def reads_a_file() -> None:
    raise dg.Failure("/data/outputs.jsonl: recorded-outputs file not found")


@dg.asset(deps=[reads_a_file])
def downstream() -> None: ...


def test_the_innermost_cause_on_one_line():
    result = dg.materialize([reads_the_config], raise_on_error=False)
    step, cause, trace = first_step_failure(result.all_events)
    assert step == "reads_the_config"
    assert cause == "ValueError: assay.yaml:12: key `evaluators.3.type`: unknown evaluator type 'refusl'; second line"
    assert "Traceback" in trace or "Stack Trace" in trace or "File " in trace

    result = dg.materialize([reads_a_file, downstream], raise_on_error=False)
    step, cause, _ = first_step_failure(result.all_events)
    assert (step, cause) == ("reads_a_file", "/data/outputs.jsonl: recorded-outputs file not found")


def test_runner_raises_one_line_with_run_id_and_log(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ASSAY_HOME", str(tmp_path))
    job = dg.define_asset_job("broken_job", selection=[reads_a_file, downstream])
    runner = Runner.__new__(Runner)  # without the project's definitions: only the run/report path
    runner.defs = dg.Definitions(assets=[reads_a_file, downstream], jobs=[job])
    runner.instance = dg.DagsterInstance.ephemeral()
    runner.pool_wait_timeout_s = 5.0
    runner.signals = SignalStop(runner.instance)
    try:
        runner.run("broken_job")
    except JobFailed as exc:
        line = str(exc)
        trace = exc.trace
    else:
        raise AssertionError("the run should fail")
    assert "\n" not in line
    assert line.startswith("broken_job failed at reads_a_file: /data/outputs.jsonl: recorded-outputs file not found (run ")
    log = tmp_path / "logs" / "broken_job.log"
    assert f"full log: {log})" in line
    # Dagster's own error lines went to the log file, not the terminal.
    assert "recorded-outputs file not found" in log.read_text()
    captured = capsys.readouterr()
    assert "recorded-outputs" not in captured.err + captured.out
    assert "reads_a_file" in trace


def test_verbose_prints_the_trace(monkeypatch, capsys):
    import assay.orchestration.cli as cli

    def fail(args):
        raise JobFailed("daily_job failed at raw_calls: boom (run 1234abcd; full log: x.log)", "TRACE LINES")

    monkeypatch.setattr(cli, "cmd_validate", fail)  # the parser binds commands when it is built
    assert cli.main(["validate-config"]) == 1
    assert "TRACE LINES" not in capsys.readouterr().err
    assert cli.main(["validate-config", "--verbose"]) == 1
    err = capsys.readouterr().err
    assert "TRACE LINES" in err and err.rstrip().endswith("(run 1234abcd; full log: x.log)")
    assert cli.main(["-v", "validate-config"]) == 1
    assert "TRACE LINES" in capsys.readouterr().err


def test_the_latest_failed_run_of_a_partition_names_its_cause():
    from assay.assets.run_failures import latest_run_failure

    partitions = dg.StaticPartitionsDefinition(["offline", "current"])

    @dg.asset(partitions_def=partitions)
    def replay(context) -> None:
        if context.partition_key == "offline":
            raise dg.Failure("/data/outputs.jsonl: recorded-outputs file not found")

    job = dg.define_asset_job("candidate_job", selection=[replay])
    defs = dg.Definitions(assets=[replay], jobs=[job])
    instance = dg.DagsterInstance.ephemeral()
    for key in ("offline", "current"):
        defs.resolve_job_def("candidate_job").execute_in_process(instance=instance, partition_key=key,
                                                                raise_on_error=False)
    reason = latest_run_failure(instance, "candidate_job", "offline")
    assert reason is not None and reason.startswith("candidate_job run ")
    assert reason.endswith("failed at replay: /data/outputs.jsonl: recorded-outputs file not found")
    assert latest_run_failure(instance, "candidate_job", "current") is None
    assert latest_run_failure(instance, "candidate_job", "never-ran") is None
