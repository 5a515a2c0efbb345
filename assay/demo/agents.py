"""The demo's agent runs and conversations, with injected trajectory and conversation failures.

Besides the single calls of `assay.demo.generator`, `acme-support` runs an order agent (feature
`order_agent`: one trace per request, an LLM call per step, tools called on the way) and a
support chat (feature `support_chat`: sessions of several turns, each call given the
conversation so far). A share of each is broken on purpose:

- `wrong_tool_order`: the agent cancels before it looks the order up;
- `tool_loop`: the agent looks the same order up three times before acting;
- `unresolved`: the chat answers beside the point, the user asks again, then asks for a human.

Written to `landing/native/<day>/agents.jsonl` (call records, as any log would hold them) with
the ground truth beside the calls' in `demo_truth/<day>.agents.jsonl` (by trace or session id).
This is a check of the wiring (the evaluators find what was planted, the dataset and the
decision use it), not a measurement of any detector.
"""

from __future__ import annotations

import hashlib
import json
import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from assay.contracts.call import CallRecord
from assay.demo import domain

AGENT_RUNS_PER_DAY = 6
CHAT_SESSIONS_PER_DAY = 4
AGENT_FAILURES = {"wrong_tool_order": 0.2, "tool_loop": 0.15}
UNRESOLVED_SHARE = 0.3

AGENT_SYSTEM_PROMPT = (
    "You are Acme's order agent. Look an order up before you change it, then act with one tool call at a time."
)
CHAT_SYSTEM_PROMPT = "You are Acme's support assistant. Answer the customer's questions about their orders."
AGENT_REFERENCE = ["lookup_order", "cancel_order"]
"""The trajectory a correct cancellation takes (assay.yaml's `agent_trajectory`)."""

ORDERS = ["551207", "618340", "702915", "734001", "809266", "912477"]


def _hex(*parts: object) -> str:
    return hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()[:16]


