"""Issue 18, item 6, over HTTP: the local OpenAI-compatible server reports cached prompt tokens
for repeated prefixes (`Faults.prefix_cache_block_chars`), and every score records how many of
its judge's input tokens the provider's cache served and what they cost, as does the run's
ledger (the engine's run stats, which become the asset's `judge_*` metadata)."""

import pytest
from assay.evaluators.llm_judge import judge_plans
from assay.evaluators.registry import build_evaluator

from assay.llm.engine import LLMEngine
from assay.testing.llm_server import Faults, LLMTestServer

pytestmark = pytest.mark.integration

PRICE = {"input_cost_per_token": 2e-6, "output_cost_per_token": 8e-6, "cache_read_input_token_cost": 0.5e-6}


def test_cached_prompt_tokens_and_their_price_are_recorded_per_score_and_per_run():
    subjects = [
        {"subject_id": f"call-{i}", "input_text": f"How long does refund {i} take?",
         "context": [f"Refunds for order {i} take {i % 5 + 1} business days."],
         "output_text": f"Refund {i} takes {i % 5 + 1} business days."}
        for i in range(12)
    ]
    with LLMTestServer(Faults(prefix_cache_block_chars=256)) as server:
        judge = build_evaluator("faithful", "faithfulness", {"model": "openai/judge",
                                                             "completion_params": server.completion_params()})
        engine = LLMEngine(prices={"openai/judge": PRICE}, max_retries=0)
        scores = judge_plans([judge.plan(s, default_model="openai/judge") for s in subjects], engine)
        served = server.stats

    assert [s.status for s in scores] == ["completed"] * 12
    cached = [(s.details or {}).get("prompt_cache", {}).get("cached_input_tokens", 0) for s in scores]
    # The first request to arrive wrote the shared prefix (system prompt + rubric); the 11 after
    # it read it, all the same length.
    assert cached.count(0) == 1 and len(set(cached) - {0}) == 1 and max(cached) >= 256 // 4
    assert sum(cached) == served["cached_tokens"] == engine.stats.cached_input_tokens
    for score, tokens in zip(scores, cached, strict=True):
        plain = score.judge_input_tokens - tokens
        assert score.judge_cost_usd == pytest.approx(
            plain * PRICE["input_cost_per_token"] + tokens * PRICE["cache_read_input_token_cost"]
            + score.judge_output_tokens * PRICE["output_cost_per_token"]
        )
        if tokens:
            assert score.details["prompt_cache"]["cached_input_usd"] == pytest.approx(tokens * PRICE["cache_read_input_token_cost"])
    assert engine.stats.prompt_cache_usd == pytest.approx(sum(cached) * PRICE["cache_read_input_token_cost"])
    assert engine.stats.input_tokens == served["input_tokens"]
    assert engine.stats.cost_usd == pytest.approx(sum(s.judge_cost_usd for s in scores))
