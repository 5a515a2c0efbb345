"""Issue 18, item 6: judge prompts are cacheable by providers, and Anthropic's `cache_control`
marker is set only where the cache write pays for itself (assay/llm/prompt_cache.py)."""

import litellm
import pytest
from assay.assets.scoring import is_judged
from assay.evaluators.registry import EVALUATOR_TYPES, build_evaluator, describe_type

from assay.llm.engine import LLMRequest
from assay.llm.judge_prompt import split_fixed_prefix
from assay.llm.prompt_cache import MIN_CACHEABLE_TOKENS, mark_cacheable_prefixes, pays_to_cache
from assay.llm.transport import outcome_from_response

JUDGED_TYPES = [t for t in EVALUATOR_TYPES if is_judged(t)]


def _subject(n: int) -> dict:
    """Every field a judge section can read, different per n."""
    return {
        "subject_id": f"s{n}", "feature": "f", "input_text": f"question {n}?", "output_text": f"answer {n}.",
        "context": [f"context {n}"], "expected_output": f"reference {n}", "baseline_output": f"baseline {n}.",
        "messages": [{"role": "user", "content": f"question {n}?"}, {"role": "assistant", "content": f"answer {n}."}],
        "tools": [{"type": "function", "function": {"name": f"tool_{n}", "parameters": {}}}],
        "tool_calls": [{"name": f"tool_{n}", "arguments": {}}],
        "steps": [{"kind": "llm", "output": f"step {n}"}],
    }


@pytest.mark.parametrize("type_", JUDGED_TYPES)
def test_every_judge_puts_the_fixed_rubric_first_and_the_evidence_last(type_):
    judge = build_evaluator("j", type_, {**describe_type(type_).example, "model": "openai/judge"})
    first, second = (judge.plan(_subject(n), default_model="openai/judge") for n in (1, 2))
    for a, b in zip(first.requests, second.requests, strict=True):
        assert a.messages[0] == b.messages[0] and a.messages[0]["role"] == "system"  # fixed system prompt
        fixed_a, evidence_a = split_fixed_prefix(a.messages[-1]["content"])
        fixed_b, evidence_b = split_fixed_prefix(b.messages[-1]["content"])
        assert fixed_a == fixed_b  # rubric id, reply format and rubric text: the same for every subject
        assert judge._text.strip() in fixed_a  # the whole rubric is in the fixed part
        # The evidence comes after it, all of it: nothing of the subject is in the fixed part.
        assert not any(f"{field} 1" in fixed_a for field in ("question", "answer", "context", "reference", "baseline", "step"))
        assert "tool_1" not in fixed_a and evidence_a != evidence_b


def _requests(n: int, model: str, rubric_words: int = 1500) -> list[LLMRequest]:
    rubric = "RUBRIC: long\n" + " ".join(f"criterion{i}" for i in range(rubric_words)) + "\n"
    return [
        LLMRequest(model=model, messages=[
            {"role": "system", "content": "judge"},
            {"role": "user", "content": rubric + f"<<<BEGIN UNTRUSTED response {i:04x}>>>\nanswer {i}\n<<<END UNTRUSTED response {i:04x}>>>"},
        ])
        for i in range(n)
    ]


ANTHROPIC_LIKE = {"input_cost_per_token": 3e-6, "output_cost_per_token": 15e-6,
                  "cache_creation_input_token_cost": 3.75e-6, "cache_read_input_token_cost": 0.3e-6}


def test_the_cache_write_pays_from_the_second_read_at_anthropic_prices_and_later_when_dearer():
    price = ANTHROPIC_LIKE["input_cost_per_token"]
    assert not pays_to_cache(1, price, 0.1 * price, 1.25 * price)
    assert pays_to_cache(2, price, 0.1 * price, 1.25 * price)
    # A dearer write and read: 2 + (n - 1) x 0.5 < n only from n = 4.
    assert [pays_to_cache(n, 1.0, 0.5, 2.0) for n in (2, 3, 4)] == [False, False, True]


def test_markers_only_on_a_long_shared_prefix_of_a_model_that_charges_cache_writes():
    prices = {"anthropic/like": ANTHROPIC_LIKE, "openai-like": {"input_cost_per_token": 3e-6, "output_cost_per_token": 15e-6}}
    many = _requests(3, "anthropic/like")
    original = [r.messages[-1]["content"] for r in many]
    keys = [r.key for r in many]
    assert mark_cacheable_prefixes(many, prices) == 3
    for request, text, key in zip(many, original, keys, strict=True):
        fixed, evidence = request.messages[-1]["content"]
        assert fixed["cache_control"] == {"type": "ephemeral"} and "cache_control" not in evidence
        assert fixed["text"] + evidence["text"] == text and fixed["text"].startswith("RUBRIC: long")
        assert request.key != key  # the marker is part of what is asked
    assert mark_cacheable_prefixes(_requests(1, "anthropic/like"), prices) == 0  # read once: the write never pays
    assert mark_cacheable_prefixes(_requests(5, "openai-like"), prices) == 0  # caches without markers, no write price
    written = {"azure/eu/gpt-4o": ANTHROPIC_LIKE}
    assert mark_cacheable_prefixes(_requests(5, "azure/eu/gpt-4o"), written) == 0  # not Anthropic: caches on its own
    short = _requests(5, "anthropic/like", rubric_words=50)
    assert mark_cacheable_prefixes(short, prices) == 0  # below the provider's minimum: nothing to cache
    assert MIN_CACHEABLE_TOKENS == 1024
    # litellm's own map: Claude models carry a cache-write price, so they are marked without `pricing:`.
    assert mark_cacheable_prefixes(_requests(2, "anthropic/claude-sonnet-4-5"), {}) == 2


def test_cached_and_cache_written_tokens_are_read_from_openai_and_anthropic_usage():
    openai = litellm.ModelResponse(choices=[{"message": {"role": "assistant", "content": "{}"}, "finish_reason": "stop"}],
                                   usage={"prompt_tokens": 1200, "completion_tokens": 20, "total_tokens": 1220,
                                          "prompt_tokens_details": {"cached_tokens": 1024}})
    outcome = outcome_from_response(openai)
    assert (outcome.input_tokens, outcome.cached_input_tokens, outcome.cache_write_input_tokens) == (1200, 1024, None)
    usage = litellm.Usage(prompt_tokens=1500, completion_tokens=20, total_tokens=1520,
                          cache_creation_input_tokens=1300, cache_read_input_tokens=0)
    anthropic = litellm.ModelResponse(choices=[{"message": {"role": "assistant", "content": "{}"}, "finish_reason": "stop"}])
    anthropic.usage = usage
    outcome = outcome_from_response(anthropic)
    assert (outcome.cached_input_tokens, outcome.cache_write_input_tokens) == (0, 1300)
