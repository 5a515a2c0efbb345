"""Judging through a provider's Batch API: submission is one step, collection another.

A Batch API takes a file of requests and answers within a window (24 h) at about half the
synchronous price. Nothing here waits for it: `BatchJudge.submit` writes what it is about to
send to the lake and sends it; `BatchJudge.collect` (run by a sensor, a later run, any process
on any worker) polls what is open and turns what came back into results. So nothing depends
on a process staying alive:

1. **Intent first.** Before a batch is created, an intent record (its own id, the scope it
   belongs to, every request with its custom_id = the request's cache key) is written under
   `<lake>/_judge_batches/<scope>/`. The batch is created with the intent id in its
   `metadata`, then the batch id is recorded. A process killed between the two leaves an
   intent without a batch id: the next `submit` or `collect` lists the provider's batches and
   finds it by its metadata, or, when the provider has none, submits it then (it never went).
2. **Never twice.** A request already answered (the response cache, or a collected result of
   its scope) or already in an open intent of its scope is never submitted again: a re-run of a
   partition whose batch is still open only reports it pending.
3. **Every row accounted for.** Error lines, lines missing from the output, and the lines of
   expired, failed or cancelled batches are retried in a new batch (`max_attempts` batches per
   request), or synchronously through the engine once the deadline (`deadline_h` after the
   first submission) is near; what is still not answered ends as an `error` result with its
   reason, and past the deadline as `skipped` (`deadline`). Each final result is written per
   intent under `results/`, before the intent is marked collected, so a collection killed
   half-way is simply collected again.
4. **Same cache, budget, ledger.** Answers go to the engine's response cache; the budget is
   reserved before submission at batch prices (`assay.pricing.batch_price_per_token`) and the
   day's ledger settled at collection with what the batch actually cost; each intent records
   its spend. Every result carries `judge_mode` and its `cost_source`.

Providers: what litellm's batch functions speak (`openai`, `azure`, `vertex_ai`, `bedrock`);
the provider is the model's litellm prefix. `api_key` is never written to the lake: collection
gets the provider parameters from the caller (the config's judge params, the environment).
"""

from __future__ import annotations

import asyncio
import fnmatch
import itertools
import json
import os
import socket
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from assay.lake import atomic_write_text, process_is_alive
from assay.llm.engine import (
    SKIP_BUDGET,
    SKIP_DEADLINE,
    LLMEngine,
    LLMRequest,
    LLMResult,
    estimate_input_tokens,
)
from assay.llm.event_loops import run_to_end
from assay.object_lake import RemotePath, is_object_url

LEDGER_DIR = "_judge_batches"
RESULTS_DIR = "results"
TERMINAL = frozenset({"completed", "expired", "failed", "cancelled"})
"""Provider batch statuses after which nothing more comes back."""
OPEN = "open"
"""An intent's state until its batch is collected (`intent_status`: intent -> open -> collected)."""
METADATA_KEY = "assay_intent"
JUDGE_MODE_SYNC = "sync"
JUDGE_MODE_BATCH = "batch"
BATCH_ENDPOINT = "/v1/chat/completions"
MISSING_LINE = "missing_from_output"
PENDING = "batch_pending"
"""A request whose batch is still open: not a result, the partition is not scored yet."""


def _now() -> datetime:
    return datetime.now(UTC)


def scope_folder(scope: str) -> str:
    """A scope ('call_scores/day=2026-01-02') as one folder name."""
    return scope.replace("/", "__").replace("|", "_")


@dataclass
class BatchSettings:
    deadline_h: float = 24.0
    """From a request's first submission until it must have a result (judge.batch_deadline_h)."""
    discount: float = 0.5
    """Fraction of the synchronous price charged when litellm's map has no batch price."""
    max_attempts: int = 3
    """Batches a request is sent in before it ends as an error."""
    sync_margin_h: float | None = None
    """Closer than this to the deadline, what still needs an answer is judged synchronously
    (None: 2 h, or a quarter of the deadline if that is less)."""
    max_requests_per_batch: int = 50_000
    """OpenAI's limit per batch file."""

    @property
    def margin_h(self) -> float:
        return self.sync_margin_h if self.sync_margin_h is not None else min(2.0, self.deadline_h / 4)


