"""Know the bill before paying it: the LLM calls a run would make, without making any.

`assay run --estimate`, `assay compare --estimate` (and `--max-cost`) build the very requests the
run would build, with the same code (`plan_subjects`, `replay_request`, `shadow_request`) and so
the same cache keys, and look each key up in the engine's response cache: a key found there, or
asked earlier in the same run, is a cache hit and costs nothing. The rest are the calls to make.

Per (stage, evaluator or candidate, model): requests, cache hits, calls to make, input tokens
(counted the way the engine's budget counts them: `estimate_input_tokens`, litellm's tokenizer
for the model), output tokens, and dollars at the synchronous price and at the Batch API price
(`assay.pricing.batch_price_per_token`, `judge.batch_discount`).

Output tokens are not `max_tokens` (a judge asked for at most 256 answers in ~40): the expected
size is what the evaluator's judge answered before in this lake (mean output tokens of its
completed, uncached scores, per request), else `DEFAULT_REPLY_OUTPUT_TOKENS`. A replay's is what
the logged call answered (`output_tokens` of the production call), or the candidate's earlier
replays, else `DEFAULT_REPLAY_OUTPUT_TOKENS`.

What it cannot know is said, not guessed silently: a judge of a replay reads the candidate's
answer, which does not exist before the replay (the cached answer when there is one, else the
candidate's stored answer to the case, else the logged/reference answer stands in); a run that
re-curates the dataset replays the current version's cases; repair requests (a reply that did not
parse) and `gate.confirm_regressions` re-runs are not counted.

Nothing is written to the lake: the day's ingest and sampling run into a scratch folder.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from assay.assets.scoring import build_evaluators, decode_row, plan_subjects
from assay.evaluators.llm_judge import JudgePlan

from assay.config import AssayConfig
from assay.llm.cache import ResponseCache
from assay.llm.engine import LLMRequest, estimate_input_tokens
from assay.runtime import AssayHome

DEFAULT_REPLY_OUTPUT_TOKENS = 40
"""A judge's JSON verdict with a one-sentence reason, when this lake has no measured size yet
(an assumption, replaced by the lake's own figure after the first judged run)."""
DEFAULT_REPLAY_OUTPUT_TOKENS = 150
"""A replayed answer when neither the logged call nor an earlier replay says its size."""
STAND_IN_ANSWER = "An answer of the usual length stands in here for the one the candidate has not given yet. " * 4
"""For a judge's estimate, an answer not given yet where no logged or reference answer exists."""


@dataclass
class EstimateRow:
    stage: str
    """call_scores, agent_scores, candidate_outputs, candidate_scores, shadow_outputs, shadow_scores."""
    what: str
    """The evaluator (judging) or the candidate (replaying)."""
    model: str
    requests: int = 0
    cache_hits: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    sync_usd: float | None = 0.0
    """None when no price is known for the model (`pricing:` adds one)."""
    batch_usd: float | None = 0.0
    batch_cost_source: str | None = None
    mode: str = "sync"
    """How the run sends them: `batch` for the judges of call_scores and candidate_scores under
    `judge.mode: batch` and the replays of a `replay_mode: batch` candidate; else `sync` (agent
    judges and shadow replays are always synchronous)."""

    @property
    def calls(self) -> int:
        """Requests that go to the provider (not answered from the cache)."""
        return self.requests - self.cache_hits

    @property
    def charged_usd(self) -> float | None:
        """At the price the run pays: the batch price for batch rows, else the sync price."""
        return self.batch_usd if self.mode == "batch" else self.sync_usd


@dataclass
class CostEstimate:
    """The rows of one estimate, and what it could not count."""

    rows: list[EstimateRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def total(self, name: str) -> Any:
        values = [getattr(r, name) for r in self.rows]
        if name in ("sync_usd", "batch_usd", "charged_usd"):
            return None if any(v is None for v in values) else sum(values)
        return sum(values)

    @property
    def charged_usd(self) -> float | None:
        """What the run would pay: each row at the price of how it is sent (`EstimateRow.mode`).
        `--max-cost` compares this."""
        return self.total("charged_usd")

    @property
    def sync_usd(self) -> float | None:
        return self.total("sync_usd")

    @property
    def batch_usd(self) -> float | None:
        return self.total("batch_usd")

    def as_dict(self) -> dict[str, Any]:
        totals = {n: self.total(n) for n in ("requests", "cache_hits", "calls", "input_tokens", "output_tokens", "sync_usd",
                                             "batch_usd", "charged_usd")}
        return {
            "rows": [{**r.__dict__, "calls": r.calls, "charged_usd": r.charged_usd} for r in self.rows],
            "total": totals,
            "notes": list(self.notes),
        }

    def format(self, title: str) -> str:
        def usd(value: float | None) -> str:
            return "unpriced" if value is None else f"${value:.4f}"

        header = ("stage", "evaluator/candidate", "model", "requests", "cached", "calls", "input_tok", "output_tok",
                  "sync_usd", "batch_usd")
        lines = [(r.stage, r.what, r.model, r.requests, r.cache_hits, r.calls, r.input_tokens, r.output_tokens,
                  usd(r.sync_usd), usd(r.batch_usd)) for r in self.rows]
        lines.append(("total", "", "", self.total("requests"), self.total("cache_hits"), self.total("calls"),
                      self.total("input_tokens"), self.total("output_tokens"), usd(self.sync_usd), usd(self.batch_usd)))
        table = [header, *[tuple(str(v) for v in line) for line in lines]]
        widths = [max(len(row[i]) for row in table) for i in range(len(header))]
        text = [title, ""]
        for n, row in enumerate(table):
            cells = [c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))]
            text.append("  " + "  ".join(cells))
            if n == 0 or n == len(table) - 2:
                text.append("  " + "  ".join("-" * w for w in widths))
        if not self.rows:
            text.append("  (no LLM calls)")
        text += [f"  note: {note}" for note in self.notes]
        return "\n".join(text)


