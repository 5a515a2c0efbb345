"""Benchmark: judged calls per second through assay's judge engine, against the local
OpenAI-compatible server answering after 200 ms, as a ratio to the ideal.

The ideal at concurrency C is C / 0.2 s calls per second: the provider's latency is the only
wait. Each level runs the whole judge path a nightly run takes — `LLMJudge.plan` (fenced
prompt, PII redaction), `judge_plans` (engine: cache lookups and writes, limiter, retries;
litellm's real HTTP path; reply parsing, the repair pass, Score building) — for enough calls
to last about `--seconds` at the ideal rate. The server runs in its own process so its CPU
does not share the client's GIL; worker processes (`judge.worker_processes`) are started
before the clock starts, as a run keeps them for its whole partition.

Figures (`name=value`):
- `judge_ratio_c8`, `judge_ratio_c32`, `judge_ratio_c128`: no faults;
- `judge_ratio_c32_faults`: 5% of calls answered 429 with `Retry-After: 1` (the retried call
  waits 1 s without holding a slot; random refusals are no overload share, `limits.py`);
- `judge_calls_per_s_<level>`, `judge_latency_p50_ms_<level>` (the provider's time and
  litellm's, without the wait at the HTTP gate);
- `judge_max_in_flight_<level>`: the most requests the server held at once, as it counted
  them: never above the level, so the engine gets its rate within its concurrency limit;
- `litellm_loop_ratio_c32`: a plain asyncio loop over `litellm.acompletion` in this process
  (no engine), the same calls: the ceiling of one process, measured in the same run;
- `judge_batch_cost_ratio`: dollars charged for the same 2,000 judge requests through the
  server's Batch API (`judge.mode: batch`, 2% failed lines and one expired batch, retried) over
  the dollars charged synchronously; `judge_batch_rows_lost`: requests without a final score
  (completed, error or skipped) after collection; `judge_batch_batches`: batches created;
  `judge_batch_lines_submitted_twice`: lines sent again (the retries, nothing else);
- `peak_rss_mb` (this process), `peak_rss_mb_children` (largest of the worker processes and the
  server, read after they exit).

Usage: .venv/bin/python bench/judge.py [--seconds S] [--workers W] [--levels 8,32,128] [--batch-only]
"""

import argparse
import asyncio
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import assay  # noqa: E402,F401  (privacy defaults: local price map before litellm loads)

LATENCY_S = 0.2
MODEL = "openai/bench-judge"
PRICES = {MODEL: {"input_cost_per_token": 1.5e-7, "output_cost_per_token": 6e-7}}


async def judged_calls_per_s(server, concurrency: int, calls: int, workers: int, cache_dir: Path, offset: int):
    from assay.evaluators.llm_judge import LLMJudge, judge_plans_async

    from assay.llm.engine import LLMEngine
    from assay.testing.subjects import refund_subjects

    judge = LLMJudge(name="faithfulness", rubric="faithfulness", model=MODEL, completion_params=server.completion_params())
    engine = LLMEngine(
        max_concurrency=concurrency,
        timeout_s=30,
        max_retries=5,
        worker_processes=workers,
        min_calls_for_workers=1,
        cache_dir=cache_dir,
        prices=PRICES,
    )
    warmup = [judge.plan(s, default_model=MODEL) for s in refund_subjects(min(2 * concurrency, 64), offset)]
    async with engine.session(calls):
        await judge_plans_async(warmup, engine)  # connections, clients, lazy imports
        engine.stats = type(engine.stats)()
        items = refund_subjects(calls, offset + 10_000_000)
        started = time.perf_counter()
        plans = [judge.plan(s, default_model=MODEL) for s in items]
        scores = await judge_plans_async(plans, engine)
        elapsed = time.perf_counter() - started
    assert len(scores) == calls, "every subject must end as one score"
    not_completed = sum(1 for s in scores if s.status != "completed")
    return calls / elapsed, engine.stats, not_completed


async def litellm_loop_calls_per_s(server, concurrency: int, calls: int) -> float:
    import litellm

    semaphore = asyncio.Semaphore(concurrency)
    params = server.completion_params()

    async def one(i: int) -> None:
        async with semaphore:
            await litellm.acompletion(
                model=MODEL, messages=[{"role": "user", "content": f"loop question {i}"}], max_retries=0, **params
            )

    await asyncio.gather(*(one(i) for i in range(2 * concurrency)))
    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(calls)))
    return calls / (time.perf_counter() - started)


BATCH_REQUESTS = 2000


