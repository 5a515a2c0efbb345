"""Simulated models behind litellm: provider `sim`, models `sim/support-*` and `sim/judge`.

They stand in for real LLMs in the demo and in tests, through litellm's normal call path
(`litellm.acompletion(model="sim/support-v2", ...)` returns a real `ModelResponse` with
usage, and `litellm.completion_cost` prices it). The support models know the demo app's
world (`assay.demo.domain`): they answer from the RAG context, classify tickets, route
to tools, and fail at their profile's rates. The judge grades with heuristics.

Every outcome is deterministic per (model, full prompt): a `random.Random` seeded from
a sha256 of both, so a re-run gives identical outputs.

litellm is imported lazily (it takes seconds): only `register_sim_provider()` and the
handler need it; `simulate()` is plain Python.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
import time
from dataclasses import dataclass
from typing import Any

from assay.demo import domain
from assay.llm import http_gate
from assay.llm.judge_prompt import parse_judge_prompt, parse_reply_format
from assay.sim import judge_heuristics

PROVIDER = "sim"
LATENCY_SCALE_ENV = "ASSAY_SIM_LATENCY_SCALE"
"""Multiplies every simulated latency (0 = no sleeping at all): for fast tests."""


@dataclass(frozen=True)
class SimProfile:
    name: str
    input_cost_per_token: float
    output_cost_per_token: float
    latency_ms: tuple[float, float]
    hallucination_rate: float = 0.0
    format_break_rate: float = 0.0
    tool_misuse_rate: float = 0.0
    refusal_rate: float = 0.0
    is_judge: bool = False
    judge_flip_rate: float = 0.0
    judge_wrapped_rate: float = 0.0
    judge_junk_rate: float = 0.0


def _profile(name: str, latency_ms: tuple[float, float], **rates: Any) -> SimProfile:
    price_in, price_out = domain.MODEL_PRICES_USD_PER_TOKEN[name]
    return SimProfile(name, price_in, price_out, latency_ms, **rates)


SIM_MODELS: dict[str, SimProfile] = {
    p.name: p
    for p in (
        _profile(
            "sim/support-v1", (60, 150),
            hallucination_rate=0.08, format_break_rate=0.05, tool_misuse_rate=0.06, refusal_rate=0.02,
        ),
        _profile(
            "sim/support-v2", (50, 120),
            hallucination_rate=0.01, format_break_rate=0.005, tool_misuse_rate=0.01, refusal_rate=0.005,
        ),
        _profile(
            "sim/support-lite", (20, 60),
            hallucination_rate=0.25, format_break_rate=0.15, tool_misuse_rate=0.20, refusal_rate=0.05,
        ),
        _profile(
            "sim/support-xl", (100, 200),
            hallucination_rate=0.01, format_break_rate=0.005, tool_misuse_rate=0.01, refusal_rate=0.005,
        ),
        _profile(
            "sim/judge", (5, 20),
            is_judge=True, judge_flip_rate=0.03, judge_wrapped_rate=0.01, judge_junk_rate=0.005,
        ),
    )
}
"""The sim models by litellm model string, with their quality, latency and price."""


@dataclass(frozen=True)
class SimReply:
    content: str | None
    tool_calls: list[dict[str, Any]] | None
    """[{name, arguments}] with arguments as a dict."""
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    latency_s: float


def profile_for(model: str) -> SimProfile:
    name = model if model.startswith(f"{PROVIDER}/") else f"{PROVIDER}/{model}"
    try:
        return SIM_MODELS[name]
    except KeyError:
        raise ValueError(
            f"unknown sim model {model!r}: valid are {', '.join(sorted(SIM_MODELS))}"
        ) from None


def _text(content: Any) -> str:
    """Message content as text (plain string or OpenAI content parts)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return str(content)


def _rng(model: str, messages: list[dict[str, Any]], tools: Any) -> random.Random:
    payload = json.dumps([model, messages, tools], sort_keys=True, default=str)
    return random.Random(hashlib.sha256(payload.encode()).digest())


def _support_reply(
    profile: SimProfile, rng: random.Random, messages: list[dict[str, Any]], tools: Any
) -> tuple[str | None, list[dict[str, Any]] | None, str]:
    system = "\n".join(_text(m.get("content")) for m in messages if m.get("role") == "system")
    users = [_text(m.get("content")) for m in messages if m.get("role") == "user"]
    question = users[-1] if users else ""
    # One draw per decision, always taken, so that a model's outcome on one prompt does
    # not depend on which branch another draw picked.
    refusal_draw, failure_draw, subtle_draw = rng.random(), rng.random(), rng.random()
    if refusal_draw < profile.refusal_rate:
        return domain.REFUSAL_TEXT, None, "stop"
    if tools:
        tool = domain.expected_tool(question)
        if failure_draw < profile.tool_misuse_rate:
            tool = domain.WRONG_TOOL[tool]
        return None, [{"name": tool, "arguments": domain.tool_arguments(question, tool)}], "tool_calls"
    if domain.CLASSIFY_MARKER in system:
        text = domain.classification_json(question)
        if failure_draw < profile.format_break_rate:
            broken, finish = domain.break_json(text, rng)
            return broken, None, finish
        return text, None, "stop"
    context = domain.parse_context_block(system)
    if not context:
        context = domain.retrieve(question)
    answer = domain.answer_from_context(question, context)
    if failure_draw < profile.hallucination_rate:
        answer = domain.hallucinate(answer, context, rng, subtle=subtle_draw < 0.4)
    return answer, None, "stop"


