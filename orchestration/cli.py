"""The `assay` command: it parses, calls and prints. Jobs run through `assay.orchestration.runner`
and `assay.orchestration.loop`; what the commands read and compute is plain logic in `assay/` (no
Dagster), so `assay report`, `assay gate`, `assay validate-config` and the other reading commands
never load Dagster. Heavy modules (dagster, litellm, great_expectations) are imported inside the
commands that need them, so `assay --help` answers at once.

Kept whole (over 600 lines): one argparse parser and one short function per command, read
together; the logic behind each lives elsewhere."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path


class CliError(Exception):
    """A failure the user can act on: printed as one message, exit status 1 (as a failed job's
    `assay.orchestration.runner.JobFailed` is)."""


VERBOSE = False
"""Set by `assay --verbose`: a failed step prints its whole stack trace, not only its cause."""


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _runner():
    from assay.orchestration.runner import Runner

    return Runner()


def _queued_runner():
    """Runs through the daemon's run queue (`--queue`): one code server for the command's runs."""
    from assay.orchestration.queued import QueuedRunner, QueueNotAvailable

    try:
        return QueuedRunner()
    except QueueNotAvailable as exc:
        raise CliError(str(exc)) from None


def _loop(days: list[str], queue: bool, *, wait_batches: bool = False):
    from assay.orchestration.loop import run_loop

    if not queue:
        return run_loop(days, wait_batches=wait_batches)
    with _queued_runner() as runner:
        return run_loop(days, runner, wait_batches=wait_batches)


def _home():
    from assay.runtime import ensure_home

    return ensure_home()


def _load_config():
    from assay.config import load_config

    return load_config()


def _export_storage() -> None:
    """Before any command: where assay.yaml's `storage:` puts the lake and the warehouse
    (exported to every process the command starts). A missing or broken config is left to
    the commands that need it, which report it as they always did."""
    from assay.config import ConfigError, config_path

    if config_path().exists():
        try:
            _load_config()
        except ConfigError:
            pass


# --- reading decisions ----------------------------------------------------------------------


def latest_decisions() -> list[dict]:
    from assay.lake import Lake
    from assay.reports import latest_decision_rows
    from assay.runtime import AssayHome

    rows = latest_decision_rows(Lake(AssayHome.from_env().lake))
    if rows is None:
        raise CliError("no decisions yet: run `assay run` (or `make demo`) first")
    return rows


def print_monitoring(days: list[str]) -> None:
    """What a run without candidates produced: per day, the calls ingested, the records
    quarantined, the scores and the failing ones (the SLO marts hold the rest)."""
    from assay.lake import Lake
    from assay.runtime import AssayHome

    lake = Lake(AssayHome.from_env().lake)

    def rows(table: str, day: str, failing_only: bool = False) -> int:
        data = lake.read_partition(table, {"day": day})
        if data is None:
            return 0
        return data.column("passed").to_pylist().count(False) if failing_only else data.num_rows

    print("\nNo candidates in the config: the logs are scored and the SLO marts built; nothing to "
          "decide (add `candidates:`, one with `is_baseline: true`, to compare models).\n")
    print(f"  {'day':<10}  {'calls':>7}  {'rejected':>8}  {'scores':>7}  {'failing':>7}")
    for day in days:
        print(f"  {day:<10}  {rows('raw_calls', day):>7}  {rows('rejected_calls', day):>8}  "
              f"{rows('call_scores', day):>7}  {rows('call_scores', day, failing_only=True):>7}")


def print_decisions(rows: list[dict], *, as_json: bool = False) -> None:
    if as_json:
        from assay.lake import Lake
        from assay.reports import decision_records
        from assay.runtime import AssayHome

        print(json.dumps(decision_records(Lake(AssayHome.from_env().lake), rows), indent=2, sort_keys=True))
        return
    width = max(len(r["candidate_id"]) for r in rows)
    print(f"\nDeploy decisions (baseline {rows[0]['baseline_id']}, {rows[0]['window']}):\n")
    print(f"  {'candidate':<{width}}  {'verdict':<21}  reasons")
    print(f"  {'-' * width}  {'-' * 21}  {'-' * 60}")
    for row in rows:
        reasons = row["reasons"] or [""]
        print(f"  {row['candidate_id']:<{width}}  {row['verdict']:<21}  {reasons[0]}")
        for reason in reasons[1:]:
            print(f"  {'':<{width}}  {'':<21}  {reason}")
    reports = sorted({str(Path(r["report_path"]).parent) for r in rows if r.get("report_path")})
    print(f"\nReports (HTML, Markdown, JSON, JUnit XML): {', '.join(reports)}\n")


class GateRefused(Exception):
    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


# --- commands -------------------------------------------------------------------------------


def cmd_generate(args: argparse.Namespace) -> None:
    from assay.demo.generator import generate

    home = _home()
    end_day = date.fromisoformat(args.end_day) if args.end_day else None
    summary = generate(home.root, days=args.days, calls_per_day=args.calls_per_day, end_day=end_day, seed=args.seed)
    _say(f"generated {len(summary.days)} day(s) x {summary.calls_per_day} calls into {home.landing}")
    _say("injected failures (ground truth in demo_truth/): " + ", ".join(f"{k}={v}" for k, v in sorted(summary.injected.items())))
    if summary.agent_injected:
        _say("injected agent-run and conversation failures: "
             + ", ".join(f"{k}={v}" for k, v in sorted(summary.agent_injected.items())))


def cmd_run(args: argparse.Namespace) -> None:
    home = _home()
    config, found = preflight()  # refuse a config the run would fail on, before Dagster loads
    from assay.orchestration.sensors import landed_days

    days = args.day or landed_days(home.landing)
    for day in days:
        try:
            date.fromisoformat(day)
        except ValueError:
            raise CliError(f"--day {day!r} is not a date (YYYY-MM-DD)") from None
    from assay.landing import configured_first_day, split_partition_days

    today = datetime.now(UTC).date()
    first_day = configured_first_day(today)
    days, outside = split_partition_days(days, first_day, today)
    if outside:
        message = (f"day(s) {', '.join(outside)} fall outside the partitions ({first_day} to {today}): "
                   "set project.start_day earlier in the config to run them")
        if args.day:
            raise CliError(message)
        _say(f"warning: landed {message}; skipped")
    if args.estimate or args.max_cost is not None or args.day:
        # Re-processing chosen days is a backfill over history: it shows its bill first.
        from assay.assets.estimate import estimate_run

        if _estimated(lambda: estimate_run(config, home, days), args, f"assay run over {len(days)} day(s)", config):
            return
    if not days:
        if not (found.golden_cases and config.candidates):
            raise CliError(
                f"nothing to evaluate: no logs landed under {home.landing}/<source>/<YYYY-MM-DD>/ "
                "(`assay ingest FILE` lands them) and no golden cases with candidates to compare "
                "(`dataset.golden_dir` and `candidates:` in the config)"
            )
        _say(f"no production logs landed: comparing the candidates on {found.golden_cases} golden/red-team case(s)")
    from assay.orchestration.loop import BatchesOpen

    try:
        failed = _loop(days, args.queue, wait_batches=getattr(args, "wait_batches", False))
    except BatchesOpen as exc:
        _say(f"assay: submitted to the provider's Batch API: {exc}")
        return
    if not config.candidates:
        print_monitoring(days)
        return
    print_decisions(latest_decisions())
    for candidate_id, exc in failed:
        _say(f"assay: candidate {candidate_id}: its replay failed, so its decision is insufficient_evidence: {exc}")


def _estimated(build, args: argparse.Namespace, title: str, config) -> bool:
    """Print what the command would ask of LLMs (`assay.assets.estimate`); with `--estimate`
    that is all (True: stop here), with `--max-cost` refuse to start above it. The price
    compared is what the run pays: the batch price for what goes through a Batch API
    (`judge.mode: batch`, a candidate's `replay_mode: batch`), the sync price for the rest."""
    if not args.estimate and args.max_cost is None:
        try:  # shown for information before a backfill: a failure to estimate stops nothing
            estimate = build()
        except Exception as exc:
            _say(f"assay: no estimate ({type(exc).__name__}: {exc}); starting anyway")
            return False
    else:
        estimate = build()
    mode = getattr(config.judge, "mode", "sync")
    if args.estimate == "json":
        print(json.dumps(estimate.as_dict() | {"judge_mode": mode}, indent=2, sort_keys=True))
    elif args.estimate:
        print(estimate.format(f"Estimate for {title} (no provider called):"))
    else:
        _say(estimate.format(f"Estimate for {title}:"))
    if args.max_cost is not None:
        cost = estimate.charged_usd  # each stage at the price of how it is sent (sync or batch)
        modes = {r.mode for r in estimate.rows if r.calls}
        mode = "sync and batch" if len(modes) > 1 else next(iter(modes), mode)
        if cost is None:
            unpriced = sorted({r.model for r in estimate.rows if r.sync_usd is None and r.calls})
            raise CliError(f"--max-cost ${args.max_cost:g}: the cost cannot be estimated, no price is known for "
                           f"{', '.join(unpriced)} (add {'it' if len(unpriced) == 1 else 'them'} under `pricing:` in the config)")
        if cost > args.max_cost:
            raise CliError(f"--max-cost ${args.max_cost:g}: the estimate is ${cost:.4f} ({mode} prices, "
                           f"{estimate.total('calls')} calls); nothing was started")
    return bool(args.estimate)


def _rows_from(lake, table: str, day: str, source_files: set[str]) -> int:
    """Rows of one day's partition that came from the given landing files."""
    data = lake.read_partition(table, {"day": day})
    return 0 if data is None else sum(1 for name in data.column("source_file").to_pylist() if name in source_files)


INGEST_FORMATS = [
    "assay_jsonl", "openai_chat", "litellm_payload", "otlp_json", "langfuse", "langfuse_observations", "phoenix_spans",
]
"""assay.formats.FORMATS, spelled out so `assay --help` need not import the adapters."""


def cmd_ingest(args: argparse.Namespace) -> None:
    """Land files by hand (each record to the day of its own timestamp; all of a file or none
    of it), or what is new in a source's watched folder, then run the daily chain for every
    day they touched, and say per file what came of it."""
    from assay.landing import LandingError, land_file, land_new_watched, watch_state_file

    if args.format and args.format not in INGEST_FORMATS:
        raise CliError(f"unknown --format {args.format!r}; valid formats: {', '.join(INGEST_FORMATS)}")
    home = _home()
    config = _load_config()
    today = datetime.now(UTC).date()
    start_day = config.project.start_day
    landed, errors = [], []
    configured = config.sources.get(args.source)
    fmt = args.format or (configured.format if configured else None)  # as the daily run will read the folder
    if args.paths:
        for raw_path in args.paths:
            try:
                landed.append(land_file(Path(raw_path), home.landing, source=args.source, fmt=fmt,
                                        default_app=config.project.app, today=today, start_day=start_day))
            except LandingError as exc:
                errors.append(str(exc))
    else:
        source = configured
        if source is None or not source.watch:
            watched = ", ".join(name for name, s in config.sources.items() if s.watch) or "none"
            raise CliError(f"give the files to ingest, or --source naming a source with `watch:` in assay.yaml "
                           f"(sources with a watched folder: {watched})")
        from assay.config import config_path

        folder = (config_path().parent / source.watch).resolve()
        landed, errors = land_new_watched(
            folder, home.landing, watch_state_file(home.root, args.source), source=args.source,
            fmt=fmt, default_app=config.project.app, today=today, start_day=start_day,
        )
        if not landed and not errors:
            print(f"{folder}: nothing new to ingest")
    days = sorted({day for item in landed for day in item.files})
    if days:
        _runner().run_days(days)
    from assay.lake import Lake

    lake = Lake(home.lake)
    for item in landed:
        names = {str(p.relative_to(home.landing)) for p in item.files.values()}
        calls = sum(_rows_from(lake, "raw_calls", day, names) for day in item.files)
        spans = sum(_rows_from(lake, "trace_spans", day, names) for day in item.files)
        rejected = sum(_rows_from(lake, "rejected_calls", day, names) for day in item.files)
        span = f"{min(item.files)}..{max(item.files)}" if len(item.files) > 1 else next(iter(item.files))
        undated = f" undated={item.undated}" if item.undated else ""
        print(f"{item.source_path}: format={item.format} calls={calls} rejected={rejected} spans={spans}"
              f"{undated} days={span}" + (" (see `assay rejected`)" if rejected else ""))
    if errors:
        for message in errors[:-1]:
            _say(f"assay: {message}")
        raise CliError(errors[-1])


def cmd_rejected(args: argparse.Namespace) -> None:
    """Why records were quarantined: counts by reason, a few examples each as file:line."""
    from assay.lake import Lake
    from assay.quarantine import format_summary, summarise

    home = _home()
    lake = Lake(home.lake)
    ingested = lake.partitions("rejected_calls", "day")
    for day in args.day or []:
        if day not in ingested:
            known = f"{ingested[0]}..{ingested[-1]}" if ingested else "none yet: run `assay ingest` or `assay run`"
            raise CliError(f"--day {day}: no ingested day (ingested days: {known})")
    summary = summarise(lake, home.landing, days=args.day, file=args.file, examples=args.examples)
    lines = format_summary(summary)
    if not lines:
        where = f" from files matching {args.file!r}" if args.file else ""
        print(f"no rejected records{where} ({len(summary.days)} ingested day(s))")
        return
    sys.stdout.write("\n".join(lines) + "\n")


def cmd_demo(args: argparse.Namespace) -> None:
    started = time.perf_counter()
    cmd_generate(args)
    home = _home()
    end = date.fromisoformat(args.end_day) if args.end_day else datetime.now(UTC).date() - timedelta(days=1)
    days = [(end - timedelta(days=i)).isoformat() for i in reversed(range(args.days))]
    _load_config()
    # judge.mode: batch in the demo's config: its judge is a local server (`make demo-batch`)
    # that answers batches in milliseconds, so the demo waits for them.
    _loop(days, args.queue, wait_batches=True)
    print_decisions(latest_decisions())
    print_detection(home, days)
    _say(f"demo finished in {time.perf_counter() - started:.0f}s; ASSAY_HOME={home.root}; `make ui` to explore")


def print_detection(home, days: list[str]) -> None:
    """The demo's injected failures against what the evaluators flagged (precision/recall)."""
    from assay.demo.detection import demo_truth, detection_quality, format_detection
    from assay.demo.generator import truth_path
    from assay.lake import Lake

    if not all(truth_path(home.root, date.fromisoformat(day)).exists() for day in days):
        return  # not (only) the demo generator's traffic: there is no ground truth to compare with
    lake = Lake(home.lake)
    sampled, failures = lake.read_table("sampled_calls"), lake.read_table("failures")
    if sampled is None or failures is None:
        return
    failure_rows = failures.to_pylist()
    # Calls only here: agent runs' and conversations' failures are checked below, by subject.
    calls = [f for f in failure_rows if f.get("subject_kind") in (None, "call")]
    flagged = [(f["call_id"], f["failure_category"]) for f in calls]
    rows = detection_quality(demo_truth(home.root, days), flagged, set(sampled.column("call_id").to_pylist()))
    print("\nWiring check, not a measurement of detector quality: the failures the demo generator injected,")
    print("and how many the evaluators flagged. The judged kinds (hallucination, tool_misuse) are scored")
    print("by the sim judge, which shares the generator's world: it finds them by construction, less the")
    print("verdicts it flips on purpose. Detector quality is measured on held-out data (make bench-detectors).")
    print(format_detection(rows))
    from assay.demo.agents import agent_detection, agents_truth_path, load_agent_truth

    if all(agents_truth_path(home.root, date.fromisoformat(day)).exists() for day in days):
        print("\nagent runs and conversations   planted  found  false alarm")
        for kind, planted, found, false_alarms in agent_detection(load_agent_truth(home.root, days), failure_rows):
            print(f"{kind:<30} {planted:>7}  {found:>5}  {false_alarms:>11}")


def cmd_report(args: argparse.Namespace) -> None:
    _home()
    if args.pair:
        print_pair(*args.pair, as_json=args.format == "json")
        return
    rows = latest_decisions()
    if args.format == "json":
        print_decisions(rows, as_json=True)
        return
    print_decisions(rows)
    print_frontier(rows[0]["dataset_version"] if rows else None)


def print_frontier(dataset_version: str | None) -> None:
    """`assay report`: every candidate's quality, cost and p95 latency, the Pareto-optimal marked."""
    from assay.frontier import FRONTIER_NOTE, frontier_text, read_frontier
    from assay.lake import Lake
    from assay.runtime import AssayHome

    points = read_frontier(Lake(AssayHome.from_env().lake), dataset_version) if dataset_version else []
    if points:
        print(f"Cost and quality of every candidate:\n\n{frontier_text(points)}\n\n{FRONTIER_NOTE}\n")


def print_pair(first: str, second: str, *, as_json: bool) -> None:
    """`assay report --pair A B`: A against B on every metric, on the cases both answered, with
    the statistics of a decision (the config's gate settings), whatever the baseline is."""
    from assay.dataset_pointer import current_version
    from assay.lake import Lake
    from assay.metric_comparison import compare_pair, format_comparison
    from assay.runtime import AssayHome

    config = _load_config()
    home = AssayHome.from_env()
    version = current_version(Lake(home.lake))
    if version is None:
        raise CliError("no regression dataset yet: run `assay run` (or `make demo`) first")
    try:
        rows = compare_pair(home.warehouse, version, first, second, config.gate)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    if as_json:
        print(json.dumps([r.model_dump() for r in rows], indent=2, sort_keys=True))
    else:
        print(format_comparison(rows))


def cmd_gate(args: argparse.Namespace) -> None:
    """For CI/CD: exit 0 only when the candidate's latest decision is `approved`."""
    from assay.lake import Lake
    from assay.reports import gate_verdict, latest_decision_rows

    lake = Lake(_home().lake)
    rows = latest_decision_rows(lake)
    status, reason = gate_verdict(rows, args.candidate)
    print_gate_format(args.format, rows, args.candidate, reason, lake)
    if status != 0:
        raise GateRefused(reason, status)
    _say(reason)


def print_gate_format(fmt: str, rows: list[dict] | None, candidate_id: str, reason: str, lake) -> None:
    """`assay gate --format github|junit|codequality`: the decision for CI, on stdout."""
    from assay.ci_annotations import render_gate
    from assay.config import config_path

    sys.stdout.write(render_gate(fmt, rows, candidate_id, reason, lake=lake, config_file=config_path(), cwd=Path.cwd()))


def preflight():
    """The config, checked for everything a run will need (`assay.orchestration.preflight`):
    warnings printed, errors raised as one ConfigError (exit 2)."""
    from assay.orchestration.preflight import check_config

    from assay.config import ConfigError, config_path

    config = _load_config()
    found = check_config(config, config_path())
    for warning in found.warnings:
        _say(f"warning: {warning}")
    if found.errors:
        raise ConfigError("invalid config\n" + "\n".join(found.errors))
    return config, found


def cmd_validate(args: argparse.Namespace) -> None:
    config, found = preflight()
    print(f"ok: {len(config.evaluators)} evaluators, {len(config.candidates)} candidates, "
          f"{found.golden_cases} golden/red-team cases"
          + (f"; {len(found.warnings)} warning(s) above" if found.warnings else ""))


def cmd_evaluators(args: argparse.Namespace) -> None:
    """The evaluator catalogue: every type assay.yaml can name. Needs no ASSAY_HOME."""
    from assay.evaluators.catalogue import as_json, as_markdown, as_text

    render = {"table": as_text, "json": as_json, "markdown": as_markdown}[args.format]
    sys.stdout.write(render().rstrip("\n") + "\n")


def cmd_labels_import(args: argparse.Namespace) -> None:
    """Store human labels in the lake; `judge_calibration` (in curate_job) measures the judges
    against them."""
    from assay.calibration import LabelFileError, import_label_file, scorer_names
    from assay.case_labels import import_case_label_file, is_case_label_file
    from assay.lake import Lake

    home = _home()
    config = _load_config()
    lake = Lake(home.lake)
    # Any scorer: assay.yaml's evaluators, and every scorer the lake has scores of.
    known = sorted({e.name for e in config.evaluators} | scorer_names(lake))
    for raw_path in args.paths:
        try:
            if is_case_label_file(raw_path):  # no `evaluator` column: labels on regression cases
                stored = lake.read_table("regression_dataset")
                known_cases = set(stored.column("case_id").to_pylist()) if stored is not None else None
                batch, count = import_case_label_file(lake, raw_path, known_case_ids=known_cases)
                print(f"{raw_path}: case labels={count} batch={batch} (applied at the next regression_dataset)")
                continue
            batch, count = import_label_file(lake, raw_path, known_evaluators=known)
        except LabelFileError as exc:
            raise CliError(str(exc)) from None
        print(f"{raw_path}: labels={count} batch={batch}")
    if args.calibrate:
        _runner().run("curate_job", label="dataset, marts, calibration")


def cmd_judge_calibration(args: argparse.Namespace) -> None:
    """Each scorer series against the human labels, computed now from the lake (the
    `judge_calibration` asset stores the same rows, with their history)."""
    from datetime import UTC, datetime

    from assay.calibration import lake_calibration
    from assay.calibration_report import calibration_json, calibration_text
    from assay.lake import Lake

    home = _home()
    gate = _load_config().gate
    _, rows = lake_calibration(Lake(home.lake), computed_at=datetime.now(UTC), confidence=gate.confidence,
                               resamples=gate.bootstrap_resamples, seed=gate.seed)
    rows = [r for r in rows if (args.period == "every" or (r["period"] == "all") == (args.period == "all"))
            and (args.scorer is None or r["evaluator"] == args.scorer)]
    if args.scorer is not None and not rows:
        raise CliError(f"no calibration for scorer {args.scorer!r}: no labelled scores of it (`assay labels import`)")
    sys.stdout.write(calibration_json(rows) if args.format == "json" else calibration_text(rows, confidence=gate.confidence))


def cmd_judge_compare(args: argparse.Namespace) -> None:
    """Re-grade a stored sample of judged calls with another judge model (through the cache and
    the judge budget) and report agreement and, where labelled, each judge's kappa against people."""
    import json

    from assay.assets.judge_compare import (
        JudgeToolError,
        check_judge,
        compare_judges,
        comparison_text,
    )

    from assay.lake import Lake
    from assay.llm.configured import configured_engine

    home = _home()
    config = _load_config()
    try:
        check_judge(config, args.evaluator)
        engine = configured_engine(config, home, budget_usd=config.judge.budget_usd)
        result = compare_judges(config, Lake(home.lake), args.evaluator, args.model, engine, sample=args.sample,
                                confidence=config.gate.confidence, resamples=config.gate.bootstrap_resamples,
                                seed=config.gate.seed)
    except JudgeToolError as exc:
        raise CliError(str(exc)) from None
    sys.stdout.write(json.dumps(result.as_dict(), indent=2) + "\n" if args.format == "json" else comparison_text(result))


def cmd_judge_align(args: argparse.Namespace) -> None:
    """A new prompt version of a judge with graded examples from the labels it got wrong,
    measured on held-out labels (k-fold); written into assay.yaml only when it does better."""
    import json

    from assay.assets.judge_align import align_judge, alignment_text, write_examples
    from assay.assets.judge_compare import JudgeToolError, check_judge

    from assay.config import config_path
    from assay.lake import Lake
    from assay.llm.configured import configured_engine

    home = _home()
    config = _load_config()
    gate = config.gate
    try:
        check_judge(config, args.evaluator)
        engine = configured_engine(config, home, budget_usd=config.judge.budget_usd)
        result = align_judge(config, Lake(home.lake), args.evaluator, engine, folds=args.folds,
                             max_examples=args.max_examples, token_budget=args.token_budget,
                             confidence=gate.confidence, resamples=gate.bootstrap_resamples, seed=gate.seed)
        if result.adopted or args.force:
            existing = next(e for e in config.evaluators if e.name == args.evaluator).params.get("examples") or []
            write_examples(config_path(), args.evaluator, [*existing, *result.examples])
            result.written_to = str(config_path()) + (" (--force)" if not result.adopted else "")
    except JudgeToolError as exc:
        raise CliError(str(exc)) from None
    sys.stdout.write(json.dumps(result.as_dict(), indent=2) + "\n" if args.format == "json"
                     else alignment_text(result, confidence=gate.confidence))


def cmd_labels_export(args: argparse.Namespace) -> None:
    """The current dataset version's cases, with the baseline's replay and failing evaluators
    when candidate scores exist, and empty `label` / `note` columns to fill in."""
    from assay.case_labels import export_rows, write_export
    from assay.dataset_pointer import current_version, read_cases
    from assay.lake import Lake

    home = _home()
    config = _load_config()
    lake = Lake(home.lake)
    version = current_version(lake)
    if version is None:
        raise CliError("no regression dataset yet: run `assay run` (or `make demo`) first")
    cases = read_cases(lake, version)
    scores, outputs = [], {}
    baseline = config.baseline
    if baseline is not None:
        partition = {"candidate": baseline.candidate_id}
        score_table = lake.read_partition("candidate_scores", partition)
        output_table = lake.read_partition("candidate_outputs", partition)
        if score_table is not None:
            scores = [r for r in score_table.to_pylist() if r.get("dataset_version") == version]
        if output_table is not None:
            outputs = {
                r["case_id"]: r["output_text"] for r in output_table.to_pylist() if r.get("dataset_version") == version
            }
    text = write_export(export_rows(cases, scores, outputs), args.format)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        _say(f"{len(cases)} cases of {version} written to {args.out}; fill `label` (correct, wrong, critical), "
             "then `assay labels import` it")
    else:
        sys.stdout.write(text)


def _exec_dagster(what: str, tool: str, *args: str) -> None:
    """Replace this process with one of Dagster's commands (`dagster dev`, `dagster-daemon run`,
    `dagster-webserver`) on assay's definitions and ASSAY_HOME's instance, after writing the
    instance's pool limits (a daemon alone on a fresh Postgres instance would otherwise run with
    Dagster's default of one slot per pool). `what` is said first, with where the instance is."""
    home = _home()
    _load_config()
    from assay.orchestration.runner import configure_pools
    from dagster import DagsterInstance

    with DagsterInstance.get() as instance:
        configure_pools(instance)
    beside_python = Path(sys.executable).with_name(tool)
    command = [str(beside_python) if beside_python.exists() else tool, *args]
    _say(f"{what} (DAGSTER_HOME={home.dagster_home})")
    os.execvp(command[0], command)


# The installed module, not a workspace.yaml: an installed assay runs in a folder without one.
DEFINITIONS_MODULE = ("-m", "assay.orchestration.definitions")


def cmd_ui(args: argparse.Namespace) -> None:
    """Dagster's development server: the webserver and the daemon, while it runs."""
    _exec_dagster(f"Dagster UI on http://{args.host}:{args.port}",
                  "dagster", "dev", *DEFINITIONS_MODULE, "-h", args.host, "-p", str(args.port))


def cmd_daemon(args: argparse.Namespace) -> None:
    """Dagster's daemon alone, for a service manager (docs/deploy.md): the schedules, sensors,
    run queue and run monitoring, with no UI. `--queue-only`: the run queue and run monitoring
    only, for a team whose runs come from `assay run --queue` (or CI), not from the daemon's
    schedule and sensors (which would start the same days' runs beside them)."""
    from assay.runtime import AUTOMATION_ENV

    if args.queue_only:
        os.environ[AUTOMATION_ENV] = "off"  # read by the code server the daemon starts
    _exec_dagster("Dagster daemon" + (" (run queue only: no schedule, no sensors)" if args.queue_only else ""),
                  "dagster-daemon", "run", *DEFINITIONS_MODULE)


def cmd_webserver(args: argparse.Namespace) -> None:
    """Dagster's webserver alone, for a service manager; the daemon runs beside it (`assay daemon`)."""
    _exec_dagster(f"Dagster webserver on http://{args.host}:{args.port}",
                  "dagster-webserver", *DEFINITIONS_MODULE, "-h", args.host, "-p", str(args.port))


def cmd_worker(args: argparse.Namespace) -> None:
    """A Celery worker for the team stack (`workers.executor: celery`): it takes steps off the
    broker's `dagster` queue and runs them against the Postgres instance. Start one or more per
    machine; each runs `--concurrency` steps at once (each step's LLM calls keep to
    `judge.max_concurrency`, all of them together to `judge.provider_max_concurrency`)."""
    _home()
    config = _load_config()
    if config.workers.executor != "celery":
        raise CliError("assay worker needs `workers.executor: celery` in assay.yaml (and storage.instance: postgres)")
    from assay.orchestration.executors import CELERY_QUEUE

    command = [sys.executable, "-m", "celery", "-A", "assay.orchestration.celery_worker", "worker",
               "-Q", CELERY_QUEUE, "-c", str(args.concurrency), "-n", f"{args.name}@%h", "-l", "warning",
               # No worker-to-worker chatter: the broker is all they share.
               "--without-gossip", "--without-mingle", "--without-heartbeat"]
    _say(f"assay worker {args.name}: {args.concurrency} step(s) at a time from queue `{CELERY_QUEUE}`")
    os.execvp(command[0], command)


# --- candidates, imported scores, shadow comparisons -----------------------------------------


def cmd_candidates_add(args: argparse.Namespace) -> None:
    """Write a candidate into assay.yaml (comments kept; atomic). The regression sensor adds
    its partition; `assay run` or `assay compare` also register it."""
    from assay.candidate_config import CandidateEditError, add_candidate, parse_params
    from assay.config import config_path

    if not args.model and not args.recorded:
        raise CliError("give --model (a litellm model string) or --recorded (a file of outputs)")
    try:
        candidate = add_candidate(
            config_path(), args.id, model=args.model,
            prompt_template_file=Path(args.prompt_template) if args.prompt_template else None,
            prompt_version=args.prompt_version, params=parse_params(args.param or []),
            recorded=args.recorded, samples=args.samples,
        )
    except CandidateEditError as exc:
        raise CliError(str(exc)) from None
    renamed = f" (from {args.id!r})" if candidate.candidate_id != args.id else ""
    print(f"added candidate {candidate.candidate_id}{renamed}: model={candidate.model} "
          f"fingerprint={candidate.fingerprint}{' baseline' if candidate.is_baseline else ''} -> {config_path()}")


def cmd_candidates_list(args: argparse.Namespace) -> None:
    from assay.candidate_config import describe_candidates

    rows = describe_candidates(_load_config())
    if args.format == "json":
        print(json.dumps(rows, indent=2))
        return
    if not rows:
        print("no candidates in the config (`assay candidates add ID --model M`)")
        return
    columns = ["candidate_id", "model", "prompt_version", "baseline", "samples", "recorded", "fingerprint"]
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in columns}
    print("  ".join(c.ljust(widths[c]) for c in columns).rstrip())
    for row in rows:
        print("  ".join(str(row[c]).ljust(widths[c]) for c in columns).rstrip())


