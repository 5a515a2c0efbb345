"""LLM-as-judge evaluators: a versioned rubric (`assay.evaluators.rubric`), evidence fenced as
untrusted data, through the LLM engine (litellm), with the verdict parsed defensively.

Judging is batched: each judge turns a subject into a `JudgePlan` (its requests: one, n samples
for voting, or both orders for pairwise), `judge_plans` runs every plan of a partition through
one `LLMEngine` (limits, cache, budget, deadline), retries each unparseable reply once with a
repair instruction, and asks each judge to turn its answers into one Score. `evaluate` does the
same for one subject, for notebook use.

Every score carries the accounting of the calls behind it: tokens, cost paid, latency,
attempts, cache hit. `CustomRubricJudge` and `GEvalJudge` (evaluators/judge_rubrics.py) build
their rubric from config instead of a file and run through this same engine path.
"""

from __future__ import annotations

import hashlib
import json
import statistics
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

from assay.evaluators.base import Subject, missing_fields
from assay.evaluators.rubric import (
    SECTION_FIELDS,
    Rubric,
    fill_placeholders,
    fit_to_budget,
    load_rubric,
    params_digest,
    render_section,
)

from assay.contracts.score import Score
from assay.llm.engine import LLMEngine, LLMRequest, LLMResult
from assay.llm.event_loops import run_to_end
from assay.llm.judge_prompt import (
    DEFAULT_REPLY,
    JudgeReplyError,
    JudgeVerdict,
    ReplyFormat,
    render_judge_prompt,
)
from assay.llm.prompt_cache import mark_cacheable_prefixes

REPAIR_INSTRUCTION = (
    "Your previous reply was not valid JSON ({error}). Reply again with exactly one JSON object "
    "and nothing else: {shape}"
)
"""Sent once after an unparseable reply (the local test server recognises 'not valid JSON')."""

Reducer = Literal["all", "any", "majority", "mean", "min_pass_rate"]
SAMPLE_TEMPERATURE = 0.7
"""n-sample voting at temperature 0 would ask the same question n times for one answer."""


# ---------------------------------------------------------------------------- running plans


@dataclass
class JudgeCall:
    """One judge answer: the engine's result, and the repair's when the first did not parse."""

    request: LLMRequest
    results: list[LLMResult]
    reply: ReplyFormat = DEFAULT_REPLY
    verdict: JudgeVerdict | None = None
    parse_error: str | None = None

    @property
    def final(self) -> LLMResult:
        return self.results[-1]

    @property
    def is_repaired(self) -> bool:
        return len(self.results) > 1

    def read(self) -> None:
        self.verdict, self.parse_error = None, None
        if self.final.status == "completed":
            try:
                self.verdict = self.reply.parse(self.final.text)
            except JudgeReplyError as exc:
                self.parse_error = str(exc)


@dataclass
class JudgePlan:
    """What one judge needs for one subject: its requests, and how to make them one Score."""

    judge: Any
    subject: Subject
    requests: list[LLMRequest]
    calls: list[JudgeCall] = field(default_factory=list)
    notes: dict[str, Any] | None = None
    """What was done to the evidence before it was sent (long sections summarised), kept in
    the score's details so a reader knows the judge saw a summary."""

    def score(self) -> Score:
        score = self.judge.score_from_calls(self.subject, self.calls)
        notes = {**(self.notes or {}), **prompt_cache_details(self.calls)}
        if notes:
            score.details = {**(score.details or {}), **notes}
        return score


def prompt_cache_details(calls: list[JudgeCall]) -> dict[str, Any]:
    """The provider prompt cache's part in a score's judge calls (`details.prompt_cache`):
    input tokens read from it and written to it, and what they cost, when there were any."""
    results = [r for call in calls for r in call.results if not r.is_cache_hit]
    cached = sum(r.cached_input_tokens or 0 for r in results)
    written = sum(r.cache_write_input_tokens or 0 for r in results)
    if not (cached or written):
        return {}
    return {"prompt_cache": {"cached_input_tokens": cached, "cache_write_input_tokens": written,
                             "cached_input_usd": sum(r.prompt_cache_usd or 0.0 for r in results)}}


