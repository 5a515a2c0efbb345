"""Benchmark: the deterministic evaluators over one day of N calls (default 1,000,000).

The day is the demo generator's realistic traffic (5,000 calls through the real `raw_calls`
ingest, so texts, JSON outputs, latencies and costs look like production), replicated with
fresh call_ids into one Parquet partition. Then, each in its own child process (own peak RSS,
imports excluded from the timing):

- vectorised: `assay.assets.scoring.score_call_partition` — the `call_scores` asset's code path —
  with the deterministic evaluators below, all of which have a SQL form: every score of the
  day, streamed into the `call_scores` Parquet partition as the asset does;
- python: the same evaluators through their per-call `evaluate()` on `--python-calls` calls
  (default 50,000; the per-call path over a million calls takes minutes), as the figure
  beside it.

`call_evals_per_min_*` counts (call, evaluator) scores produced per minute, selectors applied
(an evaluator limited to one feature scores only that feature's calls).
`call_evals_ratio_vectorised` = vectorised figure / the 1,000,000-per-minute target.

Usage: .venv/bin/python bench/evaluators.py [--calls N] [--python-calls N]
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

DAY = date(2025, 3, 10)
TEMPLATE_CALLS = 5000
TARGET_CALL_EVALS_PER_MIN = 1_000_000

EVALUATORS = [
    {"name": "provider_ok", "type": "provider_status"},
    {"name": "not_truncated", "type": "finish_reason"},
    {"name": "latency_slo", "type": "latency", "params": {"max_ms": 5000}},
    {"name": "cost_cap", "type": "cost", "params": {"max_usd": 0.002}},
    {"name": "no_internal_markers", "type": "contains", "params": {"value": ["INTERNAL ONLY", "BEGIN PRIVATE KEY"], "mode": "none"}},
    {"name": "mentions_policy", "type": "contains", "params": {"value": ["refund", "return", "policy"], "mode": "any"}},
    {"name": "no_template_leak", "type": "regex", "params": {"pattern": r"\{\{\s*\w+\s*\}\}", "must_match": False}},
    {"name": "answer_length", "type": "length", "params": {"min_chars": 20, "max_chars": 1200}},
    {"name": "ticket_json", "type": "is_json", "params": {"required_keys": ["category", "priority"]}, "applies_to": {"features": ["classify_ticket"]}},
    {"name": "ticket_format", "type": "regex", "params": {"pattern": r"^\s*(```json\s*)?\{", "must_match": True}, "applies_to": {"features": ["classify_ticket"]}},
]


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _config():
    from assay.config import AssayConfig

    return AssayConfig.model_validate({"evaluators": EVALUATORS, "judge": {"model": "sim/judge"}})


def make_day(home: Path, calls: int) -> Path:
    """The generator's day through the real ingest, replicated to `calls` rows in Parquet."""
    import duckdb
    from assay.assets.raw_calls import materialise_day

    from assay.config import RedactionConfig
    from assay.demo.generator import generate
    from assay.lake import PART_FILE, Lake

    generate(home, days=1, calls_per_day=TEMPLATE_CALLS, end_day=DAY)
    lake = Lake(home / "lake")
    materialise_day(lake, home / "landing", DAY, default_app="acme-support", prices={}, redaction=RedactionConfig())
    raw = lake.partition_dir("raw_calls", {"day": DAY.isoformat()}) / PART_FILE
    target = home / "day.parquet"
    con = duckdb.connect()
    con.execute(
        f"""COPY (
          SELECT * REPLACE (call_id || '-r' || CAST(r.range AS VARCHAR) AS call_id)
          FROM read_parquet('{raw}') CROSS JOIN range(0, (SELECT CAST(ceil({calls} / count(*)) AS BIGINT) FROM read_parquet('{raw}'))) r
          LIMIT {calls}
        ) TO '{target}' (FORMAT parquet, COMPRESSION zstd)"""
    )
    return target