def cmd_scores_import(args: argparse.Namespace) -> None:
    """Store scores from human raters or external evaluators (evaluator `imported:<source>`);
    `candidate_scores` adds a candidate's to its partition on its next run."""
    from assay.imported_scores import ScoreFileError, import_score_file
    from assay.lake import Lake

    home = _home()
    for raw_path in args.paths:
        try:
            batch, rows = import_score_file(
                Lake(home.lake), raw_path, source=args.source, pass_threshold=args.pass_threshold
            )
        except ScoreFileError as exc:
            raise CliError(str(exc)) from None
        candidates = sorted({r["candidate_id"] for r in rows if r["candidate_id"]})
        print(f"{raw_path}: scores={len(rows)} evaluator={rows[0]['evaluator']} batch={batch} "
              f"candidates={','.join(candidates) or '-'}")


def cmd_compare(args: argparse.Namespace) -> None:
    """Shadow backfill: replay the last N days' sampled calls through a candidate and score them."""
    from assay.orchestration.shadow_backfill import (
        format_progress,
        plan_shadow,
        run_backfill,
        run_backfill_queued,
        stored_fingerprint_reader,
        window_days,
    )

    from assay.lake import Lake

    home = _home()
    config = _load_config()
    candidate = next((c for c in config.candidates if c.candidate_id == args.candidate), None)
    if candidate is None:
        known = ", ".join(c.candidate_id for c in config.candidates) or "none"
        raise CliError(f"candidate {args.candidate!r} is not in the config (known: {known}); `assay candidates add` it")
    lake = Lake(home.lake)
    try:
        days, no_calls = window_days(lake.partitions("sampled_calls", "day"), args.days, args.end_day)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    if not days:
        raise CliError("no day in the window has sampled calls: run `assay run` (or the daily job) first")
    from dagster import AssetKey

    runner = _queued_runner() if args.queue else _runner()
    runner.register_candidates([candidate.candidate_id])
    materialised = set(runner.instance.get_materialized_partitions(AssetKey("shadow_scores")))
    plan = plan_shadow(candidate.candidate_id, candidate.fingerprint, days, materialised,
                       stored_fingerprint_reader(lake, candidate.candidate_id))
    _say(f"compare {candidate.candidate_id} ({candidate.model}) over {len(days)} day(s) {days[0]}..{days[-1]}: "
         f"{len(plan.done)} already done, {len(plan.todo)} to run, "
         + ("on the run queue" if args.queue else f"up to {args.parallel} at once")
         + (f"; no sampled calls on {', '.join(no_calls)}" if no_calls else ""))
    for day in plan.done:
        _say(f"  skip {day}  (materialised)")
    from assay.assets.estimate import estimate_shadow

    if _estimated(lambda: estimate_shadow(config, home, candidate.candidate_id, plan.todo), args,
                  f"assay compare {candidate.candidate_id} over {len(plan.todo)} day(s)", config):
        return
    finished = []

    def progress(summary: dict) -> None:
        finished.append(summary)
        _say(format_progress(summary, len(finished), len(plan.todo)))

    if args.queue:
        with runner:
            summaries = run_backfill_queued(plan, runner, on_progress=progress)
    else:
        summaries = run_backfill(plan, parallel=args.parallel, on_progress=progress)
    failed = [s["day"] for s in summaries if not s["ok"]]
    if failed:
        raise CliError(f"{len(failed)} partition(s) failed: {', '.join(sorted(failed))}; run the command again to retry them")
    print(f"compare {candidate.candidate_id}: ran={len(summaries)} skipped={len(plan.done)} days={len(days)}")


