"""LLM-as-judge evaluators: a versioned rubric, evidence fenced as untrusted data, through the
LLM engine (litellm), with the verdict parsed defensively.

Judging is batched: the scoring runner asks each judge for its request (`request_for`), runs
all requests of a partition through one `LLMEngine` (bounded concurrency, cache, budget), and
turns each result into a Score (`score_from`). `evaluate` does the same for one subject, for
notebook use.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from assay.contracts.score import Score
from assay.llm.engine import LLMEngine, LLMRequest, LLMResult
from evaluators.base import Subject, missing_fields
from evaluators.judge_prompt import (
    JUDGE_SYSTEM_PROMPT,
    JudgeReplyError,
    parse_judge_reply,
    render_judge_prompt,
)

RUBRIC_DIR = Path(__file__).parent / "rubrics"

# Which subject field feeds each evidence section of a rubric.
SECTION_FIELDS = {
    "question": "input_text",
    "context": "context",
    "response": "output_text",
    "tool_calls": "tool_calls",
    "reference": "expected_output",
}


@dataclass(frozen=True)
class Rubric:
    rubric_id: str
    version: str
    sections: tuple[str, ...]
    text: str


@cache
def load_rubric(rubric_id: str) -> Rubric:
    path = RUBRIC_DIR / f"{rubric_id}.md"
    if not path.exists():
        known = sorted(p.stem for p in RUBRIC_DIR.glob("*.md"))
        raise ValueError(f"unknown rubric {rubric_id!r}; valid rubrics: {', '.join(known)}")
    header, _, text = path.read_text(encoding="utf-8").partition("\n---\n")
    meta = dict(line.split(":", 1) for line in header.splitlines() if ":" in line)
    sections = tuple(s.strip() for s in meta["sections"].split(","))
    unknown = [s for s in sections if s not in SECTION_FIELDS]
    if unknown:
        raise ValueError(f"{path}: unknown sections {unknown}; valid: {sorted(SECTION_FIELDS)}")
    return Rubric(rubric_id, meta["version"].strip(), sections, text.strip())


def _section_text(value: Any) -> str:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "\n\n".join(f"[{i + 1}] {doc}" for i, doc in enumerate(value))
    if isinstance(value, list | dict):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    return str(value)


@dataclass
class LLMJudge:
    """An LLM-judged metric. params: `rubric` (a file in evaluators/rubrics), `model`
    (defaults to the project's judge model), `redact_pii` (default true), and
    `completion_params` (extra litellm arguments, e.g. api_base)."""

    name: str
    rubric: str = "faithfulness"
    model: str | None = None
    redact_pii: bool = True
    failure_category: str | None = "hallucination"
    completion_params: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    """The config entry's params as given (kept for the record, like every evaluator's)."""

    def __post_init__(self) -> None:
        self._rubric = load_rubric(self.rubric)
        self.version = f"{self.rubric}.v{self._rubric.version}"
        self.required_fields = tuple(SECTION_FIELDS[s] for s in self._rubric.sections)

    def request_for(self, subject: Subject, *, default_model: str) -> LLMRequest | Score:
        """The judge request for a subject, or a `skipped` Score when inputs are missing."""
        missing = missing_fields(subject, self.required_fields)
        if missing:
            return self._score(subject, status="skipped", explanation=f"missing input: {', '.join(missing)}")
        sections = {s: _section_text(subject[SECTION_FIELDS[s]]) for s in self._rubric.sections}
        if self.redact_pii:
            # Nothing personal leaves for a judge provider (DESIGN.md: redact before judging).
            from evaluators.safety import redact

            sections = {k: redact(v) for k, v in sections.items()}
        # A nonce derived from the evidence keeps the prompt (the cache key) reproducible while
        # staying unguessable for the text inside the fence.
        nonce = hashlib.sha256(json.dumps(sections, sort_keys=True).encode()).hexdigest()[:12]
        prompt = render_judge_prompt(self.rubric, self._rubric.text, sections, nonce=nonce)
        return LLMRequest(
            model=self.model or default_model,
            messages=[
                {"role": "system", "content": JUDGE_SYSTEM_PROMPT},
                {"role": "user", "content": prompt},
            ],
            params={"temperature": 0, "max_tokens": 256, **self.completion_params},
            cache_namespace=f"judge:{self.name}:{self.version}",
        )

    def score_from(self, subject: Subject, request: LLMRequest, result: LLMResult) -> Score:
        judge = {
            "judge_model": request.model,
            "judge_input_tokens": result.input_tokens,
            "judge_output_tokens": result.output_tokens,
            "judge_cost_usd": result.paid_usd,
            "duration_ms": result.latency_ms,
        }
        if result.status != "completed":
            return self._score(
                subject,
                status=result.status,
                label=result.error_type,
                explanation=result.error_message,
                **judge,
            )
        try:
            verdict = parse_judge_reply(result.text)
        except JudgeReplyError as exc:
            return self._score(
                subject, status="error", label="unparseable_reply", explanation=str(exc), **judge
            )
        return self._score(
            subject,
            value=verdict.score,
            passed=verdict.passed,
            label=verdict.label,
            explanation=verdict.reason,
            **judge,
        )

    def evaluate(self, subject: Subject, *, engine: LLMEngine | None = None) -> list[Score]:
        request = self.request_for(subject, default_model=self.model or "sim/judge")
        if isinstance(request, Score):
            return [request]
        (result,) = (engine or LLMEngine()).run([request])
        return [self.score_from(subject, request, result)]

    def _score(self, subject: Subject, **fields: Any) -> Score:
        return Score(
            subject_id=str(subject["subject_id"]),
            evaluator=self.name,
            evaluator_version=self.version,
            metric=self.rubric,
            failure_category=self.failure_category if fields.get("passed") is False else None,
            scored_at=datetime.now(UTC),
            **fields,
        )
