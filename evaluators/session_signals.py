"""Deterministic signals over a conversation (a session subject, `assay.contracts.agent_subject`,
or any subject with `messages`): how many turns it took, whether the user had to ask the same
thing again, whether it was escalated to a human.

They read the user and assistant messages in order; on a session subject the turns carried
from the day before (the midnight rule) are history: they are read, and counted only where the
docstring says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar

from assay.evaluators.base import Subject, check_share
from assay.evaluators.evidence import DetailedEvaluator, Finding


def _text(content: Any) -> str:
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return str(content or "")


def user_turns(subject: Subject) -> list[str]:
    return [_text(m.get("content")) for m in subject.get("messages") or [] if isinstance(m, dict) and m.get("role") == "user"]


def assistant_turns(subject: Subject) -> list[str]:
    return [_text(m.get("content")) for m in subject.get("messages") or [] if isinstance(m, dict) and m.get("role") == "assistant"]


_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset("a an the i you me my it is are was to of for and or on in at do does did can please this that".split())


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP}


def similarity(a: str, b: str) -> float:
    """The share of the shorter message's content words found in the other (the overlap
    coefficient: a user who asks again often adds to the question, "... It has not arrived")."""
    wa, wb = _words(a), _words(b)
    return len(wa & wb) / min(len(wa), len(wb)) if wa and wb else 0.0


@dataclass(kw_only=True)
class TurnCount(DetailedEvaluator):
    """The day's user turns of a conversation (history carried across midnight not counted).
    Fails above `max_turns`. Value: turns."""

    kind: ClassVar[str] = "conversation"
    output: ClassVar[str] = "pass/fail + turns"
    example: ClassVar[dict[str, Any]] = {"max_turns": 8}

    max_turns: int = 10
    failure_category: str | None = "unresolved"
    metric: str = "turn_count"
    required_fields: tuple[str, ...] = ("messages",)

    def inspect(self, subject: Subject) -> Finding:
        turns = subject.get("turn_count")
        turns = int(turns) if turns is not None else len(user_turns(subject))
        details = {"turns": turns, "history_turns": subject.get("history_turns") or 0}
        if turns > self.max_turns:
            return Finding(False, float(turns), f"{turns} turns > {self.max_turns}", details=details)
        return Finding(True, float(turns), f"{turns} turns", details=details)


@dataclass(kw_only=True)
class RepeatedUserQuestions(DetailedEvaluator):
    """The user asks again what they asked before: a user message whose content words overlap an
    earlier one's by at least `threshold` (`similarity`: the share of the shorter message's content
    words in the other) is a repeat; a repeat is the clearest sign the
    answer did not help. Fails on more than `max_repeats` repeats. Value: repeats. The turn of the
    first repeat is in `details.turn` (where a replay of the conversation starts)."""

    kind: ClassVar[str] = "conversation"
    output: ClassVar[str] = "pass/fail + repeated questions"
    example: ClassVar[dict[str, Any]] = {"threshold": 0.8}

    threshold: float = 0.8
    max_repeats: int = 0
    min_words: int = 3
    """Shorter messages ("yes", "thanks", "ok") repeat naturally and are never a repeat."""
    failure_category: str | None = "unresolved"
    metric: str = "repeated_user_questions"
    required_fields: tuple[str, ...] = ("messages",)

    def __post_init__(self) -> None:
        check_share("repeated_user_questions", "threshold", self.threshold)

    def inspect(self, subject: Subject) -> Finding:
        users = user_turns(subject)
        repeats = []
        for i, text in enumerate(users):
            if len(_words(text)) < self.min_words:
                continue
            earlier = next((j for j in range(i) if similarity(users[j], text) >= self.threshold), None)
            if earlier is not None:
                repeats.append({"turn": i + 1, "repeats_turn": earlier + 1, "text": text[:200]})
        details = {"repeats": repeats, "turn": repeats[0]["turn"] if repeats else None}
        if len(repeats) > self.max_repeats:
            first = repeats[0]
            return Finding(False, float(len(repeats)),
                           f"user repeated turn {first['repeats_turn']} at turn {first['turn']}: {first['text']!r}"[:500],
                           details=details)
        return Finding(True, float(len(repeats)), f"{len(repeats)} repeated question(s) in {len(users)} turns", details=details)


USER_ASKS_FOR_HUMAN = re.compile(
    r"\b(human|real person|(?:live|real) agent|representative|speak to (?:someone|a person|an agent|a manager)|"
    r"talk to (?:someone|a person|an agent|a manager)|manager|supervisor|escalate)\b",
    re.IGNORECASE,
)
ASSISTANT_HANDS_OVER = re.compile(
    r"\b(transfer(?:ring)? you|connect(?:ing)? you (?:with|to)|escalat(?:e|ed|ing)|hand(?:ing)? (?:you )?over|"
    r"a (?:human|support) agent will|our support team will (?:contact|reach)|opened a ticket)\b",
    re.IGNORECASE,
)


@dataclass(kw_only=True)
class Escalation(DetailedEvaluator):
    """The conversation was escalated to a human: the user asked for one (a person, an agent, a
    manager) or the assistant handed over (transferring, escalating, a ticket opened). A signal
    of an unresolved conversation: fails when escalated (`fail_on_escalation`, default true).
    Value: 1 when escalated. `details.turn` is the first escalating turn."""

    kind: ClassVar[str] = "conversation"
    output: ClassVar[str] = "pass/fail + escalated"

    fail_on_escalation: bool = True
    failure_category: str | None = "unresolved"
    metric: str = "escalation"
    required_fields: tuple[str, ...] = ("messages",)

    def inspect(self, subject: Subject) -> Finding:
        turn, found = 0, None
        for message in subject.get("messages") or []:
            if not isinstance(message, dict):
                continue
            role, text = message.get("role"), _text(message.get("content"))
            if role == "user":
                turn += 1
                hit = USER_ASKS_FOR_HUMAN.search(text)
            elif role == "assistant":
                hit = ASSISTANT_HANDS_OVER.search(text)
            else:
                continue
            if hit:
                found = {"turn": max(turn, 1), "by": role, "phrase": hit.group(0)}
                break
        details = {"escalated": found is not None, **(found or {})}
        if found is None:
            return Finding(True, 0.0, "not escalated", details=details)
        explanation = f"escalated at turn {found['turn']} ({found['by']}: {found['phrase']!r})"
        return Finding(not self.fail_on_escalation, 1.0, explanation, details=details)
