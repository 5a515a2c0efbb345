"""A local OpenAI-compatible chat server on 127.0.0.1 for tests and benchmarks.

litellm reaches it through its real HTTP path (`model="openai/<name>"`,
`api_base=server.api_base`, `api_key="test"`), so the engine's retries, timeouts, rate
limiting and cache are exercised against real sockets, headers and status codes.

Replies are judge verdicts (`assay.llm.judge_prompt.parse_judge_reply` accepts them),
deterministic per prompt, except for the models given `answers`: scripted candidate models that
answer from a template. Faults are drawn per request with a seeded RNG keyed by
(seed, prompt, how many times that prompt was seen), so which request fails does not depend
on the order in which concurrent requests arrive: a run is reproducible.

Two ways to run it:
- in this process, on its own event loop in a thread (`LLMTestServer(...).start()`): for tests,
  where `server.stats` is read directly;
- in a child process (`LLMTestServer(..., in_subprocess=True)`), so the server's CPU does not
  compete with the client for the GIL: for benchmarks; stats come from `GET /_stats`.

Usage tokens are counted as characters / 4: stable and cheap, which is all a test needs.

It can also stand in for a broken or misconfigured provider, the way a user meets one: a
required API key (401 without it), a list of known models (404 for any other), replies whose
body is not a chat completion, faults that persist on a prompt however often it is retried,
and fixed or scripted answers (a candidate model that answers well, badly, or flakily).

`POST /v1/embeddings` answers with `embedding_for(text)`: a deterministic bag-of-words
vector, so a test can compute the similarity it expects. Faults do not apply to it.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import random
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import warnings
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

JUNK_REPLY = "Sure! The answer looks mostly fine to me, I would say it passes."
"""Content with no JSON object in it: what `parse_judge_reply` must reject."""
REPAIR_MARKER = "not valid JSON"
"""A prompt containing this phrase is a repair request: never answered with junk, so a
repaired reply parses (the repair instruction of `assay.evaluators.llm_judge` contains it)."""


@dataclass
class Faults:
    """What the server does besides answering: rates are per request, 0..1."""

    latency_s: float = 0.0
    """Added before every reply (and before every fault reply)."""
    rate_429: float = 0.0
    retry_after_s: float | None = 1.0
    """`Retry-After` header of a 429 (None: no header)."""
    rate_500: float = 0.0
    rate_hang: float = 0.0
    hang_s: float = 60.0
    """How long a hanging request waits before answering (normally the client gave up)."""
    rate_junk: float = 0.0
    rate_malformed: float = 0.0
    """A 200 whose body is not a chat completion (an HTML error page from a proxy)."""
    persistent: bool = False
    """Draw a prompt's fault once: every retry of it meets the same fault (an outage of that
    request, not a blip). Otherwise each request draws anew."""
    api_key: str | None = None
    """When set, a request without `Authorization: Bearer <api_key>` gets a 401."""
    models: list[str] | None = None
    """When set, a request for any other model gets a 404 `model_not_found`."""
    answer: str | None = None
    """The content of every reply (default: a judge verdict for the prompt); `{last_user}` in
    it (and in scripted replies) becomes the last user message."""
    scripted: dict[str, list[str]] = field(default_factory=dict)
    """Replies by prompt: when a prompt contains a key, its n-th such request is answered with
    the n-th reply of the list (cycling). Faults still apply first."""
    rules: list[dict[str, str]] = field(default_factory=list)
    """A scripted judge: {"when": regex, "reply": content, "unless": regex (optional)}; the
    first rule whose `when` matches the prompt and whose `unless` does not gives the reply
    (before `scripted`). E.g. a judge that errs on one kind of item unless the prompt carries
    a graded example of it (`unless` matching inside an `example_N` section)."""
    seed: int = 0
    prefix_cache_block_chars: int = 0
    """A provider's prompt cache, by a deterministic rule: a request whose prompt (its messages'
    text, joined) begins with the same whole blocks of this many characters as a prompt
    answered before reports those blocks as cached, at 4 characters a token, in
    `usage.prompt_tokens_details.cached_tokens` (OpenAI's field). 0: no prompt cache."""
    batch_delay_s: float = 0.0
    """Files and Batches API: a batch stays `in_progress` at least this long after it was
    created (status moves one step per retrieve: validating -> in_progress -> final)."""
    batch_line_error_rate: float = 0.0
    """Share of a batch's lines answered in the error file (a 500 body), drawn per custom_id
    (and how many times that custom_id was submitted, unless `persistent`)."""
    batch_line_missing_rate: float = 0.0
    """Share of a batch's lines in neither the output nor the error file (a provider bug)."""
    batch_expire: list[int] = field(default_factory=list)
    """The n-th batches created (1-based) that never complete: after `batch_delay_s` they
    are `expired`, their first half of lines answered, the rest in the error file."""
    batch_fail: list[int] = field(default_factory=list)
    """The n-th batches created (1-based) that end `failed` (no output at all)."""
    sim_models: list[str] = field(default_factory=list)
    """Models answered by the `sim/` provider's model of the same name (`judge` -> `sim/judge`):
    the demo's judge behind a real HTTP server (its Batch API included). A prompt the sim judge
    cannot answer gets a 400, as from the sim provider."""


@dataclass
class ServerStats:
    requests: int = 0
    """Every chat request received."""
    requests_by_model: Counter = field(default_factory=Counter)
    """Chat requests received per model (as the request names it): a replay through the Batch
    API shows here as none, its lines in `batch_lines`."""
    outcomes: Counter = field(default_factory=Counter)
    """ok / junk / malformed / 429 / 500 / hang / 401 / 404 per request."""
    answered_per_prompt: Counter = field(default_factory=Counter)
    """sha256 of the request's messages -> how many 200 replies it got (a re-run that pays
    again shows as a count above 1)."""
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    """Of `input_tokens`, reported as read from the prompt cache (`Faults.prefix_cache_block_chars`)."""
    max_in_flight: int = 0
    embedding_requests: int = 0
    """Every embeddings request received (not counted in `requests`, which are chats)."""
    answered_per_request: Counter = field(default_factory=Counter)
    """(model, sha256 of the messages) -> 200 replies: as `answered_per_prompt`, but two models
    asked the same messages are two requests."""
    held: int = 0
    """Requests waiting now behind a `hold` (see `LLMTestServer.hold`)."""
    hold_model: str | None = None
    hold_answered_before: int = 0
    """The held model's 200 replies when the hold was armed: `answered_since_hold` counts from it."""
    batches_created: int = 0
    batch_lines: Counter = field(default_factory=Counter)
    """custom_id -> how many times a line with it was submitted in a created batch: every
    request line the server ever received (a count above 1 is a request submitted twice)."""
    batch_retrieves: int = 0
    batch_lists: int = 0
    files_uploaded: int = 0

    def answered_for_model(self, model: str) -> int:
        """200 replies to requests naming `model` (a copy is read: the server's thread writes)."""
        return sum(n for (name, _prompt), n in dict(self.answered_per_request).items() if name == model)

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "requests_by_model": dict(self.requests_by_model),
            "outcomes": dict(self.outcomes),
            "answered": sum(self.answered_per_prompt.values()),
            "prompts_answered_twice": sum(1 for n in self.answered_per_prompt.values() if n > 1),
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cached_tokens": self.cached_tokens,
            "max_in_flight": self.max_in_flight,
            "embedding_requests": self.embedding_requests,
            "held": self.held,
            "answered_since_hold": (self.answered_for_model(self.hold_model) - self.hold_answered_before
                                    if self.hold_model else 0),
            "batches_created": self.batches_created,
            "batch_lines": sum(self.batch_lines.values()),
            "batch_lines_by_custom_id": dict(self.batch_lines),
            "batch_lines_submitted_twice": sum(1 for n in self.batch_lines.values() if n > 1),
            "batch_retrieves": self.batch_retrieves,
            "batch_lists": self.batch_lists,
            "files_uploaded": self.files_uploaded,
        }