@dataclass
class SubmitReport:
    results: list[LLMResult | None]
    """Per request, in order: its result, or None while its batch is open."""
    submitted: int = 0
    """Requests sent in new batches by this call."""
    pending: int = 0
    batches: list[str] = field(default_factory=list)
    """Batch ids created by this call."""


@dataclass
class CollectReport:
    collected_batches: int = 0
    retried: int = 0
    sync_fallback: int = 0
    completed: int = 0
    errors: int = 0
    skipped: int = 0
    spend_usd: float = 0.0
    complete_scopes: list[str] = field(default_factory=list)
    """Scopes whose every intent is collected after this call (only those it touched)."""


class BatchLedger:
    """The intent records and final results of batch judging, in the lake: a folder, or the
    lake's prefix on object storage (`storage.lake: s3://...`), so whichever worker runs the
    collection, on whichever machine, finds what another submitted. Each record is one small
    JSON file, written whole (a rename in a folder, one PUT on object storage)."""

    def __init__(self, root: Path | str | RemotePath):
        if isinstance(root, RemotePath):
            self.root: Path | RemotePath = root
        elif is_object_url(root):
            from assay.lake import Lake

            self.root = Lake(str(root)).root
        else:
            self.root = Path(root)
        self._parsed: dict[str, tuple[Any, dict[str, Any]]] = {}
        """path -> (version, record): a poll re-reads only what changed (version: mtime and
        size in a folder, the ETag on object storage)."""

    @classmethod
    def of_lake(cls, lake_root: Path | str | RemotePath) -> BatchLedger:
        """The ledger of a lake (`AssayHome.lake`: a folder or `s3://bucket/prefix`)."""
        from assay.lake import Lake

        return cls(Lake(lake_root).root / LEDGER_DIR)

    def _intent_path(self, scope: str, intent_id: str) -> Path | RemotePath:
        return self.root / scope_folder(scope) / f"{intent_id}.json"

    def _files(self, pattern: str) -> list[tuple[Path | RemotePath, Any, float]]:
        """(path, version, modified epoch seconds) of the ledger's files matching `pattern`
        (`<folder or *>/.../*.json`, one `*` per path part), sorted by path."""
        if isinstance(self.root, RemotePath):
            parts = pattern.split("/")
            fixed = "/".join(itertools.takewhile(lambda p: "*" not in p, parts))
            base = f"{self.root.path}/{fixed}" if fixed else self.root.path
            listing = self.root.fs.find(base, detail=True)
            found = []
            for key, entry in listing.items():
                relative = key[len(self.root.path) + 1:].split("/")
                if len(relative) == len(parts) and all(fnmatch.fnmatchcase(a, b) for a, b in zip(relative, parts, strict=True)):
                    modified = entry.get("LastModified")
                    found.append((RemotePath(self.root.fs, key), (entry.get("ETag"), entry.get("size")),
                                  modified.timestamp() if modified is not None else 0.0))
            return sorted(found, key=lambda f: f[0].path)
        found = []
        for path in sorted(self.root.glob(pattern)):
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue
            found.append((path, (stat.st_mtime_ns, stat.st_size), stat.st_mtime))
        return found

    def _read(self, path: Path | RemotePath, version: Any) -> dict[str, Any]:
        seen = self._parsed.get(str(path))
        if seen is None or seen[0] != version:
            seen = self._parsed[str(path)] = (version, json.loads(path.read_text(encoding="utf-8")))
        return seen[1]

    def save(self, intent: dict[str, Any]) -> None:
        atomic_write_text(self._intent_path(intent["scope"], intent["intent_id"]), json.dumps(intent, sort_keys=True))

    def intents(self, scope: str | None = None) -> list[dict[str, Any]]:
        pattern = f"{scope_folder(scope)}/*.json" if scope is not None else "*/*.json"
        found = []
        for path, version, _ in self._files(pattern):
            try:
                found.append(dict(self._read(path, version)))  # a shallow copy: callers set top-level fields only
            except (json.JSONDecodeError, FileNotFoundError):  # never torn (whole writes); hand-edited
                continue
        return sorted(found, key=lambda i: (i["created_at"], i["intent_id"]))

    def open_intents(self) -> list[dict[str, Any]]:
        return [i for i in self.intents() if i["intent_status"] != "collected"]

    def save_results(self, scope: str, intent_id: str, results: Mapping[str, dict[str, Any]]) -> None:
        path = self.root / scope_folder(scope) / RESULTS_DIR / f"{intent_id}.json"
        atomic_write_text(path, json.dumps(results, sort_keys=True))

    def results(self, scope: str) -> dict[str, dict[str, Any]]:
        """custom_id -> final result (LLMResult fields) of every collected intent of the scope."""
        merged: dict[str, dict[str, Any]] = {}
        files = self._files(f"{scope_folder(scope)}/{RESULTS_DIR}/*.json")
        for path, version, _ in sorted(files, key=lambda f: f[2]):
            merged.update(self._read(path, version))
        return merged

    def is_complete(self, scope: str) -> bool:
        intents = self.intents(scope)
        return bool(intents) and all(i["intent_status"] == "collected" for i in intents)

    def open_batches(self) -> list[dict[str, Any]]:
        """One row per open batch, for the UI: provider, requests, submitted at, status, expiry."""
        return [
            {
                "scope": i["scope"], "batch_id": i.get("batch_id") or "(being created)", "provider": i["provider"],
                "model": i["model"], "requests": len(i["requests"]), "attempt": i["attempt"],
                "submitted_at": i.get("submitted_at") or "", "status": i.get("provider_status") or i["intent_status"],
                "expires_at": i.get("expires_at") or "",
            }
            for i in self.open_intents()
        ]


