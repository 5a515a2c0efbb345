"""Deterministic checks of what an agent did: its tool trajectory against a reference, loops and
repeated identical calls, tool errors left unhandled, steps and tokens to finish.

They read the subject's `tool_calls` ([{name, arguments, status?, result?}] in the order they
ran): on a trace subject (`assay.contracts.agent_subject`) the tools that ran, on a call or a
replayed case the tools the model asked for. A reference trajectory comes from the subject
(`metadata.expected_trajectory`: a golden case's, or one a tracer attached to the run) or else
from the config's `reference`; it is a list of tool names or `{name, arguments}` objects, or an
object `{tools: [...], mode: ..., arguments: ...}` that also sets the match mode.

Modes (as LangChain's agentevals names them): `strict` the same calls in the same order;
`unordered` the same calls in any order; `subset` every call the agent made is in the reference
(it did nothing it should not have); `superset` every reference call is among the agent's (it did
at least what it should have). Calls are matched one to one (a reference call matches at most
one made call). Arguments: `ignore` (names only), `exact` (equal JSON), `subset` (the
reference's arguments are a JSON subset of the call's: every key it gives, with that value,
recursively; extra keys in the call are fine). A reference entry without arguments matches on
its name.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from assay.evaluators.base import Subject
from assay.evaluators.evidence import DetailedEvaluator, Finding

from assay.formats.base import parsed_arguments

TrajectoryMode = Literal["strict", "unordered", "subset", "superset"]
ArgumentMatch = Literal["ignore", "exact", "subset"]
MODES: tuple[str, ...] = TrajectoryMode.__args__  # type: ignore[attr-defined]
ARGUMENT_MATCHES: tuple[str, ...] = ArgumentMatch.__args__  # type: ignore[attr-defined]


def tool_calls_of(subject: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The subject's tool calls as [{name, arguments (decoded), ...}] in order."""
    calls = subject.get("tool_calls") or []
    if isinstance(calls, str):
        calls = parsed_arguments(calls) or []
    return [
        {**call, "name": str(call.get("name")), "arguments": parsed_arguments(call.get("arguments"))}
        for call in calls
        if isinstance(call, dict) and call.get("name")
    ]


def is_json_subset(expected: Any, actual: Any) -> bool:
    """Every key of `expected` is in `actual` with a matching value, recursively; lists match
    element by element (same length); anything else is equal."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(k in actual and is_json_subset(v, actual[k]) for k, v in expected.items())
    if isinstance(expected, list):
        return isinstance(actual, list) and len(expected) == len(actual) and all(
            is_json_subset(e, a) for e, a in zip(expected, actual, strict=True)
        )
    return expected == actual


def reference_entries(reference: Any, where: str) -> list[dict[str, Any]]:
    """A reference trajectory's entries as [{name, arguments?}]; a ValueError naming `where`."""
    if not isinstance(reference, list):
        raise ValueError(f"{where}: a reference trajectory is a list of tool names or {{name, arguments}}, got {reference!r}")
    entries = []
    for i, entry in enumerate(reference, 1):
        if isinstance(entry, str) and entry:
            entries.append({"name": entry})
        elif isinstance(entry, dict) and isinstance(entry.get("name"), str) and entry["name"]:
            unknown = sorted(set(entry) - {"name", "arguments"})
            if unknown:
                raise ValueError(f"{where}: entry {i} has unknown keys {unknown}; valid: name, arguments")
            entries.append({"name": entry["name"], **({"arguments": parsed_arguments(entry["arguments"])} if "arguments" in entry else {})})
        else:
            raise ValueError(f"{where}: entry {i} must be a tool name or {{name, arguments}}, got {entry!r}")
    return entries


def call_matches(reference: Mapping[str, Any], call: Mapping[str, Any], arguments: str) -> bool:
    if reference["name"] != call["name"]:
        return False
    if arguments == "ignore" or "arguments" not in reference:
        return True
    if arguments == "exact":
        return reference["arguments"] == call["arguments"]
    return is_json_subset(reference["arguments"], call["arguments"])


def _max_matching(made: list[dict], reference: list[dict], match: Callable[[dict, dict], bool]) -> dict[int, int]:
    """A maximum one-to-one matching {reference index: made index} (augmenting paths: a greedy
    pass can pair a loose reference entry with the only call a stricter one could take)."""
    owner: dict[int, int] = {}

    def augment(r: int, seen: set[int]) -> bool:
        for m, call in enumerate(made):
            if m in seen or not match(reference[r], call):
                continue
            seen.add(m)
            if m not in owner or augment(owner[m], seen):
                owner[m] = r
                return True
        return False

    for r in range(len(reference)):
        augment(r, set())
    return {r: m for m, r in owner.items()}


