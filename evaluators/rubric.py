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


NOT_GIVEN = "(not given)"
"""What an optional section reads when the subject has no such field."""


def render_section(name: str, value: Any) -> str:
    if value in (None, "", []):
        return NOT_GIVEN
    return render_transcript(value) if name == "conversation" else _section_text(value)
