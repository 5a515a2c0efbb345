"""assay.llm.batch's rules on small batches against the local server's Batch API: the deadline
(sync fallback near it, `skipped` past it), refused lines not retried, a failed batch retried,
the budget checked at batch prices before anything is submitted, and the server's batch
endpoints themselves (cancel, list, missing lines)."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta

from assay.llm.batch import BatchJudge, BatchLedger, BatchSettings, run_until_collected
from assay.llm.engine import LLMEngine, LLMRequest
from assay.testing.llm_server import Faults, LLMTestServer

PRICES = {"openai/judge": {"input_cost_per_token": 2e-6, "output_cost_per_token": 8e-6}}
SCOPE = "call_scores/day=2026-03-01"


class Clock:
    def __init__(self):
        self.now = datetime(2026, 3, 2, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def _requests(server, n: int) -> list[LLMRequest]:
    return [LLMRequest("openai/judge", [{"role": "user", "content": f"judge {i}"}],
                       {"api_base": server.api_base, "api_key": "test"}, "rules") for i in range(n)]


def _judge(tmp_path, clock=None, **engine_kwargs) -> BatchJudge:
    engine = LLMEngine(cache_dir=tmp_path / "cache", prices=PRICES, **engine_kwargs)
    return BatchJudge(BatchLedger(tmp_path / "ledger"), engine, BatchSettings(deadline_h=24), clock=clock or Clock())


def test_near_the_deadline_unanswered_lines_are_judged_sync_and_past_it_skipped(tmp_path):
    with LLMTestServer(Faults(batch_expire=[1, 2])) as server:
        clock = Clock()
        judge = _judge(tmp_path / "a", clock)
        judge.submit_now(SCOPE, _requests(server, 10))
        judge.collect_now(SCOPE)  # validating -> in_progress
        clock.now += timedelta(hours=23)  # 1 h left: less than the 2 h margin
        run_until_collected(judge, SCOPE)
        results = judge.submit_now(SCOPE, _requests(server, 10)).results
        # the expired batch answered its first half; the rest went sync (real chat requests)
        assert Counter((r.status, r.judge_mode) for r in results) == {("completed", "batch"): 5, ("completed", "sync"): 5}
        assert server.stats["requests"] == 5 and server.stats["batches_created"] == 1

        late_clock = Clock()
        late = _judge(tmp_path / "b", late_clock)
        other = [LLMRequest(r.model, r.messages, r.params, "late") for r in _requests(server, 4)]
        late.submit_now(SCOPE, other)
        late.collect_now(SCOPE)
        late_clock.now += timedelta(hours=25)
        run_until_collected(late, SCOPE)
        results = late.submit_now(SCOPE, other).results
        assert Counter(r.status for r in results) == {"completed": 2, "skipped": 2}
        assert all(r.error_type == "deadline" and "batch_expired" in r.error_message for r in results if r.status == "skipped")


def test_a_failed_batch_is_retried_and_refused_lines_are_not(tmp_path):
    with LLMTestServer(Faults(batch_fail=[1], sim_models=["judge"])) as server:
        judge = _judge(tmp_path)
        requests = _requests(server, 3)  # the sim judge cannot answer these prompts: a 400 per line
        judge.submit_now(SCOPE, requests)
        report = run_until_collected(judge, SCOPE)
        assert report.retried == 3 and server.stats["batches_created"] == 2  # failed batch -> one retry
        results = judge.submit_now(SCOPE, requests).results
        assert {r.status for r in results} == {"error"}
        assert all("HTTP 400" in r.error_message and "1 batch(es)" not in r.error_message for r in results)
        assert server.stats["batches_created"] == 2  # a 400 line is not sent a third time


def test_the_budget_is_checked_at_batch_prices_before_submission(tmp_path):
    with LLMTestServer(Faults()) as server:
        requests = [LLMRequest("openai/judge", [{"role": "user", "content": "judge " + "x" * 400}],
                               {"api_base": server.api_base, "api_key": "test", "max_tokens": 100}, "b") for _ in range(1)]
        requests += [LLMRequest(r.model, r.messages, r.params, f"b{i}") for i, r in enumerate(requests * 9)]
        upper_usd = _judge(tmp_path / "probe")._upper_cost_usd(requests[0])  # prompt counted, output at max_tokens
        sync_upper_usd = upper_usd * 2  # batch_discount 0.5
        judge = _judge(tmp_path, budget_usd=upper_usd * 4.5)  # 4 fit at the batch price (2 at the sync one)
        assert sync_upper_usd * 3 > upper_usd * 4.5
        report = judge.submit_now(SCOPE, requests)
        assert report.submitted == 4 and server.stats["batch_lines"] == 4
        skipped = [r for r in report.results if r is not None]
        assert len(skipped) == 6 and {r.error_type for r in skipped} == {"budget"}


def test_server_batches_cancel_list_and_missing_lines(tmp_path):
    import litellm

    with LLMTestServer(Faults(batch_line_missing_rate=0.5, seed=1)) as server:
        judge = _judge(tmp_path)
        judge.submit_now(SCOPE, _requests(server, 20))
        kwargs = {"custom_llm_provider": "openai", "api_base": server.api_base, "api_key": "test"}

        async def provider_view():
            listed = await litellm.alist_batches(limit=10, **kwargs)
            batch = listed.data[0]
            cancelled = await litellm.acancel_batch(batch_id=batch.id, **kwargs)
            after = await litellm.aretrieve_batch(batch_id=batch.id, **kwargs)
            return batch, cancelled.status, after.status

        batch, cancelling, cancelled = asyncio.run(provider_view())
        assert batch.metadata["assay_intent"] and (cancelling, cancelled) == ("cancelling", "cancelled")
        report = run_until_collected(judge, SCOPE)
        # the cancelled batch returned nothing: every line retried, half of them missing again
        assert report.retried >= 20
        results = judge.submit_now(SCOPE, _requests(server, 20)).results
        assert len(results) == 20 and all(r is not None for r in results)
        assert {r.status for r in results} <= {"completed", "error"}
        assert any(r.error_type == "missing_from_output" for r in results if r.status == "error")


def test_a_misspelt_mode_names_its_line_and_the_valid_values(tmp_path):
    import pytest

    from assay.config import ConfigError, load_config

    path = tmp_path / "assay.yaml"
    path.write_text("judge:\n  model: openai/judge\n  mode: bacth\n", encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    message = str(raised.value)
    assert f"{path}:3" in message and "judge.mode" in message and "'sync'" in message and "'batch'" in message
    path.write_text("judge:\n  batch_discount: 1.5\n", encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert f"{path}:2" in str(raised.value) and "judge.batch_discount" in str(raised.value)


def test_scores_kept_from_a_partition_written_before_judge_mode_existed_are_written_with_it_null(tmp_path):
    import pyarrow as pa

    from assay.contracts.score import SCORE_ARROW_SCHEMA
    from assay.lake import Lake

    before = pa.table({f.name: pa.array(["c1"] if f.name == "subject_id" else [None], f.type)
                       for f in SCORE_ARROW_SCHEMA if f.name not in ("judge_mode", "judge_cost_source")})
    lake = Lake(tmp_path / "lake")
    with lake.partition_writer("call_scores", partition={"day": "2026-03-01"}, schema=SCORE_ARROW_SCHEMA) as writer:
        writer.write(before)
    (row,) = lake.read_partition("call_scores", {"day": "2026-03-01"}).to_pylist()
    assert row["subject_id"] == "c1" and row["judge_mode"] is None and row["judge_cost_source"] is None