def cmd_suggest(args: argparse.Namespace) -> None:
    """A revised prompt template for a candidate, from its regressed cases, by the judge model
    (`assay.assets.prompt_suggestions`); a new candidate in assay.yaml only when the user accepts.
    Whatever is decided is kept in the lake table `prompt_suggestions`."""
    from assay.assets.prompt_suggestions import SuggestionError, accept, diff_text, propose, record

    from assay.candidate_config import CandidateEditError
    from assay.config import config_path
    from assay.lake import Lake
    from assay.llm.configured import configured_engine

    home = _home()
    config = _load_config()
    lake = Lake(home.lake)
    rows = latest_decisions()
    engine = configured_engine(config, home, budget_usd=config.judge.budget_usd)
    _say(f"assay suggest: asking {config.judge.model} for a revised prompt template from {args.candidate}'s "
         "regressed cases")
    try:
        suggestion = propose(config, lake, rows, args.candidate, engine=engine, max_cases=args.max_cases,
                             new_candidate_id=args.id)
    except SuggestionError as exc:
        raise CliError(str(exc)) from None
    if suggestion.decision != "undecided":
        record(lake, suggestion)
        raise CliError(f"no usable suggestion for {args.candidate}: {suggestion.reason}; nothing written "
                       f"(kept as suggestion {suggestion.suggestion_id} in the lake)")
    cases = ", ".join(e["case_id"] for e in suggestion.evidence)
    print(diff_text(suggestion))
    print(f"\nWhy ({config.judge.model}): {suggestion.rationale or '(no rationale given)'}")
    print(f"From {len(suggestion.evidence)} regressed case(s): {cases}")
    if args.accept or args.dismiss:
        decision, how = ("accepted", "--accept") if args.accept else ("dismissed", "--dismiss")
    else:
        _say(f"Add it to {config_path()} as candidate {suggestion.new_candidate_id}? [y/N] ")
        answer = sys.stdin.readline()
        if not answer:  # no terminal, no pipe: nobody to ask
            decision, how = "undecided", "no answer (nothing to read on standard input)"
        else:
            decision = "accepted" if answer.strip().lower() in ("y", "yes") else "dismissed"
            how = f"answered {answer.strip()!r}"
    if decision != "accepted":
        record(lake, suggestion.model_copy(update={"decision": decision, "reason": how, "new_candidate_id": None}))
        print(f"{decision}: nothing written to {config_path()} (suggestion {suggestion.suggestion_id} kept in the "
              "lake; `assay suggest --accept` adds one)")
        return
    try:
        written = accept(config_path(), config, suggestion)
    except CandidateEditError as exc:
        record(lake, suggestion.model_copy(update={"decision": "failed", "reason": str(exc), "new_candidate_id": None}))
        raise CliError(str(exc)) from None
    record(lake, suggestion.model_copy(update={"decision": "accepted", "reason": how,
                                               "new_candidate_id": written.candidate_id}))
    print(f"accepted: added candidate {written.candidate_id} (model {written.model}, prompt {written.prompt_version}) "
          f"to {config_path()}; the next `assay run` (or nightly run) replays and decides it")