def repair_request(call: JudgeCall) -> LLMRequest:
    request = call.request
    return LLMRequest(
        model=request.model,
        messages=[
            *request.messages,
            {"role": "assistant", "content": call.final.text or ""},
            {"role": "user", "content": REPAIR_INSTRUCTION.format(error=call.parse_error, shape=call.reply.shape())},
        ],
        params=request.params,
        cache_namespace=f"{request.cache_namespace}:repair",
    )


async def judge_plans_async(plans: list[JudgePlan], engine: LLMEngine) -> list[Score]:
    requests = [request for plan in plans for request in plan.requests]
    # Anthropic caches a prompt prefix only when marked, and a cache write costs extra: marked
    # where the batch re-reads the rubric often enough to pay for it (assay.llm.prompt_cache).
    mark_cacheable_prefixes(requests, engine.prices)
    async with engine.session(len(requests)):
        results = iter(await engine.run_async(requests))
        for plan in plans:
            reply = getattr(plan.judge, "reply_format", DEFAULT_REPLY)
            plan.calls = [JudgeCall(request, [next(results)], reply) for request in plan.requests]
        calls = [call for plan in plans for call in plan.calls]
        for call in calls:
            call.read()
        # One repair per unparseable reply, all in one batch: a reply that is still not JSON
        # after it is an `error` score, never a pass and never a third call.
        to_repair = [call for call in calls if call.parse_error]
        if to_repair:
            repaired = await engine.run_async([repair_request(call) for call in to_repair])
            for call, result in zip(to_repair, repaired, strict=True):
                call.results.append(result)
                call.read()
    return [plan.score() for plan in plans]


def judge_plans(plans: list[JudgePlan], engine: LLMEngine) -> list[Score]:
    if not plans:
        return []
    # In batch mode, litellm's file and batch calls leave SDK clients to collect (see run_to_end).
    return run_to_end(judge_plans_async(plans, engine), collect_garbage=engine.batch is not None)


def accounting(calls: list[JudgeCall]) -> dict[str, Any]:
    """The Score fields that account for the judge calls behind one score."""
    results = [result for call in calls for result in call.results]
    latencies = [r.latency_ms for r in results if r.latency_ms is not None]
    return {
        "judge_model": calls[0].request.model if calls else None,
        "judge_input_tokens": sum(r.input_tokens or 0 for r in results) if any(r.input_tokens is not None for r in results) else None,
        "judge_output_tokens": sum(r.output_tokens or 0 for r in results) if any(r.output_tokens is not None for r in results) else None,
        "judge_cost_usd": sum(r.paid_usd for r in results),
        "duration_ms": sum(latencies) if latencies else None,
        "judge_attempts": sum(r.attempts for r in results),
        "judge_is_cache_hit": bool(results) and all(r.is_cache_hit for r in results),
        **judge_mode_fields(results),
    }


def judge_mode_fields(results: list[LLMResult]) -> dict[str, Any]:
    """judge_mode (batch if any call went through a Batch API) and judge_cost_source of the
    calls that were made."""
    made = [r for r in results if r.status in ("completed", "error") or r.attempts]
    sources = sorted({r.cost_source for r in made if r.cost_source})
    return {
        "judge_mode": ("batch" if any(r.judge_mode == "batch" for r in made) else "sync") if made else None,
        "judge_cost_source": "+".join(sources) or None,
    }


def failure_fields(call: JudgeCall) -> dict[str, Any]:
    """status / label / explanation of a call that gave no verdict."""
    if call.final.status != "completed":
        return {"status": call.final.status, "label": call.final.error_type, "explanation": call.final.error_message}
    note = " (after one repair request)" if call.is_repaired else ""
    return {"status": "error", "label": "unparseable_reply", "explanation": f"{call.parse_error}{note}"}


