"""The candidate: a model + prompt configuration to compare against the baseline."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

# Dagster dynamic partition keys must not contain `|` or `[` (accepted silently, then
# materialising fails): ids are restricted to a safe alphabet up front.
CANDIDATE_ID_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,62}$"


def sanitise_candidate_id(raw: str) -> str:
    """Turn any label into a stable candidate id that is safe as a partition key."""
    cleaned = re.sub(r"[^a-z0-9._-]+", "-", raw.strip().lower()).strip("-._")
    return cleaned[:63] or "candidate"


class Candidate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    candidate_id: str = Field(pattern=CANDIDATE_ID_PATTERN)
    model: str = Field(min_length=1)
    """A litellm model string: `openai/gpt-4o-mini`, `ollama/llama3`, `sim/support-v2`."""
    prompt_template: str | None = None
    """System prompt put before the case's messages; `{feature}` is filled in."""
    prompt_version: str = "v1"
    params: dict[str, Any] = Field(default_factory=dict)
    """Passed to litellm: temperature, max_tokens, api_base..."""
    is_baseline: bool = False
    price_override: dict[str, float] | None = None
    """{input_cost_per_token, output_cost_per_token} in USD, when the price map is wrong."""

    @field_validator("params")
    @classmethod
    def _no_secrets_in_params(cls, params: dict[str, Any]) -> dict[str, Any]:
        if "api_key" in params:
            raise ValueError("api_key must come from the environment, not from the config file")
        return params

    @property
    def fingerprint(self) -> str:
        """Changes when anything that shapes the candidate's outputs changes (model, prompt,
        params, price): replays recorded under another fingerprint are stale."""
        payload = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:12]