class Estimator:
    """Counts requests as the engine would meet them: the cache first, a repeat within the run
    answered once, the rest priced."""

    def __init__(self, config: AssayConfig, home: AssayHome, *, lake=None):
        self.config = config
        self.home = home
        self.prices = {model: price.model_dump(exclude_none=True) for model, price in config.pricing.items()}
        self.discount = config.judge.batch_discount
        self.cache = ResponseCache(home.judge_cache, redis_url=os.environ.get("ASSAY_REDIS_URL") or None)
        self.estimate = CostEstimate()
        self._rows: dict[tuple[str, str, str], EstimateRow] = {}
        self._seen: set[str] = set()
        self._prices: dict[str, tuple[Any, Any]] = {}
        self.reply_tokens = measured_reply_tokens(lake) if lake is not None else {}

    def _price(self, model: str) -> tuple[Any, Any]:
        if model not in self._prices:
            from assay.pricing import batch_price_per_token, price_per_token

            self._prices[model] = (price_per_token(model, self.prices), batch_price_per_token(model, self.prices, self.discount))
        return self._prices[model]

    def _mode(self, stage: str, what: str) -> str:
        """`EstimateRow.mode`: how the run sends this stage's requests (the assets' batch scopes)."""
        if stage in ("call_scores", "candidate_scores"):
            return self.config.judge.mode
        if stage == "candidate_outputs":
            candidate = next((c for c in self.config.candidates if c.candidate_id == what), None)
            return "batch" if candidate is not None and candidate.replays_in_batch else "sync"
        return "sync"

    def add(self, stage: str, what: str, request: LLMRequest, output_tokens: int, *, is_stand_in: bool = False) -> dict[str, Any] | None:
        """Count one request; returns its cached answer when it is a cache hit. A request built
        on a stand-in answer (`is_stand_in`) is never a hit: the real one asks about an answer
        not seen yet (while the stand-in, production's own answer, may well be cached)."""
        row = self._rows.get((stage, what, request.model))
        if row is None:
            row = self._rows[(stage, what, request.model)] = EstimateRow(stage, what, request.model,
                                                                         mode=self._mode(stage, what))
            self.estimate.rows.append(row)
        row.requests += 1
        key = request.key
        if not is_stand_in:
            cached = self.cache.get(key)
            if cached is not None or key in self._seen:
                row.cache_hits += 1
                return cached or {}
            self._seen.add(key)
        input_tokens = estimate_input_tokens(request)
        output_tokens = min(output_tokens, request.max_output_tokens)
        row.input_tokens += input_tokens
        row.output_tokens += output_tokens
        sync, batch = self._price(request.model)
        for name, found in (("sync_usd", sync), ("batch_usd", batch)):
            if found is None:
                setattr(row, name, None)
            elif getattr(row, name) is not None:
                (price_in, price_out), source = found
                setattr(row, name, getattr(row, name) + input_tokens * price_in + output_tokens * price_out)
                if name == "batch_usd":
                    row.batch_cost_source = source
        return None

    def add_plans(self, stage: str, plans: Iterable[JudgePlan], stand_ins: set[str] = frozenset()) -> None:
        """Count the requests of judge plans; `stand_ins`: subjects whose answer is a stand-in.
        The plans get the prompt-cache markers the run would set (they are part of the key)."""
        from assay.llm.prompt_cache import mark_cacheable_prefixes

        plans = list(plans)
        mark_cacheable_prefixes([r for plan in plans for r in plan.requests], self.prices)
        for plan in plans:
            name = plan.judge.name
            per_request = self.reply_tokens.get(name)
            expected = round(per_request / len(plan.requests)) if per_request else DEFAULT_REPLY_OUTPUT_TOKENS
            is_stand_in = str(plan.subject["subject_id"]) in stand_ins
            for request in plan.requests:
                self.add(stage, name, request, expected, is_stand_in=is_stand_in)

    def finish(self) -> CostEstimate:
        unpriced = sorted({r.model for r in self.estimate.rows if r.sync_usd is None and r.calls})
        if unpriced:
            self.estimate.notes.append(
                f"no price known for {', '.join(unpriced)}: their dollars are unknown (add them to `pricing:`)"
            )
        return self.estimate


