"""A judge-batch submitter run as a child process by tests/integration/test_judge_batch.py,
so the test can kill it with SIGKILL at a known point:

    python -m tests.support.batch_child <ledger dir> <cache dir> <api_base> <n> <mode>

mode `kill-after-create=N`: SIGKILL itself right after the N-th batch is created, before the
batch id is recorded; mode `wait`: submit everything, print `submitted`, then wait (the test
kills it between submit and collect).
"""

import os
import signal
import sys
import time
from pathlib import Path


def requests(api_base: str, n: int):
    from assay.llm.engine import LLMRequest

    return [
        LLMRequest("openai/judge", [{"role": "user", "content": f"Judge answer {i}: is it grounded?"}],
                   {"api_base": api_base, "api_key": "test", "max_tokens": 64}, "faithfulness@1")
        for i in range(n)
    ]


def judge(ledger_dir: Path, cache_dir: Path, *, budget_usd: float | None = 100.0, spend_dir: Path | None = None):
    from assay.llm.batch import BatchJudge, BatchLedger, BatchSettings
    from assay.llm.engine import LLMEngine

    engine = LLMEngine(cache_dir=cache_dir, budget_usd=budget_usd, spend_dir=spend_dir,
                       prices={"openai/judge": {"input_cost_per_token": 2e-6, "output_cost_per_token": 8e-6}})
    return BatchJudge(BatchLedger(ledger_dir), engine, BatchSettings(max_requests_per_batch=500),
                      secrets={"api_key": "test"})


def main() -> None:
    ledger_dir, cache_dir, api_base, n, mode = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5]
    batch_judge = judge(ledger_dir, cache_dir)
    if mode.startswith("kill-after-create="):
        import litellm

        kill_at = int(mode.split("=", 1)[1])
        created = 0
        original = litellm.acreate_batch

        async def create_then_die(*args, **kwargs):
            nonlocal created
            batch = await original(*args, **kwargs)
            created += 1
            if created == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
            return batch

        litellm.acreate_batch = create_then_die
    report = batch_judge.submit_now("call_scores/day=2026-03-01", requests(api_base, n))
    print(f"submitted {report.submitted} pending {report.pending}", flush=True)
    if mode == "wait":
        time.sleep(3600)


if __name__ == "__main__":
    main()
