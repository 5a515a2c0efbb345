"""`assay.assets.estimate`: each stage is priced as the run sends it. Judges of call_scores and
candidate_scores follow `judge.mode`, a candidate's replays its `replay_mode`, agent judges stay
synchronous; `charged_usd` (what `--max-cost` compares) adds each row at its own price."""

from __future__ import annotations

import pytest
from assay.assets.estimate import Estimator

from assay.config import AssayConfig
from assay.llm.engine import LLMRequest
from assay.runtime import AssayHome

PRICE = {"input_cost_per_token": 1e-6, "output_cost_per_token": 4e-6}


def _config(judge_mode: str) -> AssayConfig:
    return AssayConfig.model_validate({
        "judge": {"model": "openai/judge", "mode": judge_mode, "batch_discount": 0.5},
        "pricing": {"openai/judge": PRICE, "openai/fast": PRICE, "openai/slow": PRICE},
        "candidates": [
            {"candidate_id": "base", "model": "openai/fast", "is_baseline": True},
            {"candidate_id": "cheap", "model": "openai/slow", "replay_mode": "batch"},
        ],
    })


def _request(model: str, text: str) -> LLMRequest:
    return LLMRequest(model, [{"role": "user", "content": text}], {"max_tokens": 50}, "estimate-modes")


@pytest.mark.parametrize("judge_mode", ["sync", "batch"])
def test_each_stage_is_priced_as_the_run_sends_it(tmp_path, judge_mode):
    estimator = Estimator(_config(judge_mode), AssayHome(tmp_path))
    for stage, what, model in [("call_scores", "faithfulness", "openai/judge"),
                               ("agent_scores", "chat_resolution", "openai/judge"),
                               ("candidate_outputs", "base", "openai/fast"),
                               ("candidate_outputs", "cheap", "openai/slow"),
                               ("candidate_scores", "faithfulness", "openai/judge")]:
        estimator.add(stage, what, _request(model, f"{stage} {what}: is the answer grounded?"), 40)
    estimate = estimator.finish()
    modes = {(r.stage, r.what): r.mode for r in estimate.rows}
    assert modes == {("call_scores", "faithfulness"): judge_mode, ("agent_scores", "chat_resolution"): "sync",
                     ("candidate_outputs", "base"): "sync", ("candidate_outputs", "cheap"): "batch",
                     ("candidate_scores", "faithfulness"): judge_mode}
    for row in estimate.rows:
        assert row.charged_usd == (row.batch_usd if row.mode == "batch" else row.sync_usd)
        assert row.batch_usd == pytest.approx(row.sync_usd * 0.5)
    assert estimate.batch_usd < estimate.charged_usd < estimate.sync_usd
    assert estimate.as_dict()["total"]["charged_usd"] == pytest.approx(estimate.charged_usd)