def _text(content: Any) -> str:
    if isinstance(content, list):
        return "\n".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return "" if content is None else str(content)


def judge_reply_for(prompt_key: str) -> str:
    """The deterministic verdict for a prompt: ~75% pass, score from the hash."""
    digest = int(prompt_key[:8], 16)
    passed = digest % 4 != 0
    score = round((digest % 1000) / 1000 * 0.5 + (0.5 if passed else 0.0), 3)
    return json.dumps(
        {"passed": passed, "score": score, "label": "pass" if passed else "fail", "reason": "test server verdict"}
    )


EMBEDDING_DIMENSIONS = 16


def embedding_for(text: str, dimensions: int = EMBEDDING_DIMENSIONS) -> list[float]:
    """The test server's embedding: each casefolded word adds 1 to the dimension its sha256
    picks. Shared words make vectors alike; the same text always gives the same vector."""
    vector = [0.0] * dimensions
    for word in text.casefold().split():
        vector[int(hashlib.sha256(word.encode()).hexdigest()[:8], 16) % dimensions] += 1.0
    return vector


class _App:
    """The request handling, shared by both ways of running."""

    def __init__(self, faults: Faults, answers: dict[str, str] | None = None):
        self.faults = faults
        self.answers = dict(answers or {})
        self.stats = ServerStats()
        self._seen: Counter = Counter()
        self._scripted_seen: Counter = Counter()
        self._in_flight = 0
        self._prefixes: set[str] = set()
        """Digests of the prompt prefixes answered (whole blocks), for the prompt cache."""
        self.hold_model: str | None = None
        self.hold_passes = 0
        self._released: asyncio.Event | None = None
        self.files: dict[str, dict[str, Any]] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self._batch_started: dict[str, float] = {}

    async def _was_held(self, model: str) -> bool:
        """Wait here while a hold applies to this request; True if it was held."""
        if self._released is None or model != self.hold_model:
            return False
        if self.hold_passes > 0:
            self.hold_passes -= 1
            return False
        self.stats.held += 1
        try:
            await self._released.wait()
        finally:
            self.stats.held -= 1
        return True

    def _draw(self, prompt_key: str) -> str:
        n = self._seen[prompt_key]
        self._seen[prompt_key] += 1
        rng = random.Random(f"{self.faults.seed}:{prompt_key}" + ("" if self.faults.persistent else f":{n}"))
        x = rng.random()
        for outcome, rate in (
            ("429", self.faults.rate_429),
            ("500", self.faults.rate_500),
            ("hang", self.faults.rate_hang),
            ("junk", self.faults.rate_junk),
            ("malformed", self.faults.rate_malformed),
        ):
            if x < rate:
                return outcome
            x -= rate
        return "ok"

    async def chat(self, request):
        from aiohttp import web

        body = await request.json()
        messages = body.get("messages") or []
        prompt_text = "\n".join(_text(m.get("content")) for m in messages)
        prompt_key = hashlib.sha256(json.dumps(messages, sort_keys=True).encode()).hexdigest()
        self.stats.requests += 1
        self.stats.requests_by_model[str(body.get("model", ""))] += 1
        refused = self._refusal(request, body)
        if refused is not None:
            return refused
        self._in_flight += 1
        self.stats.max_in_flight = max(self.stats.max_in_flight, self._in_flight)
        try:
            if await self._was_held(str(body.get("model", ""))):
                # Released: its client is normally gone (the test killed it), so no answer is
                # counted as given.
                return web.json_response({"error": {"message": "released unanswered (test server)",
                                                    "type": "server_error"}}, status=503)
            outcome = self._draw(prompt_key)
            if outcome == "junk" and REPAIR_MARKER in prompt_text:
                outcome = "ok"
            self.stats.outcomes[outcome] += 1
            if self.faults.latency_s:
                await asyncio.sleep(self.faults.latency_s)
            if outcome == "429":
                headers = {}
                if self.faults.retry_after_s is not None:
                    headers["Retry-After"] = f"{self.faults.retry_after_s:g}"
                return web.json_response(
                    {"error": {"message": "rate limit reached (test server)", "type": "rate_limit_error",
                               "code": "rate_limit_exceeded"}},
                    status=429,
                    headers=headers,
                )
            if outcome == "500":
                return web.json_response(
                    {"error": {"message": "internal error (test server)", "type": "server_error"}}, status=500
                )
            if outcome == "hang":
                await asyncio.sleep(self.faults.hang_s)
            if outcome == "malformed":
                return web.Response(text="<html><body>502 Bad Gateway</body></html>", content_type="text/html")
            try:
                content = JUNK_REPLY if outcome == "junk" else self._answer(messages, prompt_text, prompt_key, body.get("model"))
            except ValueError as exc:  # the sim judge cannot answer this prompt: a provider's 400
                return web.json_response({"error": {"message": str(exc), "type": "invalid_request_error"}}, status=400)
            input_tokens = max(1, len(prompt_text) // 4)
            output_tokens = max(1, len(content) // 4)
            cached_tokens = min(input_tokens, self._cached_chars(prompt_text) // 4)
            self.stats.input_tokens += input_tokens
            self.stats.output_tokens += output_tokens
            self.stats.cached_tokens += cached_tokens
            self.stats.answered_per_prompt[prompt_key] += 1
            self.stats.answered_per_request[(str(body.get("model", "")), prompt_key)] += 1
            return web.json_response(
                {
                    "id": f"chatcmpl-{prompt_key[:24]}",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": body.get("model", "test"),
                    "choices": [
                        {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
                    ],
                    "usage": {
                        "prompt_tokens": input_tokens,
                        "completion_tokens": output_tokens,
                        "total_tokens": input_tokens + output_tokens,
                        **({"prompt_tokens_details": {"cached_tokens": cached_tokens}} if self.faults.prefix_cache_block_chars else {}),
                    },
                }
            )
        finally:
            self._in_flight -= 1

    def _cached_chars(self, prompt_text: str) -> int:
        """Characters of the prompt's longest prefix of whole blocks answered before; the
        prompt's own prefixes are remembered for the requests after it."""
        block = self.faults.prefix_cache_block_chars
        if block <= 0:
            return 0
        digest = hashlib.sha256()
        cached, is_hit = 0, True
        for end in range(block, len(prompt_text) + 1, block):
            digest.update(prompt_text[end - block : end].encode())
            key = digest.copy().hexdigest()
            if is_hit and key in self._prefixes:
                cached = end
            else:
                is_hit = False
                self._prefixes.add(key)
        return cached

    def _refusal(self, request, body: dict[str, Any]):
        """A 401 or 404 the way OpenAI words them, before any fault or answer."""
        from aiohttp import web

        if self.faults.api_key is not None:
            given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
            if given != self.faults.api_key:
                self.stats.outcomes["401"] += 1
                message = ("You didn't provide an API key." if not given else "Incorrect API key provided.")
                return web.json_response(
                    {"error": {"message": message, "type": "invalid_request_error", "code": "invalid_api_key"}},
                    status=401,
                )
        model = body.get("model")
        if self.faults.models is not None and model not in self.faults.models:
            self.stats.outcomes["404"] += 1
            return web.json_response(
                {"error": {"message": f"The model `{model}` does not exist or you do not have access to it.",
                           "type": "invalid_request_error", "code": "model_not_found"}},
                status=404,
            )
        return None

    def _answer(self, messages: list[dict[str, Any]], prompt_text: str, prompt_key: str, model: str | None) -> str:
        if model in self.faults.sim_models:
            from assay.sim.provider import simulate

            return simulate(f"sim/{model}", messages).content or ""  # raises SimJudgeCannotAnswer
        last_user = next((_text(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), "")
        if model in self.answers:
            return self.answers[model].replace("{last_user}", last_user)
        for rule in self.faults.rules:
            if re.search(rule["when"], prompt_text) and not (rule.get("unless") and re.search(rule["unless"], prompt_text)):
                return rule["reply"].replace("{last_user}", last_user)
        for marker, replies in self.faults.scripted.items():
            if marker in prompt_text and replies:
                n = self._scripted_seen[marker]
                self._scripted_seen[marker] += 1
                return replies[n % len(replies)].replace("{last_user}", last_user)
        if self.faults.answer is not None:
            return self.faults.answer.replace("{last_user}", last_user)
        return judge_reply_for(prompt_key)

    async def embeddings(self, request):
        from aiohttp import web

        body = await request.json()
        inputs = body.get("input")
        texts = [inputs] if isinstance(inputs, str) else list(inputs or [])
        if not texts or not all(isinstance(t, str) for t in texts):
            return web.json_response(
                {"error": {"message": "input must be a string or a list of strings", "type": "invalid_request_error"}},
                status=400,
            )
        self.stats.embedding_requests += 1
        tokens = sum(max(1, len(t) // 4) for t in texts)
        return web.json_response(
            {
                "object": "list",
                "model": body.get("model", "test"),
                "data": [
                    {"object": "embedding", "index": i, "embedding": embedding_for(t)}
                    for i, t in enumerate(texts)
                ],
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )

    # ------------------------------------------------------------ Files and Batches API

    def _file_object(self, file_id: str) -> dict[str, Any]:
        f = self.files[file_id]
        return {"id": file_id, "object": "file", "bytes": len(f["content"]), "created_at": f["created_at"],
                "filename": f["filename"], "purpose": f["purpose"], "status": "processed"}

    def _new_file(self, content: bytes, filename: str, purpose: str) -> str:
        file_id = f"file-{len(self.files) + 1:06d}"
        self.files[file_id] = {"content": content, "filename": filename, "purpose": purpose,
                               "created_at": int(time.time())}
        return file_id

    @staticmethod
    def _not_found(what: str):
        from aiohttp import web

        return web.json_response({"error": {"message": f"No such {what} (test server)",
                                            "type": "invalid_request_error", "code": "not_found"}}, status=404)

    async def upload_file(self, request):
        from aiohttp import web

        form = await request.post()
        upload = form.get("file")
        if upload is None or not hasattr(upload, "file"):
            return web.json_response({"error": {"message": "a multipart `file` is required",
                                                "type": "invalid_request_error"}}, status=400)
        self.stats.files_uploaded += 1
        file_id = self._new_file(upload.file.read(), upload.filename or "upload.jsonl", str(form.get("purpose", "batch")))
        return web.json_response(self._file_object(file_id))

    async def get_file(self, request):
        from aiohttp import web

        file_id = request.match_info["file_id"]
        if file_id not in self.files:
            return self._not_found("file")
        return web.json_response(self._file_object(file_id))

    async def file_content(self, request):
        from aiohttp import web

        file_id = request.match_info["file_id"]
        if file_id not in self.files:
            return self._not_found("file")
        return web.Response(body=self.files[file_id]["content"], content_type="application/octet-stream")

    async def create_batch(self, request):
        from aiohttp import web

        body = await request.json()
        input_file_id = body.get("input_file_id")
        if input_file_id not in self.files:
            return self._not_found("input file")
        lines = []
        for number, raw in enumerate(self.files[input_file_id]["content"].decode().splitlines(), 1):
            if not raw.strip():
                continue
            try:
                line = json.loads(raw)
                lines.append({"custom_id": str(line["custom_id"]), "body": dict(line["body"])})
            except (ValueError, KeyError, TypeError):
                return web.json_response({"error": {"message": f"input file line {number} is not a batch request",
                                                    "type": "invalid_request_error"}}, status=400)
        self.stats.batches_created += 1
        n = self.stats.batches_created
        for line in lines:
            self.stats.batch_lines[line["custom_id"]] += 1
        batch_id = f"batch_{n:06d}"
        now = int(time.time())
        self.batches[batch_id] = {
            "id": batch_id, "object": "batch", "endpoint": body.get("endpoint", "/v1/chat/completions"),
            "errors": None, "input_file_id": input_file_id,
            "completion_window": body.get("completion_window", "24h"), "status": "validating",
            "output_file_id": None, "error_file_id": None, "created_at": now, "in_progress_at": None,
            "expires_at": now + 86400, "finalizing_at": None, "completed_at": None, "failed_at": None,
            "expired_at": None, "cancelling_at": None, "cancelled_at": None,
            "request_counts": {"total": len(lines), "completed": 0, "failed": 0},
            "metadata": body.get("metadata") or {},
            "_lines": lines, "_fate": "expire" if n in self.faults.batch_expire else "fail" if n in self.faults.batch_fail else "complete",
            "_draws": {line["custom_id"]: self.stats.batch_lines[line["custom_id"]] for line in lines},
        }
        self._batch_started[batch_id] = time.monotonic()
        return web.json_response(self._batch_object(batch_id))

    def _batch_object(self, batch_id: str) -> dict[str, Any]:
        return {k: v for k, v in self.batches[batch_id].items() if not k.startswith("_")}

    def _line_fate(self, custom_id: str, submitted: int) -> str:
        rng = random.Random(f"{self.faults.seed}:batch:{custom_id}" + ("" if self.faults.persistent else f":{submitted}"))
        x = rng.random()
        if x < self.faults.batch_line_error_rate:
            return "error"
        if x < self.faults.batch_line_error_rate + self.faults.batch_line_missing_rate:
            return "missing"
        return "ok"

    def _finish(self, batch: dict[str, Any], status: str) -> None:
        """Answer a batch's lines into its output and error files, as the provider does."""
        now = int(time.time())
        lines = batch["_lines"]
        answered = len(lines) if status == "completed" else (len(lines) // 2 if status == "expired" else 0)
        output, errors = [], []
        for i, line in enumerate(lines):
            custom_id, body = line["custom_id"], line["body"]
            request_id = "req_" + hashlib.sha256(f"{batch['id']}:{custom_id}".encode()).hexdigest()[:16]
            if i >= answered:
                if status == "expired":
                    errors.append({"id": f"batch_req_{i}", "custom_id": custom_id, "response": None,
                                   "error": {"code": "batch_expired",
                                             "message": "This request could not be executed before the completion window expired."}})
                continue
            fate = self._line_fate(custom_id, batch["_draws"][custom_id])
            if fate == "missing":
                continue
            if fate == "error":
                errors.append({"id": f"batch_req_{i}", "custom_id": custom_id,
                               "response": {"status_code": 500, "request_id": request_id,
                                            "body": {"error": {"message": "internal error (test server)",
                                                               "type": "server_error"}}},
                               "error": None})
                continue
            messages = body.get("messages") or []
            prompt_text = "\n".join(_text(m.get("content")) for m in messages)
            prompt_key = hashlib.sha256(json.dumps(messages, sort_keys=True).encode()).hexdigest()
            try:
                content = self._answer(messages, prompt_text, prompt_key, body.get("model"))
            except ValueError as exc:  # the sim judge cannot answer this prompt: a provider's 400
                errors.append({"id": f"batch_req_{i}", "custom_id": custom_id, "error": None, "response": {
                    "status_code": 400, "request_id": request_id,
                    "body": {"error": {"message": str(exc), "type": "invalid_request_error"}}}})
                continue
            input_tokens, output_tokens = max(1, len(prompt_text) // 4), max(1, len(content) // 4)
            self.stats.input_tokens += input_tokens
            self.stats.output_tokens += output_tokens
            self.stats.answered_per_prompt[prompt_key] += 1
            self.stats.answered_per_request[(str(body.get("model", "")), prompt_key)] += 1
            output.append({"id": f"batch_req_{i}", "custom_id": custom_id, "error": None, "response": {
                "status_code": 200, "request_id": request_id, "body": {
                    "id": f"chatcmpl-{prompt_key[:24]}", "object": "chat.completion", "created": now,
                    "model": body.get("model", "test"),
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                                 "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": input_tokens, "completion_tokens": output_tokens,
                              "total_tokens": input_tokens + output_tokens}}}})
        if output:
            batch["output_file_id"] = self._new_file(
                "".join(json.dumps(o) + "\n" for o in output).encode(), f"{batch['id']}_output.jsonl", "batch_output")
        if errors:
            batch["error_file_id"] = self._new_file(
                "".join(json.dumps(e) + "\n" for e in errors).encode(), f"{batch['id']}_error.jsonl", "batch_output")
        batch["request_counts"] = {"total": len(lines), "completed": len(output), "failed": len(errors)}
        batch["status"] = status
        batch[f"{status}_at"] = now
        if status == "failed":
            batch["errors"] = {"object": "list", "data": [{"code": "invalid_request", "line": None,
                                                          "message": "the batch failed (test server)", "param": None}]}

    async def retrieve_batch(self, request):
        from aiohttp import web

        batch_id = request.match_info["batch_id"]
        if batch_id not in self.batches:
            return self._not_found("batch")
        self.stats.batch_retrieves += 1
        batch = self.batches[batch_id]
        if batch["status"] == "validating":
            batch["status"], batch["in_progress_at"] = "in_progress", int(time.time())
        elif batch["status"] in ("in_progress", "cancelling"):
            if batch["status"] == "cancelling":
                self._finish(batch, "cancelled")
            elif time.monotonic() - self._batch_started[batch_id] >= self.faults.batch_delay_s:
                self._finish(batch, {"expire": "expired", "fail": "failed"}.get(batch["_fate"], "completed"))
        return web.json_response(self._batch_object(batch_id))

    async def cancel_batch(self, request):
        from aiohttp import web

        batch_id = request.match_info["batch_id"]
        if batch_id not in self.batches:
            return self._not_found("batch")
        batch = self.batches[batch_id]
        if batch["status"] in ("validating", "in_progress"):
            batch["status"], batch["cancelling_at"] = "cancelling", int(time.time())
        return web.json_response(self._batch_object(batch_id))

    async def list_batches(self, request):
        from aiohttp import web

        self.stats.batch_lists += 1
        limit = int(request.query.get("limit", 20))
        after = request.query.get("after")
        ids = sorted(self.batches, reverse=True)  # newest first, as OpenAI lists them
        if after in self.batches:
            ids = ids[ids.index(after) + 1:]
        page = ids[:limit]
        return web.json_response({"object": "list", "data": [self._batch_object(i) for i in page],
                                  "first_id": page[0] if page else None, "last_id": page[-1] if page else None,
                                  "has_more": len(ids) > limit})

    async def stats_handler(self, _request):
        from aiohttp import web

        return web.json_response(self.stats.as_dict())

    def build(self):
        from aiohttp import web

        app = web.Application(client_max_size=512 * 1024**2)  # batch input files are large
        app.router.add_post("/v1/chat/completions", self.chat)
        app.router.add_post("/chat/completions", self.chat)
        app.router.add_post("/v1/embeddings", self.embeddings)
        app.router.add_post("/embeddings", self.embeddings)
        app.router.add_get("/_stats", self.stats_handler)
        for prefix in ("/v1", ""):
            app.router.add_post(f"{prefix}/files", self.upload_file)
            app.router.add_get(f"{prefix}/files/{{file_id}}", self.get_file)
            app.router.add_get(f"{prefix}/files/{{file_id}}/content", self.file_content)
            app.router.add_post(f"{prefix}/batches", self.create_batch)
            app.router.add_get(f"{prefix}/batches", self.list_batches)
            app.router.add_get(f"{prefix}/batches/{{batch_id}}", self.retrieve_batch)
            app.router.add_post(f"{prefix}/batches/{{batch_id}}/cancel", self.cancel_batch)
        return app


async def _serve(app: _App, port: int):
    from aiohttp import web

    # backlog: the default (128) drops connections when a client opens 128+ at once.
    # shutdown_timeout: on stop, a handler still in a hang fault (Faults.hang_s, whose client gave
    # up long ago) is cancelled after 1 s; aiohttp's default waits up to 60 s for it.
    runner = web.AppRunner(app.build(), access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port, backlog=1024)
    await site.start()
    bound_port = site._server.sockets[0].getsockname()[1]  # port 0 -> the one the OS chose
    return runner, bound_port


class LLMTestServer:
    """`with LLMTestServer(Faults(latency_s=0.01, rate_429=0.05)) as server: ...`"""

    def __init__(
        self, faults: Faults | None = None, *, in_subprocess: bool = False, answers: dict[str, str] | None = None
    ):
        self.faults = faults or Faults()
        self.answers = dict(answers or {})
        """Model name -> reply template (`{last_user}`: the last user message): scripted candidate
        models beside a judge on one server. Other models answer as `faults` says."""
        self.in_subprocess = in_subprocess
        self.port: int | None = None
        self._app: _App | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner = None
        self._process: subprocess.Popen | None = None

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def completion_params(self) -> dict[str, Any]:
        """The litellm arguments that route a call here."""
        return {"api_base": self.api_base, "api_key": "test"}

    def start(self) -> LLMTestServer:
        if self.in_subprocess:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "assay.testing.llm_server", "--faults", json.dumps(asdict(self.faults)),
                 "--answers", json.dumps(self.answers)],
                stdout=subprocess.PIPE,
                text=True,
            )
            line = self._process.stdout.readline()
            if not line.startswith("port="):
                self.stop()
                raise RuntimeError(f"test LLM server did not start: {line!r}")
            self.port = int(line.split("=", 1)[1])
            return self
        self._app = _App(self.faults, self.answers)
        self._loop = asyncio.new_event_loop()
        started = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            self._runner, self.port = self._loop.run_until_complete(_serve(self._app, 0))
            started.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="llm-test-server", daemon=True)
        self._thread.start()
        if not started.wait(10):
            raise RuntimeError("test LLM server did not start within 10 s")
        return self

    def hold(self, model: str, *, after: int = 0) -> None:
        """Answer `after` more requests for `model` (the name in the request body: `judge` for
        `openai/judge`), then keep every later one waiting, unanswered, until `release()`:
        a test can kill a run at a known point of its LLM calls. In this process only.
        `stats["answered_since_hold"]` reaches `after` once those are answered: a process killed
        before then may have been answered without knowing it."""
        assert self._app is not None and self._loop is not None, "hold() needs the in-process server"

        def arm() -> None:
            self._app.hold_model, self._app.hold_passes = model, after
            self._app._released = asyncio.Event()
            stats = self._app.stats
            stats.hold_model, stats.hold_answered_before = model, stats.answered_for_model(model)

        self._loop.call_soon_threadsafe(arm)

    def release(self) -> None:
        """End what a `hold` kept waiting (503, not counted as answered) and hold nothing more."""
        assert self._app is not None and self._loop is not None

        def free() -> None:
            if self._app._released is not None:
                self._app._released.set()
            self._app.hold_model, self._app._released = None, None
            self._app.stats.hold_model = None

        self._loop.call_soon_threadsafe(free)

    @property
    def stats(self) -> dict[str, Any]:
        if self._app is not None:
            return self._app.stats.as_dict()
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/_stats", timeout=10) as response:
            return json.loads(response.read())

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                # It resets SIGTERM when it starts (main); should something still keep it alive,
                # SIGKILL ends it and the warning keeps what the kernel said about its signals.
                warnings.warn(f"test server (pid {self._process.pid}) outlived SIGTERM by 10 s: "
                              f"{_signal_state(self._process.pid)}; killed", stacklevel=2)
                self._process.kill()
                self._process.wait(10)
            if self._process.stdout is not None:
                self._process.stdout.close()
            self._process = None
        if self._loop is not None:
            if self._runner is not None:
                asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()
            self._loop = None

    def __enter__(self) -> LLMTestServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _signal_state(pid: int) -> str:
    """The process's state and its blocked / ignored / caught signal masks (/proc)."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError as exc:
        return f"no /proc status ({exc})"
    return ", ".join(line.replace("\t", " ") for line in lines if line.startswith(("State", "SigBlk", "SigIgn", "SigCgt")))


def main() -> None:
    parser = argparse.ArgumentParser(description="A local OpenAI-compatible test server (127.0.0.1).")
    parser.add_argument("--port", type=int, default=0, help="0 = a free port, printed as port=N")
    parser.add_argument("--faults", default="{}", help="Faults as JSON, e.g. '{\"latency_s\": 0.2}'")
    parser.add_argument("--answers", default="{}", help='scripted models as JSON, e.g. \'{"bot": "Sure: {last_user}"}\'')
    args = parser.parse_args()
    # Stopped by SIGTERM (`LLMTestServer.stop`), whatever its parent ignored: an ignored signal
    # is inherited, and one pytest launch here started its workers with SIGINT, SIGQUIT and
    # SIGTERM ignored (/proc's SigIgn), so the server outlived every stop.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    app = _App(Faults(**json.loads(args.faults)), json.loads(args.answers))

    async def serve_forever() -> None:
        _runner, port = await _serve(app, args.port)
        print(f"port={port}", flush=True)
        await asyncio.Event().wait()

    try:
        asyncio.run(serve_forever())
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