def _local_globs(lake, tables: Iterable[str]) -> list[str]:
    if getattr(lake, "is_remote", False):
        return []
    return [str(lake.table_dir(t) / "*" / "*.parquet") for t in tables if any(lake.table_dir(t).glob("*/*.parquet"))]


def measured_reply_tokens(lake) -> dict[str, float]:
    """Per evaluator: mean output tokens of its completed judge scores that were really called
    (not cache hits), in every scores table of the lake."""
    globs = _local_globs(lake, ("call_scores", "trace_scores", "session_scores", "candidate_scores", "shadow_scores"))
    if not globs:
        return {}
    import duckdb

    with duckdb.connect() as con:
        rows = con.execute(
            "SELECT evaluator, avg(judge_output_tokens) FROM read_parquet(?, union_by_name = true) "
            "WHERE status = 'completed' AND judge_output_tokens > 0 AND NOT coalesce(judge_is_cache_hit, false) "
            "GROUP BY evaluator",
            [globs],
        ).fetchall()
    return {name: float(mean) for name, mean in rows}


# ---------------------------------------------------------------------------- assay run


def _sampled_day(scratch, home: AssayHome, config: AssayConfig, day: str) -> Path:
    """Ingest and sample one landed day into the scratch lake, as raw_calls and sampled_calls
    would (same files, same redaction): the subjects the run would judge."""
    from assay.assets.day_ingest import DayBounds
    from assay.assets.raw_calls import materialise_day
    from assay.assets.sampled_calls import SAMPLED_SCHEMA, sample_calls

    from assay.contracts.call import CALL_JSON_COLUMNS
    from assay.landing import configured_first_day

    prices = {model: price.model_dump(exclude_none=True) for model, price in config.pricing.items()}
    materialise_day(
        scratch, home.landing, date.fromisoformat(day), default_app=config.project.app, prices=prices,
        redaction=config.redaction, day_key=day,
        formats_by_source={name: source.format for name, source in config.sources.items() if source.format},
        bounds=DayBounds(first_day=configured_first_day(), today=datetime.now(UTC).date()),
    )
    raw = scratch.read_partition("raw_calls", {"day": day})
    sampled = sample_calls(raw.to_pylist() if raw is not None else [], config.sampling)
    return scratch.write_partition("sampled_calls", sampled, partition={"day": day}, schema=SAMPLED_SCHEMA,
                                   json_columns=CALL_JSON_COLUMNS)


