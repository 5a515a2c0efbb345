"""Stable outcome types: every failed call and every evaluation that did not complete ends with
a type from `assay.outcomes`, whatever litellm or the evaluator raised; the engine retries by
what a failure means (a missing key is never retried) and a failure keeps its elapsed time."""

from __future__ import annotations

import pytest

from assay.llm.engine import LLMEngine, LLMRequest
from assay.outcomes import (
    AUTH,
    BAD_RESPONSE,
    EVALUATOR_CRASH,
    MISSING_INPUT,
    NOT_FOUND,
    SERVER_ERROR,
    TIMEOUT,
    classify_error,
    fix_hint,
    score_outcome_type,
)
from assay.testing.llm_server import Faults, LLMTestServer

MODEL = "openai/replay-test"


def _run(server: LLMTestServer, tmp_path, *, params: dict | None = None, **options):
    # A timeout no answer reaches even on a loaded machine: a timed-out first attempt would be
    # retried and blur the attempt counts these tests check (the timeout tests set their own).
    engine = LLMEngine(max_retries=2, backoff_base_s=0.001, timeout_s=10.0, cache_dir=tmp_path / "cache", **options)
    request = LLMRequest(MODEL, [{"role": "user", "content": "Where is my order?"}],
                         params if params is not None else server.completion_params())
    (result,) = engine.run([request])
    return result


@pytest.fixture
def no_openai_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


def test_a_missing_key_is_auth_and_is_not_retried(tmp_path, no_openai_key):
    with LLMTestServer() as server:
        # No key anywhere: litellm refuses before sending (as an InternalServerError, 500).
        result = _run(server, tmp_path, params={"api_base": server.api_base})
        assert (result.status, result.error_type, result.attempts) == ("error", AUTH, 1)
        assert "Missing credentials" in result.error_message
        assert server.stats["requests"] == 0


def test_a_401_404_and_malformed_body_get_their_types(tmp_path):
    with LLMTestServer(Faults(api_key="sk-right")) as server:
        result = _run(server, tmp_path)
        assert (result.error_type, result.attempts) == (AUTH, 1)
        assert "AuthenticationError" in result.error_message and "Incorrect API key" in result.error_message
    with LLMTestServer(Faults(models=["real-model"])) as server:
        result = _run(server, tmp_path)
        assert (result.error_type, result.attempts) == (NOT_FOUND, 1)
        assert "does not exist" in result.error_message
    with LLMTestServer(Faults(rate_malformed=1.0)) as server:
        result = _run(server, tmp_path)
        assert result.error_type == BAD_RESPONSE and result.attempts == 3  # may be a proxy's blip: retried
        assert server.stats["outcomes"]["malformed"] == 3


def test_a_persistent_500_fails_after_its_retries_with_the_time_it_took(tmp_path):
    with LLMTestServer(Faults(rate_500=1.0, persistent=True, latency_s=0.02)) as server:
        result = _run(server, tmp_path)
        assert (result.error_type, result.attempts) == (SERVER_ERROR, 3)
        assert result.latency_ms >= 3 * 20  # three answers of at least 20 ms each
    with LLMTestServer(Faults(rate_hang=1.0, hang_s=2)) as server:
        engine = LLMEngine(max_retries=1, backoff_base_s=0.001, timeout_s=0.1, cache_dir=tmp_path / "c2")
        (result,) = engine.run([LLMRequest(MODEL, [{"role": "user", "content": "q"}], server.completion_params())])
        assert (result.error_type, result.attempts) == (TIMEOUT, 2)
        assert result.latency_ms >= 2 * 100


def test_unknown_price_is_none_not_zero(tmp_path):
    with LLMTestServer(Faults(answer="Your order ships tomorrow.")) as server:
        result = _run(server, tmp_path)
        assert result.status == "completed" and result.cost_usd is None and result.paid_usd == 0.0
        # The same (cached) answer, once `pricing:` knows the model: priced.
        priced = _run(server, tmp_path, prices={MODEL: {"input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6}})
        assert priced.cost_usd is not None and priced.cost_usd > 0


def test_persistent_faults_hold_for_a_prompt_and_scripts_cycle():
    with LLMTestServer(Faults(rate_500=0.5, persistent=True, scripted={"CASE-7": ["bad", "good", "good"]})) as server:
        import json
        import urllib.request

        def ask(text):
            body = json.dumps({"model": "m", "messages": [{"role": "user", "content": text}]}).encode()
            request = urllib.request.Request(f"{server.api_base}/chat/completions", body, {"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    return json.loads(response.read())["choices"][0]["message"]["content"]
            except urllib.error.HTTPError as exc:
                return exc.code

        for text in ("a", "b", "c", "d", "e", "f"):
            assert len({str(ask(text)) for _ in range(3)}) == 1  # the same outcome every time
        replies = [ask("question CASE-7") for _ in range(6)]
        ok = [r for r in replies if r != 500]
        assert not ok or ok == ["bad", "good", "good", "bad", "good", "good"][: len(ok)]


@pytest.mark.parametrize(("error_class", "status", "message", "kind"), [
    ("InternalServerError", 500, "OpenAIException - Missing credentials. Please pass an `api_key`", AUTH),
    ("InternalServerError", 500, "Empty or invalid response from LLM endpoint. Received: '<html>'", BAD_RESPONSE),
    ("InternalServerError", 500, "internal error", SERVER_ERROR),
    ("APIError", 500, "Hosted_vllmException - Unable to get json response - Expecting value", BAD_RESPONSE),
    ("NotFoundError", 404, "The model `x` does not exist", NOT_FOUND),
    ("Timeout", None, "Request timed out", TIMEOUT),
    (None, 503, "", SERVER_ERROR),
    (None, 418, "", "unknown_error"),
])
def test_classify_error(error_class, status, message, kind):
    assert classify_error(error_class, status, message) == kind


@pytest.mark.parametrize(("status", "label", "explanation", "kind"), [
    ("completed", "pass", "", None),
    ("error", "unparseable_reply", "no JSON object", BAD_RESPONSE),
    ("error", "Timeout", "Request timed out", TIMEOUT),
    ("error", "ValueError", "boom", EVALUATOR_CRASH),
    ("error", None, "embedding model 'x' failed: APIConnectionError: refused", "connection"),
    ("skipped", None, "missing input: output_text", MISSING_INPUT),
    ("skipped", "budget", "run budget", "budget"),
    ("skipped", None, "language undetermined", "skipped"),
])
def test_score_outcome_types(status, label, explanation, kind):
    assert score_outcome_type(status, label, explanation) == kind


def test_fix_hints_name_the_key_and_the_model_string():
    assert fix_hint(AUTH, model="openai/gpt-4o-mini") == "401 from openai: is OPENAI_API_KEY set?"
    assert "anthropic/claude-x" in fix_hint(NOT_FOUND, model="anthropic/claude-x")
    assert "judge.timeout_s=30" in fix_hint(TIMEOUT, model="openai/x", timeout_s=30)