def reduce_votes(
    verdicts: list[JudgeVerdict], reducer: Reducer, *, min_pass_rate: float = 0.5
) -> tuple[bool, float, dict[str, Any]]:
    """(passed, value, details) of n sampled verdicts, with their spread."""
    votes = [v.passed for v in verdicts]
    scores = [v.score for v in verdicts]
    pass_rate = sum(votes) / len(votes)
    mean = statistics.fmean(scores)
    passed = {
        "all": all(votes),
        "any": any(votes),
        "majority": pass_rate > 0.5,
        "mean": mean >= 0.5,
        "min_pass_rate": pass_rate >= min_pass_rate,
    }[reducer]
    value = mean if reducer == "mean" else pass_rate
    details = {
        "reducer": reducer,
        "samples": len(verdicts),
        "votes": votes,
        "scores": scores,
        "pass_rate": pass_rate,
        "score_mean": mean,
        "score_stdev": statistics.pstdev(scores),
        "score_range": max(scores) - min(scores),
        "is_unanimous": len(set(votes)) == 1,
    }
    return passed, value, details


# ---------------------------------------------------------------------------- judges

LONG_SECTIONS = frozenset({"conversation", "trace", "history"})
"""Sections that grow with the run or the conversation: the ones the evidence budget applies to."""

HISTORY_NOTE = (
    "`history` holds the conversation before the message being judged, for context only: judge "
    "the response as a reply to the latest user message in the light of that conversation."
)


EXAMPLES_NOTE = (
    "The example_N sections are graded examples (evidence and the verdict people gave it) showing how "
    "this rubric is applied; grade only the evidence sections that follow them."
)


def pass_fail_verdict(where: str, verdict: Any) -> str:
    """An example's pass/fail verdict as the prompt writes it (true/false accepted)."""
    if isinstance(verdict, bool):
        return "pass" if verdict else "fail"
    if isinstance(verdict, str) and verdict.strip().lower() in ("pass", "fail"):
        return verdict.strip().lower()
    raise ValueError(f"{where}: verdict must be pass/fail (or true/false), got {verdict!r}")


def with_response(subject: Subject) -> Any:
    """The conversation a conversation judge reads: `messages`, and the response after them when
    they end with the user's turn (a single call, or a multi-turn case replayed at its failing
    turn: the candidate's answer is part of the conversation judged)."""
    messages = subject.get("messages")
    spoken = [m for m in messages or [] if isinstance(m, dict) and m.get("role") != "system"] if isinstance(messages, list) else []
    response = subject.get("output_text")
    if spoken and spoken[-1].get("role") == "user" and response:
        return [*messages, {"role": "assistant", "content": response}]
    return messages


def earlier_turns(messages: Any) -> list[dict[str, Any]]:
    """The conversation before the last user message (system messages left out: they are the
    application's instructions, not the conversation)."""
    if not isinstance(messages, list):
        return []
    last_user = max((i for i, m in enumerate(messages) if isinstance(m, dict) and m.get("role") == "user"), default=None)
    if last_user is None:
        return []
    return [m for m in messages[:last_user] if isinstance(m, dict) and m.get("role") != "system"]