def _daily_plans(estimator: Estimator, scratch, lake, config: AssayConfig, evaluators: dict, day: str) -> None:
    """The judge requests of call_scores and agent_scores for one day, as the run makes them:
    scores call_scores would keep (unchanged subject and evaluator series) are not asked again."""
    from assay.assets.agent_scores import AGENT_TABLES, agent_subjects_of
    from assay.assets.agent_subjects import build_day_subjects
    from assay.assets.call_scores import SUBJECTS_FILE, read_series
    from assay.assets.scoring import (
        evaluator_series,
        reusable_scores,
        subject_fingerprints,
        unchanged_subjects,
    )

    from assay.contracts.agent_subject import (
        SESSION_SUBJECT_ARROW_SCHEMA,
        SESSION_SUBJECT_JSON_COLUMNS,
        TRACE_SUBJECT_ARROW_SCHEMA,
        TRACE_SUBJECT_JSON_COLUMNS,
    )
    from assay.contracts.call import CALL_JSON_COLUMNS

    partition = {"day": day}
    sampled = _sampled_day(scratch, estimator.home, config, day)
    folder = lake.partition_dir("call_scores", partition)
    fingerprints = subject_fingerprints(sampled)
    kept = reusable_scores(
        lake.read_partition("call_scores", partition),
        subject_ids=unchanged_subjects(fingerprints, read_series(folder, SUBJECTS_FILE)),
        stored_series=read_series(folder),
        series=evaluator_series(config, evaluators),
        versions={name: getattr(e, "version", "?") for name, e in evaluators.items()},
    )
    done = set(zip(kept.column("evaluator").to_pylist(), kept.column("subject_id").to_pylist(), strict=True)) if kept else set()
    rows = scratch.read_partition("sampled_calls", partition)
    subjects = [decode_row(row, CALL_JSON_COLUMNS) | {"subject_id": row["call_id"]} for row in (rows.to_pylist() if rows else [])]
    _, plans = plan_subjects(subjects, config, "calls", evaluators, judged_only=True,
                             already_scored=lambda name, sid: (name, sid) in done)
    estimator.add_plans("call_scores", plans)
    built = build_day_subjects(scratch, day)
    for table, rows_, schema, columns in (("trace_subjects", built.traces, TRACE_SUBJECT_ARROW_SCHEMA, TRACE_SUBJECT_JSON_COLUMNS),
                                          ("session_subjects", built.sessions, SESSION_SUBJECT_ARROW_SCHEMA, SESSION_SUBJECT_JSON_COLUMNS)):
        scratch.write_partition(table, rows_, partition=partition, schema=schema, json_columns=columns)
    for kind in AGENT_TABLES:
        _, plans = plan_subjects(agent_subjects_of(scratch, kind, day), config, kind, evaluators, judged_only=True)
        estimator.add_plans("agent_scores", plans)