class _ToolCallsEvaluator(DetailedEvaluator):
    """Reads `tool_calls`: skipped only when the subject has no such field; an empty list is a
    run that called no tool, which is a verdict (as in `tool_call_valid`)."""

    def missing(self, subject: Subject) -> list[str]:
        return [] if "tool_calls" in subject else ["tool_calls"]


def _label(call: Mapping[str, Any]) -> str:
    args = call.get("arguments")
    return f"{call['name']}({json.dumps(args, sort_keys=True, default=str)})" if args not in (None, {}) else str(call["name"])


def compare_trajectory(
    made: list[dict[str, Any]], reference: list[dict[str, Any]], mode: str, arguments: str
) -> tuple[bool, dict[str, Any]]:
    """(passed, details) of a made trajectory against a reference."""
    def match(r: dict, c: dict) -> bool:
        return call_matches(r, c, arguments)

    if mode == "strict":
        passed = len(made) == len(reference) and all(match(r, c) for r, c in zip(reference, made, strict=True))
        first_diff = next(
            (i for i, (r, c) in enumerate(zip(reference, made, strict=False), 1) if not match(r, c)),
            None if len(made) == len(reference) else min(len(made), len(reference)) + 1,
        )
        pairs = _max_matching(made, reference, match)
        details = {"first_difference_at": None if passed else first_diff}
    else:
        pairs = _max_matching(made, reference, match)
        missing_ok = mode == "subset"
        unexpected_ok = mode == "superset"
        passed = (missing_ok or len(pairs) == len(reference)) and (unexpected_ok or len(pairs) == len(made))
        details = {}
    missing = [_label(reference[r]) for r in range(len(reference)) if r not in pairs]
    unexpected = [_label(made[m]) for m in range(len(made)) if m not in set(pairs.values())]
    return passed, {
        **details,
        "mode": mode,
        "arguments": arguments,
        "made": [_label(c) for c in made],
        "reference": [_label(r) for r in reference],
        "matched": len(pairs),
        "missing": missing,
        "unexpected": unexpected,
    }


@dataclass(kw_only=True)
class ToolTrajectory(_ToolCallsEvaluator):
    """The tools the agent called, in order, against a reference trajectory: `mode` strict,
    unordered, subset or superset; `arguments` ignore, exact or subset (a JSON subset). The
    reference is the subject's `metadata.expected_trajectory` (a golden case's) when it has
    one, else `reference` from config; without either the score is skipped. Value: the share
    of reference calls matched."""

    kind: ClassVar[str] = "tools"
    output: ClassVar[str] = "pass/fail + share of the reference matched"
    example: ClassVar[dict[str, Any]] = {
        "reference": ["lookup_order", {"name": "issue_refund", "arguments": {"order_id": "A1"}}],
        "mode": "strict", "arguments": "subset",
    }

    reference: list[Any] | None = None
    mode: TrajectoryMode = "strict"
    arguments: ArgumentMatch = "ignore"
    failure_category: str | None = "tool_misuse"
    metric: str = "tool_trajectory"
    required_fields: tuple[str, ...] = ("tool_calls",)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"tool_trajectory: `mode` must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.arguments not in ARGUMENT_MATCHES:
            raise ValueError(f"tool_trajectory: `arguments` must be one of {', '.join(ARGUMENT_MATCHES)}, got {self.arguments!r}")
        if self.reference is not None:
            reference_entries(self.reference, "tool_trajectory `reference`")

    def expected(self, subject: Subject) -> tuple[list[dict[str, Any]], str, str] | None:
        """(reference, mode, arguments) for this subject; None when there is no reference."""
        given = (subject.get("metadata") or {}).get("expected_trajectory")
        if given is None:
            return None if self.reference is None else (reference_entries(self.reference, "reference"), self.mode, self.arguments)
        if isinstance(given, dict):
            mode, arguments = given.get("mode", self.mode), given.get("arguments", self.arguments)
            if mode not in MODES or arguments not in ARGUMENT_MATCHES:
                raise ValueError(f"expected_trajectory: mode {mode!r} / arguments {arguments!r}; valid modes "
                                 f"{', '.join(MODES)}, argument matches {', '.join(ARGUMENT_MATCHES)}")
            return reference_entries(given.get("tools"), "expected_trajectory.tools"), mode, arguments
        return reference_entries(given, "expected_trajectory"), self.mode, self.arguments

    def evaluate(self, subject: Subject) -> list:
        if self.missing(subject):
            return super().evaluate(subject)
        try:
            expected = self.expected(subject)
        except ValueError as exc:
            return [self.score(subject, status="error", explanation=str(exc)[:500])]
        if expected is None:
            return [self.score(subject, status="skipped", explanation="no reference trajectory (metadata.expected_trajectory or params.reference)")]
        return super().evaluate(subject)

    def inspect(self, subject: Subject) -> Finding:
        reference, mode, arguments = self.expected(subject)  # type: ignore[misc]
        made = tool_calls_of(subject)
        passed, details = compare_trajectory(made, reference, mode, arguments)
        value = details["matched"] / len(reference) if reference else float(not made)
        if passed:
            explanation = f"{mode} match of {len(reference)} reference call(s) (arguments: {arguments})"
        else:
            parts = [f"{mode} match failed (arguments: {arguments})"]
            if details.get("first_difference_at"):
                parts.append(f"first difference at call {details['first_difference_at']}")
            if details["missing"]:
                parts.append(f"missing: {', '.join(details['missing'])}")
            if details["unexpected"]:
                parts.append(f"unexpected: {', '.join(details['unexpected'])}")
            parts.append(f"made: {' -> '.join(details['made']) or 'no tool call'}")
            explanation = "; ".join(parts)
        return Finding(passed, value, explanation[:500], details=details)


