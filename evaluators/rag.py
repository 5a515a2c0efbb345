"""Deterministic RAG checks: how much of a response is grounded in the retrieved context.

`context_overlap` is the offline, no-model counterpart of the faithfulness judge: cheap enough
for every call, blind to paraphrase and negation (a response that copies the context's words
to say the opposite overlaps fully). Use it as a tripwire for invented specifics, and the
judged `faithfulness` / `hallucination` rubrics for the verdict.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from assay.evaluators.base import CheckResult, DeterministicEvaluator, Subject

STOPWORDS = frozenset(
    """a an the and or but if of to in on at by for from with without within into onto over
    under about after before between during is are was were be been being am do does did done
    have has had having i me my mine we us our ours you your yours he him his she her hers it
    its they them their theirs this that these those there here what which who whom whose when
    where why how can could would should will shall may might must not no nor yes so than then
    too very just also any all some more most much many such each other only own same few both
    either neither as up out off per via please thanks thank hi hello hey sure okay ok let get
    got one ones""".split()
)
"""English function words: they carry no claim, so they never count for or against overlap."""

_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")
_NUMBER = re.compile(r"\d+(?:[.,:]\d+)*")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=\S)")


def _stem(word: str) -> str:
    """A light suffix strip so "refunds"/"refunded"/"refunding" meet "refund"."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith(("ss", "us", "is")):  # business, status, analysis: not plurals
        return word
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def content_tokens(text: str) -> set[str]:
    """Stemmed lower-case content words (stopwords and words under 3 letters removed) and
    numbers (`1,200` -> `1200`, trailing `.`/`:` dropped), as a set."""
    lowered = text.lower()
    words = {_stem(w.replace("'", "")) for w in _WORD.findall(lowered) if len(w) >= 3 and w not in STOPWORDS}
    return words | numbers_in(lowered)


def numbers_in(text: str) -> set[str]:
    return {raw.replace(",", "").rstrip(".:") for raw in _NUMBER.findall(text)}


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(text.strip()) if s.strip()]


def _context_text(context: Any) -> str:
    if isinstance(context, str):
        return context
    if isinstance(context, list):
        return "\n".join(str(doc) for doc in context)
    return str(context)


@dataclass(kw_only=True)
class ContextOverlap(DeterministicEvaluator):
    """How much of the response is grounded in the retrieved context, by shared content words (offline, no model).

    `unit: sentence` (default): value = supported sentences / sentences with content, a
    sentence being supported when at least `sentence_threshold` of its tokens and every number
    in it occur in the context. `unit: token`: value = distinct content tokens of `output_text` (words of 3+
    letters, stopwords removed, lightly stemmed, plus numbers) that occur in `context` /
    all distinct content tokens. passed = value >= `threshold` (default 0.8). A response with no
    content tokens passes with value 1.0 (nothing to ground). The explanation lists up to 8
    unsupported tokens (or the first unsupported sentences).

    Measured on the demo's RAG answers (6 questions): correct answers 1.0 in both units; one
    number changed: sentence 0.0-0.5, token 0.5-0.92; an invented claim appended: sentence
    0.5-0.67, token 0.46-0.65. Hence sentence by default: a single wrong number sinks its
    sentence, while it is one token among many.
    """

    kind: ClassVar[str] = "rag"
    output: ClassVar[str] = "pass/fail + grounded share 0-1"
    example: ClassVar[dict[str, Any]] = {"unit": "sentence", "threshold": 0.8}

    unit: Literal["token", "sentence"] = "sentence"
    threshold: float = 0.8
    sentence_threshold: float = 0.6
    failure_category: str | None = "hallucination"
    metric: str = "context_overlap"
    required_fields: tuple[str, ...] = ("output_text", "context")

    def __post_init__(self) -> None:
        if self.unit not in ("token", "sentence"):
            raise ValueError(f"context_overlap: unit {self.unit!r} is not one of token, sentence")
        for param in ("threshold", "sentence_threshold"):
            value = getattr(self, param)
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
                raise ValueError(f"context_overlap: {param} must be a number from 0 to 1, got {value!r}")

    def check(self, subject: Subject) -> CheckResult:
        response = str(subject["output_text"])
        context_tokens = content_tokens(_context_text(subject["context"]))
        if self.unit == "sentence":
            return self._by_sentence(response, context_tokens)
        tokens = content_tokens(response)
        if not tokens:
            return True, 1.0, "no content words in the response"
        missing = sorted(tokens - context_tokens)
        share = 1 - len(missing) / len(tokens)
        shown = ", ".join(missing[:8]) + (f" (+{len(missing) - 8} more)" if len(missing) > 8 else "")
        explanation = f"{len(tokens) - len(missing)}/{len(tokens)} content tokens in the context"
        return share >= self.threshold, share, explanation + (f"; not in context: {shown}" if missing else "")

    def _by_sentence(self, response: str, context_tokens: set[str]) -> CheckResult:
        judged, unsupported = 0, []
        for sentence in split_sentences(response):
            tokens = content_tokens(sentence)
            if not tokens:
                continue  # "Thanks!" makes no claim
            judged += 1
            numbers = numbers_in(sentence.lower())
            share = len(tokens & context_tokens) / len(tokens)
            if share < self.sentence_threshold or not numbers <= context_tokens:
                unsupported.append(sentence)
        if not judged:
            return True, 1.0, "no sentence with content in the response"
        value = 1 - len(unsupported) / judged
        explanation = f"{judged - len(unsupported)}/{judged} sentences supported by the context"
        if unsupported:
            first = "; ".join(repr(s[:80]) for s in unsupported[:2])
            explanation += f"; unsupported: {first}"
        return value >= self.threshold, value, explanation
