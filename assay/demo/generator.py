"""Synthetic production traffic for the demo app `acme-support`, with ground truth.

`generate(home)` writes one native JSONL file per day to
`home/landing/native/<YYYY-MM-DD>/calls.jsonl` (what `raw_calls` ingests) and, kept
aside, `home/demo_truth/<YYYY-MM-DD>.jsonl`: for each call which failure was injected
(if any), and which landing lines are deliberately malformed. Deterministic: the same
seed and date give byte-identical files.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from assay.contracts.call import CallRecord
from assay.demo import domain
from assay.demo.agents import agents_landing_path, agents_truth_path, day_agent_records

INJECTED_KINDS = (
    "hallucination",
    "format_break",
    "tool_misuse",
    "refusal",
    "pii_leak",
    "latency_breach",
    "provider_error",
)

FEATURE_WEIGHTS = {"rag_answer": 0.45, "classify_ticket": 0.30, "tool_router": 0.25}

# Per-feature injection rates (share of the feature's calls) on a normal day.
INJECTION_RATES: dict[str, dict[str, float]] = {
    "rag_answer": {
        "hallucination": 0.04,
        "refusal": 0.02,
        "pii_leak": 0.015,
        "latency_breach": 0.02,
        "provider_error": 0.02,
    },
    "classify_ticket": {
        "format_break": 0.05,
        "refusal": 0.01,
        "latency_breach": 0.02,
        "provider_error": 0.02,
    },
    "tool_router": {
        "tool_misuse": 0.06,
        "refusal": 0.01,
        "latency_breach": 0.02,
        "provider_error": 0.02,
    },
}
DRIFT_HALLUCINATION_RATE = 0.18
"""rag_answer's hallucination rate from the 3rd-last day on (when days >= 3)."""
SUBTLE_SHARE = 0.4

LATENCY_MEDIAN_MS = {"rag_answer": 1200.0, "classify_ticket": 500.0, "tool_router": 800.0}
LATENCY_SIGMA = 0.35
LATENCY_CAP_MS = 4500.0
"""Calls without an injected latency breach stay under this, so the truth is clean."""

PROVIDER_ERRORS = [
    ("RateLimitError", "Rate limit reached for sim/support-v1: 60 requests per minute.", (40, 150)),
    ("APIConnectionError", "Connection error: upstream closed the connection.", (200, 1500)),
    ("Timeout", "Request timed out after 30.0 seconds.", (30000, 30000)),
]

NUM_USERS = 120
MALFORMED_PER_DAY = 3
NEGATIVE_COMMENTS = ["That's wrong.", "Not helpful.", "This didn't answer my question.", None]
POSITIVE_COMMENTS = ["Thanks!", "Perfect, that helped.", None, None]

# How people wrap the same question: only stopwords, so retrieval and answers are unchanged
# while the exact input text varies (plain is the most common).
QUESTION_OPENERS = ["", "", "", "Hi, ", "Hello! ", "Hey, ", "Please tell me: "]
QUESTION_CLOSERS = ["", "", "", " Thanks!", " Thank you."]

# Hour-of-day weights (UTC): quiet nights, busy afternoons.
_HOUR_WEIGHTS = [2, 1, 1, 1, 1, 2, 3, 5, 7, 9, 10, 10, 10, 10, 10, 9, 9, 8, 8, 7, 6, 5, 4, 3]


@dataclass
class GenerationSummary:
    days: list[date]
    calls_per_day: int
    landing_files: list[Path]
    truth_files: list[Path]
    injected: dict[str, int] = field(default_factory=dict)
    """Injected failure counts by kind over all days, including `malformed` lines."""
    injected_by_day: dict[str, dict[str, int]] = field(default_factory=dict)
    malformed_lines: int = 0
    agent_injected: Counter = field(default_factory=Counter)
    """Injected agent-run and conversation failures by kind (`assay.demo.agents`)."""


def _stable_hex(*parts: object, length: int = 16) -> str:
    return hashlib.sha256(":".join(str(p) for p in parts).encode()).hexdigest()[:length]


def _zipf_weights(n: int, s: float = 1.0) -> list[float]:
    return [1.0 / (rank**s) for rank in range(1, n + 1)]