def _provider_and_model(model: str) -> tuple[str, str]:
    provider, _, name = model.partition("/")
    return (provider, name) if name else ("openai", model)


def _request_record(request: LLMRequest) -> dict[str, Any]:
    # api_key reaches the provider, never the lake.
    params = {k: v for k, v in request.params.items() if k != "api_key"}
    return {"custom_id": request.key, "model": request.model, "messages": request.messages, "params": params,
            "cache_namespace": request.cache_namespace}


def _request_of(record: Mapping[str, Any], secrets: Mapping[str, Any]) -> LLMRequest:
    return LLMRequest(model=record["model"], messages=record["messages"], params={**record["params"], **secrets},
                      cache_namespace=record["cache_namespace"])


def _batch_line(record: Mapping[str, Any]) -> str:
    _, name = _provider_and_model(record["model"])
    # Transport settings stay out of the body: they are how to reach the provider, not what is asked.
    body = {k: v for k, v in record["params"].items() if k not in {"api_base", "base_url", "timeout", "api_version"}}
    body = {**body, "model": name, "messages": record["messages"]}
    return json.dumps({"custom_id": record["custom_id"], "method": "POST", "url": BATCH_ENDPOINT, "body": body})


class BatchJudge:
    """Submits and collects one home's judge batches. `engine` gives the cache, the budget and
    the prices (and judges synchronously near the deadline); `secrets` are provider parameters
    that must not be stored (api_key), added to every provider call."""

    def __init__(
        self,
        ledger: BatchLedger,
        engine: LLMEngine,
        settings: BatchSettings | None = None,
        *,
        secrets: Mapping[str, Any] | None = None,
        log: Callable[[str], None] | None = None,
        clock: Callable[[], datetime] = _now,
    ):
        self.ledger = ledger
        self.engine = engine
        self.settings = settings or BatchSettings()
        self.secrets = dict(secrets or {})
        self.log = log or (lambda _m: None)
        self.clock = clock
        self._prices: dict[str, tuple[tuple[float, float], str] | None] = {}
        self._upper_usd: dict[str, float] = {}

    # ------------------------------------------------------------------ prices

    def batch_price(self, model: str) -> tuple[tuple[float, float], str] | None:
        if model not in self._prices:
            from assay.pricing import batch_price_per_token

            self._prices[model] = batch_price_per_token(model, self.engine.prices, self.settings.discount)
        return self._prices[model]

    def _upper_cost_usd(self, request: LLMRequest) -> float:
        """Prompt tokens counted, output at max_tokens, at the batch price (0 when unpriced)."""
        key = request.key
        if key not in self._upper_usd:
            price = self.batch_price(request.model)
            if price is None:
                self._upper_usd[key] = 0.0
            else:
                (price_in, price_out), _ = price
                self._upper_usd[key] = estimate_input_tokens(request) * price_in + request.max_output_tokens * price_out
        return self._upper_usd[key]

    # ------------------------------------------------------------------ from synchronous code

    def submit_now(self, scope: str, requests: Sequence[LLMRequest]) -> SubmitReport:
        return run_to_end(self.submit(scope, requests), collect_garbage=True)

    def collect_now(self, scope: str | None = None) -> CollectReport:
        return run_to_end(self.collect(scope), collect_garbage=True)

    # ------------------------------------------------------------------ provider calls

    def _provider_kwargs(self, intent: Mapping[str, Any]) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"custom_llm_provider": intent["provider"], **self.secrets}
        if intent.get("api_base"):
            kwargs["api_base"] = intent["api_base"]
        return kwargs

    async def _create(self, intent: dict[str, Any]) -> None:
        import litellm

        kwargs = self._provider_kwargs(intent)
        content = "\n".join(_batch_line(r) for r in intent["requests"]).encode()
        uploaded = await litellm.acreate_file(file=(f"{intent['intent_id']}.jsonl", content), purpose="batch", **kwargs)
        batch = await litellm.acreate_batch(
            completion_window="24h", endpoint=BATCH_ENDPOINT, input_file_id=uploaded.id,
            metadata={METADATA_KEY: intent["intent_id"], "assay_scope": intent["scope"][:500]}, **kwargs,
        )
        self._record_batch(intent, batch)

    def _record_batch(self, intent: dict[str, Any], batch: Any) -> None:
        intent["batch_id"] = batch.id
        intent["intent_status"] = OPEN
        intent["provider_status"] = batch.status
        intent["submitted_at"] = datetime.fromtimestamp(batch.created_at, UTC).isoformat() if batch.created_at else self.clock().isoformat()
        intent["expires_at"] = datetime.fromtimestamp(batch.expires_at, UTC).isoformat() if batch.expires_at else None
        self.ledger.save(intent)

    async def _find_created(self, intent: dict[str, Any]) -> Any | None:
        """The provider's batch carrying this intent's id in its metadata, if it was created."""
        import litellm

        kwargs = self._provider_kwargs(intent)
        after = None
        while True:
            page = await litellm.alist_batches(limit=100, after=after, **kwargs)
            for batch in page.data:
                if (batch.metadata or {}).get(METADATA_KEY) == intent["intent_id"]:
                    return batch
            if not page.data or not getattr(page, "has_more", False):
                return None
            after = page.data[-1].id

    async def _resume(self, intent: dict[str, Any]) -> None:
        """An intent recorded without a batch id: its writer died between create and record
        (find the batch by metadata) or before create (submit it now)."""
        if intent.get("host") == socket.gethostname() and intent.get("pid") != os.getpid() and process_is_alive(intent.get("pid", -1)):
            return  # its writer is still submitting it
        found = await self._find_created(intent)
        if found is not None:
            self.log(f"batch {found.id} of intent {intent['intent_id']} found by its metadata: resumed")
            self._record_batch(intent, found)
        else:
            self.log(f"intent {intent['intent_id']} was never submitted: submitting it now")
            await self._create(intent)

    # ------------------------------------------------------------------ submit

    def known_results(self, scope: str, requests: Sequence[LLMRequest]) -> list[LLMResult | None]:
        """What is already answered, per request: the scope's collected results, else the cache."""
        collected = self.ledger.results(scope)
        out: list[LLMResult | None] = []
        for request in requests:
            stored = collected.get(request.key)
            if stored is not None:
                out.append(LLMResult(**stored))
                continue
            cached = self.engine.cache.get(request.key)
            if cached is not None and cached.get("status") == "completed":
                out.append(LLMResult(**{k: v for k, v in cached.items() if k in LLMResult.__dataclass_fields__} | {"is_cache_hit": True}))
            else:
                out.append(None)
        return out

    async def submit(self, scope: str, requests: Sequence[LLMRequest]) -> SubmitReport:
        """Results for what is answered; new batches for what is neither answered nor open."""
        for request in requests:  # the key the requests carry reaches the provider, not the lake
            if "api_key" in request.params and "api_key" not in self.secrets:
                self.secrets["api_key"] = request.params["api_key"]
                break
        for intent in self.ledger.intents(scope):
            if intent["intent_status"] == "intent":
                await self._resume(intent)
        results = self.known_results(scope, requests)
        open_ids = {r["custom_id"] for i in self.ledger.intents(scope) if i["intent_status"] != "collected" for r in i["requests"]}
        new: dict[str, LLMRequest] = {}
        for request, result in zip(requests, results, strict=True):
            if result is None and request.key not in open_ids:
                new.setdefault(request.key, request)  # one question asked twice is sent once
        report = SubmitReport(results=results)
        budget_refused: dict[str, str] = {}
        if new and self.engine.budget.is_limited:
            admitted: dict[str, LLMRequest] = {}
            for key, request in new.items():
                refusal = self.engine.budget.reserve_now(self._upper_cost_usd(request))
                if refusal is None:
                    admitted[key] = request
                else:
                    budget_refused[key] = refusal
            self.engine.budget.record_day()
            new = admitted
        if budget_refused:
            skipped = {key: asdict(LLMResult(status="skipped", error_type=SKIP_BUDGET, error_message=msg)) | {"judge_mode": JUDGE_MODE_BATCH}
                       for key, msg in budget_refused.items()}
            self.ledger.save_results(scope, f"budget-{uuid.uuid4().hex[:12]}", skipped)
        by_model: dict[str, list[LLMRequest]] = {}
        for request in new.values():
            by_model.setdefault(request.model, []).append(request)
        for model, group in sorted(by_model.items()):
            size = self.settings.max_requests_per_batch
            for start in range(0, len(group), size):
                chunk = group[start:start + size]
                intent = self._new_intent(scope, model, chunk, attempt=1, first_submitted_at=None)
                intent["reserved_usd"] = sum(self._upper_cost_usd(r) for r in chunk) if self.engine.budget.is_limited else 0.0
                self.ledger.save(intent)  # before anything leaves: the intent survives a kill
                await self._create(intent)
                report.submitted += len(chunk)
                report.batches.append(intent["batch_id"])
                self.log(f"batch {intent['batch_id']}: {len(chunk)} {model} requests submitted ({scope})")
        refused_results = {k: LLMResult(**v) for k, v in self.ledger.results(scope).items() if k in budget_refused}
        report.results = [refused_results.get(r.key, res) for r, res in zip(requests, results, strict=True)]
        report.pending = sum(1 for r in report.results if r is None)
        return report

    def _new_intent(self, scope: str, model: str, requests: Sequence[LLMRequest] | Sequence[dict[str, Any]], *,
                    attempt: int, first_submitted_at: str | None, intent_id: str | None = None) -> dict[str, Any]:
        provider, _ = _provider_and_model(model)
        records = [r if isinstance(r, dict) else _request_record(r) for r in requests]
        api_base = next((r["params"].get("api_base") for r in records if r["params"].get("api_base")), None)
        now = self.clock().isoformat()
        return {
            "intent_id": intent_id or f"{int(time.time())}-{uuid.uuid4().hex[:12]}",
            "scope": scope, "model": model, "provider": provider, "api_base": api_base,
            "attempt": attempt, "requests": records, "created_at": now,
            "first_submitted_at": first_submitted_at or now,
            "intent_status": "intent", "batch_id": None, "provider_status": None,
            "submitted_at": None, "expires_at": None, "host": socket.gethostname(), "pid": os.getpid(),
            "reserved_usd": 0.0, "spend_usd": None, "request_counts": None,
        }

    # ------------------------------------------------------------------ collect

    async def collect(self, scope: str | None = None) -> CollectReport:
        """Poll every open intent (of one scope, or all); collect the finished ones."""
        report = CollectReport()
        touched: set[str] = set()
        for intent in self.ledger.intents(scope):
            if intent["intent_status"] == "collected":
                continue
            touched.add(intent["scope"])
            if intent["intent_status"] == "intent":
                await self._resume(intent)
                if intent["intent_status"] == "intent":
                    continue
            await self._poll(intent, report)
        for name in sorted(touched):
            if self.ledger.is_complete(name):
                report.complete_scopes.append(name)
        return report

    def _hours_left(self, intent: Mapping[str, Any]) -> float:
        first = datetime.fromisoformat(intent["first_submitted_at"])
        return self.settings.deadline_h - (self.clock() - first).total_seconds() / 3600

    async def _poll(self, intent: dict[str, Any], report: CollectReport) -> None:
        import litellm

        kwargs = self._provider_kwargs(intent)
        batch = await litellm.aretrieve_batch(batch_id=intent["batch_id"], **kwargs)
        intent["provider_status"] = batch.status
        if batch.status not in TERMINAL:
            if self._hours_left(intent) <= self.settings.margin_h and batch.status != "cancelling":
                # The deadline nears: stop the batch; its unanswered lines are judged synchronously.
                self.log(f"batch {intent['batch_id']}: deadline near, cancelling it")
                await litellm.acancel_batch(batch_id=intent["batch_id"], **kwargs)
            self.ledger.save(intent)
            return
        answered: dict[str, dict[str, Any]] = {}
        failed: dict[str, str] = {}
        if batch.output_file_id:
            for line in await self._lines(batch.output_file_id, kwargs):
                custom_id, response = line.get("custom_id"), line.get("response") or {}
                if response.get("status_code") == 200 and isinstance(response.get("body"), dict):
                    answered[custom_id] = response["body"]
                else:
                    failed[custom_id] = _line_error(line)
        if batch.error_file_id:
            for line in await self._lines(batch.error_file_id, kwargs):
                failed.setdefault(line.get("custom_id"), _line_error(line))
        records = {r["custom_id"]: r for r in intent["requests"]}
        final: dict[str, dict[str, Any]] = {}
        spend = 0.0
        for custom_id, body in answered.items():
            record = records.get(custom_id)
            if record is None:
                continue  # not ours (a provider mix-up): never scored against another request
            result = self._result_of(record, body)
            spend += result.cost_usd or 0.0
            final[custom_id] = asdict(result)
            self.engine.cache.put(custom_id, asdict(result) | {"is_cache_hit": False})
        reason_of_batch = {"expired": "batch_expired", "failed": "batch_failed", "cancelled": "batch_cancelled"}.get(batch.status)
        unanswered = {cid: failed.get(cid) or reason_of_batch or MISSING_LINE for cid in records if cid not in final}
        retry, sync, give_up = [], [], {}
        hours_left = self._hours_left(intent)
        for custom_id, reason in unanswered.items():
            if hours_left <= 0:
                give_up[custom_id] = asdict(LLMResult(status="skipped", error_type=SKIP_DEADLINE, error_message=(
                    f"deadline: no answer within judge.batch_deadline_h={self.settings.deadline_h:g} (last: {reason})"))) | {"judge_mode": JUDGE_MODE_BATCH}
            elif hours_left <= self.settings.margin_h:
                sync.append(records[custom_id])
            elif intent["attempt"] < self.settings.max_attempts and _is_retryable(reason):
                retry.append(records[custom_id])
            else:
                give_up[custom_id] = asdict(LLMResult(status="error", error_type=_error_type(reason), error_message=(
                    f"batch: {reason} in {intent['attempt']} batch(es); last batch {intent['batch_id']}"))) | {"judge_mode": JUDGE_MODE_BATCH}
        if sync:
            requests = [_request_of(r, self.secrets) for r in sync]
            for record, result in zip(sync, await self.engine.run_async(requests), strict=True):
                final[record["custom_id"]] = asdict(result) | {"judge_mode": JUDGE_MODE_SYNC}
                spend += result.paid_usd
            report.sync_fallback += len(sync)
        final.update(give_up)
        if retry:
            # A deterministic id: a collection killed after creating the retry finds it again.
            retry_id = f"{intent['intent_id']}-r{intent['attempt'] + 1}"
            existing = [i for i in self.ledger.intents(intent["scope"]) if i["intent_id"] == retry_id]
            if not existing:
                again = self._new_intent(intent["scope"], intent["model"], retry, attempt=intent["attempt"] + 1,
                                         first_submitted_at=intent["first_submitted_at"], intent_id=retry_id)
                again["api_base"] = intent.get("api_base")
                self.ledger.save(again)
                await self._create(again)
                self.log(f"batch {again['batch_id']}: {len(retry)} requests retried from {intent['batch_id']}")
            report.retried += len(retry)
        self.ledger.save_results(intent["scope"], intent["intent_id"], final)
        daily = self.engine.budget.daily
        if daily is not None and intent.get("reserved_usd"):
            daily.settle(intent["reserved_usd"], spend)
        intent["spend_usd"] = spend
        intent["request_counts"] = {"completed": sum(1 for r in final.values() if r["status"] == "completed"),
                                    "error": sum(1 for r in final.values() if r["status"] == "error"),
                                    "skipped": sum(1 for r in final.values() if r["status"] == "skipped"),
                                    "retried": len(retry), "sync": len(sync)}
        intent["intent_status"] = "collected"
        intent["collected_at"] = self.clock().isoformat()
        self.ledger.save(intent)
        report.collected_batches += 1
        report.spend_usd += spend
        for r in final.values():
            report.completed += r["status"] == "completed"
            report.errors += r["status"] == "error"
            report.skipped += r["status"] == "skipped"
        await asyncio.to_thread(self.engine.cache.flush)

    async def _lines(self, file_id: str, kwargs: Mapping[str, Any]) -> list[dict[str, Any]]:
        import litellm

        content = await litellm.afile_content(file_id=file_id, **kwargs)
        raw = content.content if hasattr(content, "content") else content
        text = raw.decode() if isinstance(raw, bytes) else str(raw)
        lines = []
        for row in text.splitlines():
            try:
                lines.append(json.loads(row))
            except json.JSONDecodeError:
                continue  # a torn line is one missing from the output: retried as such
        return lines

    def _result_of(self, record: Mapping[str, Any], body: Mapping[str, Any]) -> LLMResult:
        choice = (body.get("choices") or [{}])[0]
        message = choice.get("message") or {}
        usage = body.get("usage") or {}
        input_tokens, output_tokens = usage.get("prompt_tokens"), usage.get("completion_tokens")
        price = self.batch_price(record["model"])
        cost = None if price is None else (input_tokens or 0) * price[0][0] + (output_tokens or 0) * price[0][1]
        return LLMResult(status="completed", text=message.get("content"), tool_calls=message.get("tool_calls"),
                         finish_reason=choice.get("finish_reason"), input_tokens=input_tokens,
                         output_tokens=output_tokens, cost_usd=cost, attempts=1, judge_mode=JUDGE_MODE_BATCH,
                         cost_source=result_cost_source(self, record["model"]))