def phase_vectorised(day: Path) -> dict:
    from assay.assets.scoring import ScoreTally, score_call_partition

    from assay.contracts.score import SCORE_ARROW_SCHEMA
    from assay.lake import Lake
    from assay.llm.engine import LLMEngine  # noqa: F401  (import cost excluded)

    config = _config()
    lake = Lake(day.parent / "lake")
    tally = ScoreTally()
    start = time.perf_counter()
    # As the call_scores asset does: every table streamed into the partition's Parquet file.
    with lake.partition_writer("call_scores", partition={"day": "bench"}, schema=SCORE_ARROW_SCHEMA) as writer:
        for scores in score_call_partition(day, config, engine=None):  # type: ignore[arg-type]  # no judge configured
            writer.write(scores)
            tally.add(scores)
    elapsed = time.perf_counter() - start
    return {"seconds": elapsed, "scores": tally.rows, "peak_rss_mb": _peak_rss_mb()}


def phase_python(day: Path, calls: int) -> dict:
    import duckdb
    from assay.assets.scoring import build_evaluators, decode_row

    from assay.contracts.call import CALL_JSON_COLUMNS

    config = _config()
    rows = duckdb.sql(f"SELECT * FROM read_parquet('{day}') LIMIT {calls}").to_arrow_table().to_pylist()
    evaluators = build_evaluators(config.evaluators, config.judge.model)
    start = time.perf_counter()
    produced = 0
    for row in rows:
        subject = decode_row(row, CALL_JSON_COLUMNS) | {"subject_id": row["call_id"]}
        for cfg in config.evaluators_for("calls", subject):
            try:
                produced += len(evaluators[cfg.name].evaluate(subject))
            except ValueError:
                produced += 1  # scored as `error` by the scorer
    elapsed = time.perf_counter() - start
    return {"seconds": elapsed, "scores": produced, "calls": len(rows), "peak_rss_mb": _peak_rss_mb()}


def _child(phase: str, *args: str) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--phase", phase, *args], check=True, capture_output=True, text=True, cwd=REPO
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--python-calls", type=int, default=50_000)
    parser.add_argument("--phase", choices=["make", "vectorised", "python"], help=argparse.SUPPRESS)
    parser.add_argument("--home", help=argparse.SUPPRESS)
    parser.add_argument("--day", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase == "make":
        print(json.dumps({"day": str(make_day(Path(args.home), args.calls))}))
        return
    if args.phase == "vectorised":
        print(json.dumps(phase_vectorised(Path(args.day))))
        return
    if args.phase == "python":
        print(json.dumps(phase_python(Path(args.day), args.python_calls)))
        return

    with tempfile.TemporaryDirectory(prefix="assay-bench-evaluators-") as tmp:
        home = Path(tmp)
        # Each phase in its own child: Linux carries a parent's peak RSS into a forked child,
        # so building the day in this process would inflate every phase's figure.
        day = Path(_child("make", "--home", str(home), "--calls", str(args.calls))["day"])
        vec = _child("vectorised", "--day", str(day))
        py = _child("python", "--day", str(day), "--python-calls", str(args.python_calls))
    per_min_vec = vec["scores"] / vec["seconds"] * 60
    per_min_py = py["scores"] / py["seconds"] * 60
    print(f"calls={args.calls}")
    print(f"evaluators={len(EVALUATORS)}")
    print(f"vectorised_scores={vec['scores']}")
    print(f"vectorised_s={vec['seconds']:.2f}")
    print(f"call_evals_per_min={per_min_vec:.0f}")  # the vectorised path: the headline figure
    print(f"call_evals_per_min_vectorised={per_min_vec:,.0f}")
    print(f"peak_rss_mb_vectorised={vec['peak_rss_mb']:.0f}")
    print(f"python_calls={py['calls']}")
    print(f"python_s={py['seconds']:.2f}")
    print(f"call_evals_per_min_python={per_min_py:,.0f}")
    print(f"peak_rss_mb_python={py['peak_rss_mb']:.0f}")
    print(f"vectorised_vs_python={per_min_vec / per_min_py:.1f}")
    print(f"call_evals_ratio_vectorised={per_min_vec / TARGET_CALL_EVALS_PER_MIN:.2f}")


if __name__ == "__main__":
    main()