def _signature(call: Mapping[str, Any]) -> str:
    return json.dumps([call["name"], call.get("arguments")], sort_keys=True, default=str)


def repeated_cycle(signatures: list[str], max_cycle_length: int, min_repeats: int) -> tuple[int, int, int] | None:
    """(start index, cycle length, repeats) of the first block of `cycle length` calls repeated
    back to back at least `min_repeats` times (A A A, or A B A B A B), else None."""
    n = len(signatures)
    for length in range(1, max_cycle_length + 1):
        for start in range(n - length * min_repeats + 1):
            block = signatures[start:start + length]
            repeats = 1
            while signatures[start + repeats * length:start + (repeats + 1) * length] == block:
                repeats += 1
            if repeats >= min_repeats:
                return start, length, repeats
    return None


@dataclass(kw_only=True)
class ToolLoops(_ToolCallsEvaluator):
    """Loops and repeated identical tool calls. Fails when one identical call (same tool, same
    arguments) is made more than `max_identical_calls` times in the run, or when a block of up
    to `max_cycle_length` calls repeats back to back `min_loop_repeats` times (search, fetch,
    search, fetch, search, fetch). Value: the identical calls beyond the first of each."""

    kind: ClassVar[str] = "tools"
    output: ClassVar[str] = "pass/fail + repeated calls"
    example: ClassVar[dict[str, Any]] = {"max_identical_calls": 1, "min_loop_repeats": 3}

    max_identical_calls: int = 1
    max_cycle_length: int = 3
    min_loop_repeats: int = 3
    failure_category: str | None = "tool_misuse"
    metric: str = "tool_loops"
    required_fields: tuple[str, ...] = ("tool_calls",)

    def __post_init__(self) -> None:
        for key in ("max_identical_calls", "max_cycle_length"):
            if getattr(self, key) < 1:
                raise ValueError(f"tool_loops: `{key}` must be at least 1")
        if self.min_loop_repeats < 2:
            raise ValueError("tool_loops: `min_loop_repeats` must be at least 2")

    def inspect(self, subject: Subject) -> Finding:
        calls = tool_calls_of(subject)
        signatures = [_signature(c) for c in calls]
        counts = Counter(signatures)
        repeated = {sig: n for sig, n in counts.items() if n > self.max_identical_calls}
        cycle = repeated_cycle(signatures, self.max_cycle_length, self.min_loop_repeats)
        extra = sum(n - 1 for n in counts.values())
        by_label = {_label(calls[signatures.index(sig)]): n for sig, n in repeated.items()}
        details = {"tool_calls": len(calls), "repeated_identical": by_label, "loop": None}
        problems = [f"{label} made {n} times" for label, n in by_label.items()]
        if cycle:
            start, length, repeats = cycle
            block = [_label(c) for c in calls[start:start + length]]
            details["loop"] = {"starts_at_call": start + 1, "block": block, "repeats": repeats}
            problems.append(f"loop from call {start + 1}: {' -> '.join(block)} repeated {repeats} times")
        if problems:
            return Finding(False, float(extra), "; ".join(problems)[:500], details=details)
        return Finding(True, float(extra), f"{len(calls)} tool call(s), no loop, no identical call repeated", details=details)


