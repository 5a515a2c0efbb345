"""Benchmark: ingest one landing day of N calls (default 1,000,000) in every landing format.

For each format (`--formats`, default all: assay_jsonl, openai_chat, litellm_payload,
otlp_json, langfuse) a day of `--calls` calls is written at run time, then measured on that
same file:

- assay: the `raw_calls` asset's code path (`materialise_day`: `ingest_day`, cost fill,
  redaction with the default config, and the `raw_calls` / `rejected_calls` / `trace_spans`
  partitions written to the lake): seconds, calls/s, peak RSS;
- plain DuckDB: `COPY (SELECT * FROM read_json_auto(file, ignore_errors=true)) TO ...
  (FORMAT parquet)`, no validation at all: the limit to compare with;
- `ingest_ratio_<format>` = assay records/s / DuckDB records/s on the same file (a record is
  a line: one native call, one OpenAI pair, one litellm payload, one OTLP envelope, one
  Langfuse export), i.e. DuckDB seconds / assay seconds.

Native days come from the demo generator (5,000 realistic calls with its 3 malformed lines),
replicated with fresh call_ids. The other formats replicate one record in the shape of the
real exports (the builders of tests/unit/test_formats.py) with fresh ids and timestamps
inside the day; a record holding several calls (OTLP envelope: 2 LLM spans, Langfuse export:
3 generations) counts them all, so every day holds `--calls` calls. Each phase runs in its
own child process so its peak RSS is its own (ru_maxrss of the child: interpreter and
imports included; `*_baseline_rss_mb` is the RSS just before the phase starts). Timings
exclude imports.

The two phases alternate for `--rounds` rounds (default 3 for the native format, 1 for the
others) and the medians are reported, with every round's seconds.

Usage: .venv/bin/python bench/ingest.py [--calls N] [--formats a,b] [--rounds R] [--keep]
"""

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
# litellm's bundled price map, not a download attempt at import (no network here).
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

DAY = date(2025, 3, 10)
MIDNIGHT = int(datetime(DAY.year, DAY.month, DAY.day, tzinfo=UTC).timestamp())
TEMPLATE_CALLS = 5000
"""Realistic native calls the generator makes (~2 s); the day is built by replicating them."""
CALL_ID_PREFIX = '"call_id": "call-'
FORMAT_NAMES = ("assay_jsonl", "openai_chat", "litellm_payload", "otlp_json", "langfuse")
NATIVE = "assay_jsonl"
NATIVE_ROUNDS = 3
"""Rounds for the native format: single runs of either phase vary by 10-15% on a shared
2-core machine, more under load (DuckDB 5.1-10.5 s, assay 10.9-16.1 s on the same day)."""


def landing_file(home: Path, fmt: str) -> Path:
    return home / "landing" / fmt / DAY.isoformat() / "calls.jsonl"