def judge_scores(server, cache_dir: Path, *, batch_dir: Path | None = None):
    """The 2,000 judge requests, sync or (with `batch_dir`) through the Batch API, collected."""
    from assay.evaluators.llm_judge import LLMJudge, judge_plans

    from assay.llm.batch import BatchJudge, BatchLedger, BatchSettings, run_until_collected
    from assay.llm.engine import LLMEngine
    from assay.testing.subjects import refund_subjects

    judge = LLMJudge(name="faithfulness", rubric="faithfulness", model=MODEL, completion_params=server.completion_params())
    engine = LLMEngine(max_concurrency=32, timeout_s=30, max_retries=5, cache_dir=cache_dir, prices=PRICES)
    subjects = refund_subjects(BATCH_REQUESTS, 90_000_000)
    if batch_dir is None:
        return judge_plans([judge.plan(s, default_model=MODEL) for s in subjects], engine)
    engine.batch = BatchJudge(BatchLedger(batch_dir), engine, BatchSettings(max_requests_per_batch=500))
    engine.batch_scope = "bench/judge"
    judge_plans([judge.plan(s, default_model=MODEL) for s in subjects], engine)  # submits
    run_until_collected(engine.batch, engine.batch_scope)
    engine.stats = type(engine.stats)()
    return judge_plans([judge.plan(s, default_model=MODEL) for s in subjects], engine)  # from what was collected


def batch_figures(tmp: Path) -> dict[str, float | int]:
    from assay.testing.llm_server import Faults, LLMTestServer

    with LLMTestServer(Faults(), in_subprocess=True) as server:
        sync = judge_scores(server, tmp / "sync-cache")
    faults = Faults(batch_line_error_rate=0.02, batch_expire=[2], batch_delay_s=0.001, seed=3)
    with LLMTestServer(faults, in_subprocess=True) as server:
        batch = judge_scores(server, tmp / "batch-cache", batch_dir=tmp / "batches")
        stats = server.stats
    sync_usd = sum(s.judge_cost_usd or 0.0 for s in sync)
    batch_usd = sum(s.judge_cost_usd or 0.0 for s in batch)
    accounted = sum(1 for s in batch if s.status in ("completed", "error", "skipped"))
    return {
        "judge_batch_cost_ratio": batch_usd / sync_usd,
        "judge_batch_rows_lost": BATCH_REQUESTS - accounted,
        "judge_batch_sync_usd": sync_usd,
        "judge_batch_batch_usd": batch_usd,
        "judge_batch_completed": sum(1 for s in batch if s.status == "completed"),
        "judge_batch_batches": stats["batches_created"],
        "judge_batch_lines_submitted_twice": stats["batch_lines_submitted_twice"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # A nightly run judges thousands of calls; the first and the last latency of a run (calls
    # starting together, the last retries draining) are a fixed ~0.4 s, 3% of a 12 s level.
    parser.add_argument("--seconds", type=float, default=30.0, help="target seconds per level at the ideal rate")
    parser.add_argument("--workers", type=int, default=4, help="worker processes (0 = in-process)")
    parser.add_argument("--levels", default="8,32,128")
    parser.add_argument("--batch-only", action="store_true", help="only the Batch API figures (judge_batch_*)")
    args = parser.parse_args()

    import litellm

    from assay.testing.llm_server import Faults, LLMTestServer

    litellm.suppress_debug_info = True
    figures: dict[str, float | int] = {"judge_workers": args.workers}
    tmp = Path(tempfile.mkdtemp(prefix="assay-bench-judge-"))
    offset = 0
    try:
        figures.update(batch_figures(tmp))
        print(f"judge_batch_cost_ratio={figures['judge_batch_cost_ratio']:.3f}", file=sys.stderr, flush=True)
        runs = [] if args.batch_only else [(f"c{c}", c, Faults(latency_s=LATENCY_S)) for c in map(int, args.levels.split(","))]
        if not args.batch_only:
            runs.append(("c32_faults", 32, Faults(latency_s=LATENCY_S, rate_429=0.05, retry_after_s=1.0, seed=5)))
        for name, concurrency, faults in runs:
            ideal = concurrency / LATENCY_S
            calls = int(ideal * args.seconds)
            with LLMTestServer(faults, in_subprocess=True) as server:
                rate, stats, not_completed = asyncio.run(
                    judged_calls_per_s(server, concurrency, calls, args.workers, tmp / name, offset)
                )
                max_in_flight = server.stats["max_in_flight"]
            offset += 20_000_000
            figures[f"judge_ratio_{name}"] = rate / ideal
            figures[f"judge_calls_per_s_{name}"] = rate
            figures[f"judge_calls_{name}"] = calls
            figures[f"judge_latency_p50_ms_{name}"] = stats.latency_p50_ms
            figures[f"judge_not_completed_{name}"] = not_completed
            figures[f"judge_max_in_flight_{name}"] = max_in_flight
            if faults.rate_429:
                figures[f"judge_retries_{name}"] = stats.retries
                figures[f"judge_concurrency_lowest_{name}"] = stats.concurrency_limit_lowest
            print(f"judge_ratio_{name}={rate / ideal:.3f}", file=sys.stderr, flush=True)
        if not args.batch_only:
            with LLMTestServer(Faults(latency_s=LATENCY_S), in_subprocess=True) as server:
                loop_rate = asyncio.run(litellm_loop_calls_per_s(server, 32, int(32 / LATENCY_S * args.seconds / 2)))
            figures["litellm_loop_ratio_c32"] = loop_rate / (32 / LATENCY_S)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    figures["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    figures["peak_rss_mb_children"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    for name, value in figures.items():
        print(f"{name}={value:.3f}" if isinstance(value, float) else f"{name}={value}")


if __name__ == "__main__":
    main()
