"""Tool-call checks: the model called a tool when it had to, a tool it may call, with
arguments that are a JSON object."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, ClassVar

from assay.evaluators.base import DeterministicEvaluator, Subject

from assay.contracts.score import Score


@dataclass(kw_only=True)
class ToolCallValid(DeterministicEvaluator):
    """The subject's `tool_calls` ([{name, arguments}]) are well formed.

    Fails when `required` (default true) and no tool was called, when a call names a tool
    outside `allowed_tools` (if given), or when a call's `arguments` is neither a dict nor a
    JSON string holding an object. Value: 1.0 pass, 0.0 fail.

    `tool_calls` is the required field, but an empty list or null is a verdict, not a
    missing input: "the model made no tool call" is precisely what `required` checks. The
    score is skipped only when the subject has no `tool_calls` field at all. With
    `required: false`, a subject without tool calls passes.
    """

    kind: ClassVar[str] = "tools"
    example: ClassVar[dict[str, Any]] = {"allowed_tools": ["lookup_order", "issue_refund"]}

    required: bool = True
    allowed_tools: list[str] | None = None
    failure_category: str | None = "tool_misuse"
    metric: str = "tool_call_valid"
    required_fields: tuple[str, ...] = ("tool_calls",)

    def __post_init__(self) -> None:
        if self.allowed_tools is not None and (
            not isinstance(self.allowed_tools, list)
            or not all(isinstance(t, str) and t for t in self.allowed_tools)
        ):
            raise ValueError("tool_call_valid: `allowed_tools` must be a list of tool names")

    def evaluate(self, subject: Subject) -> list[Score]:
        if "tool_calls" not in subject:
            return [self.score(subject, status="skipped", explanation="missing input: tool_calls")]
        if subject["tool_calls"] in (None, "", []):
            # Present but empty: a verdict, which the base class would skip as missing.
            passed, value, explanation = self._no_calls()
            return [self.score(subject, passed=passed, value=value, explanation=explanation)]
        return super().evaluate(subject)

    def _no_calls(self) -> tuple[bool, float | None, str]:
        if self.required:
            return False, 0.0, "no tool call made (required)"
        return True, 1.0, "no tool call (not required)"

    def check(self, subject: Subject) -> tuple[bool, float | None, str]:
        calls = subject.get("tool_calls")
        if isinstance(calls, str):  # a record straight from the lake keeps it JSON-encoded
            try:
                calls = json.loads(calls)
            except json.JSONDecodeError as exc:
                return False, 0.0, f"tool_calls is not valid JSON: {exc.msg} (char {exc.pos})"
        if not calls:
            return self._no_calls()
        if not isinstance(calls, list):
            return False, 0.0, f"tool_calls must be a list, got {type(calls).__name__}"
        problems = [p for i, call in enumerate(calls) if (p := self._problem(i, call))]
        if problems:
            return False, 0.0, "; ".join(problems)
        names = ", ".join(str(c["name"]) for c in calls)
        return True, 1.0, f"{len(calls)} valid tool call(s): {names}"

    def _problem(self, index: int, call: Any) -> str | None:
        where = f"tool call #{index + 1}"
        if not isinstance(call, dict):
            return f"{where} is a {type(call).__name__}, not an object"
        name = call.get("name")
        if not isinstance(name, str) or not name:
            return f"{where} has no tool name"
        where = f"{where} ({name!r})"
        if self.allowed_tools is not None and name not in self.allowed_tools:
            return f"{where}: tool not allowed; allowed: {', '.join(self.allowed_tools)}"
        arguments = call.get("arguments")
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments)
            except json.JSONDecodeError as exc:
                return f"{where}: arguments are not valid JSON: {exc.msg} at char {exc.pos}"
        if not isinstance(arguments, dict):
            kind = "null" if arguments is None else type(arguments).__name__
            return f"{where}: arguments must be a JSON object, got {kind}"
        return None