def _stored_outputs(lake, candidate_id: str, version: str) -> dict[str, dict[str, Any]]:
    from assay.contracts.candidate_output import CANDIDATE_OUTPUT_JSON_COLUMNS

    table = lake.read_partition("candidate_outputs", {"candidate": candidate_id})
    if table is None:
        return {}
    rows = [decode_row(r, CANDIDATE_OUTPUT_JSON_COLUMNS) for r in table.to_pylist()]
    return {r["case_id"]: r for r in rows if r["dataset_version"] == version and r["status"] == "completed"}


def _candidate_plans(estimator: Estimator, lake, config: AssayConfig, evaluators: dict) -> None:
    """candidate_job for every candidate, on the current dataset version: its replays (exact
    requests and cache keys), then its judges over the answers (the cached answer if the replay
    is a cache hit, else a stand-in: see the module's docstring)."""
    from assay.assets.candidate_outputs import case_subject, replay_request

    from assay.contracts.case import last_user_text
    from assay.dataset_pointer import current_version, read_cases
    from assay.llm.engine import LLMResult

    if not config.candidates:
        return
    version = current_version(lake)
    if version is None:
        estimator.estimate.notes.append(
            "candidates: not estimated: there is no regression dataset yet (this run curates it from its own "
            "scores); run the estimate again after a first run. judge.budget_usd still limits the run."
        )
        return
    cases = read_cases(lake, version)
    estimator.estimate.notes.append(
        f"candidates: {len(config.candidates)} x {len(cases)} cases of the current dataset {version} (the run "
        "re-curates it first: new failures add cases); judges of answers not cached read a stand-in answer"
    )
    answers: dict[str, dict[str, dict[str, Any]]] = {}
    stand_ins: dict[str, set[str]] = {}
    for candidate in config.candidates:
        stored = _stored_outputs(lake, candidate.candidate_id, version)
        if candidate.recorded:
            from assay.config import config_path
            from assay.recorded_outputs import read_recorded_outputs, resolve_recorded_path

            recorded = read_recorded_outputs(resolve_recorded_path(candidate.recorded, str(config_path())))
            per_case = {}
            for case in cases:
                result: LLMResult = recorded.result_for(case["case_id"], last_user_text(case["input"]))
                per_case[case["case_id"]] = {"output_text": result.text, "tool_calls": result.tool_calls,
                                             "status": result.status}
            answers[candidate.candidate_id] = per_case
            continue
        measured = [r.get("output_tokens") for r in stored.values() if r.get("output_tokens")]
        expected = round(sum(measured) / len(measured)) if measured else DEFAULT_REPLAY_OUTPUT_TOKENS
        per_case = {}
        stand_ins[candidate.candidate_id] = set()
        for sample in range(candidate.samples):
            for case in cases:
                request = replay_request(candidate, case, sample)
                cached = estimator.add("candidate_outputs", candidate.candidate_id, request, expected)
                if sample:
                    continue
                if cached:
                    per_case[case["case_id"]] = {"output_text": cached.get("text"), "tool_calls": cached.get("tool_calls"),
                                                 "status": cached.get("status", "completed")}
                else:
                    stand_ins[candidate.candidate_id].add(case["case_id"])
                    per_case[case["case_id"]] = (stored[case["case_id"]] | {"status": "completed"} if case["case_id"] in stored
                                                 else {"output_text": case.get("reference_output") or STAND_IN_ANSWER, "status": "completed"})
        answers[candidate.candidate_id] = per_case
    baseline = config.baseline
    by_id = {c["case_id"]: c for c in cases}
    for candidate in config.candidates:
        baseline_outputs: dict[str, str] = {}
        if baseline is not None and baseline.candidate_id != candidate.candidate_id:
            baseline_outputs = {cid: o.get("output_text") for cid, o in answers.get(baseline.candidate_id, {}).items()
                                if o.get("output_text") is not None}
        subjects = [case_subject(by_id[cid], output, baseline_outputs.get(cid))
                    for cid, output in answers[candidate.candidate_id].items() if output.get("status") == "completed"]
        _, plans = plan_subjects(subjects, config, "cases", evaluators, judged_only=True)
        # A pairwise judge reads the baseline's answer too: a stand-in on either side is one.
        unknown = stand_ins.get(candidate.candidate_id, set()) | (
            stand_ins.get(baseline.candidate_id, set()) if baseline is not None else set())
        for _ in range(candidate.samples):
            estimator.add_plans("candidate_scores", plans, unknown)


