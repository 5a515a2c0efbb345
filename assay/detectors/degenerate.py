"""Degenerate output: what a broken model or decoding loop sends back instead of an answer.

Three shapes, each checked on its own (`degenerate_flags`, a pure function of the text):

- `repeated_tokens`: a few tokens repeated to fill the output ("the the the ...", "}} ]] }}
  ]] ...", one line over and over);
- `punctuation_run`: a long run of punctuation and brackets with no letter or digit in it
  ("]]}})))>>>;;;"), other than a markdown table's rule line or a heading underline;
- `bracket_soup`: brackets that do not nest (a closer that is not the innermost opener's
  pair) or that make up most of the visible text, outside quoted strings.

Real code, JSON, markdown tables and lists repeat their syntax but nest their brackets, mix
their tokens and keep letters between their punctuation: `make bench-detectors` measures the
flags on constant-junk answers and on such outputs that the project writes
(`tests/support/degenerate_samples.py`), and the figures are in docs/evaluators.md.

In the core because two layers use it: the `degenerate_output` and `not_gibberish` evaluators,
and the prompt-injection detector (`assay.detectors.injection`: a prompt padded with filler).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass

MAX_CHARS = 100_000
"""Only the head of an output is read: bounded work, whatever a runaway generation wrote."""

_TOKEN = re.compile(r"\w+|[^\w\s]+")
# A markdown table rule ("|---|:---:|"), or a heading/rule line of one repeated character.
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(?:\|\s*:?-{2,}:?\s*)+\|?\s*$")
_DECORATION = re.compile(r"^\s*([-=_*#~+.`'\"])\1{2,}\s*$|^\s*(?:[-*_]\s*){3,}$")
_PUNCT_RUN = re.compile(r"[^\w\s]{16,}")
_QUOTED = re.compile(r'"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\'|`[^`\n]*`')
_PAIRS = {")": "(", "]": "[", "}": "{"}
_OPENERS = set(_PAIRS.values())


@dataclass(frozen=True)
class DegenerateFlag:
    kind: str
    """repeated_tokens, punctuation_run or bracket_soup."""
    observed: float
    """What crossed the line: the share of tokens, the run's length, or the share/count."""
    why: str


def _is_json(text: str) -> bool:
    stripped = text.strip()
    if not stripped or stripped[0] not in "[{":
        return False
    try:
        json.loads(stripped)
    except ValueError:
        return False
    return True


def _repeated_tokens(text: str) -> DegenerateFlag | None:
    tokens = _TOKEN.findall(text.casefold())
    if len(tokens) >= 12:
        counts = Counter(tokens)
        top3 = sum(n for _, n in counts.most_common(3)) / len(tokens)
        # A real answer, however formulaic (a list, a table, a JSON array), brings new tokens
        # as it goes: its three most common cover well under 80%; a loop covers nearly all.
        if top3 >= 0.8 and len(counts) <= max(6, len(tokens) // 10):
            return DegenerateFlag("repeated_tokens", round(top3, 3), f"3 tokens are {top3:.0%} of {len(tokens)}")
    lines = [line.strip() for line in text.splitlines() if sum(c.isalnum() for c in line) >= 4]
    if len(lines) >= 5:
        line, n = Counter(lines).most_common(1)[0]
        if n >= 5 and n / len(lines) >= 0.6:
            return DegenerateFlag("repeated_tokens", round(n / len(lines), 3), f"one line is {n} of {len(lines)} lines")
    return None


def _punctuation_run(text: str) -> DegenerateFlag | None:
    for line in text.splitlines():
        if _TABLE_RULE.match(line) or _DECORATION.match(line):
            continue
        for m in _PUNCT_RUN.finditer(line):
            run = m.group()
            if len(set(run)) >= 3:
                return DegenerateFlag("punctuation_run", float(len(run)), f"{len(run)} punctuation characters in a row")
    return None


def _bracket_soup(text: str) -> DegenerateFlag | None:
    unquoted = _QUOTED.sub(" ", text)
    visible = [c for c in unquoted if not c.isspace()]
    brackets = [c for c in visible if c in _PAIRS or c in _OPENERS]
    if len(visible) < 12 or len(brackets) < 6:
        return None
    stack: list[str] = []
    crossed = 0
    for c in brackets:
        if c in _OPENERS:
            stack.append(c)
        elif stack:
            if stack[-1] == _PAIRS[c]:
                stack.pop()
            else:
                crossed += 1  # "(]": a closer that is not the innermost opener's pair
                if _PAIRS[c] in stack:  # skip to its opener, as a parser recovering would
                    while stack and stack.pop() != _PAIRS[c]:
                        pass
    share = len(brackets) / len(visible)
    if crossed >= 3 and crossed / len(brackets) >= 0.15:
        return DegenerateFlag("bracket_soup", float(crossed), f"{crossed} brackets close what they did not open")
    if share >= 0.5:
        return DegenerateFlag("bracket_soup", round(share, 3), f"brackets are {share:.0%} of the visible text")
    return None


def degenerate_flags(text: str) -> list[DegenerateFlag]:
    """What makes `text` degenerate output; empty for an answer in any real format."""
    text = text[:MAX_CHARS]
    if not text.strip():
        return []
    if _is_json(text):
        return []  # parses: a real (if repetitive) document, whatever its shape
    found = (_repeated_tokens(text), _punctuation_run(text), _bracket_soup(text))
    return [flag for flag in found if flag is not None]