def result_cost_source(judge: BatchJudge, model: str) -> str:
    from assay.pricing import COST_UNKNOWN

    price = judge.batch_price(model)
    return COST_UNKNOWN if price is None else price[1]


def _line_error(line: Mapping[str, Any]) -> str:
    error = line.get("error") or {}
    if error:
        return str(error.get("code") or error.get("message") or "error")
    response = line.get("response") or {}
    body = response.get("body") or {}
    message = (body.get("error") or {}).get("message") if isinstance(body, dict) else None
    return f"HTTP {response.get('status_code')}" + (f": {message}" if message else "")


def _status_of(reason: str) -> int | None:
    if reason.startswith("HTTP "):
        try:
            return int(reason.split()[1].rstrip(":"))
        except (IndexError, ValueError):
            return None
    return None


def _is_retryable(reason: str) -> bool:
    """A line the provider refused (400, 401, 403, 404, 422) fails again in any batch, as it
    does synchronously; 408, 409, 429 and 5xx lines, missing lines and the lines of expired,
    failed or cancelled batches may succeed in the next."""
    status = _status_of(reason)
    return status is None or status in (408, 409, 429) or status >= 500


def _error_type(reason: str) -> str:
    from assay.outcomes import classify_error

    if reason in (MISSING_LINE, "batch_expired", "batch_failed", "batch_cancelled"):
        return reason
    return classify_error("BatchLineError", _status_of(reason), reason)


def open_batches_markdown(ledger: BatchLedger) -> str:
    """The open batches as a Markdown table (the UI: provider, requests, submitted at, status,
    expiry)."""
    rows = ledger.open_batches()
    if not rows:
        return "No open judge batches."
    columns = ["scope", "batch_id", "provider", "model", "requests", "attempt", "submitted_at", "status", "expires_at"]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(row[c]) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def run_until_collected(judge: BatchJudge, scope: str, *, max_polls: int = 1000) -> CollectReport:
    """Collect one scope until every intent is collected (tests and benchmarks: the server's
    delays are milliseconds; production leaves this to the sensor)."""

    async def loop() -> CollectReport:
        total = CollectReport()
        for _ in range(max_polls):
            report = await judge.collect(scope)
            for name in ("collected_batches", "retried", "sync_fallback", "completed", "errors", "skipped", "spend_usd"):
                setattr(total, name, getattr(total, name) + getattr(report, name))
            if judge.ledger.is_complete(scope):
                total.complete_scopes = [scope]
                return total
            await asyncio.sleep(0.005)
        raise TimeoutError(f"batches of {scope} still open after {max_polls} polls")

    return run_to_end(loop(), collect_garbage=True)
