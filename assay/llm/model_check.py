"""Before a run: does litellm know a model string's provider, and is the key it will look for set?

A run that calls `madeup/model` or an OpenAI model without `OPENAI_API_KEY` fails only when the
first call is made, minutes in, and (before the gate learnt to tell) read like a terrible
model. Both are known from the model string and the environment, so `assay validate-config`
and `assay run` say so first.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from assay.llm.providers import ensure_providers


@dataclass(frozen=True)
class ModelCheck:
    model: str
    provider: str | None = None
    error: str | None = None
    """Why litellm cannot call this model string (None: it can)."""
    missing_env: tuple[str, ...] = field(default_factory=tuple)
    """Environment variables litellm looks for that are unset (and not given in params)."""


def check_model(model: str, params: Mapping[str, Any] | None = None) -> ModelCheck:
    """What litellm makes of `model` with these completion params (`api_base`, ...)."""
    import litellm

    params = dict(params or {})
    provider_prefix = model.split("/", 1)[0] if "/" in model else None
    ensure_providers([model])
    if provider_prefix == "sim":
        from assay.sim.provider import profile_for

        try:
            profile_for(model)
        except ValueError as exc:
            return ModelCheck(model, "sim", error=str(exc))
        return ModelCheck(model, "sim")
    # get_llm_provider prints a "Provider List" banner on stdout before raising.
    litellm.suppress_debug_info = True
    try:
        _, provider, _, _ = litellm.get_llm_provider(model, api_base=params.get("api_base"))
    except Exception:  # litellm raises its BadRequestError (or a ValueError) for an unknown provider
        return ModelCheck(
            model,
            error=(
                f"litellm does not know the provider of {model!r}: write `<provider>/<model>` with a provider "
                "litellm knows (openai, anthropic, azure, bedrock, vertex_ai, gemini, mistral, groq, ollama, "
                "hosted_vllm, ...; for an OpenAI-compatible server: openai/<name> with params.api_base)"
            ),
        )
    try:
        environment = litellm.validate_environment(model=model, api_base=params.get("api_base"))
    except Exception:  # an unusual provider litellm cannot introspect: no key check, not an error
        return ModelCheck(model, provider)
    missing = []
    for name in environment.get("missing_keys") or []:
        # `api_base` in the candidate's or judge's params answers *_API_BASE / *_BASE_URL.
        if ("BASE" in name or "URL" in name) and params.get("api_base"):
            continue
        if not os.environ.get(name):
            missing.append(name)
    return ModelCheck(model, provider, missing_env=tuple(missing))
