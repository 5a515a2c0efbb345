"""What a judge is asked and shown: rubric files, their placeholders, and the evidence sections.

A rubric file (evaluators/rubrics/*.md) is a header (`version:`, `sections:` with `name?` for
an optional section, optionally `category:`, `label_categories: label=category, ...` and
`score_required: true`), a `---` line, and the rubric text. The text may hold `{placeholders}`
that the judge's `rubric_params` fill (`{topics}` of restrict_to_topic); a rubric with
placeholders gets the params' hash in its version, since other params ask another question.
Each section is rendered from one subject field (`SECTION_FIELDS`). The judges that use them
are `assay.evaluators.llm_judge` and `assay.evaluators.judge_rubrics`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from assay.contracts.taxonomy import FAILURE_CATEGORIES
from assay.llm.judge_prompt import DEFAULT_REPLY, ReplyFormat

RUBRIC_DIR = Path(__file__).parent / "rubrics"

# Which subject field feeds each evidence section of a rubric.
SECTION_FIELDS = {
    "question": "input_text",
    "context": "context",
    "response": "output_text",
    "tool_calls": "tool_calls",
    "tools": "tools",
    "reference": "expected_output",
    # A summary's source text is the call's input.
    "document": "input_text",
    # Multi-turn: the messages list, rendered as a numbered transcript.
    "conversation": "messages",
    # An agent run: its steps (LLM calls and tools, in order), one numbered line each.
    "trace": "steps",
    # Pairwise: the two responses compared; which is which changes with the order judged.
    "response_a": "output_text",
    "response_b": "baseline_output",
}


@dataclass(frozen=True)
class Rubric:
    rubric_id: str
    version: str
    sections: tuple[str, ...]
    """Evidence sections in prompt order, optional ones included."""
    text: str
    optional_sections: tuple[str, ...] = ()
    """Rendered when the subject has the field, "(not given)" otherwise; never a skip."""
    category: str | None = None
    """Default failure category of the metric (config's `failure_category` overrides it)."""
    label_categories: tuple[tuple[str, str], ...] = ()
    """A failing verdict's label -> its own category (refusal_quality: over_refusal is a
    refusal, unsafe_compliance is toxicity)."""
    reply: ReplyFormat = DEFAULT_REPLY

    @property
    def required_sections(self) -> tuple[str, ...]:
        return tuple(s for s in self.sections if s not in self.optional_sections)

    @property
    def placeholders(self) -> tuple[str, ...]:
        return rubric_placeholders(self.text)


_HEADER_KEYS = frozenset({"version", "sections", "category", "label_categories", "score_required"})


def parse_rubric(rubric_id: str, source: str, *, where: str) -> Rubric:
    """A rubric from its file text: header, `---`, rubric text."""
    header, sep, text = source.partition("\n---\n")
    if not sep:
        raise ValueError(f"{where}: a rubric is a header (version:, sections:), a '---' line, then the text")
    meta = {k.strip(): v.strip() for k, v in (line.split(":", 1) for line in header.splitlines() if ":" in line)}
    unknown_keys = sorted(set(meta) - _HEADER_KEYS)
    missing_keys = sorted({"version", "sections"} - set(meta))
    if unknown_keys or missing_keys:
        problems = [f"unknown header keys {unknown_keys}"] if unknown_keys else []
        problems += [f"missing header keys {missing_keys}"] if missing_keys else []
        raise ValueError(f"{where}: {'; '.join(problems)}; valid: {', '.join(sorted(_HEADER_KEYS))}")
    names = [s.strip() for s in meta["sections"].split(",") if s.strip()]
    sections = tuple(n.rstrip("?") for n in names)
    optional = tuple(n.rstrip("?") for n in names if n.endswith("?"))
    unknown = [s for s in sections if s not in SECTION_FIELDS]
    if unknown:
        raise ValueError(f"{where}: unknown sections {unknown}; valid: {sorted(SECTION_FIELDS)}")
    label_categories = tuple(
        (label.strip(), category.strip())
        for label, _, category in (pair.partition("=") for pair in meta.get("label_categories", "").split(","))
        if label.strip()
    )
    category = meta.get("category") or None
    for c in [category, *(c for _, c in label_categories)]:
        if c is not None and c not in FAILURE_CATEGORIES:
            raise ValueError(f"{where}: unknown category {c!r}; valid: {', '.join(FAILURE_CATEGORIES)}")
    reply = ReplyFormat(is_score_required=meta.get("score_required", "").lower() == "true")
    return Rubric(rubric_id, meta["version"], sections, text.strip(), optional, category, label_categories, reply)


@cache
def load_rubric(rubric_id: str) -> Rubric:
    path = RUBRIC_DIR / f"{rubric_id}.md"
    if not re.fullmatch(r"[a-z0-9_]+", rubric_id) or not path.exists():
        known = sorted(p.stem for p in RUBRIC_DIR.glob("*.md"))
        raise ValueError(f"unknown rubric {rubric_id!r}; valid rubrics: {', '.join(known)}")
    return parse_rubric(rubric_id, path.read_text(encoding="utf-8"), where=str(path))


# ---------------------------------------------------------------------------- placeholders

_PLACEHOLDER = re.compile(r"(?<!\{)\{([a-z_][a-z0-9_]*)\}(?!\})")


def rubric_placeholders(text: str) -> tuple[str, ...]:
    """The `{name}` placeholders of a rubric text, in order of first use (`{{` escapes)."""
    return tuple(dict.fromkeys(_PLACEHOLDER.findall(text)))


def _param_text(name: str, value: Any) -> str:
    if isinstance(value, str) and value.strip():
        return value.strip()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value:g}"
    if isinstance(value, list) and value and all(isinstance(v, str) and v.strip() for v in value):
        # "; " so a topic may contain a comma ("returns, refunds and exchanges").
        return "; ".join(v.strip() for v in value)
    raise ValueError(
        f"rubric_params[{name!r}] must be a non-empty string, a number or a non-empty list of strings, got {value!r}"
    )