def _verdict(passed: bool, score: float, label: str, reason: str) -> dict[str, Any]:
    return {"passed": passed, "score": round(score, 3), "label": label, "reason": reason}


def judge_verdict(rubric_id: str | None, sections: dict[str, str], *, prompt: str = "") -> dict[str, Any]:
    """The sim judge's honest verdict (before its deliberate imperfections), in the default
    shape. `prompt` (the whole judge prompt) gives parameterised rubrics their filled text
    (restrict_to_topic's allowed topics)."""
    if rubric_id == "faithfulness":
        response = sections.get("response", "")
        context_docs = [
            line.split("] ", 1)[1] if line.startswith("[") and "] " in line else line
            for line in sections.get("context", "").splitlines()
            if line.strip()
        ]
        if domain.is_refusal(response) or not response.strip():
            return _verdict(True, 1.0, "no_claims", "The response makes no factual claims.")
        score, n = domain.faithfulness(response, context_docs)
        if score >= 0.8:
            return _verdict(True, score, "supported", f"{score:.0%} of {n} sentences are supported by the context.")
        return _verdict(
            False, score, "unsupported_claims",
            f"Only {score:.0%} of {n} sentences are supported by the context.",
        )
    if rubric_id == "tool_correctness":
        ok, label = domain.tool_call_correct(sections.get("question", ""), sections.get("tool_calls", ""))
        expected = domain.expected_tool(sections.get("question", ""))
        reason = "The right tool was called with its required arguments." if ok else (
            f"Expected {expected} with its required arguments ({label})."
        )
        return _verdict(ok, 1.0 if ok else 0.0, label, reason)
    if rubric_id == "answer_relevance":
        question, response = sections.get("question", ""), sections.get("response", "")
        if domain.is_refusal(response):
            return _verdict(False, 0.0, "refusal", "The response refuses instead of answering.")
        score = min(1.0, domain.relevance(question, response) * 1.5)
        passed = score >= 0.5
        return _verdict(
            passed, score, "relevant" if passed else "irrelevant",
            "The response addresses the question." if passed else "The response does not address the question.",
        )
    heuristic = judge_heuristics.HEURISTICS.get(rubric_id or "")
    if heuristic is not None:
        return heuristic(sections, prompt)
    raise SimJudgeCannotAnswer(f"the sim judge has no heuristic for rubric {rubric_id!r}")


class SimJudgeCannotAnswer(ValueError):
    """A judge prompt the sim judge has no honest answer for: an unknown rubric, or a request
    to repair an earlier reply. It fails the call (a 400 through litellm, an `error` score),
    never a made-up pass: a test double that passes what it cannot judge hides the bugs it is
    there to find."""


def _judge_reply(profile: SimProfile, rng: random.Random, messages: list[dict[str, Any]]) -> str:
    users = [_text(m.get("content")) for m in messages if m.get("role") == "user"]
    prompt = users[-1] if users else ""
    rubric_id, sections = parse_judge_prompt(prompt)
    if rubric_id is None and len(users) > 1:
        raise SimJudgeCannotAnswer("the sim judge does not answer repair requests: its junk reply stays an error")
    verdict = judge_verdict(rubric_id, sections, prompt=prompt)
    flip_draw, wrap_draw, junk_draw = rng.random(), rng.random(), rng.random()
    if junk_draw < profile.judge_junk_rate:
        return rng.choice(["PASS", "The answer looks fine to me.", '{"passed": "maybe", "score": 0.5'])
    if flip_draw < profile.judge_flip_rate:
        passed = not verdict["passed"]
        verdict = _verdict(passed, 0.85 if passed else 0.35, "pass" if passed else "fail", "Judged on overall impression.")
    mode, labels = parse_reply_format(prompt)
    text = json.dumps(judge_heuristics.shape_reply(verdict, mode, labels))
    if wrap_draw < profile.judge_wrapped_rate:
        text = rng.choice([f"```json\n{text}\n```", f"Here is my assessment:\n{text}\nI hope this helps."])
    return text


