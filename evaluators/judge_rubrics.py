"""Judges whose rubric is written in config: `custom_rubric` and `g_eval`.

Both build a `Rubric` from their params and then run through the one judge engine path of
`LLMJudge` (the same fencing, cache, budget, repair and defensive parsing). Their version is a
hash of everything that changes the question or the verdict (criteria, output mode, labels,
threshold, examples, sections), so editing a rubric starts a new series instead of mixing
old and new scores.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

from assay.evaluators.llm_judge import LLMJudge, pass_fail_verdict
from assay.evaluators.rubric import SECTION_FIELDS, Rubric, params_digest, parse_rubric

from assay.llm.judge_prompt import ReplyFormat

OutputMode = Literal["pass_fail", "score_1_5", "label"]
EXAMPLE_KEYS = ("input", "output", "verdict", "reason")

_MODE_INSTRUCTIONS = {
    "pass_fail": "Decide whether the response meets the criteria: passed = true only when it meets all of them.",
    "score_1_5": (
        "Score the response from 1 to 5: 1 = fails the criteria, 2 = mostly fails, 3 = partly meets them, "
        "4 = meets them with minor gaps, 5 = fully meets them."
    ),
    "label": "Choose the one label that fits the response best: {labels}.",
}


def _check_sections(owner: str, sections: list[str]) -> tuple[str, ...]:
    names = [s.rstrip("?") for s in sections]
    unknown = [s for s in names if s not in SECTION_FIELDS]
    if not sections or unknown:
        raise ValueError(
            f"evaluator {owner}: sections {unknown or sections} are not valid; "
            f"valid: {', '.join(sorted(SECTION_FIELDS))} (a trailing ? marks one optional)"
        )
    if len(set(names)) != len(names):
        raise ValueError(f"evaluator {owner}: sections {sections} repeat a section")
    if all(s.endswith("?") for s in sections):
        raise ValueError(f"evaluator {owner}: sections {sections}: at least one must be required")
    return tuple(sections)


def _rubric_from_config(rubric_id: str, text: str, sections: tuple[str, ...], reply: ReplyFormat) -> Rubric:
    names = tuple(s.rstrip("?") for s in sections)
    optional = tuple(s.rstrip("?") for s in sections if s.endswith("?"))
    return Rubric(rubric_id, "config", names, text, optional, None, (), reply)


@dataclass(kw_only=True)
class CustomRubricJudge(LLMJudge):
    """An LLM judge that grades against criteria written in config, as pass/fail, a 1-5 score
    or a label. params: `criteria` (text) or `criteria_file` (a text file, or a rubric file
    with a header); `mode` pass_fail | score_1_5 (normalised to 0-1, passed when >=
    `threshold`, default 0.5 = a 3) | label (`labels`, and `pass_labels` that count as passed);
    `examples` (few-shot [{input, output, verdict, reason?}], fenced in the prompt as data);
    `sections` (evidence, default question and response; `name?` = optional); `rubric_params`
    for `{placeholders}` in the criteria; and the `llm_judge` params (model, samples...)."""

    output: ClassVar[str] = "pass/fail + score 0-1 (pass_fail, 1-5 normalised, or label) + label"
    example: ClassVar[dict[str, Any]] = {
        "criteria": "The response tells the customer the next concrete step they can take.",
        "mode": "pass_fail",
    }
    default_category: ClassVar[str] = "reasoning_error"
    examples_in_rubric: ClassVar[bool] = True

    rubric: str = field(default="custom_rubric", init=False)
    """Fixed: the rubric is the criteria (the prompt's rubric id, which the sim judge reads)."""
    criteria: str | None = None
    criteria_file: str | None = None
    mode: OutputMode = "pass_fail"
    threshold: float | None = None
    labels: list[str] = field(default_factory=list)
    pass_labels: list[str] = field(default_factory=list)
    examples: list[dict[str, Any]] = field(default_factory=list)
    sections: list[str] = field(default_factory=lambda: ["question", "response"])

    def __post_init__(self) -> None:
        super().__post_init__()
        self.metric = self.name  # each custom rubric is its own metric

    @classmethod
    def catalogue_inputs(cls, fixed: dict[str, Any]) -> tuple[str, ...]:
        sections = fixed.get("sections") or cls.__dataclass_fields__["sections"].default_factory()
        return tuple(dict.fromkeys(SECTION_FIELDS[s] for s in sections if not s.endswith("?")))

    def _criteria_text(self) -> tuple[str, tuple[str, ...] | None]:
        """(criteria text, sections from a rubric file's header or None)."""
        if (self.criteria is None) == (self.criteria_file is None):
            raise ValueError(f"evaluator {self.name}: give exactly one of criteria or criteria_file")
        if self.criteria is not None:
            if not self.criteria.strip():
                raise ValueError(f"evaluator {self.name}: criteria is empty")
            return self.criteria.strip(), None
        path = Path(self.criteria_file)
        if not path.is_file():
            raise ValueError(f"evaluator {self.name}: criteria_file {self.criteria_file!r} is not a file")
        source = path.read_text(encoding="utf-8")
        if "\n---\n" in source:  # a rubric file: its header names the sections
            rubric = parse_rubric("custom_rubric", source, where=str(path))
            marked = tuple(s + ("?" if s in rubric.optional_sections else "") for s in rubric.sections)
            return rubric.text, marked
        if not source.strip():
            raise ValueError(f"evaluator {self.name}: criteria_file {self.criteria_file!r} is empty")
        return source.strip(), None

    def _reply(self) -> ReplyFormat:
        mode = self.mode
        if mode not in ("pass_fail", "score_1_5", "label"):
            raise ValueError(f"evaluator {self.name}: mode {mode!r} is not one of pass_fail, score_1_5, label")
        if mode != "score_1_5" and self.threshold is not None:
            raise ValueError(f"evaluator {self.name}: threshold applies to mode score_1_5 only")
        if mode != "label" and (self.labels or self.pass_labels):
            raise ValueError(f"evaluator {self.name}: labels and pass_labels apply to mode label only")
        if mode == "label" and len(set(self.labels)) != len(self.labels):
            raise ValueError(f"evaluator {self.name}: labels {self.labels} repeat a label")
        try:
            return ReplyFormat(
                mode=mode,
                threshold=0.5 if self.threshold is None else self.threshold,
                labels=tuple(self.labels),
                pass_labels=tuple(self.pass_labels),
            )
        except ValueError as exc:
            raise ValueError(f"evaluator {self.name}: {exc}") from None

    def build_rubric(self) -> Rubric:
        criteria, file_sections = self._criteria_text()
        reply = self._reply()
        sections = _check_sections(self.name, file_sections or list(self.sections))
        self._criteria, self._sections_given = criteria, sections
        instruction = _MODE_INSTRUCTIONS[reply.mode].format(labels=", ".join(reply.labels))
        parts = ["Custom rubric.", criteria, "", instruction]
        if self.examples:
            parts.append(
                "The example_N sections are graded examples (input, output, verdict) showing how these "
                "criteria are applied; grade only the evidence sections that follow them."
            )
        return _rubric_from_config("custom_rubric", "\n".join(parts), sections, reply)

    def _example_text(self, i: int, example: Any) -> str:
        where = f"evaluator {self.name}: examples[{i - 1}]"
        if not isinstance(example, dict):
            raise ValueError(f"{where} must be a mapping with output and verdict (and input, reason), got {example!r}")
        unknown = sorted(set(example) - set(EXAMPLE_KEYS))
        if unknown or "output" not in example or "verdict" not in example:
            raise ValueError(f"{where}: keys {sorted(example)}; needs output and verdict, may have input and reason")
        verdict = self._example_verdict(where, example["verdict"])
        lines = [f"{key}: {example[key]}" for key in ("input", "output") if key in example]
        lines.append(f"verdict: {verdict}")
        if example.get("reason"):
            lines.append(f"reason: {example['reason']}")
        return "\n".join(lines)

    def example_from(self, subject: dict[str, Any], passed: bool) -> dict[str, Any]:
        """A graded example in a custom rubric's shape (input, output, verdict)."""
        example = {"input": subject.get("input_text") or "", "output": subject.get("output_text") or "",
                   "verdict": "pass" if passed else "fail"}
        return {k: v for k, v in example.items() if v != "" or k == "verdict"}

    def _example_verdict(self, where: str, verdict: Any) -> str:
        if self.mode == "pass_fail":
            return pass_fail_verdict(where, verdict)
        if self.mode == "score_1_5":
            if not isinstance(verdict, bool) and isinstance(verdict, int | float) and 1 <= verdict <= 5:
                return f"{verdict:g}"
            raise ValueError(f"{where}: verdict must be a score from 1 to 5, got {verdict!r}")
        if verdict not in self.labels:
            raise ValueError(f"{where}: verdict must be one of labels {self.labels}, got {verdict!r}")
        return str(verdict)

    def build_version(self) -> str:
        digest = params_digest(
            {
                "criteria": self._criteria,
                "mode": self.mode,
                "threshold": self.reply_format.threshold if self.mode == "score_1_5" else None,
                "labels": self.labels,
                "pass_labels": self.pass_labels,
                "examples": self._examples,
                "sections": self._sections_given,
                "rubric_params": self.rubric_params,
            }
        )
        return f"custom_rubric.{digest}"


_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def default_steps(criteria: str) -> list[str]:
    """Evaluation steps derived from the criteria text alone (no model call), so the same
    criteria always give the same prompt: read, check each criterion sentence, weigh, score."""
    criteria_sentences = [s.strip() for s in _SENTENCE.split(criteria.strip()) if s.strip()]
    return [
        "Read the evidence sections in full.",
        *(f"Check the response against this criterion: {s}" for s in criteria_sentences),
        "Weigh how many criteria are met and how badly any is missed.",
        "Give the score from 1 to 5.",
    ]


@dataclass(kw_only=True)
class GEvalJudge(LLMJudge):
    """A G-Eval style judge: criteria plus step-by-step evaluation steps, scored 1-5 and
    normalised to 0-1. params: `criteria`; `steps` (list; default derived from the criteria,
    one check per criterion sentence, so the prompt is deterministic); `threshold` (0-1 on the
    normalised score, default 0.5 = a 3); `sections` (default question and response); and the
    `llm_judge` params (model, samples...)."""

    output: ClassVar[str] = "pass/fail + score 0-1 (1-5 normalised)"
    example: ClassVar[dict[str, Any]] = {
        "criteria": "The response is helpful. It gives the customer a clear next step.",
    }
    default_category: ClassVar[str] = "reasoning_error"

    rubric: str = field(default="g_eval", init=False)
    criteria: str = ""
    steps: list[str] | None = None
    threshold: float = 0.5
    sections: list[str] = field(default_factory=lambda: ["question", "response"])

    def __post_init__(self) -> None:
        if not isinstance(self.criteria, str) or not self.criteria.strip():
            raise ValueError(f"evaluator {self.name}: criteria is required (the text the response is scored against)")
        if self.steps is not None and (
            not self.steps or len(self.steps) > 20 or not all(isinstance(s, str) and s.strip() for s in self.steps)
        ):
            raise ValueError(f"evaluator {self.name}: steps must be 1..20 non-empty strings, got {self.steps!r}")
        super().__post_init__()
        self.metric = self.name

    @classmethod
    def catalogue_inputs(cls, fixed: dict[str, Any]) -> tuple[str, ...]:
        sections = fixed.get("sections") or cls.__dataclass_fields__["sections"].default_factory()
        return tuple(dict.fromkeys(SECTION_FIELDS[s] for s in sections if not s.endswith("?")))

    def build_rubric(self) -> Rubric:
        try:
            reply = ReplyFormat(mode="score_1_5", threshold=self.threshold)
        except ValueError as exc:
            raise ValueError(f"evaluator {self.name}: {exc}") from None
        sections = _check_sections(self.name, list(self.sections))
        self._steps = [s.strip() for s in self.steps] if self.steps else default_steps(self.criteria)
        self._sections_given = sections
        text = "\n".join(
            [
                "G-Eval.",
                f"Criteria: {self.criteria.strip()}",
                "Evaluation steps:",
                *(f"{i}. {step}" for i, step in enumerate(self._steps, 1)),
                "Follow the steps in order, then score from 1 (does not meet the criteria) to 5 (fully meets them).",
            ]
        )
        return _rubric_from_config("g_eval", text, sections, reply)

    def build_version(self) -> str:
        digest = params_digest(
            {
                "criteria": self.criteria.strip(),
                "steps": self._steps,
                "threshold": self.threshold,
                "sections": self._sections_given,
                "rubric_params": self.rubric_params,
            }
        )
        return f"g_eval.{digest}"