@dataclass
class LLMJudge:
    """An LLM-judged metric. params: `rubric` (a file in evaluators/rubrics), `rubric_params`
    (values for the rubric's `{placeholders}`, e.g. `topics`), `model` (defaults to the
    project's judge model), `redact_pii` (default true), `completion_params` (extra litellm
    arguments, e.g. api_base), and for voting `samples` (n > 1 asks n times at temperature
    0.7) with `reducer` (all / any / majority / mean / min_pass_rate, the last with
    `min_pass_rate`)."""

    kind: ClassVar[str] = "judge"
    output: ClassVar[str] = "pass/fail + score 0-1 + label"
    offline: ClassVar[bool] = False
    example: ClassVar[dict[str, Any]] = {"rubric": "faithfulness"}
    default_category: ClassVar[str] = "hallucination"
    """Failure category when neither config nor the rubric's header names one."""

    name: str
    rubric: str = "faithfulness"
    model: str | None = None
    redact_pii: bool = True
    failure_category: str | None = None
    """None = the rubric's `category:` (else `default_category`)."""
    completion_params: dict[str, Any] = field(default_factory=dict)
    samples: int = 1
    reducer: Reducer = "majority"
    min_pass_rate: float = 0.5
    rubric_params: dict[str, Any] = field(default_factory=dict)
    with_history: bool = False
    """Give the judge the conversation before the message being judged (`messages` up to the
    last user message) as a fenced `history` section: a reply of "Yes" is judged as the answer
    to the question asked two turns before, not on its own."""
    max_evidence_tokens: int = 6000
    """Budget for each long section (a conversation, a trace, the history), at about four
    characters per token; a longer one is summarised by rule (`fit_to_budget`), never cut
    silently, and the score's details say so."""
    params: dict[str, Any] = field(default_factory=dict)
    """The config entry's params as given (kept for the record, like every evaluator's)."""
    jury: list[str] = field(default_factory=list)
    """Judge models that each judge the subject once (instead of `model`); empty: one judge."""
    jury_reducer: Literal["majority", "mean", "unanimous"] = "majority"
    examples: list[dict[str, Any]] = field(default_factory=list)
    """Graded examples, each fenced in the prompt before the evidence: the rubric's evidence
    sections by name (`question`, `context`, `response`, ...), the `verdict` people gave it
    (pass/fail) and optionally a `reason`. They make a new version (a new calibration series);
    `assay judge align` writes them from the human labels the judge got wrong."""

    examples_in_rubric: ClassVar[bool] = False
    """The class puts its examples' note in its rubric text and its examples in its version
    itself (`custom_rubric`); otherwise both are added here."""
    align_refusal: ClassVar[str | None] = None
    """Why `assay judge align` cannot align this kind of judge (None: it can)."""

    def __post_init__(self) -> None:
        if self.max_evidence_tokens < 100:
            raise ValueError(f"evaluator {self.name}: max_evidence_tokens must be at least 100, got {self.max_evidence_tokens}")
        if not 1 <= self.samples <= 15:
            raise ValueError(f"evaluator {self.name}: samples must be 1..15, got {self.samples}")
        if self.reducer not in ("all", "any", "majority", "mean", "min_pass_rate"):
            raise ValueError(
                f"evaluator {self.name}: reducer {self.reducer!r} is not one of all, any, majority, mean, min_pass_rate"
            )
        if not 0 <= self.min_pass_rate <= 1:
            raise ValueError(f"evaluator {self.name}: min_pass_rate must be 0..1, got {self.min_pass_rate}")
        if not isinstance(self.rubric_params, dict):
            raise ValueError(f"evaluator {self.name}: rubric_params must be a mapping, got {self.rubric_params!r}")
        self._rubric = self.build_rubric()
        self._text = fill_placeholders(self._rubric.text, self.rubric_params, rubric_id=self._rubric.rubric_id)
        self._examples: tuple[str, ...] = self.build_examples()
        self.reply_format = self._rubric.reply
        self.version = self.build_version()
        if self._examples and not self.examples_in_rubric:
            self._text = f"{self._text}\n\n{EXAMPLES_NOTE}"
            # Other examples ask the judge another way: a new series, never mixed with the old one.
            self.version = f"{self.version}.e{params_digest(list(self._examples))}"
        if self.jury:
            self._check_jury()
            self.version = f"{self.version}.jury-{self.jury_reducer}"
        self.metric = self.rubric
        self.required_fields = tuple(dict.fromkeys(SECTION_FIELDS[s] for s in self._rubric.required_sections))
        self._is_category_configured = self.failure_category is not None
        if self.failure_category is None:
            self.failure_category = self._rubric.category or self.default_category

    def _check_jury(self) -> None:
        if not isinstance(self.jury, list) or len(set(self.jury)) < 2 or not all(isinstance(m, str) and m for m in self.jury):
            raise ValueError(f"evaluator {self.name}: jury must list two or more different judge models, got {self.jury!r}")
        if self.jury_reducer not in ("majority", "mean", "unanimous"):
            raise ValueError(f"evaluator {self.name}: jury_reducer {self.jury_reducer!r} is not one of majority, mean, unanimous")
        if self.samples != 1:
            raise ValueError(f"evaluator {self.name}: a jury asks each juror once; drop samples")

    def _jury_score(self, subject: Subject, calls: list[JudgeCall]) -> Score:
        """The jury's verdict from one call per juror; each juror's verdict in the details."""
        jurors = {call.request.model: call for call in calls}
        answered = {m: c.verdict for m, c in jurors.items() if c.verdict is not None}
        judge = accounting(calls) | {"judge_model": "jury:" + "+".join(self.jury)}
        if not answered:
            return self._score(subject, **failure_fields(calls[0]), **judge)
        votes = [v.passed for v in answered.values()]
        pass_share = sum(votes) / len(votes)
        mean = statistics.fmean(v.score for v in answered.values())
        passed = {"majority": pass_share > 0.5, "mean": mean >= 0.5, "unanimous": all(votes)}[self.jury_reducer]
        details = {
            "jury_reducer": self.jury_reducer,
            "jurors": {m: ({"passed": c.verdict.passed, "score": c.verdict.score} if c.verdict is not None
                           else {"status": c.final.status if c.final.status != "completed" else "error"})
                       for m, c in jurors.items()},
            "jurors_answered": len(answered),
            "jurors_agree": len(set(votes)) == 1,
        }
        reasons = [v.reason for v in answered.values() if v.passed == passed]
        return self._score(
            subject, value=mean if self.jury_reducer == "mean" else pass_share, passed=passed,
            label="pass" if passed else "fail", explanation=reasons[0] if reasons else None, details=details, **judge,
        )

    # Override points: where the rubric comes from (a file here; config for custom rubrics).

    def build_rubric(self) -> Rubric:
        return load_rubric(self.rubric)

    def build_examples(self) -> tuple[str, ...]:
        """Graded examples, each fenced in the prompt before the evidence (redacted as the
        evidence is: they are sent to the judge provider too)."""
        if not isinstance(self.examples, list):
            raise ValueError(f"evaluator {self.name}: examples must be a list, got {self.examples!r}")
        texts = tuple(self._example_text(i, e) for i, e in enumerate(self.examples, 1))
        if self.redact_pii and texts:
            from assay.privacy.pii import redact

            texts = tuple(redact(t) for t in texts)
        return texts

    def _example_text(self, i: int, example: Any) -> str:
        where = f"evaluator {self.name}: examples[{i - 1}]"
        sections = self._rubric.sections
        valid = f"the rubric's sections ({', '.join(sections)}), verdict (pass or fail) and optionally reason"
        if not isinstance(example, dict):
            raise ValueError(f"{where} must be a mapping of {valid}, got {example!r}")
        unknown = sorted(set(example) - set(sections) - {"verdict", "reason"})
        if unknown or "verdict" not in example or not set(example) & set(sections):
            raise ValueError(f"{where}: keys {sorted(example)}; valid: {valid}, with at least one section")
        lines = [f"{s}: {render_section(s, example[s])}" for s in sections if s in example]
        lines.append(f"verdict: {pass_fail_verdict(where, example['verdict'])}")
        if example.get("reason"):
            lines.append(f"reason: {example['reason']}")
        return "\n".join(lines)

    def example_from(self, subject: Subject, passed: bool) -> dict[str, Any]:
        """A graded example of a subject with the people's verdict, in this judge's `examples`
        shape: the evidence sections the subject has, then the verdict."""
        example = {}
        for section in self._rubric.sections:
            value = with_response(subject) if section == "conversation" else subject.get(SECTION_FIELDS[section])
            if value not in (None, "", []):
                example[section] = value
        return example | {"verdict": "pass" if passed else "fail"}

    def build_version(self) -> str:
        version = f"{self.rubric}.v{self._rubric.version}"
        # Other topics are another question: a new series, never mixed with the old one.
        version = f"{version}.p{params_digest(self.rubric_params)}" if self.rubric_params else version
        # A judge that reads the history answers another question than one that does not.
        return f"{version}.h" if self.with_history else version

    @classmethod
    def catalogue_inputs(cls, fixed: dict[str, Any]) -> tuple[str, ...]:
        """Subject fields the rubric's required sections read (for `assay evaluators`)."""
        rubric_id = fixed.get("rubric") or cls.__dataclass_fields__["rubric"].default
        return tuple(dict.fromkeys(SECTION_FIELDS[s] for s in load_rubric(rubric_id).required_sections))

    def _sections(self, subject: Subject) -> dict[str, str]:
        return self._evidence(subject)[0]

    def _evidence(self, subject: Subject) -> tuple[dict[str, str], dict[str, Any] | None]:
        """The fenced sections for a subject, and notes on any that were summarised."""
        sections = {s: render_section(s, with_response(subject) if s == "conversation" else subject.get(SECTION_FIELDS[s]))
                    for s in self._rubric.sections}
        history = earlier_turns(subject.get("messages")) if self.with_history else []
        if history:
            sections = {"history": render_section("history", history), **sections}
        if self.redact_pii:
            # Nothing personal leaves for a judge provider (docs/architecture.md, "Privacy").
            from assay.privacy.pii import redact

            sections = {k: redact(v) for k, v in sections.items()}
        summarised = {}
        for name in LONG_SECTIONS & set(sections):
            sections[name], info = fit_to_budget(sections[name], self.max_evidence_tokens)
            if info:
                summarised[name] = info
        return sections, ({"evidence_summarised": summarised} if summarised else None)

    def _request(self, sections: dict[str, str], *, model: str, namespace_suffix: str = "") -> LLMRequest:
        # A nonce derived from the evidence keeps the prompt (the cache key) reproducible while
        # staying unguessable for the text inside the fence.
        nonce = hashlib.sha256(json.dumps(sections, sort_keys=True).encode()).hexdigest()[:12]
        text = f"{self._text}\n\n{HISTORY_NOTE}" if "history" in sections else self._text
        prompt = render_judge_prompt(
            self._rubric.rubric_id, text, sections, nonce=nonce, reply=self.reply_format, examples=self._examples
        )
        params = {"temperature": 0, "max_tokens": 256}
        if self.samples > 1:
            params["temperature"] = SAMPLE_TEMPERATURE
        return LLMRequest(
            model=model,
            messages=[
                {"role": "system", "content": self.reply_format.system_prompt()},
                {"role": "user", "content": prompt},
            ],
            params={**params, **self.completion_params},
            cache_namespace=f"judge:{self.name}:{self.version}{namespace_suffix}",
        )

    def plan(self, subject: Subject, *, default_model: str) -> JudgePlan | Score:
        """The judge requests for a subject, or a `skipped` Score when inputs are missing."""
        missing = missing_fields(subject, self.required_fields)
        if missing:
            return self._score(subject, status="skipped", explanation=f"missing input: {', '.join(missing)}")
        sections, notes = self._evidence(subject)
        model = self.model or default_model
        if self.jury:
            requests = [self._request(sections, model=juror) for juror in self.jury]
        elif self.samples == 1:
            requests = [self._request(sections, model=model)]
        else:
            # The sample index is part of the cache key only: the same question n times.
            requests = [self._request(sections, model=model, namespace_suffix=f":sample{i}") for i in range(self.samples)]
        return JudgePlan(self, subject, requests, notes=notes)

    def request_for(self, subject: Subject, *, default_model: str) -> LLMRequest | Score:
        """The (first) judge request for a subject, or a `skipped` Score."""
        plan = self.plan(subject, default_model=default_model)
        return plan if isinstance(plan, Score) else plan.requests[0]

    def score_from(self, subject: Subject, request: LLMRequest, result: LLMResult) -> Score:
        """The Score of one answered request (no repair)."""
        call = JudgeCall(request, [result], self.reply_format)
        call.read()
        return self.score_from_calls(subject, [call])

    def score_from_calls(self, subject: Subject, calls: list[JudgeCall]) -> Score:
        if self.jury:
            return self._jury_score(subject, calls)
        judge = accounting(calls)
        answered = [call for call in calls if call.verdict is not None]
        repaired = sum(call.is_repaired for call in calls)
        if not answered:
            return self._score(subject, **failure_fields(calls[0]), **judge)
        if self.samples == 1:
            verdict = answered[0].verdict
            details = {**(verdict.details or {}), **({"repaired": True} if repaired else {})} or None
            return self._score(
                subject, value=verdict.score, passed=verdict.passed, label=verdict.label,
                explanation=verdict.reason, details=details, **judge,
            )
        passed, value, details = reduce_votes(
            [call.verdict for call in answered], self.reducer, min_pass_rate=self.min_pass_rate
        )
        details |= {"samples_requested": len(calls), "samples_failed": len(calls) - len(answered), "repaired": repaired}
        reasons = [call.verdict.reason for call in answered if call.verdict.passed == passed]
        return self._score(
            subject, value=value, passed=passed, label="pass" if passed else "fail",
            explanation=reasons[0] if reasons else None, details=details, **judge,
        )

    def evaluate(self, subject: Subject, *, engine: LLMEngine | None = None) -> list[Score]:
        plan = self.plan(subject, default_model=self.model or "sim/judge")
        if isinstance(plan, Score):
            return [plan]
        return judge_plans([plan], engine or LLMEngine())

    def _category(self, label: str | None) -> str | None:
        if not self._is_category_configured:
            by_label = dict(self._rubric.label_categories)
            if label in by_label:
                return by_label[label]
        return self.failure_category

    def _score(self, subject: Subject, **fields: Any) -> Score:
        return Score(
            subject_id=str(subject["subject_id"]),
            evaluator=self.name,
            evaluator_version=self.version,
            metric=self.metric,
            failure_category=self._category(fields.get("label")) if fields.get("passed") is False else None,
            scored_at=datetime.now(UTC),
            **fields,
        )