def estimate_run(config: AssayConfig, home: AssayHome, days: list[str], *, log: Callable[[str], None] = lambda _m: None) -> CostEstimate:
    """What `assay run` over `days` would ask of LLMs: the daily chain's judges, then every
    candidate's replays and judges."""
    from assay.lake import Lake

    lake = Lake(home.lake)
    estimator = Estimator(config, home, lake=lake)
    evaluators = build_evaluators(config.evaluators, config.judge.model, config.judge.params)
    with tempfile.TemporaryDirectory(prefix="assay-estimate-") as scratch_dir:
        scratch = Lake(Path(scratch_dir))
        for day in days:
            log(f"estimate: planning {day}")
            _daily_plans(estimator, scratch, lake, config, evaluators, day)
    _candidate_plans(estimator, lake, config, evaluators)
    estimator.estimate.notes.append("repair requests (a judge reply that did not parse, asked once more) are not counted")
    return estimator.finish()


# ---------------------------------------------------------------------------- assay compare


def estimate_shadow(config: AssayConfig, home: AssayHome, candidate_id: str, days: list[str]) -> CostEstimate:
    """What `assay compare` would ask over `days`: each sampled call replayed through the
    candidate (exact requests), then production's evaluators on the answers (the cached answer,
    else production's own answer as the stand-in)."""
    from assay.assets.shadow_replay import same_evaluators, shadow_request, shadow_subject

    from assay.contracts.call import CALL_JSON_COLUMNS
    from assay.lake import Lake

    lake = Lake(home.lake)
    estimator = Estimator(config, home, lake=lake)
    candidate = next(c for c in config.candidates if c.candidate_id == candidate_id)
    for day in days:
        table = lake.read_partition("sampled_calls", {"day": day})
        calls = [decode_row(r, CALL_JSON_COLUMNS) for r in (table.to_pylist() if table is not None else [])]
        production = lake.read_partition("call_scores", {"day": day})
        day_config = same_evaluators(config, production.select(["evaluator"]).to_pylist() if production is not None else None)
        evaluators = build_evaluators(day_config.evaluators, day_config.judge.model, day_config.judge.params)
        subjects, stand_ins = [], set()
        for call in calls:
            # Production's answer stands in for the candidate's (a failed call has none: the
            # candidate will answer, so a sentence stands in, and its judges are counted).
            stand_in = call.get("output_text") or (None if call.get("tool_calls") else STAND_IN_ANSWER)
            output: dict[str, Any] = {"model": candidate.model, "status": "completed", "output_text": stand_in,
                                      "tool_calls": call.get("tool_calls")}
            if not candidate.recorded:
                expected = call.get("output_tokens") or DEFAULT_REPLAY_OUTPUT_TOKENS
                cached = estimator.add("shadow_outputs", candidate_id, shadow_request(candidate, call), expected)
                if cached:
                    output |= {"output_text": cached.get("text"), "tool_calls": cached.get("tool_calls")}
                else:
                    stand_ins.add(str(call["call_id"]))
            subjects.append(shadow_subject(call, output))
        _, plans = plan_subjects(subjects, day_config, "calls", evaluators, judged_only=True)
        estimator.add_plans("shadow_scores", plans, stand_ins)
    estimator.estimate.notes.append(
        "judges of answers not cached read production's answer as a stand-in; repair requests are not counted"
    )
    return estimator.finish()
