"""Benchmark: the latency the assay callback logger adds to each litellm call.

The same calls (`litellm.acompletion(mock_response=...)`: litellm's whole call path, cost
and callbacks included, no network) run one at a time in three modes, in the same run:

- `without`: no callback registered;
- `noop`: a CustomLogger whose methods do nothing (what any callback costs inside litellm:
  building the StandardLoggingPayload, scheduling the async callback);
- `with`: `assay.instrument.AssayLogger`, writing to a temporary ASSAY_HOME.

Calls alternate between the modes in blocks (rotating which goes first) so that drift on
the machine hits all three alike; after each block litellm's logging worker and assay's
writer are flushed, so no mode pays for another's backlog. Each call's latency includes
the callback work it triggers (the async callback runs on the event loop before the next
call resumes) and the writer thread's competition for the GIL.

Figures (`name=value`): `callback_overhead_median_ms` / `_p99_ms` = with minus without,
at the median and the 99th percentile; `assay_overhead_vs_noop_median_ms` is the part that
is assay's own; `callback_call_median_us` is the callback method itself on the call path;
`writer_us_per_record` the background thread's cost per record (sanitise, redact, JSON,
append). `lines_written` must equal `lines_expected`.

Usage: .venv/bin/python bench/callback.py [--calls N] [--block B]
"""

import argparse
import asyncio
import math
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import assay  # noqa: E402,F401  (privacy defaults: local price map before litellm loads)

MODEL = "gpt-4o-mini"
SYSTEM = (
    "You are the support assistant of an online bookshop. Answer in two sentences at most, "
    "quote the order number when there is one, and never promise a refund: hand over to a "
    "human agent instead. Today's date is given in the user's message."
)
QUESTIONS = [
    "Where is my order 48213? It was due on Monday.",
    "Can I change the delivery address of order 99120 to my office?",
    "Do you ship to Norway, and how long does it take?",
    "The second book in my parcel arrived damaged. What should I do?",
    "Is there a student discount on textbooks this term?",
]
ANSWER = "Your order 48213 left our warehouse on Friday and should arrive within two days."


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def messages(i: int) -> list[dict]:
    return [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": f"{QUESTIONS[i % len(QUESTIONS)]} (ticket {i})"},
    ]


async def measure(calls: int, block: int, home: Path) -> dict[str, float]:
    import litellm
    from litellm.integrations.custom_logger import CustomLogger

    from assay import instrument

    class NoopLogger(CustomLogger):
        def log_success_event(self, kwargs, response_obj, start_time, end_time):
            pass

        def log_failure_event(self, kwargs, response_obj, start_time, end_time):
            pass

        async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
            pass

        async def async_log_failure_event(self, kwargs, response_obj, start_time, end_time):
            pass

    loggers = {"without": None, "noop": NoopLogger(), "with": instrument.AssayLogger(home)}

    def use(mode: str) -> None:
        for logger in loggers.values():
            if logger is not None:
                litellm.logging_callback_manager.remove_callback_from_all_lists(logger)
        if loggers[mode] is not None:
            litellm.callbacks.append(loggers[mode])

    async def one(i: int) -> float:
        started = time.perf_counter()
        await litellm.acompletion(model=MODEL, messages=messages(i), mock_response=ANSWER)
        return time.perf_counter() - started

    latencies: dict[str, list[float]] = {mode: [] for mode in loggers}
    modes = list(loggers)
    with_calls = 0
    warmup = min(block, 50)
    for mode in modes:  # imports, caches and the writer thread, outside the figures
        use(mode)
        for i in range(warmup):
            await one(i)
        await instrument.aflush()
    with_calls += warmup
    for start in range(0, calls, block):
        size = min(block, calls - start)
        rotation = (start // block) % len(modes)
        for mode in modes[rotation:] + modes[:rotation]:
            use(mode)
            for i in range(start, start + size):
                latencies[mode].append(await one(i))
            await instrument.aflush()
        with_calls += size
    use("without")

    # The callback method alone, on a real payload, as the call path runs it.
    captured: dict = {}

    class Capture(CustomLogger):
        async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
            captured.update(kwargs=kwargs, response=response_obj, times=(start_time, end_time))

    capture = Capture()
    litellm.callbacks.append(capture)
    await litellm.acompletion(model=MODEL, messages=messages(0), mock_response=ANSWER)
    await instrument.aflush()
    litellm.logging_callback_manager.remove_callback_from_all_lists(capture)
    micro_home = home / "micro"
    micro = instrument.AssayLogger(micro_home)
    call_times = []
    for _ in range(5_000):
        started = time.perf_counter()
        micro.log_success_event(captured["kwargs"], captured["response"], *captured["times"])
        call_times.append(time.perf_counter() - started)
    micro.flush()

    # The writer's cost per record: a writer whose thread never wakes, drained by hand.
    records = 5_000
    payload = captured["kwargs"]["standard_logging_object"]
    writer = instrument._Writer(home / "writer", 3600.0, 10**9, 10**9)
    for _ in range(records):
        writer.put(payload)
    writer.drain()  # loads the redactor, outside the timing
    for _ in range(records):
        writer.put(payload)
    started = time.perf_counter()
    writer.drain()
    writer_s = time.perf_counter() - started

    landed = home / "landing" / "litellm"
    lines = sum(f.read_bytes().count(b"\n") for f in landed.glob("*/*.jsonl"))
    without, noop, with_ = (latencies[m] for m in ("without", "noop", "with"))
    ms = 1000.0
    return {
        "calls": calls,
        "call_median_ms_without": statistics.median(without) * ms,
        "call_median_ms_with_noop_logger": statistics.median(noop) * ms,
        "call_median_ms_with": statistics.median(with_) * ms,
        "call_p99_ms_without": percentile(without, 0.99) * ms,
        "call_p99_ms_with": percentile(with_, 0.99) * ms,
        "callback_overhead_median_ms": (statistics.median(with_) - statistics.median(without)) * ms,
        "callback_overhead_p99_ms": (percentile(with_, 0.99) - percentile(without, 0.99)) * ms,
        "assay_overhead_vs_noop_median_ms": (statistics.median(with_) - statistics.median(noop))
        * ms,
        "callback_call_median_us": statistics.median(call_times) * 1e6,
        "callback_call_p99_us": percentile(call_times, 0.99) * 1e6,
        "writer_us_per_record": writer_s / records * 1e6,
        "lines_written": lines,
        "lines_expected": with_calls,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000, help="calls per mode (default 2000)")
    parser.add_argument("--block", type=int, default=100, help="calls per block (default 100)")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="assay-bench-callback-"))
    try:
        figures = asyncio.run(measure(args.calls, args.block, home))
    finally:
        shutil.rmtree(home, ignore_errors=True)
    for name, value in figures.items():
        print(f"{name}={value:.4f}" if isinstance(value, float) else f"{name}={value}")


if __name__ == "__main__":
    main()