FAILURE_ACKNOWLEDGED = re.compile(
    r"\b(error|errors|failed|fail(?:ure|s)?|unable|couldn't|could not|can't|cannot|not able|unavailable|"
    r"sorry|try again|did not work|didn't work|went wrong)\b",
    re.IGNORECASE,
)
"""An answer that says something went wrong has handled (reported) a tool error."""


@dataclass(kw_only=True)
class ToolErrorsHandled(_ToolCallsEvaluator):
    """Tool errors left unhandled. A tool call that failed (`status: error`) is handled when a
    later call of the same tool succeeded (a retry that worked) or the final answer says
    something went wrong (`error`, `unable`, `could not`, `sorry`, ...); otherwise the agent
    went on as if it had worked. Fails on any unhandled error. Value: unhandled errors."""

    kind: ClassVar[str] = "tools"
    output: ClassVar[str] = "pass/fail + unhandled tool errors"

    failure_category: str | None = "tool_misuse"
    metric: str = "tool_errors_handled"
    required_fields: tuple[str, ...] = ("tool_calls",)

    def inspect(self, subject: Subject) -> Finding:
        calls = tool_calls_of(subject)
        answer = subject.get("output_text") or ""
        acknowledged = bool(FAILURE_ACKNOWLEDGED.search(answer))
        errors, unhandled = [], []
        for i, call in enumerate(calls):
            if call.get("status") != "error":
                continue
            errors.append(i + 1)
            retried = any(c["name"] == call["name"] and c.get("status") != "error" for c in calls[i + 1:])
            if not (retried or acknowledged):
                unhandled.append(f"call {i + 1} {call['name']}: {call.get('error_message') or 'error'}")
        details = {"tool_errors": len(errors), "unhandled": unhandled, "answer_acknowledges_failure": acknowledged}
        if unhandled:
            return Finding(False, float(len(unhandled)), f"tool error left unhandled: {'; '.join(unhandled)}"[:500], details=details)
        return Finding(True, 0.0, f"{len(errors)} tool error(s), all handled" if errors else "no tool error", details=details)


@dataclass(kw_only=True)
class StepsToFinish(DetailedEvaluator):
    """Steps and tokens an agent run took to finish. Fails when the run gave no final answer,
    took more than `max_steps` steps (LLM calls and tool calls), or more than `max_tokens`
    tokens (input + output of all its calls); a limit left unset is not checked. Value: steps."""

    kind: ClassVar[str] = "tools"
    output: ClassVar[str] = "pass/fail + steps"
    example: ClassVar[dict[str, Any]] = {"max_steps": 12, "max_tokens": 20000}

    max_steps: int | None = None
    max_tokens: int | None = None
    failure_category: str | None = "tool_misuse"
    metric: str = "steps_to_finish"
    required_fields: tuple[str, ...] = ("step_count",)

    def __post_init__(self) -> None:
        for key in ("max_steps", "max_tokens"):
            value = getattr(self, key)
            if value is not None and value < 1:
                raise ValueError(f"steps_to_finish: `{key}` must be at least 1, got {value}")

    def inspect(self, subject: Subject) -> Finding:
        steps, tokens = int(subject["step_count"]), subject.get("total_tokens")
        details = {"steps": steps, "tokens": tokens, "max_steps": self.max_steps, "max_tokens": self.max_tokens,
                   "finished": bool((subject.get("output_text") or "").strip())}
        problems = []
        if not details["finished"]:
            problems.append("no final answer")
        if self.max_steps is not None and steps > self.max_steps:
            problems.append(f"{steps} steps > {self.max_steps}")
        if self.max_tokens is not None and tokens is not None and tokens > self.max_tokens:
            problems.append(f"{tokens} tokens > {self.max_tokens}")
        summary = f"{steps} steps, {tokens if tokens is not None else 'unknown'} tokens"
        if problems:
            return Finding(False, float(steps), f"{'; '.join(problems)} ({summary})", details=details)
        return Finding(True, float(steps), f"finished in {summary}", details=details)