def _call(call_id: str, ts: datetime, feature: str, messages: list[dict[str, Any]], *, output: str | None,
          tool_calls: list[dict[str, Any]] | None = None, trace_id: str | None = None, session_id: str | None = None,
          user: str, tools: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    input_tokens = sum(domain.estimate_tokens(str(m.get("content") or "")) + 4 for m in messages)
    output_tokens = max(1, domain.estimate_tokens(output) + (domain.estimate_tokens(json.dumps(tool_calls)) if tool_calls else 0))
    last_user = next((str(m["content"]) for m in reversed(messages) if m["role"] == "user"), "")
    record = {
        "call_id": call_id, "trace_id": trace_id, "session_id": session_id, "ts": ts, "app": domain.APP,
        "feature": feature, "environment": "production", "prompt_id": feature, "prompt_version": domain.PROMPT_VERSION,
        "provider": "sim", "model": domain.BASELINE_MODEL, "messages": messages, "input_text": last_user,
        "tools": tools, "tool_calls": tool_calls, "output_text": output,
        "finish_reason": "tool_calls" if tool_calls else "stop", "status": "success",
        "latency_ms": 600.0, "ttft_ms": 150.0, "input_tokens": input_tokens, "output_tokens": output_tokens,
        "cost_usd": domain.cost_usd(domain.BASELINE_MODEL, input_tokens, output_tokens), "user_id": user,
        "source_format": "assay_jsonl",
    }
    return CallRecord.model_validate(record).model_dump(mode="json")


def _tool(name: str, order: str) -> dict[str, Any]:
    return {"name": name, "arguments": {"order_id": order}}


TOOL_RESULTS = {
    "lookup_order": 'status: processing, not shipped yet',
    "cancel_order": 'cancelled',
}


def agent_run(rng: random.Random, day: date, n: int, seed: int, start: datetime) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """One order-agent run (its calls) and its truth row."""
    order = rng.choice(ORDERS)
    request = f"Cancel order {order} please, I ordered the wrong model."
    roll, injected = rng.random(), None
    for kind, share in AGENT_FAILURES.items():
        if roll < share:
            injected = kind
            break
        roll -= share
    plan = {"wrong_tool_order": ["cancel_order", "lookup_order"],
            "tool_loop": ["lookup_order", "lookup_order", "lookup_order", "cancel_order"]}.get(injected, AGENT_REFERENCE)
    trace_id = "tr-agent-" + _hex(seed, day, n)
    user = f"u-agent-{n:02d}"
    messages: list[dict[str, Any]] = [{"role": "system", "content": AGENT_SYSTEM_PROMPT}, {"role": "user", "content": request}]
    calls = []
    ts = start
    for step, tool in enumerate(plan):
        call = _tool(tool, order)
        calls.append(_call(f"call-agent-{_hex(seed, day, n, step)}", ts, "order_agent", list(messages), output=None,
                           tool_calls=[call], trace_id=trace_id, user=user, tools=domain.TOOLS))
        messages += [{"role": "assistant", "content": "", "tool_calls": [{"id": f"t{step}", "type": "function",
                      "function": {"name": tool, "arguments": json.dumps(call["arguments"])}}]},
                     {"role": "tool", "tool_call_id": f"t{step}", "name": tool, "content": TOOL_RESULTS[tool]}]
        ts += timedelta(seconds=2)
    answer = f"Order {order} is cancelled; the refund reaches your card in 3 to 5 business days."
    calls.append(_call(f"call-agent-{_hex(seed, day, n, 'final')}", ts, "order_agent", list(messages), output=answer,
                       trace_id=trace_id, user=user, tools=domain.TOOLS))
    return calls, {"trace_id": trace_id, "injected": injected}


def chat_session(rng: random.Random, day: date, n: int, seed: int, start: datetime) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """One support-chat session (a call per turn, each given the conversation so far) and its truth row."""
    order = rng.choice(ORDERS)
    unresolved = rng.random() < UNRESOLVED_SHARE
    question = f"Where is my order {order}? It was supposed to arrive yesterday."
    if unresolved:
        turns = [
            (question, "Our standard shipping takes 3 to 5 business days."),
            (f"I asked already: where is my order {order}? It was supposed to arrive yesterday.",
             "Orders ship from our warehouse in Ohio."),
            ("This is useless. Let me talk to a human.", "Our help centre has more articles about shipping."),
        ]
    else:
        turns = [
            (question, f"Order {order} shipped on Monday and arrives on Friday."),
            ("Great, can I get the tracking link?", f"The tracking number of order {order} is 1Z999{order}."),
            ("Thanks, that works!", "You're welcome, have a good day."),
        ]
    session_id = f"chat-{day.strftime('%Y%m%d')}-{n:02d}"
    user = f"u-chat-{n:02d}"
    messages: list[dict[str, Any]] = [{"role": "system", "content": CHAT_SYSTEM_PROMPT}]
    calls = []
    for turn, (asked, answered) in enumerate(turns):
        messages.append({"role": "user", "content": asked})
        calls.append(_call(f"call-chat-{_hex(seed, day, n, turn)}", start + timedelta(minutes=turn), "support_chat",
                           list(messages), output=answered, session_id=session_id, user=user))
        messages.append({"role": "assistant", "content": answered})
    return calls, {"session_id": session_id, "injected": "unresolved" if unresolved else None}


def day_agent_records(day: date, seed: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(call records, truth rows) of one day's agent runs and chat sessions."""
    rng = random.Random(f"assay-demo-agents:{seed}:{day.isoformat()}")
    midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
    records, truth = [], []
    for n in range(AGENT_RUNS_PER_DAY):
        calls, row = agent_run(rng, day, n, seed, midnight + timedelta(hours=8 + n, minutes=rng.randint(0, 50)))
        records += calls
        truth.append(row)
    for n in range(CHAT_SESSIONS_PER_DAY):
        calls, row = chat_session(rng, day, n, seed, midnight + timedelta(hours=9 + 2 * n, minutes=rng.randint(0, 50)))
        records += calls
        truth.append(row)
    return sorted(records, key=lambda r: (r["ts"], r["call_id"])), truth


def agents_landing_path(home: Path, day: date) -> Path:
    return Path(home) / "landing" / "native" / day.isoformat() / "agents.jsonl"


def agents_truth_path(home: Path, day: date) -> Path:
    return Path(home) / "demo_truth" / f"{day.isoformat()}.agents.jsonl"


def load_agent_truth(home: Path, days: list[str]) -> list[dict[str, Any]]:
    rows = []
    for day in days:
        path = agents_truth_path(home, date.fromisoformat(day))
        rows += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return rows


AGENT_KINDS = {"wrong_tool_order": ("trace", "tool_misuse"), "tool_loop": ("trace", "tool_misuse"),
               "unresolved": ("session", "unresolved")}
"""Each planted kind: the subject it is planted in and the category that finds it."""


def agent_detection(truth: list[dict[str, Any]], failures: list[dict[str, Any]]) -> list[tuple[str, int, int, int]]:
    """(kind, planted, found, false alarms) per planted kind: a planted run or session is found
    when a failure of its category names it; a false alarm is a failure of that category on a
    run or session where nothing was planted."""
    rows = []
    for kind, (subject_kind, category) in AGENT_KINDS.items():
        key = "trace_id" if subject_kind == "trace" else "session_id"
        subjects = {r[key] for r in truth if key in r}
        planted = {r[key] for r in truth if r.get("injected") == kind}
        clean = {r[key] for r in truth if key in r and not r.get("injected")}
        flagged = {f["subject_id"] for f in failures
                   if f.get("subject_kind") == subject_kind and f["failure_category"] == category and f["subject_id"] in subjects}
        rows.append((kind, len(planted), len(planted & flagged), len(clean & flagged)))
    return rows