@dataclass(frozen=True)
class _Pools:
    """The finite set of things users say: real traffic repeats itself."""

    questions: list[str]
    question_weights: list[float]
    tickets: list[str]
    ticket_weights: list[float]
    requests: list[str]
    request_weights: list[float]
    user_weights: list[float]


def _pools(seed: int) -> _Pools:
    rng = random.Random(f"assay-demo-pools:{seed}")
    questions = [q for q, _ in domain.KB_QUESTIONS]
    rng.shuffle(questions)
    tickets = []
    for _ in range(150):
        template = rng.choice(domain.TICKET_TEMPLATES)
        tickets.append(template.format(order=rng.randint(100000, 999999)))
    requests = []
    for _ in range(150):
        template = rng.choice(domain.REQUEST_TEMPLATES)
        requests.append(
            template.format(
                order=rng.randint(100000, 999999),
                amount=f"{rng.choice([12, 19, 24, 39, 49, 89, 129])}.{rng.choice(['00', '90', '99'])}",
                address=rng.choice(domain.ADDRESSES),
            )
        )
    user_weights = _zipf_weights(NUM_USERS, 0.8)
    rng.shuffle(user_weights)
    return _Pools(
        questions=questions,
        question_weights=_zipf_weights(len(questions), 0.9),
        tickets=tickets,
        ticket_weights=_zipf_weights(len(tickets), 0.7),
        requests=requests,
        request_weights=_zipf_weights(len(requests), 0.7),
        user_weights=user_weights,
    )


def _draw_injection(rng: random.Random, rates: dict[str, float]) -> str | None:
    u = rng.random()
    acc = 0.0
    for kind, rate in rates.items():
        acc += rate
        if u < acc:
            return kind
    return None


