"""The candidate: a model + prompt configuration to compare against the baseline."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import PurePath
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# Dagster dynamic partition keys must not contain `|` or `[` (accepted silently, then
# materialising fails): ids are restricted to a safe alphabet up front.
CANDIDATE_ID_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,62}$"
NEW_CANDIDATE_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
"""What `assay candidates add` writes: the stricter [a-z0-9-] (no dots or underscores)."""


TEMPLATE_VARIABLES = ("feature",)
"""What a replay fills into `prompt_template` (`{feature}`: the case's feature name); any other
text in braces reaches the model as written."""


def sanitise_candidate_id(raw: str) -> str:
    """Turn any label into a stable candidate id that is safe as a partition key."""
    cleaned = re.sub(r"[^a-z0-9._-]+", "-", raw.strip().lower()).strip("-._")
    return cleaned[:63] or "candidate"


def strict_candidate_id(raw: str) -> str:
    """The id `assay candidates add` stores: lowercase, only [a-z0-9-], runs of anything
    else one `-` (`GPT-4o mini_v2` -> `gpt-4o-mini-v2`). Stable: the same label always
    gives the same id."""
    cleaned = re.sub(r"[^a-z0-9]+", "-", raw.strip().lower()).strip("-")
    return cleaned[:63].rstrip("-")


class Candidate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    candidate_id: str = Field(pattern=CANDIDATE_ID_PATTERN)
    model: str | None = Field(None, min_length=1)
    """A litellm model string: `openai/gpt-4o-mini`, `ollama/llama3`, `sim/support-v2`.
    Optional for a `recorded` candidate (then `recorded:<file name>`)."""
    prompt_template: str | None = None
    """System prompt put before the case's messages; `{feature}` is filled in."""
    prompt_version: str = "v1"
    params: dict[str, Any] = Field(default_factory=dict)
    """Passed to litellm: temperature, max_tokens, api_base..."""
    is_baseline: bool = False
    price_override: dict[str, float] | None = None
    """{input_cost_per_token, output_cost_per_token} in USD, when the price map is wrong."""
    recorded: str | None = None
    """A JSONL or CSV file of outputs produced elsewhere (case_id or input text -> output,
    optional latency_ms, tokens, cost_usd): read instead of replayed through a model.
    A relative path is taken from the config file's folder."""
    replay_mode: Literal["sync", "batch"] = "sync"
    """`batch`: replay the dataset through the provider's Batch API (about half price); the
    candidate's outputs are written when the batches are collected (`assay.llm.batch`)."""
    samples: int = Field(1, ge=1, le=20)
    """Replays per case (a regression run): each sample is its own call (its own cache key);
    `candidate_scores` reports how consistent the samples are."""

    @model_validator(mode="after")
    def _model_or_recording(self) -> Candidate:
        if self.model is None:
            if not self.recorded:
                raise ValueError("a candidate needs `model` (a litellm model string) or `recorded` (an outputs file)")
            self.model = f"recorded:{PurePath(self.recorded).name}"
        if self.recorded and self.samples > 1:
            raise ValueError("`samples` replays a model; a `recorded` candidate has one output per case")
        return self

    @field_validator("params")
    @classmethod
    def _no_secrets_in_params(cls, params: dict[str, Any]) -> dict[str, Any]:
        if "api_key" in params:
            raise ValueError("api_key must come from the environment, not from the config file")
        return params

    @property
    def replays_in_batch(self) -> bool:
        """Replayed through the provider's Batch API (a recording is read, never replayed)."""
        return self.replay_mode == "batch" and not self.recorded

    @property
    def fingerprint(self) -> str:
        """Changes when anything that shapes the candidate's outputs changes (model, prompt,
        params, price): replays recorded under another fingerprint are stale."""
        values = self.model_dump(mode="json")
        # Fields added later are left out at their defaults, so existing candidates keep
        # their fingerprint (and are not replayed again only because the contract grew).
        for name, default in (("recorded", None), ("samples", 1)):
            if values.get(name) == default:
                values.pop(name)
        payload = json.dumps(values, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:12]
