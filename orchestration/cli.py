"""The `assay` command. Heavy modules (dagster, litellm, great_expectations) are imported inside
the commands that need them, so `assay --help` answers at once."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path


class CliError(Exception):
    """A failure the user can act on: printed as one message, exit status 1."""


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _home():
    from assay.runtime import ensure_home

    return ensure_home()


def _load_config():
    from assay.config import load_config

    return load_config()


# --- running jobs --------------------------------------------------------------------------


class Runner:
    """Runs assay's jobs in this process, recorded in the Dagster instance under ASSAY_HOME,
    so `assay ui` shows the same runs, partitions and metadata as a scheduled night."""

    QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}

    def __init__(self) -> None:
        from dagster import DagsterInstance

        from orchestration.definitions import build_definitions
        from orchestration.runner import SignalStop, start_clean

        # Built now, not at import, so ASSAY_HOME / ASSAY_CONFIG as set for this run apply.
        self.defs = build_definitions()
        self.instance = DagsterInstance.get()
        configure_pools(self.instance)
        self.pool_wait_timeout_s = _load_config().runner.pool_wait_timeout_s
        self.signals = SignalStop(self.instance)
        for note in start_clean(self.instance):  # what a killed run left: dead runs, slots, files
            _say(f"  {note}")

    def run(
        self, job_name: str, *, partition_key: str | None = None, label: str = "", tags: dict[str, str] | None = None
    ) -> None:
        import contextlib

        from dagster._core.utils import make_new_run_id

        from assay.runtime import AssayHome
        from orchestration.runner import PoolWaiter, runner_tags

        started = time.perf_counter()
        job = self.defs.resolve_job_def(job_name)
        log_path = AssayHome.from_env().root / "logs" / f"{job_name}{'-' + partition_key if partition_key else ''}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        run_id = make_new_run_id()
        waiter = PoolWaiter(self.instance, timeout_s=self.pool_wait_timeout_s, say=_say,
                            stop_requested=self.signals.requested)
        # dbt's own log lines go to stdout; keep them in a file, not the terminal.
        with log_path.open("w") as log, contextlib.redirect_stdout(log), self.signals.running(run_id), waiter:
            result = job.execute_in_process(
                instance=self.instance, partition_key=partition_key, run_config=self.QUIET_LOGS, raise_on_error=False,
                run_id=run_id, tags={**runner_tags(), **(tags or {})},
            )
        self.signals.finish(run_id, f"{job_name}{f' [{partition_key}]' if partition_key else ''}")
        if waiter.gave_up:
            raise CliError(f"{job_name}{f' [{partition_key}]' if partition_key else ''} (run {run_id[:8]}):\n{waiter.gave_up}")
        seconds = time.perf_counter() - started
        if not result.success:
            if job_name == "daily_job":
                from orchestration.alert_sensors import send_run_failure_alert

                first = next((e for e in result.all_events if e.is_step_failure and e.step_failure_data.error), None)
                send_run_failure_alert(
                    AssayHome.from_env(), job_name=job_name, run_id=result.run_id, partition_key=partition_key,
                    error=first.step_failure_data.error.message if first else "run failed",
                )
            failures = [
                f"  {event.step_key}: {event.step_failure_data.error.message.strip() if event.step_failure_data.error else ''}"
                for event in result.all_events
                if event.is_step_failure
            ]
            raise CliError(
                f"{job_name}{f' [{partition_key}]' if partition_key else ''} failed (run {result.run_id}):\n"
                + "\n".join(failures)
                + f"\nfull log: {log_path}; run details: `make ui`"
            )
        _say(f"  ok  {job_name:<14} {label or partition_key or '':<22} {seconds:5.1f}s  run {result.run_id[:8]}")

    def run_days(self, days: list[str]) -> None:
        for day in days:
            self.run("daily_job", partition_key=day)

    def register_candidates(self, candidate_ids: list[str]) -> None:
        from assets.partitions import candidate_partitions

        existing = set(self.instance.get_dynamic_partitions(candidate_partitions.name))
        new = [cid for cid in candidate_ids if cid not in existing]
        if new:
            self.instance.add_dynamic_partitions(candidate_partitions.name, new)


def configure_pools(instance) -> None:
    """Set the concurrency pool limits of ASSAY_HOME's Dagster instance (idempotent)."""
    from assay.runtime import POOL_LIMITS

    for pool, limit in POOL_LIMITS.items():
        if instance.event_log_storage.get_concurrency_info(pool).slot_count != limit:
            instance.event_log_storage.set_concurrency_slots(pool, limit)