def _messages_tokens(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> int:
    tokens = sum(domain.estimate_tokens(m.get("content")) + 4 for m in messages)
    if tools:
        tokens += domain.estimate_tokens(json.dumps(tools))
    return tokens


def _make_call(
    rng: random.Random,
    pools: _Pools,
    feature: str,
    injected: str | None,
    subtle: bool,
) -> dict[str, Any]:
    """The feature-specific part of one call: messages, output, status."""
    out: dict[str, Any] = {"finish_reason": "stop", "status": "success"}
    if feature == "rag_answer":
        question = rng.choices(pools.questions, pools.question_weights)[0]
        opener, closer = rng.choice(QUESTION_OPENERS), rng.choice(QUESTION_CLOSERS)
        if opener:
            question = opener + question[0].lower() + question[1:]
        question += closer
        context = domain.retrieve(question)
        messages = [
            {"role": "system", "content": domain.render_rag_system(context)},
            {"role": "user", "content": question},
        ]
        answer = domain.answer_from_context(question, context)
        if injected == "hallucination":
            answer = domain.hallucinate(answer, context, rng, subtle=subtle)
        elif injected == "pii_leak":
            answer = domain.leak_pii(answer, rng)
        elif injected == "refusal":
            answer = domain.REFUSAL_TEXT
        out.update(messages=messages, input_text=question, context=context, output_text=answer)
        out["params"] = {"temperature": 0.2, "max_tokens": 400}
    elif feature == "classify_ticket":
        ticket = rng.choices(pools.tickets, pools.ticket_weights)[0]
        messages = [
            {"role": "system", "content": domain.CLASSIFY_SYSTEM_PROMPT},
            {"role": "user", "content": ticket},
        ]
        text = domain.classification_json(ticket)
        if injected == "format_break":
            text, out["finish_reason"] = domain.break_json(text, rng)
        elif injected == "refusal":
            text = domain.REFUSAL_TEXT
        out.update(messages=messages, input_text=ticket, output_text=text)
        out["params"] = {"temperature": 0.0, "max_tokens": 60, "response_format": {"type": "json_object"}}
    else:
        request = rng.choices(pools.requests, pools.request_weights)[0]
        messages = [
            {"role": "system", "content": domain.TOOL_SYSTEM_PROMPT},
            {"role": "user", "content": request},
        ]
        out.update(messages=messages, input_text=request, tools=domain.TOOLS)
        out["params"] = {"temperature": 0.0, "tool_choice": "auto"}
        if injected == "refusal":
            out.update(output_text=domain.REFUSAL_TEXT)
        else:
            tool = domain.expected_tool(request)
            if injected == "tool_misuse":
                tool = domain.WRONG_TOOL[tool]
            calls = [{"name": tool, "arguments": domain.tool_arguments(request, tool)}]
            sentence = rng.choice(["", "", "Let me take care of that for you.", "One moment, checking now."])
            out.update(tool_calls=calls, output_text=sentence, finish_reason="tool_calls")
    return out


def _day_records(
    day: date, day_index: int, calls_per_day: int, seed: int, drift: bool, pools: _Pools
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(CallRecord dicts sorted by ts, truth rows) for one day."""
    rng = random.Random(f"assay-demo:{seed}:{day.isoformat()}")
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    seconds = sorted(
        rng.choices(range(24), _HOUR_WEIGHTS)[0] * 3600 + rng.random() * 3600
        for _ in range(calls_per_day)
    )
    features = list(FEATURE_WEIGHTS)
    weights = list(FEATURE_WEIGHTS.values())
    records: list[dict[str, Any]] = []
    truth: list[dict[str, Any]] = []
    for n, offset in enumerate(seconds):
        feature = rng.choices(features, weights)[0]
        rates = dict(INJECTION_RATES[feature])
        if drift and feature == "rag_answer":
            rates["hallucination"] = DRIFT_HALLUCINATION_RATE
        injected = _draw_injection(rng, rates)
        subtle = injected == "hallucination" and rng.random() < SUBTLE_SHARE
        call = _make_call(rng, pools, feature, injected, subtle)

        user = rng.choices(range(NUM_USERS), pools.user_weights)[0]
        call_id = "call-" + _stable_hex(seed, day.isoformat(), day_index, n)
        ts = start + timedelta(seconds=offset)
        latency = min(
            LATENCY_CAP_MS, math.exp(rng.gauss(math.log(LATENCY_MEDIAN_MS[feature]), LATENCY_SIGMA))
        )
        if injected == "latency_breach":
            latency = rng.uniform(6000, 15000)
        input_tokens = _messages_tokens(call["messages"], call.get("tools"))
        if injected == "provider_error":
            error_type, error_message, (lo, hi) = rng.choice(PROVIDER_ERRORS)
            latency = rng.uniform(lo, hi)
            call.update(
                status="error", error_type=error_type, error_message=error_message,
                output_text=None, tool_calls=None, finish_reason=None,
            )
            output_tokens = None
            cost = 0.0
            ttft = None
        else:
            output_tokens = domain.estimate_tokens(call.get("output_text")) + (
                domain.estimate_tokens(json.dumps(call["tool_calls"])) if call.get("tool_calls") else 0
            )
            output_tokens = max(1, output_tokens)
            cost = domain.cost_usd(domain.BASELINE_MODEL, input_tokens, output_tokens)
            ttft = round(latency * rng.uniform(0.15, 0.4), 1)

        failed = injected is not None and injected != "latency_breach"
        feedback = None
        comment = None
        if rng.random() < (0.3 if failed else 0.08):
            negative = rng.random() < (0.8 if failed else 0.15)
            feedback = -1.0 if negative else 1.0
            comment = rng.choice(NEGATIVE_COMMENTS if negative else POSITIVE_COMMENTS)

        record = {
            "call_id": call_id,
            "trace_id": "tr-" + _stable_hex("trace", seed, day.isoformat(), n, length=24),
            "span_id": "sp-" + _stable_hex("span", seed, day.isoformat(), n, length=12),
            "ts": ts,
            "app": domain.APP,
            "feature": feature,
            "environment": "production",
            "prompt_id": domain.PROMPT_IDS[feature],
            "prompt_version": domain.PROMPT_VERSION,
            "provider": "sim",
            "model": domain.BASELINE_MODEL,
            "latency_ms": round(latency, 1),
            "ttft_ms": ttft,
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "cost_usd": cost,
            "user_id": f"u-{user:04d}",
            "session_id": f"s-{day.strftime('%Y%m%d')}-{user:04d}-{int(offset // 1800):02d}",
            "customer_id": f"cust-{_stable_hex('customer', seed, user, length=8)}",
            "feedback_score": feedback,
            "feedback_comment": comment,
            "metadata": {"region": ("us", "eu", "apac")[user % 3], "client": ("web", "ios", "android")[user % 3]},
            "source_format": "assay_jsonl",
            **call,
        }
        records.append(CallRecord.model_validate(record).model_dump(mode="json"))
        truth.append({"call_id": call_id, "feature": feature, "injected": injected, "subtle": subtle})
    return records, truth


def _malformed_lines(rng: random.Random, records: list[dict[str, Any]], day: date, seed: int) -> list[tuple[str, str]]:
    """Three lines ingestion must reject: (line text, reason)."""
    a, b, c = (dict(rng.choice(records)) for _ in range(3))
    full = json.dumps(a)
    truncated = full[: len(full) // 2]
    del b["call_id"]
    c["call_id"] = "call-" + _stable_hex("bad-latency", seed, day.isoformat())
    c["latency_ms"] = -round(rng.uniform(10, 900), 1)
    return [
        (truncated, "truncated_json"),
        (json.dumps(b), "missing_call_id"),
        (json.dumps(c), "negative_latency_ms"),
    ]


def _write_atomic(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
        fh.write("".join(line + "\n" for line in lines))
    os.replace(tmp, path)


def landing_path(home: Path, day: date) -> Path:
    return Path(home) / "landing" / "native" / day.isoformat() / "calls.jsonl"


def truth_path(home: Path, day: date) -> Path:
    return Path(home) / "demo_truth" / f"{day.isoformat()}.jsonl"


def load_truth(home: Path, day: date) -> list[dict[str, Any]]:
    """The ground-truth rows written for a day."""
    with open(truth_path(home, day), encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def generate(
    home: Path,
    *,
    days: int = 7,
    calls_per_day: int = 400,
    end_day: date | None = None,
    seed: int = 7,
    agents: bool = True,
) -> GenerationSummary:
    """Write `days` days of traffic ending at `end_day` (default: yesterday, UTC); with `agents`,
    each day's agent runs and chat sessions too (`assay.demo.agents`)."""
    if days < 1 or calls_per_day < 1:
        raise ValueError(f"days and calls_per_day must be >= 1, got {days} and {calls_per_day}")
    end_day = end_day or (datetime.now(UTC).date() - timedelta(days=1))
    pools = _pools(seed)
    dates = [end_day - timedelta(days=days - 1 - i) for i in range(days)]
    summary = GenerationSummary(days=dates, calls_per_day=calls_per_day, landing_files=[], truth_files=[])
    totals: Counter[str] = Counter()
    for day_index, day in enumerate(dates):
        drift = days >= 3 and day_index >= days - 3
        records, truth = _day_records(day, day_index, calls_per_day, seed, drift, pools)
        lines = [json.dumps(record, ensure_ascii=False) for record in records]
        rng = random.Random(f"assay-demo-malformed:{seed}:{day.isoformat()}")
        for text, reason in _malformed_lines(rng, records, day, seed):
            position = rng.randint(0, len(lines))
            lines.insert(position, text)
            # Earlier malformed rows shift when a line goes in before them.
            for row in truth:
                if "line" in row and row["line"] >= position + 1:
                    row["line"] += 1
            truth.append({"line": position + 1, "injected": "malformed", "reason": reason})
        truth.sort(key=lambda row: row.get("line", 0))  # stable: calls keep their ts order
        landing = landing_path(home, day)
        truth_file = truth_path(home, day)
        _write_atomic(landing, lines)
        _write_atomic(truth_file, [json.dumps(row, sort_keys=True) for row in truth])
        counts = Counter(row["injected"] for row in truth if row["injected"])
        summary.injected_by_day[day.isoformat()] = dict(sorted(counts.items()))
        totals.update(counts)
        summary.landing_files.append(landing)
        summary.truth_files.append(truth_file)
        if agents:
            agent_records, agent_truth = day_agent_records(day, seed)
            _write_atomic(agents_landing_path(home, day), [json.dumps(r, ensure_ascii=False) for r in agent_records])
            _write_atomic(agents_truth_path(home, day), [json.dumps(row, sort_keys=True) for row in agent_truth])
            agent_counts = Counter(row["injected"] for row in agent_truth if row["injected"])
            summary.agent_injected.update(agent_counts)
        summary.malformed_lines += MALFORMED_PER_DAY
    summary.injected = dict(sorted(totals.items()))
    return summary