@dataclass
class PairwiseJudge(LLMJudge):
    """Candidate vs baseline, judged in both orders (A/B and B/A) so a judge that prefers
    whichever response comes first cannot decide the comparison. params as `llm_judge`, rubric
    default `pairwise`. The subject needs `output_text` (the candidate) and `baseline_output`.

    value = the candidate's preference averaged over both orders (0..1, 0.5 = as good);
    passed = value >= 0.5 (not worse than the baseline); details record each order's verdict and
    `position_consistent` (both orders agree on which response is better, or both call a tie).
    `order_reducer: both_orders` instead gives the consensus of the two orders: the candidate
    wins (1) or loses (0) only when both orders say so, else a tie (0.5).
    """

    example: ClassVar[dict[str, Any]] = {"rubric": "pairwise"}
    default_category: ClassVar[str] = "reasoning_error"
    align_refusal: ClassVar[str | None] = (
        "a pairwise judge's labels are winners of a pair (a/b/tie), not the pass/fail verdicts whose kappa align "
        "measures, and an example pair shown in one order teaches a position; hold it with order_reducer: "
        "both_orders and gate.min_position_consistency instead"
    )

    rubric: str = "pairwise"
    order_reducer: Literal["mean", "both_orders"] = "mean"

    def __post_init__(self) -> None:
        if self.order_reducer not in ("mean", "both_orders"):
            raise ValueError(f"evaluator {self.name}: order_reducer {self.order_reducer!r} is not one of mean, both_orders")
        if self.examples:
            raise ValueError(f"evaluator {self.name}: a pairwise judge takes no examples ({self.align_refusal})")
        super().__post_init__()

    def plan(self, subject: Subject, *, default_model: str) -> JudgePlan | Score:
        missing = missing_fields(subject, self.required_fields)
        if missing:
            return self._score(subject, status="skipped", explanation=f"missing input: {', '.join(missing)}")
        sections = self._sections(subject)
        swapped = {**sections, "response_a": sections["response_b"], "response_b": sections["response_a"]}
        model = self.model or default_model
        return JudgePlan(
            self,
            subject,
            [
                self._request(sections, model=model, namespace_suffix=":candidate_first"),
                self._request(swapped, model=model, namespace_suffix=":baseline_first"),
            ],
        )

    def score_from_calls(self, subject: Subject, calls: list[JudgeCall]) -> Score:
        judge = accounting(calls)
        failed = [call for call in calls if call.verdict is None]
        if failed:  # a comparison needs both orders
            return self._score(subject, **failure_fields(failed[0]), **judge)
        candidate_first, baseline_first = (call.verdict for call in calls)
        # Score = how strongly response A wins. In the swapped order A is the baseline.
        preference_ab = candidate_first.score
        preference_ba = 1.0 - baseline_first.score
        value = (preference_ab + preference_ba) / 2
        if self.order_reducer == "both_orders":
            from assay.calibration import both_orders, pairwise_verdicts, winner_preference

            orders = pairwise_verdicts({"details": {"candidate_preference_candidate_first": preference_ab,
                                                    "candidate_preference_baseline_first": preference_ba}})
            value = winner_preference(both_orders(orders))

        def side(preference: float) -> int:
            return (preference > 0.5) - (preference < 0.5)

        consistent = side(preference_ab) == side(preference_ba)
        details = {
            "candidate_preference_candidate_first": preference_ab,
            "candidate_preference_baseline_first": preference_ba,
            "position_consistent": consistent,
            "order_reducer": self.order_reducer,
            "repaired": sum(call.is_repaired for call in calls),
        }
        passed = value >= 0.5
        label = ("not_worse" if passed else "worse") + ("" if consistent else "_position_inconsistent")
        return self._score(
            subject, value=value, passed=passed, label=label,
            explanation=(candidate_first if passed == (preference_ab >= 0.5) else baseline_first).reason,
            details=details, **judge,
        )


RagRubric = Literal["context_precision", "context_recall", "context_relevance"]


@dataclass(kw_only=True)
class RagJudge(LLMJudge):
    """An LLM-judged retrieval metric: how relevant, well ranked and complete the retrieved
    context is. params as `llm_judge`, with `rubric` one of context_precision (relevant chunks
    ranked first, vs the reference), context_recall (the reference's facts found in the
    context) or context_relevance (share of chunks about the question)."""

    kind: ClassVar[str] = "rag"
    example: ClassVar[dict[str, Any]] = {"rubric": "context_relevance"}
    default_category: ClassVar[str] = "irrelevant"

    rubric: RagRubric = "context_relevance"

    def __post_init__(self) -> None:
        if self.rubric not in RagRubric.__args__:  # type: ignore[attr-defined]
            raise ValueError(
                f"evaluator {self.name}: rubric {self.rubric!r} is not a RAG rubric; valid: "
                f"{', '.join(RagRubric.__args__)}"  # type: ignore[attr-defined]
            )
        super().__post_init__()
