"""Benchmark: ingest one landing day of N calls (default 1,000,000).

Measures, in one run and on the same JSONL file:

- assay: the `raw_calls` asset's code path (`ingest_day` + `write_ingested_day`, i.e. both
  partitions written through `Lake.write_partition`): seconds, calls/s, peak RSS;
- plain DuckDB: `COPY (SELECT * FROM read_ndjson(..., ignore_errors=true)) TO ... (FORMAT
  parquet)`, no validation at all: the limit to compare with;
- `ingest_ratio` = assay calls/s / DuckDB calls/s.

The day is made at run time in a temporary ASSAY_HOME: the demo generator writes a few
thousand realistic calls (with its 3 malformed lines), and those lines are replicated with
fresh call_ids until the day holds `--calls` lines, so every replica keeps the malformed
lines too. Each phase runs in its own child process so its peak RSS is its own
(ru_maxrss of the child: interpreter and imports included; `*_baseline_rss_mb` is the RSS
just before the phase starts). Timings exclude imports.

Usage: .venv/bin/python bench/ingest.py [--calls N] [--keep]
"""

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

DAY = date(2025, 3, 10)
TEMPLATE_CALLS = 5000
"""Realistic calls the generator makes (~2 s); the day is built by replicating them."""
CALL_ID_PREFIX = '"call_id": "call-'


def make_landing_day(home: Path, calls: int) -> Path:
    """Write `calls` lines for DAY under `home/landing/native/DAY/calls.jsonl`."""
    from assay.demo.generator import generate, landing_path

    template_home = home / "template"
    generate(template_home, days=1, calls_per_day=min(calls, TEMPLATE_CALLS), end_day=DAY)
    template = landing_path(template_home, DAY).read_text(encoding="utf-8").splitlines()
    shutil.rmtree(template_home)
    target = landing_path(home, DAY)
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


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def phase_assay(home: Path) -> dict:
    """What the raw_calls asset does for one partition, minus Dagster and the GE check."""
    from assay.lake import Lake
    from assets.raw_calls import ingest_day, write_ingested_day

    baseline = _rss_mb()
    start = time.perf_counter()
    ingested = ingest_day(home / "landing", DAY, default_app="acme-support")
    parsed = time.perf_counter()
    write_ingested_day(Lake(home / "lake"), DAY.isoformat(), ingested)
    elapsed = time.perf_counter() - start
    return {
        "seconds": elapsed,
        "write_seconds": elapsed - (parsed - start),
        "accepted": len(ingested.calls),
        "rejected": len(ingested.rejected),
        "baseline_rss_mb": baseline,
        "peak_rss_mb": _peak_rss_mb(),
    }


def phase_duckdb(home: Path) -> dict:
    """Plain DuckDB: JSONL to Parquet with schema inference and no validation."""
    import duckdb

    source = home / "landing" / "native" / DAY.isoformat() / "calls.jsonl"
    target = home / "duckdb_copy.parquet"
    con = duckdb.connect()
    baseline = _rss_mb()
    start = time.perf_counter()
    con.execute(
        f"COPY (SELECT * FROM read_ndjson('{source}', ignore_errors=true)) "
        f"TO '{target}' (FORMAT parquet, COMPRESSION zstd)"
    )
    elapsed = time.perf_counter() - start
    rows = con.execute(f"SELECT count(*) FROM read_parquet('{target}')").fetchone()[0]
    return {
        "seconds": elapsed,
        "accepted": rows,
        "baseline_rss_mb": baseline,
        "peak_rss_mb": _peak_rss_mb(),
    }


PHASES = {"assay": phase_assay, "duckdb": phase_duckdb}


def run_phase(name: str, home: Path) -> dict:
    """Run one phase in a fresh interpreter; it prints its figures as one JSON line."""
    proc = subprocess.run(
        [sys.executable, __file__, "--phase", name, "--home", str(home)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        sys.exit(f"phase {name} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1_000_000, help="lines in the landing day")
    parser.add_argument("--keep", action="store_true", help="keep the temporary ASSAY_HOME")
    parser.add_argument("--phase", choices=sorted(PHASES), help=argparse.SUPPRESS)
    parser.add_argument("--home", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.phase:  # child process
        print(json.dumps(PHASES[args.phase](args.home)))
        return

    home = Path(tempfile.mkdtemp(prefix="assay-bench-ingest-"))
    try:
        start = time.perf_counter()
        landing = make_landing_day(home, args.calls)
        print(f"calls={args.calls}")
        print(f"landing_mb={landing.stat().st_size / 2**20:.0f}")
        print(f"generate_s={time.perf_counter() - start:.1f}")
        assay = run_phase("assay", home)
        duck = run_phase("duckdb", home)
        assay_rate = args.calls / assay["seconds"]
        duck_rate = args.calls / duck["seconds"]
        print(f"assay_accepted_calls={assay['accepted']}")
        print(f"assay_rejected_calls={assay['rejected']}")
        print(f"assay_ingest_s={assay['seconds']:.2f}")
        print(f"assay_write_partitions_s={assay['write_seconds']:.2f}")
        print(f"assay_ingest_calls_per_s={assay_rate:.0f}")
        print(f"assay_baseline_rss_mb={assay['baseline_rss_mb']:.0f}")
        print(f"assay_peak_rss_mb={assay['peak_rss_mb']:.0f}")
        print(f"duckdb_rows={duck['accepted']}")
        print(f"duckdb_copy_s={duck['seconds']:.2f}")
        print(f"duckdb_calls_per_s={duck_rate:.0f}")
        print(f"duckdb_baseline_rss_mb={duck['baseline_rss_mb']:.0f}")
        print(f"duckdb_peak_rss_mb={duck['peak_rss_mb']:.0f}")
        print(f"ingest_ratio={assay_rate / duck_rate:.3f}")
    finally:
        if args.keep:
            print(f"kept={home}", file=sys.stderr)
        else:
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