def run_loop(days: list[str]) -> None:
    """The whole loop over `days`: daily chain per day, curation, every candidate, decision."""
    config = _load_config()
    runner = Runner()
    _say(f"assay: {len(days)} day(s), {len(config.candidates)} candidate(s)")
    runner.run_days(days)
    from assets.partitions import DAYS_TAG

    # The SLO marts rebuild only the days this run scored (incremental by day).
    runner.run("curate_job", label="dataset + SLO marts", tags={DAYS_TAG: ",".join(days)})
    ids = [c.candidate_id for c in config.candidates]
    runner.register_candidates(ids)
    for cid in ids:
        runner.run("candidate_job", partition_key=cid)
    runner.run("decide_job", label="marts + decisions")
    from assay.runtime import AssayHome
    from orchestration.alert_sensors import send_loop_alerts

    # No sensor daemon watches an in-process loop: send what the alert sensors would.
    send_loop_alerts(AssayHome.from_env(), config.slos.model_dump())


# --- reading decisions ----------------------------------------------------------------------


def latest_decisions() -> list[dict]:
    from assay.lake import Lake
    from assay.runtime import AssayHome
    from assets.reports import latest_decision_rows

    rows = latest_decision_rows(Lake(AssayHome.from_env().lake))
    if rows is None:
        raise CliError("no decisions yet: run `assay run` (or `make demo`) first")
    return rows


def decision_record(row: dict) -> dict:
    """One candidate's decision as `assay report --format json` prints it: the Decision contract
    plus the paths of its report files (null when a file is missing)."""
    from assets.reports import report_files

    files = report_files(row["report_path"]) if row.get("report_path") else {}
    reports = {name: (str(path) if path.exists() else None) for name, path in files.items()}
    return {
        "candidate_id": row["candidate_id"],
        "baseline_id": row["baseline_id"],
        "dataset_version": row["dataset_version"],
        "window": row["window"],
        "verdict": row["verdict"],
        "approved": row["verdict"] == "approved",
        "gates": row["gates"],
        "reasons": row["reasons"],
        "decided_at": row["decided_at"],
        "reports": reports or {"markdown": None, "html": None, "json": None, "junit": None},
    }


def print_decisions(rows: list[dict], *, as_json: bool = False) -> None:
    if as_json:
        print(json.dumps([decision_record(r) for r in rows], indent=2, sort_keys=True))
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


GATE_EXIT = {"approved": 0, "rejected": 1, "insufficient_evidence": 3}
GATE_EXIT_UNKNOWN = 4
"""`assay gate` exit statuses: 0 approved, 1 rejected, 3 insufficient evidence, 4 no decision
for that candidate (2 stays `bad config`, as for every command)."""


class GateRefused(Exception):
    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


def gate_verdict(rows: list[dict] | None, candidate_id: str) -> tuple[int, str]:
    """(exit status, one-line reason) of `assay gate <candidate>` for these decision rows."""
    if rows is None:
        return GATE_EXIT_UNKNOWN, "no decisions yet: run `assay run` (or the decide job) first"
    row = next((r for r in rows if r["candidate_id"] == candidate_id), None)
    if row is None:
        known = ", ".join(sorted(r["candidate_id"] for r in rows)) or "none"
        return GATE_EXIT_UNKNOWN, (f"no decision for candidate {candidate_id!r} on dataset "
                                   f"{rows[0]['dataset_version'] if rows else '?'} (decided: {known})")
    verdict = row["verdict"]
    reason = "; ".join(row["reasons"] or []) or verdict
    status = GATE_EXIT.get(verdict, GATE_EXIT_UNKNOWN)
    line = f"{candidate_id}: {verdict.upper()} ({row['window']}): {reason}"
    return status, " ".join(line.split())  # one line, whatever the reasons hold


# --- commands -------------------------------------------------------------------------------


def cmd_generate(args: argparse.Namespace) -> None:
    from assay.demo.generator import generate

    home = _home()
    end_day = date.fromisoformat(args.end_day) if args.end_day else None
    summary = generate(home.root, days=args.days, calls_per_day=args.calls_per_day, end_day=end_day, seed=args.seed)
    _say(f"generated {len(summary.days)} day(s) x {summary.calls_per_day} calls into {home.landing}")
    _say("injected failures (ground truth in demo_truth/): " + ", ".join(f"{k}={v}" for k, v in sorted(summary.injected.items())))


