"""Provider prompt caching for judge requests: where it pays, ask for it.

Judge prompts put what is fixed first (the system prompt, the rubric id, reply format and rubric
text) and the evidence last (`judge_prompt.render_judge_prompt`), so a provider's prefix cache can
serve the fixed part of every request after the first. OpenAI (and Azure, DeepSeek, Gemini 2.5's
implicit caching) do this on their own, with no write premium. Anthropic's models (direct, on
Bedrock, on Vertex AI) cache only up to an explicit `cache_control` marker, and a cache write
costs more than plain input (1.25x for the 5-minute cache), a read far less (0.1x).

The rule (`pays_to_cache`): for an Anthropic model whose price has a cache-write price (litellm's
`cache_creation_input_token_cost`, or `pricing:` in assay.yaml), the fixed prefix shared by the n
requests of one judging batch (a partition's judge plans, with one model and one rubric) is
marked when

    write + (n - 1) x read  <  n x input        (per prefix token)

i.e. one write and n - 1 reads cost less than n plain reads, and the prefix is at least
`MIN_CACHEABLE_TOKENS` long (Anthropic does not cache a shorter one: the marker would buy
nothing). At Anthropic's prices that is n >= 2. Models without a write price get no marker (they
cache without one, or not at all). The marker changes the request, so the request's cache key;
only for the models marked, whose keys are then stable from run to run.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence

from assay.llm.engine import LLMRequest, estimate_input_tokens
from assay.llm.judge_prompt import split_fixed_prefix
from assay.pricing import cache_prices, price_info

MIN_CACHEABLE_TOKENS = 1024
"""Anthropic's minimum cacheable prompt for Claude Sonnet and Opus (Haiku's is 2048)."""
CACHE_CONTROL = {"type": "ephemeral"}


def needs_markers(model: str, overrides: Mapping[str, Mapping[str, float]]) -> bool:
    """Anthropic's models (direct, Bedrock, Vertex AI: "claude" in the name) cache only what is
    marked, and charge for the write (a cache-write price, from `pricing:` or litellm's map).
    Other models with a write price in the map (some Azure deployments) cache on their own."""
    is_anthropic = model.startswith("anthropic/") or "claude" in model.lower()
    return is_anthropic and price_info(model, overrides).get("cache_creation_input_token_cost") is not None


def pays_to_cache(requests: int, input_price: float, read_price: float, write_price: float) -> bool:
    """One cache write and n - 1 reads cost less than n plain reads of the prefix."""
    return requests >= 2 and write_price + (requests - 1) * read_price < requests * input_price


def _split(request: LLMRequest) -> tuple[str, str] | None:
    last = request.messages[-1] if request.messages else None
    if not isinstance(last, dict) or last.get("role") != "user" or not isinstance(last.get("content"), str):
        return None
    prefix, rest = split_fixed_prefix(last["content"])
    return (prefix, rest) if rest else None


def mark_cacheable_prefixes(
    requests: Sequence[LLMRequest], overrides: Mapping[str, Mapping[str, float]]
) -> int:
    """Set Anthropic's `cache_control` on the fixed prefix of the requests whose shared prefix
    pays for its cache write (the module's rule); returns how many requests were marked. The
    user message becomes two text blocks: the fixed prefix (marked) and the evidence."""
    groups: dict[tuple[str, str, str], list[tuple[LLMRequest, str, str]]] = defaultdict(list)
    decided: dict[str, bool] = {}
    for request in requests:
        if request.model not in decided:
            decided[request.model] = needs_markers(request.model, overrides)
        split = _split(request) if decided[request.model] else None
        if split is None:
            continue
        system = str(request.messages[0].get("content")) if len(request.messages) > 1 else ""
        groups[(request.model, system, split[0])].append((request, *split))
    marked = 0
    for (model, _system, prefix), members in groups.items():
        input_price = price_info(model, overrides).get("input_cost_per_token") or 0.0
        read_price, write_price = cache_prices(model, overrides)
        if not pays_to_cache(len(members), input_price, read_price, write_price):
            continue
        head = members[0][0]
        fixed = LLMRequest(model=model, messages=[*head.messages[:-1], {"role": "user", "content": prefix}])
        if estimate_input_tokens(fixed) < MIN_CACHEABLE_TOKENS:
            continue
        for request, fixed_text, evidence in members:
            request.messages = [
                *request.messages[:-1],
                {"role": "user", "content": [
                    {"type": "text", "text": fixed_text, "cache_control": dict(CACHE_CONTROL)},
                    {"type": "text", "text": evidence},
                ]},
            ]
            marked += 1
    return marked