def make_native_day(home: Path, calls: int) -> Path:
    """Write `calls` native lines for DAY (the generator's day, replicated)."""
    from assay.demo.generator import generate, landing_path

    template_home = home / "template"
    generate(template_home, days=1, calls_per_day=min(calls, TEMPLATE_CALLS), end_day=DAY)
    template = landing_path(template_home, DAY).read_text(encoding="utf-8").splitlines()
    shutil.rmtree(template_home)
    target = landing_file(home, NATIVE)
    target.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with target.open("w", encoding="utf-8", newline="\n") as handle:
        for copy in range(calls // len(template) + 1):
            # Copy 0 is the generator's day as is; later copies get fresh, unique call_ids
            # (the malformed lines stay malformed: truncated, no call_id, negative latency).
            fresh = f'"call_id": "call-r{copy:04d}-' if copy else CALL_ID_PREFIX
            batch = template[: calls - written]
            handle.write("".join(line.replace(CALL_ID_PREFIX, fresh, 1) + "\n" for line in batch))
            written += len(batch)
            if written == calls:
                break
    return target


# --- other formats: one record with placeholders, filled per line --------------------------


def _openai_template() -> str:
    from tests.unit.test_formats import openai_pair

    record = openai_pair()
    record["response"]["id"] = "chatcmpl-@I@"
    record["response"]["created"] = "@S@"
    return json.dumps(record).replace('"@S@"', "@S@")


def _litellm_template() -> str:
    from tests.unit.test_formats import litellm_success

    record = litellm_success(id="lite-@I@", trace_id="trace-@I@", startTime="@S@", endTime="@E@",
                             completionStartTime="@F@")
    record["response"]["id"] = "lite-@I@"
    record["response"]["created"] = "@S@"
    text = json.dumps(record)
    for key in ("S", "E", "F"):
        text = text.replace(f'"@{key}@"', f"@{key}@")
    return text


def _otlp_template() -> str:
    from tests.unit.test_formats import T0, otlp_envelope

    text = json.dumps(otlp_envelope())
    text = text.replace("5B8EFFF798038103D269B633813FC60C", "@T@").replace("AAAAAAAAAAAAAAA", "@P@")
    return text.replace(str(T0 * 10**9 + 750_000_000), "@EN@").replace(str(T0 * 10**9), "@SN@")


def _langfuse_template() -> str:
    from tests.unit.test_formats import langfuse_export

    text = json.dumps(langfuse_export())
    for obs_id in ("root", "gen1", "tool1", "gen2", "gen3"):
        text = text.replace(f'"{obs_id}"', f'"@I@-{obs_id}"')
    text = text.replace("e1fde3efec57ce8a69bafd3fb928a7eb", "@T@")
    return text.replace("2025-03-01T09:", "@H@")


def _fill(template: str, i: int) -> str:
    second = MIDNIGHT + (i * 7) % 86_000  # inside the day, with room for the latency
    return (
        template.replace("@I@", str(i))
        .replace("@T@", f"{i:032x}")
        .replace("@P@", f"{i:015x}")
        .replace("@SN@", str(second * 10**9))
        .replace("@EN@", str(second * 10**9 + 750_000_000))
        .replace("@S@", str(second))
        .replace("@E@", str(second + 1.5))
        .replace("@F@", str(second + 0.25))
        .replace("@H@", (datetime.fromtimestamp(second, UTC) - timedelta(minutes=0)).strftime("%Y-%m-%dT%H:"))
    )


TEMPLATES: dict[str, Callable[[], str]] = {
    "openai_chat": _openai_template,
    "litellm_payload": _litellm_template,
    "otlp_json": _otlp_template,
    "langfuse": _langfuse_template,
}


def calls_per_record(fmt: str, line: str) -> int:
    from assay.formats import adapter_for
    from assay.formats.base import Source

    source = Source(default_app="bench", file="x", default_ts=datetime(DAY.year, DAY.month, DAY.day, tzinfo=UTC))
    items = adapter_for(fmt)(json.loads(line), offset=1, raw=line, source=source)
    return sum(item.call is not None for item in items)


def make_adapted_day(home: Path, fmt: str, calls: int) -> Path:
    template = TEMPLATES[fmt]()
    per_record = calls_per_record(fmt, _fill(template, 0))
    target = landing_file(home, fmt)
    target.parent.mkdir(parents=True, exist_ok=True)
    records = -(-calls // per_record)
    with target.open("w", encoding="utf-8", newline="\n") as handle:
        for start in range(0, records, 10_000):
            handle.write("".join(_fill(template, i) + "\n" for i in range(start, min(records, start + 10_000))))
    return target


def make_day(home: Path, fmt: str, calls: int) -> Path:
    return make_native_day(home, calls) if fmt == NATIVE else make_adapted_day(home, fmt, calls)


# --- phases (each in its own child process) ---------------------------------------------------


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def phase_assay(home: Path, fmt: str) -> dict:
    """What the raw_calls asset does for one partition, minus Dagster and the GE check."""
    import litellm  # noqa: F401  (imported by the cost fill; excluded from the timing)
    from assay.assets.raw_calls import materialise_day

    from assay.config import RedactionConfig
    from assay.lake import Lake

    baseline = _rss_mb()
    start = time.perf_counter()
    done = materialise_day(
        Lake(home / "lake"), home / "landing", DAY, default_app="acme-support", prices={},
        redaction=RedactionConfig(),
    )
    elapsed = time.perf_counter() - start
    return {
        "seconds": elapsed,
        "accepted": done.calls,
        "rejected": len(done.ingested.rejected),
        "spans": done.ingested.span_count,
        "baseline_rss_mb": baseline,
        "peak_rss_mb": _peak_rss_mb(),
    }


def phase_duckdb(home: Path, fmt: str) -> dict:
    """Plain DuckDB: JSONL to Parquet with schema inference and no validation."""
    import duckdb

    source = landing_file(home, fmt)
    target = home / "duckdb_copy.parquet"
    con = duckdb.connect()
    baseline = _rss_mb()
    start = time.perf_counter()
    con.execute(
        f"COPY (SELECT * FROM read_json_auto('{source}', format='newline_delimited', ignore_errors=true)) "
        f"TO '{target}' (FORMAT parquet, COMPRESSION zstd)"
    )
    elapsed = time.perf_counter() - start
    rows = con.execute(f"SELECT count(*) FROM read_parquet('{target}')").fetchone()[0]
    target.unlink()
    return {"seconds": elapsed, "rows": rows, "baseline_rss_mb": baseline, "peak_rss_mb": _peak_rss_mb()}


PHASES = {"assay": phase_assay, "duckdb": phase_duckdb}


def run_phase(name: str, home: Path, fmt: str) -> dict:
    """Run one phase in a fresh interpreter; it prints its figures as one JSON line."""
    proc = subprocess.run(
        [sys.executable, __file__, "--phase", name, "--home", str(home), "--formats", fmt],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        sys.exit(f"phase {name} ({fmt}) failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def bench_format(root: Path, fmt: str, calls: int, rounds: int) -> None:
    home = root / fmt
    start = time.perf_counter()
    landing = make_day(home, fmt, calls)
    with landing.open("rb") as handle:
        records = sum(1 for _ in handle)
    print(f"records_{fmt}={records}")
    print(f"landing_mb_{fmt}={landing.stat().st_size / 2**20:.0f}")
    print(f"generate_s_{fmt}={time.perf_counter() - start:.1f}")
    # Rounds alternate the two phases, so a spell of other load on the machine falls on
    # both; each figure is the median of its rounds, each peak RSS the highest.
    assays, ducks = [], []
    for _ in range(rounds):
        assays.append(run_phase("assay", home, fmt))
        shutil.rmtree(home / "lake", ignore_errors=True)
        ducks.append(run_phase("duckdb", home, fmt))
    assay = assays[0] | {"seconds": statistics.median(a["seconds"] for a in assays),
                         "peak_rss_mb": max(a["peak_rss_mb"] for a in assays)}
    duck = ducks[0] | {"seconds": statistics.median(d["seconds"] for d in ducks),
                       "peak_rss_mb": max(d["peak_rss_mb"] for d in ducks)}
    rate = assay["accepted"] / assay["seconds"]
    duck_rate = calls / duck["seconds"]  # the same file, as many calls
    ratio = duck["seconds"] / assay["seconds"]
    print(f"rounds_{fmt}={rounds}")
    if rounds > 1:
        print(f"ingest_s_rounds_{fmt}=" + ",".join(f"{a['seconds']:.2f}" for a in assays))
        print(f"duckdb_copy_s_rounds_{fmt}=" + ",".join(f"{d['seconds']:.2f}" for d in ducks))
    print(f"accepted_calls_{fmt}={assay['accepted']}")
    print(f"rejected_records_{fmt}={assay['rejected']}")
    print(f"spans_{fmt}={assay['spans']}")
    print(f"ingest_s_{fmt}={assay['seconds']:.2f}")
    print(f"ingest_calls_per_s_{fmt}={rate:.0f}")
    print(f"baseline_rss_mb_{fmt}={assay['baseline_rss_mb']:.0f}")
    print(f"peak_rss_mb_{fmt}={assay['peak_rss_mb']:.0f}")
    print(f"duckdb_rows_{fmt}={duck['rows']}")
    print(f"duckdb_copy_s_{fmt}={duck['seconds']:.2f}")
    print(f"duckdb_calls_per_s_{fmt}={duck_rate:.0f}")
    print(f"duckdb_peak_rss_mb_{fmt}={duck['peak_rss_mb']:.0f}")
    print(f"ingest_ratio_{fmt}={ratio:.3f}")
    if fmt == NATIVE:  # the names of the native-only benchmark, kept
        print(f"assay_ingest_calls_per_s={rate:.0f}")
        print(f"assay_peak_rss_mb={assay['peak_rss_mb']:.0f}")
        print(f"duckdb_calls_per_s={duck_rate:.0f}")
        print(f"duckdb_peak_rss_mb={duck['peak_rss_mb']:.0f}")
        print(f"ingest_ratio={ratio:.3f}")
    sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1_000_000, help="calls in each format's landing day")
    parser.add_argument("--formats", default=",".join(FORMAT_NAMES), help="comma-separated formats to run")
    parser.add_argument("--keep", action="store_true", help="keep the temporary ASSAY_HOME")
    parser.add_argument(
        "--rounds", type=int, help=f"assay/DuckDB rounds per format, medians reported (default: {NATIVE_ROUNDS} "
        f"for {NATIVE}, whose ratio has a target, 1 for the others, which take minutes a round)",
    )
    parser.add_argument("--phase", choices=sorted(PHASES), help=argparse.SUPPRESS)
    parser.add_argument("--home", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    unknown = sorted(set(formats) - set(FORMAT_NAMES))
    if unknown:
        parser.error(f"unknown formats {unknown}; valid: {', '.join(FORMAT_NAMES)}")

    if args.phase:  # child process
        print(json.dumps(PHASES[args.phase](args.home, formats[0])))
        return

    root = Path(tempfile.mkdtemp(prefix="assay-bench-ingest-"))
    try:
        print(f"calls={args.calls}")
        for fmt in formats:
            bench_format(root, fmt, args.calls, args.rounds or (NATIVE_ROUNDS if fmt == NATIVE else 1))
            if not args.keep:
                shutil.rmtree(root / fmt, ignore_errors=True)
    finally:
        if args.keep:
            print(f"kept={root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