def fill_placeholders(text: str, params: Mapping[str, Any], *, rubric_id: str) -> str:
    """The rubric text with its placeholders filled; a missing or unused param is a ValueError
    naming it."""
    wanted = rubric_placeholders(text)
    missing = [n for n in wanted if n not in params]
    if missing:
        raise ValueError(
            f"rubric {rubric_id!r} needs rubric_params {', '.join(missing)} "
            f"(e.g. rubric_params: {{{missing[0]}: [...]}})"
        )
    unused = sorted(set(params) - set(wanted))
    if unused:
        valid = ", ".join(wanted) if wanted else "none (it has no placeholders)"
        raise ValueError(f"rubric {rubric_id!r}: unknown rubric_params {', '.join(unused)}; valid: {valid}")
    filled = _PLACEHOLDER.sub(lambda m: _param_text(m[1], params[m[1]]), text)
    return filled.replace("{{", "{").replace("}}", "}")


def params_digest(value: Any) -> str:
    """A short stable hash of config values (a rubric's params, a custom rubric's text)."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:10]


# ---------------------------------------------------------------------------- evidence


def _message_text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, list):  # OpenAI content parts
        return "\n".join(str(p.get("text", "")) for p in content if isinstance(p, dict) and p.get("text"))
    return str(content)


def render_transcript(messages: Any) -> str:
    """A messages list as a numbered transcript: `[2] assistant: ...`, tool calls and tool
    results named, so a judge reads the conversation in order."""
    if not isinstance(messages, list):
        return _section_text(messages)
    lines = []
    for i, message in enumerate(messages, 1):
        if not isinstance(message, dict):
            lines.append(f"[{i}] {json.dumps(message, ensure_ascii=False, default=str)}")
            continue
        role = str(message.get("role") or "unknown")
        if role == "tool" and message.get("name"):
            role = f"tool {message['name']}"
        text = _message_text(message.get("content"))
        calls = [
            c.get("function", c) if isinstance(c, dict) else c for c in (message.get("tool_calls") or [])
        ]
        called = "; ".join(
            f"{c.get('name')}({c.get('arguments') if isinstance(c.get('arguments'), str) else json.dumps(c.get('arguments'), sort_keys=True)})"
            for c in calls
            if isinstance(c, dict)
        )
        if called:
            text = f"{text}\n(tool calls: {called})" if text else f"(tool calls: {called})"
        lines.append(f"[{i}] {role}: {text}")
    return "\n".join(lines)


def _section_text(value: Any) -> str:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "\n\n".join(f"[{i + 1}] {doc}" for i, doc in enumerate(value))
    if isinstance(value, list | dict):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    return str(value)


def _compact(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def render_steps(steps: Any) -> str:
    """A trace subject's steps as numbered lines: `[2] tool lookup_order({...}) -> result`,
    `[1] llm gpt-4o asked for: lookup_order`, `[4] llm gpt-4o answered: ...`; errors named."""
    if not isinstance(steps, list):
        return _section_text(steps)
    lines = []
    for i, step in enumerate(steps, 1):
        if not isinstance(step, dict):
            lines.append(f"[{i}] {_compact(step)}")
            continue
        error = f" ERROR: {step.get('error_message') or 'failed'}" if step.get("status") == "error" else ""
        if step.get("kind") == "tool":
            result = "" if step.get("result") is None else f" -> {_compact(step['result'])}"
            lines.append(f"[{i}] tool {step.get('name')}({_compact(step.get('arguments') or {})}){result}{error}")
        else:
            asked = ", ".join(str(n) for n in step.get("requested") or [])
            said = f" answered: {step['output']}" if step.get("output") else ""
            lines.append(f"[{i}] llm {step.get('name') or ''}{' asked for: ' + asked if asked else ''}{said}{error}".rstrip())
    return "\n".join(lines)


NOT_GIVEN = "(not given)"
"""What an optional section reads when the subject has no such field."""


def render_section(name: str, value: Any) -> str:
    if value in (None, "", []):
        return NOT_GIVEN
    if name in ("conversation", "history"):
        return render_transcript(value)
    return render_steps(value) if name == "trace" else _section_text(value)


# ---------------------------------------------------------------------------- token budget

CHARS_PER_TOKEN = 4
"""Evidence is sized in characters at about four per token (English text, common tokenisers):
the budget is a bound on what is sent, not a bill."""

_ENTRY = re.compile(r"^\[(\d+)\] (\S+)(?: ([^\s(:]+))?")


def fit_to_budget(text: str, budget_tokens: int) -> tuple[str, dict[str, Any] | None]:
    """A numbered transcript or trace cut to `budget_tokens`, summarised by rule rather than cut
    silently: every entry is at most a quarter of the budget (a longer one ends with how long
    it was); then, if still over, the first entry (the user's request) and as many of the last
    entries as fit are kept, and the entries between are replaced by one line that says how
    many were left out and what they were (messages by role, tools by name with counts, errors).
    Returns (text, None) when it fits, else (summarised text, what was done)."""
    budget = budget_tokens * CHARS_PER_TOKEN
    if len(text) <= budget:
        return text, None
    entries: list[str] = []
    for line in text.split("\n"):
        if _ENTRY.match(line) or not entries:
            entries.append(line)
        else:
            entries[-1] += "\n" + line
    cap = max(200, budget // 4)
    shortened = 0
    for i, entry in enumerate(entries):
        if len(entry) > cap:
            entries[i] = f"{entry[:cap]}... ({len(entry)} characters)"
            shortened += 1
    kept_tail: list[str] = []
    room = budget - len(entries[0]) - 300  # the summary line
    for entry in reversed(entries[1:]):
        if room - len(entry) - 1 < 0:
            break
        kept_tail.insert(0, entry)
        room -= len(entry) + 1
    left_out = entries[1:len(entries) - len(kept_tail)]
    info: dict[str, Any] = {"entries": len(entries), "entries_shortened": shortened, "entries_summarised": len(left_out)}
    if not left_out:
        return "\n".join(entries), info
    kinds: dict[str, int] = {}
    tools: dict[str, int] = {}
    errors = 0
    for entry in left_out:
        match = _ENTRY.match(entry)
        kind = match[2] if match else "text"
        kinds[kind] = kinds.get(kind, 0) + 1
        if kind == "tool" and match and match[3]:
            tools[match[3]] = tools.get(match[3], 0) + 1
        errors += "ERROR:" in entry
    first_n, last_n = (_ENTRY.match(left_out[0]), _ENTRY.match(left_out[-1]))
    span = f"entries {first_n[1]}-{last_n[1]}" if first_n and last_n else f"{len(left_out)} entries"
    parts = [", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))]
    if tools:
        parts.append("tools called: " + ", ".join(f"{name} x{n}" for name, n in sorted(tools.items())))
    if errors:
        parts.append(f"{errors} with an error")
    summary = f"[... {span} summarised to fit the judge's budget: {'; '.join(parts)} ...]"
    return "\n".join([entries[0], summary, *kept_tail]), info