def cmd_run(args: argparse.Namespace) -> None:
    home = _home()
    _load_config()  # fail fast on a bad config, before Dagster loads
    from orchestration.sensors import landed_days

    days = args.day or landed_days(home.landing)
    if not days:
        raise CliError(f"nothing landed under {home.landing}/<source>/<YYYY-MM-DD>/: run `assay generate` or land files")
    for day in days:
        try:
            date.fromisoformat(day)
        except ValueError:
            raise CliError(f"--day {day!r} is not a date (YYYY-MM-DD)") from None
    run_loop(days)
    print_decisions(latest_decisions())
    print_detection(home, days)


def _rows_from(lake, table: str, day: str, source_files: set[str]) -> int:
    """Rows of one day's partition that came from the given landing files."""
    data = lake.read_partition(table, {"day": day})
    return 0 if data is None else sum(1 for name in data.column("source_file").to_pylist() if name in source_files)


INGEST_FORMATS = ["assay_jsonl", "openai_chat", "litellm_payload", "otlp_json", "langfuse"]
"""assay.formats.FORMATS, spelled out so `assay --help` need not import the adapters."""


def cmd_ingest(args: argparse.Namespace) -> None:
    """Land files by hand (each record to the day of its own timestamp), then run the daily
    chain for every day they touched, and say per file what came of it."""
    from assay.formats import UnknownFormatError
    from assay.landing import land_file

    home = _home()
    config = _load_config()
    today = datetime.now(UTC).date()
    landed, failed = [], 0
    for raw_path in args.paths:
        path = Path(raw_path)
        if not path.is_file():
            _say(f"{path}: not a file")
            failed += 1
            continue
        try:
            landed.append(
                land_file(path, home.landing, source=args.source, fmt=args.format,
                          default_app=config.project.app, today=today)
            )
        except (UnknownFormatError, ValueError) as exc:
            _say(f"{path}: {exc}")
            failed += 1
    days = sorted({day for item in landed for day in item.files})
    from assets.partitions import FIRST_DAY

    if days and days[0] < FIRST_DAY:
        raise CliError(f"records dated {days[0]} are older than the first partition day {FIRST_DAY}")
    if days:
        Runner().run_days(days)
    from assay.lake import Lake

    lake = Lake(home.lake)
    for item in landed:
        names = {str(p.relative_to(home.landing)) for p in item.files.values()}
        calls = sum(_rows_from(lake, "raw_calls", day, names) for day in item.files)
        rejected = sum(_rows_from(lake, "rejected_calls", day, names) for day in item.files)
        span = f"{min(item.files)}..{max(item.files)}" if len(item.files) > 1 else next(iter(item.files))
        print(f"{item.source_path}: format={item.format} calls={calls} rejected={rejected} days={span}")
    if failed:
        raise CliError(f"{failed} of {len(args.paths)} file(s) could not be landed (see above)")


def cmd_demo(args: argparse.Namespace) -> None:
    started = time.perf_counter()
    cmd_generate(args)
    home = _home()
    end = date.fromisoformat(args.end_day) if args.end_day else datetime.now(UTC).date() - timedelta(days=1)
    days = [(end - timedelta(days=i)).isoformat() for i in reversed(range(args.days))]
    _load_config()
    run_loop(days)
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
    flagged = zip(failures.column("call_id").to_pylist(), failures.column("failure_category").to_pylist(), strict=True)
    rows = detection_quality(demo_truth(home.root, days), flagged, set(sampled.column("call_id").to_pylist()))
    print("\ninjected failures found by the evaluators (ground truth: the generator's)")
    print(format_detection(rows))


def cmd_report(args: argparse.Namespace) -> None:
    _home()
    print_decisions(latest_decisions(), as_json=args.format == "json")


def cmd_gate(args: argparse.Namespace) -> None:
    """For CI/CD: exit 0 only when the candidate's latest decision is `approved`."""
    from assay.lake import Lake
    from assets.reports import latest_decision_rows

    home = _home()
    status, reason = gate_verdict(latest_decision_rows(Lake(home.lake)), args.candidate)
    if status != 0:
        raise GateRefused(reason, status)
    _say(reason)


def cmd_validate(args: argparse.Namespace) -> None:
    config = _load_config()
    print(f"ok: {len(config.evaluators)} evaluators, {len(config.candidates)} candidates")


def cmd_evaluators(args: argparse.Namespace) -> None:
    """The evaluator catalogue: every type assay.yaml can name. Needs no ASSAY_HOME."""
    from evaluators.catalogue import as_json, as_markdown, as_text

    render = {"table": as_text, "json": as_json, "markdown": as_markdown}[args.format]
    sys.stdout.write(render().rstrip("\n") + "\n")