def cmd_metrics(args: argparse.Namespace) -> None:
    """OpenMetrics for Prometheus/Grafana: served on 127.0.0.1, or written for node_exporter's
    textfile collector (`assay.metrics_export`)."""
    import signal

    from assay.metrics_export import METRICS, MetricsSource, make_server, write_textfile

    home = _home()
    source = MetricsSource(home, refresh_s=args.refresh_s, log=lambda message: _say(f"assay metrics: {message}"))
    if args.textfile:
        samples, read_ok = write_textfile(source, Path(args.textfile))
        _say(f"wrote {samples} samples of {len(METRICS)} metrics to {args.textfile}"
             + ("" if read_ok else " (warehouse not readable: assay_warehouse_read_ok 0, no SLO series)"))
        return
    try:
        server = make_server(source, args.host, args.port)
    except OSError as exc:
        raise CliError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc} (choose another --port)") from None

    def stop(_signum, _frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)  # a service manager's stop ends it like Ctrl-C: cleanly
    _say(f"assay metrics: serving OpenMetrics on http://{args.host}:{server.server_port}/metrics "
         f"(ASSAY_HOME={home.root}; warehouse re-read at most every {args.refresh_s:g} s)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="assay",
        description="Batch evaluation of LLM applications: score daily logs, curate failures into a "
        "regression dataset, compare candidates, decide what ships. "
        "Paths: ASSAY_HOME (default ./.assay), ASSAY_CONFIG (default ./assay.yaml).",
    )
    # `--verbose` before or after the command: `assay -v run` and `assay run --verbose`.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                        help="on a failed run, print the whole stack trace, not only the cause")
    parser.add_argument("-v", "--verbose", action="store_true", default=False,
                        help="on a failed run, print the whole stack trace, not only the cause")
    sub = parser.add_subparsers(dest="command", required=True)

    def generation_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--days", type=int, default=7, help="days of traffic (default 7)")
        p.add_argument("--calls-per-day", type=int, default=400, help="calls per day (default 400)")
        p.add_argument("--end-day", help="last day, YYYY-MM-DD (default: yesterday, UTC)")
        p.add_argument("--seed", type=int, default=7)

    def cost_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--estimate", nargs="?", const="text", choices=["text", "json"],
                       help="print the LLM calls the command would make, cache hits, tokens and dollars at sync and "
                       "Batch API prices, per stage, evaluator/candidate and model, without calling any provider; "
                       "then stop")
        p.add_argument("--max-cost", type=float, metavar="USD",
                       help="refuse to start when the estimate is above USD (batch prices for what goes through a "
                       "Batch API: judge.mode: batch, a candidate's replay_mode: batch)")

    p = sub.add_parser("demo", parents=[common], help="generate demo traffic and run the whole loop; print the decisions")
    generation_options(p)
    p.add_argument("--queue", action="store_true",
                   help="submit the runs to the daemon's run queue and wait for them (the team stack: "
                        "`assay daemon` running, steps on `assay worker`s) instead of running them here")
    p.set_defaults(func=cmd_demo)
    p = sub.add_parser("generate", parents=[common], help="write demo traffic (with injected failures) to the landing folder")
    generation_options(p)
    p.set_defaults(func=cmd_generate)
    p = sub.add_parser("run", parents=[common], help="run the loop over landed days: score, curate, replay candidates, decide")
    p.add_argument("--day", action="append", help="a day to (re)process, YYYY-MM-DD; repeatable (default: all landed); "
                   "the LLM calls it will make are estimated and shown first")
    cost_options(p)
    p.add_argument("--wait-batches", action="store_true",
                   help="judge.mode: batch / replay_mode: batch: wait here for the provider's batches and finish the "
                   "loop (default: stop once submitted; the judge_batch_sensor finishes it)")
    p.add_argument("--queue", action="store_true",
                   help="submit the runs to the daemon's run queue and wait for them (the team stack: "
                        "`assay daemon` running, steps on `assay worker`s) instead of running them here")
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("ingest", parents=[common],
        help="land log files (any supported format, each record to its own day) and ingest those days",
    )
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help="JSONL/NDJSON or JSON files, optionally .gz (none: what is new in --source's `watch:` folder)")
    p.add_argument("--format", metavar="FORMAT",
                   help=f"skip content sniffing and read every file as this format ({', '.join(INGEST_FORMATS)})")
    p.add_argument("--source", default="manual", help="landing source folder name (default: manual)")
    p.set_defaults(func=cmd_ingest)
    p = sub.add_parser("rejected", parents=[common], help="why records were quarantined: counts by reason, examples as file:line")
    p.add_argument("--day", action="append", help="a day, YYYY-MM-DD; repeatable (default: every ingested day)")
    p.add_argument("--file", help="only records from files whose path contains this")
    p.add_argument("--examples", type=int, default=3, help="examples per reason (default 3)")
    p.set_defaults(func=cmd_rejected)
    p = sub.add_parser(
        "report", parents=[common],
        help="print the latest deploy decisions (json: one object per candidate, with its rank, every metric's "
        "interval and p-values, and its report files); --pair A B compares any two candidates",
    )
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.add_argument("--pair", nargs=2, metavar=("A", "B"),
                   help="compare candidate A against candidate B on the cases both answered, every metric with "
                   "its paired interval, McNemar and Holm-adjusted p (no config change needed)")
    p.set_defaults(func=cmd_report)
    p = sub.add_parser("gate", parents=[common],
        help="exit 0 only if the candidate's latest decision is approved (1 rejected, 3 insufficient "
        "evidence, 4 no decision); for CI/CD",
    )
    p.add_argument("candidate", help="a candidate id")
    p.add_argument("--format", choices=["text", "github", "junit", "codequality"], default="text",
                   help="also print the decision for CI on stdout: github (workflow commands: annotations for "
                   "failed and unavailable gates and regressed critical cases), junit (the decision's JUnit XML), "
                   "codequality (a GitLab Code Quality report)")
    p.set_defaults(func=cmd_gate)
    p = sub.add_parser("labels", parents=[common], help="human labels: on judge scores (calibration) and on regression cases")
    labels = p.add_subparsers(dest="labels_command", required=True)
    p = labels.add_parser("import", parents=[common],
        help="import labels (CSV with a header, or JSONL): scorer labels (subject_id, call_id or pair_id; evaluator, "
        "an assay.yaml evaluator or imported:<source>; label pass/fail, or winner a/b/tie) or, in a file with no evaluator column, case labels (case_id, label "
        "correct/wrong/critical, note)",
    )
    p.add_argument("paths", nargs="+", help="label files (.csv, .jsonl)")
    p.add_argument("--calibrate", action="store_true", help="then run curate_job, which computes judge_calibration")
    p.set_defaults(func=cmd_labels_import)
    p = labels.add_parser("export", parents=[common],
        help="export the current dataset's cases for labelling (label: correct, wrong or critical; then import)",
    )
    p.add_argument("--format", choices=["csv", "jsonl"], default="csv")
    p.add_argument("--out", metavar="PATH", help="file to write (default: standard output)")
    p.set_defaults(func=cmd_labels_export)
    p = sub.add_parser("judge", parents=[common], help="trust the judge: calibration of every scorer against human labels")
    judge = p.add_subparsers(dest="judge_command", required=True)
    p = judge.add_parser("calibration", parents=[common],
        help="each scorer series (scorer, version, judge model) against the human labels: n, accuracy, Cohen's "
        "kappa, F1, confusion matrix with bootstrap intervals; pairwise: position consistency, first-position "
        "wins, accuracy per order and where both orders agree",
    )
    p.add_argument("--scorer", help="only this scorer (an evaluator name or imported:<source>)")
    p.add_argument("--period", choices=["all", "week", "every"], default="all",
                   help="all time (default), per ISO week of the scores, or both")
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.set_defaults(func=cmd_judge_calibration)
    p = judge.add_parser("compare", parents=[common],
        help="re-grade a stored sample of calls the evaluator judged with another model (cache and budget apply): "
        "agreement with the current judge and, on labelled calls, each one's kappa against people; config unchanged",
    )
    p.add_argument("evaluator", help="an LLM-judge evaluator of assay.yaml")
    p.add_argument("--model", required=True, help="the judge model to try (a litellm model string)")
    p.add_argument("--sample", type=int, default=200, help="how many judged calls to re-grade (default 200)")
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.set_defaults(func=cmd_judge_compare)
    p = judge.add_parser("align", parents=[common],
        help="a new prompt version of an LLM judge (llm_judge and its presets such as faithfulness, rag_judge, g_eval, "
        "custom_rubric; not pairwise) carrying graded examples from the labels it got wrong; "
        "kappa before/after on held-out labels (k-fold) with intervals; written to assay.yaml only when the "
        "after-interval's lower bound beats the current kappa (or with --force)",
    )
    p.add_argument("evaluator", help="an LLM-judge evaluator of assay.yaml")
    p.add_argument("--folds", type=int, default=5, help="cross-validation folds (default 5)")
    p.add_argument("--max-examples", type=int, default=4, help="most examples the new version carries (default 4)")
    p.add_argument("--token-budget", type=int, default=1200, help="most tokens the examples take (default 1200)")
    p.add_argument("--force", action="store_true", help="write the new version even when it does not do better")
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.set_defaults(func=cmd_judge_align)
    p = sub.add_parser("candidates", parents=[common], help="list candidates, or add one to assay.yaml")
    cands = p.add_subparsers(dest="candidates_command", required=True)
    p = cands.add_parser("add", parents=[common], help="add a candidate (model + prompt) to assay.yaml, comments kept")
    p.add_argument("id", help="candidate id; made lowercase [a-z0-9-]")
    p.add_argument("--model", help="litellm model string, e.g. openai/gpt-4o-mini")
    p.add_argument("--prompt-template", metavar="FILE", help="file with the system prompt ({feature} is filled in)")
    p.add_argument("--prompt-version", metavar="V", help="your name for the prompt's version (default v1)")
    p.add_argument("--param", action="append", metavar="K=V", help="a litellm argument, e.g. temperature=0.2; repeatable")
    p.add_argument("--recorded", metavar="PATH", help="JSONL/CSV of outputs made elsewhere (no model is called)")
    p.add_argument("--samples", type=int, help="replays per case (a regression run; default 1)")
    p.set_defaults(func=cmd_candidates_add)
    p = cands.add_parser("list", parents=[common], help="the configured candidates")
    p.add_argument("--format", choices=["table", "json"], default="table")
    p.set_defaults(func=cmd_candidates_list)
    p = sub.add_parser("scores", parents=[common], help="scores from human raters or external evaluators")
    scores = p.add_subparsers(dest="scores_command", required=True)
    p = scores.add_parser("import", parents=[common], help="import scores (CSV with a header, or JSONL): subject_id, metric, value, optional passed, candidate_id, judge_model; "
        "pairwise verdicts: winner (a/b/tie) and order (the output shown first: a or b)"
    )
    p.add_argument("paths", nargs="+", help="score files (.csv, .jsonl)")
    p.add_argument("--source", help="evaluator name after `imported:` (default: the file's stem)")
    p.add_argument("--pass-threshold", type=float, help="value at or above which a row without `passed` passes")
    p.set_defaults(func=cmd_scores_import)
    p = sub.add_parser("compare", parents=[common], help="shadow backfill: replay past days' calls through a candidate and score them")
    p.add_argument("candidate", help="a candidate id of assay.yaml")
    p.add_argument("--days", type=int, default=14, help="days back from the latest day with sampled calls (default 14)")
    p.add_argument("--end-day", help="last day of the window, YYYY-MM-DD")
    p.add_argument("--parallel", type=int, default=2, help="partitions run at once (default 2)")
    cost_options(p)
    p.add_argument("--queue", action="store_true",
                   help="submit the runs to the daemon's run queue and wait for them (the team stack: "
                        "`assay daemon` running, steps on `assay worker`s) instead of running them here")
    p.set_defaults(func=cmd_compare)
    p = sub.add_parser("evaluators", parents=[common], help="list the evaluator types (name, kind, inputs, output, offline)")
    p.add_argument("--format", choices=["table", "json", "markdown"], default="table")
    p.set_defaults(func=cmd_evaluators)
    p = sub.add_parser("validate-config", parents=[common], help="check assay.yaml and say what is wrong")
    p.set_defaults(func=cmd_validate)
    p = sub.add_parser("suggest", parents=[common],
        help="ask the judge model for a revised prompt template from a candidate's regressed cases; shown as a "
        "diff, written to assay.yaml as a new candidate only when accepted",
    )
    p.add_argument("candidate", help="a candidate id with a decision (not the baseline)")
    choice = p.add_mutually_exclusive_group()
    choice.add_argument("--accept", action="store_true", help="add the suggestion to assay.yaml without asking")
    choice.add_argument("--dismiss", action="store_true", help="record the suggestion as dismissed without asking")
    p.add_argument("--id", help="the new candidate's id (default <candidate>-s<suggestion id>)")
    p.add_argument("--max-cases", type=int, default=8,
                   help="regressed cases shown to the model, critical ones first (default 8)")
    p.set_defaults(func=cmd_suggest)
    p = sub.add_parser("metrics", parents=[common],
        help="OpenMetrics for Prometheus/Grafana (latest day's SLOs, drift flags, each candidate's verdict and "
        "quality delta): served on 127.0.0.1, or written for node_exporter's textfile collector",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=9464, help="port to listen on (default 9464; 0 picks a free one)")
    p.add_argument("--textfile", metavar="PATH",
                   help="write the metrics to PATH (e.g. <collector dir>/assay.prom) once and exit, instead of serving")
    p.add_argument("--refresh-s", type=float, default=30.0,
                   help="re-read the warehouse at most this often, in seconds (default 30)")
    p.set_defaults(func=cmd_metrics)
    p = sub.add_parser("ui", parents=[common], help="start the Dagster UI (binds 127.0.0.1)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=3000)
    p.set_defaults(func=cmd_ui)
    p = sub.add_parser("daemon", parents=[common],
                       help="Dagster's daemon alone (schedules, sensors, run queue), for systemd: see docs/deploy.md")
    p.add_argument("--queue-only", action="store_true",
                   help="only the run queue and run monitoring: no schedule, no sensors (runs come from "
                        "`assay run --queue`)")
    p.set_defaults(func=cmd_daemon)
    p = sub.add_parser("webserver", parents=[common],
                       help="Dagster's webserver alone (binds 127.0.0.1), for systemd beside `assay daemon`")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=3000)
    p.set_defaults(func=cmd_webserver)
    p = sub.add_parser("worker", parents=[common],
                       help="team stack: a Celery worker that runs steps of launched runs (workers.executor: celery)")
    p.add_argument("--name", default="assay", help="worker name (the host name is appended)")
    p.add_argument("--concurrency", type=int, default=1, help="steps run at once (default 1)")
    p.set_defaults(func=cmd_worker)
    return parser