def simulate(model: str, messages: list[dict[str, Any]], tools: Any = None) -> SimReply:
    """What sim model `model` answers to `messages` (pure, deterministic, no sleeping)."""
    profile = profile_for(model)
    rng = _rng(profile.name, messages, tools)
    latency_s = rng.uniform(*profile.latency_ms) / 1000.0
    if profile.is_judge:
        content: str | None = _judge_reply(profile, rng, messages)
        tool_calls, finish = None, "stop"
    else:
        content, tool_calls, finish = _support_reply(profile, rng, messages, tools)
    prompt_tokens = sum(domain.estimate_tokens(_text(m.get("content"))) + 4 for m in messages)
    if tools:
        prompt_tokens += domain.estimate_tokens(json.dumps(tools, default=str))
    completion_tokens = domain.estimate_tokens(content) + (
        domain.estimate_tokens(json.dumps(tool_calls)) if tool_calls else 0
    )
    return SimReply(content, tool_calls, finish, prompt_tokens, max(1, completion_tokens), latency_s)


def _latency_scale() -> float:
    try:
        return max(0.0, float(os.environ.get(LATENCY_SCALE_ENV, "1")))
    except ValueError:
        return 1.0


def _fill_response(model_response: Any, model: str, reply: SimReply) -> Any:
    from litellm.types.utils import ChatCompletionMessageToolCall, Function, Usage

    message = model_response.choices[0].message
    message.content = reply.content
    if reply.tool_calls:
        message.tool_calls = [
            ChatCompletionMessageToolCall(
                id="call_" + hashlib.sha256(json.dumps(call, sort_keys=True).encode()).hexdigest()[:24],
                type="function",
                function=Function(name=call["name"], arguments=json.dumps(call["arguments"])),
            )
            for call in reply.tool_calls
        ]
    model_response.choices[0].finish_reason = reply.finish_reason
    model_response.model = model if model.startswith(f"{PROVIDER}/") else f"{PROVIDER}/{model}"
    model_response.created = int(time.time())
    model_response.usage = Usage(
        prompt_tokens=reply.prompt_tokens,
        completion_tokens=reply.completion_tokens,
        total_tokens=reply.prompt_tokens + reply.completion_tokens,
    )
    return model_response


def _simulate_or_refuse(model: str, messages: list, tools: Any) -> SimReply:
    """`simulate`, with a prompt the sim judge cannot answer turned into the 400 a provider
    gives a request it refuses (not retried, recorded as an error)."""
    import litellm

    try:
        return simulate(model, messages, tools)
    except SimJudgeCannotAnswer as exc:
        raise litellm.BadRequestError(message=str(exc), model=model, llm_provider=PROVIDER) from None


_HANDLER: Any = None


def _handler() -> Any:
    """The CustomLLM instance (its class is built here so litellm is imported lazily)."""
    global _HANDLER
    if _HANDLER is not None:
        return _HANDLER
    from litellm import CustomLLM

    class SimLLM(CustomLLM):
        """litellm handler for provider `sim`."""

        def completion(self, model: str, messages: list, api_base: str, custom_prompt_dict: dict,
                       model_response: Any, print_verbose: Any, encoding: Any, api_key: Any,
                       logging_obj: Any, optional_params: dict, *args: Any, **kwargs: Any) -> Any:
            reply = _simulate_or_refuse(model, messages, optional_params.get("tools"))
            time.sleep(reply.latency_s * _latency_scale())
            return _fill_response(model_response, model, reply)

        async def acompletion(self, model: str, messages: list, api_base: str, custom_prompt_dict: dict,
                              model_response: Any, print_verbose: Any, encoding: Any, api_key: Any,
                              logging_obj: Any, optional_params: dict, *args: Any, **kwargs: Any) -> Any:
            reply = _simulate_or_refuse(model, messages, optional_params.get("tools"))
            async with http_gate.at_the_provider():  # counted like a real provider's HTTP exchange
                await asyncio.sleep(reply.latency_s * _latency_scale())
            return _fill_response(model_response, model, reply)

    _HANDLER = SimLLM()
    return _HANDLER


def register_sim_provider() -> None:
    """Register provider `sim` with litellm, and the sim models' prices. Idempotent;
    other entries of `litellm.custom_provider_map` are kept."""
    import litellm

    if not any(entry.get("provider") == PROVIDER for entry in litellm.custom_provider_map):
        litellm.custom_provider_map = [
            *litellm.custom_provider_map,
            {"provider": PROVIDER, "custom_handler": _handler()},
        ]
    from litellm.utils import custom_llm_setup

    custom_llm_setup()
    if all(name in litellm.model_cost for name in SIM_MODELS):
        return
    litellm.register_model(
        {
            name: {
                "input_cost_per_token": profile.input_cost_per_token,
                "output_cost_per_token": profile.output_cost_per_token,
                "cache_creation_input_token_cost": 0.0,
                "cache_read_input_token_cost": 0.0,
                "litellm_provider": PROVIDER,
                "mode": "chat",
                "max_tokens": 8192,
                "max_input_tokens": 32768,
                "max_output_tokens": 8192,
                "supports_function_calling": True,
                "supports_tool_choice": True,
                "supports_response_schema": True,
            }
            for name, profile in SIM_MODELS.items()
        }
    )