def cmd_labels_import(args: argparse.Namespace) -> None:
    """Store human labels in the lake; `judge_calibration` (in curate_job) measures the judges
    against them."""
    from assay.calibration import LabelFileError, import_label_file
    from assay.case_labels import import_case_label_file, is_case_label_file
    from assay.lake import Lake

    home = _home()
    config = _load_config()
    known = [e.name for e in config.evaluators]
    lake = Lake(home.lake)
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
        Runner().run("curate_job", label="dataset, marts, calibration")


def cmd_labels_export(args: argparse.Namespace) -> None:
    """The current dataset version's cases, with the baseline's replay and failing evaluators
    when candidate scores exist, and empty `label` / `note` columns to fill in."""
    from assay.case_labels import export_rows, write_export
    from assay.lake import Lake
    from assets.regression_dataset import current_version, read_cases

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


def cmd_ui(args: argparse.Namespace) -> None:
    home = _home()
    _load_config()
    from dagster import DagsterInstance

    configure_pools(DagsterInstance.get())
    beside_python = Path(sys.executable).with_name("dagster")
    dagster = str(beside_python) if beside_python.exists() else "dagster"
    command = [dagster, "dev", "-w", "workspace.yaml", "-h", args.host, "-p", str(args.port)]
    _say(f"Dagster UI on http://{args.host}:{args.port} (DAGSTER_HOME={home.dagster_home})")
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
    from assay.lake import Lake
    from orchestration.shadow import (
        format_progress,
        plan_shadow,
        run_backfill,
        stored_fingerprint_reader,
        window_days,
    )

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

    runner = Runner()
    runner.register_candidates([candidate.candidate_id])
    materialised = set(runner.instance.get_materialized_partitions(AssetKey("shadow_scores")))
    plan = plan_shadow(candidate.candidate_id, candidate.fingerprint, days, materialised,
                       stored_fingerprint_reader(lake, candidate.candidate_id))
    _say(f"compare {candidate.candidate_id} ({candidate.model}) over {len(days)} day(s) {days[0]}..{days[-1]}: "
         f"{len(plan.done)} already done, {len(plan.todo)} to run, up to {args.parallel} at once"
         + (f"; no sampled calls on {', '.join(no_calls)}" if no_calls else ""))
    for day in plan.done:
        _say(f"  skip {day}  (materialised)")
    finished = []

    def progress(summary: dict) -> None:
        finished.append(summary)
        _say(format_progress(summary, len(finished), len(plan.todo)))

    summaries = run_backfill(plan, parallel=args.parallel, on_progress=progress)
    failed = [s["day"] for s in summaries if not s["ok"]]
    if failed:
        raise CliError(f"{len(failed)} partition(s) failed: {', '.join(sorted(failed))}; run the command again to retry them")
    print(f"compare {candidate.candidate_id}: ran={len(summaries)} skipped={len(plan.done)} days={len(days)}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="assay",
        description="Batch evaluation of LLM applications: score daily logs, curate failures into a "
        "regression dataset, compare candidates, decide what ships. "
        "Paths: ASSAY_HOME (default ./.assay), ASSAY_CONFIG (default ./assay.yaml).",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def generation_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--days", type=int, default=7, help="days of traffic (default 7)")
        p.add_argument("--calls-per-day", type=int, default=400, help="calls per day (default 400)")
        p.add_argument("--end-day", help="last day, YYYY-MM-DD (default: yesterday, UTC)")
        p.add_argument("--seed", type=int, default=7)

    p = sub.add_parser("demo", help="generate demo traffic and run the whole loop; print the decisions")
    generation_options(p)
    p.set_defaults(func=cmd_demo)
    p = sub.add_parser("generate", help="write demo traffic (with injected failures) to the landing folder")
    generation_options(p)
    p.set_defaults(func=cmd_generate)
    p = sub.add_parser("run", help="run the loop over landed days: score, curate, replay candidates, decide")
    p.add_argument("--day", action="append", help="a day to (re)process, YYYY-MM-DD; repeatable (default: all landed)")
    p.set_defaults(func=cmd_run)
    p = sub.add_parser(
        "ingest",
        help="land log files (any supported format, each record to its own day) and ingest those days",
    )
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--format", choices=INGEST_FORMATS,
                   help="skip content sniffing and read every file as this format")
    p.add_argument("--source", default="manual", help="landing source folder name (default: manual)")
    p.set_defaults(func=cmd_ingest)
    p = sub.add_parser(
        "report", help="print the latest deploy decisions (json: one object per candidate, with its report files)"
    )
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.set_defaults(func=cmd_report)
    p = sub.add_parser(
        "gate",
        help="exit 0 only if the candidate's latest decision is approved (1 rejected, 3 insufficient "
        "evidence, 4 no decision); for CI/CD",
    )
    p.add_argument("candidate", help="a candidate id")
    p.set_defaults(func=cmd_gate)
    p = sub.add_parser("labels", help="human labels: on judge scores (calibration) and on regression cases")
    labels = p.add_subparsers(dest="labels_command", required=True)
    p = labels.add_parser(
        "import",
        help="import labels (CSV with a header, or JSONL): judge labels (subject_id or call_id, evaluator, "
        "label pass/fail) or, in a file with no evaluator column, case labels (case_id, label "
        "correct/wrong/critical, note)",
    )
    p.add_argument("paths", nargs="+", help="label files (.csv, .jsonl)")
    p.add_argument("--calibrate", action="store_true", help="then run curate_job, which computes judge_calibration")
    p.set_defaults(func=cmd_labels_import)
    p = labels.add_parser(
        "export",
        help="export the current dataset's cases for labelling (label: correct, wrong or critical; then import)",
    )
    p.add_argument("--format", choices=["csv", "jsonl"], default="csv")
    p.add_argument("--out", metavar="PATH", help="file to write (default: standard output)")
    p.set_defaults(func=cmd_labels_export)
    p = sub.add_parser("candidates", help="list candidates, or add one to assay.yaml")
    cands = p.add_subparsers(dest="candidates_command", required=True)
    p = cands.add_parser("add", help="add a candidate (model + prompt) to assay.yaml, comments kept")
    p.add_argument("id", help="candidate id; made lowercase [a-z0-9-]")
    p.add_argument("--model", help="litellm model string, e.g. openai/gpt-4o-mini")
    p.add_argument("--prompt-template", metavar="FILE", help="file with the system prompt ({feature} is filled in)")
    p.add_argument("--prompt-version", metavar="V", help="your name for the prompt's version (default v1)")
    p.add_argument("--param", action="append", metavar="K=V", help="a litellm argument, e.g. temperature=0.2; repeatable")
    p.add_argument("--recorded", metavar="PATH", help="JSONL/CSV of outputs made elsewhere (no model is called)")
    p.add_argument("--samples", type=int, help="replays per case (a regression run; default 1)")
    p.set_defaults(func=cmd_candidates_add)
    p = cands.add_parser("list", help="the configured candidates")
    p.add_argument("--format", choices=["table", "json"], default="table")
    p.set_defaults(func=cmd_candidates_list)
    p = sub.add_parser("scores", help="scores from human raters or external evaluators")
    scores = p.add_subparsers(dest="scores_command", required=True)
    p = scores.add_parser(
        "import", help="import scores (CSV with a header, or JSONL): subject_id, metric, value, optional passed, candidate_id"
    )
    p.add_argument("paths", nargs="+", help="score files (.csv, .jsonl)")
    p.add_argument("--source", help="evaluator name after `imported:` (default: the file's stem)")
    p.add_argument("--pass-threshold", type=float, help="value at or above which a row without `passed` passes")
    p.set_defaults(func=cmd_scores_import)
    p = sub.add_parser("compare", help="shadow backfill: replay past days' calls through a candidate and score them")
    p.add_argument("candidate", help="a candidate id of assay.yaml")
    p.add_argument("--days", type=int, default=14, help="days back from the latest day with sampled calls (default 14)")
    p.add_argument("--end-day", help="last day of the window, YYYY-MM-DD")
    p.add_argument("--parallel", type=int, default=2, help="partitions run at once (default 2)")
    p.set_defaults(func=cmd_compare)
    p = sub.add_parser("evaluators", help="list the evaluator types (name, kind, inputs, output, offline)")
    p.add_argument("--format", choices=["table", "json", "markdown"], default="table")
    p.set_defaults(func=cmd_evaluators)
    p = sub.add_parser("validate-config", help="check assay.yaml and say what is wrong")
    p.set_defaults(func=cmd_validate)
    p = sub.add_parser("ui", help="start the Dagster UI (binds 127.0.0.1)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=3000)
    p.set_defaults(func=cmd_ui)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    import assay  # noqa: F401  (no-telemetry defaults before any heavy import)
    from assay.config import ConfigError

    try:
        args.func(args)
    except KeyboardInterrupt as exc:  # orchestration.runner.Interrupted says which signal and run
        _say(f"assay: {str(exc) or 'interrupted'}")
        return getattr(exc, "exit_status", 130)
    except GateRefused as exc:
        _say(f"assay gate: {exc}")
        return exc.status
    except (CliError, ConfigError) as exc:
        _say(f"assay: {exc}")
        return 1 if isinstance(exc, CliError) else 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