def main(argv: list[str] | None = None) -> int:
    global VERBOSE
    args = build_parser().parse_args(argv)
    VERBOSE = args.verbose
    import assay  # noqa: F401  (no-telemetry defaults before any heavy import)
    from assay.config import ConfigError

    try:
        _export_storage()
        args.func(args)
        sys.stdout.flush()  # here, so a closed pipe is reported below, not at interpreter exit
    except BrokenPipeError:
        # The reader went away (`assay ... | head`): say so once, without a traceback, and
        # keep Python from failing again when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        _say("assay: output closed early (broken pipe): the rest of the output was not written")
        return 1
    except KeyboardInterrupt as exc:  # assay.orchestration.runner.Interrupted says which signal and run
        _say(f"assay: {str(exc) or 'interrupted'}")
        return getattr(exc, "exit_status", 130)
    except GateRefused as exc:
        _say(f"assay gate: {exc}")
        return exc.status
    except (CliError, ConfigError) as exc:
        _say(f"assay: {exc}")
        return 1 if isinstance(exc, CliError) else 2
    except Exception as exc:
        from assay.orchestration.runner import JobFailed  # loaded already whenever a job ran

        if not isinstance(exc, JobFailed):
            raise
        if VERBOSE and exc.trace:
            _say(exc.trace)
        _say(f"assay: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
