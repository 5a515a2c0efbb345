"""The LLM engine as assay.yaml configures it: the judge section's limits, `pricing:` for costs
the price map lacks, the day's spend kept under ASSAY_HOME. Plain (no Dagster), so the assets
(through their resource) and `assay suggest` build the same engine."""

from __future__ import annotations

import os
from collections.abc import Callable

from assay.config import AssayConfig
from assay.llm.engine import LLMEngine
from assay.llm.limits import ModelLimits
from assay.llm.shared_limits import LEASE_MARGIN_S, SharedLimit
from assay.runtime import AssayHome


def _lower(value: float | None, cap: float | None) -> float | None:
    return cap if value is None else value if cap is None else min(value, cap)


def run_and_shared_limits(
    run: ModelLimits, provider_max_concurrency: int | None, provider_requests_per_minute: float | None,
    *, redis_url: str | None, timeout_s: float,
) -> tuple[ModelLimits, SharedLimit | None]:
    """One model's limits: the run's own, and the provider's across workers. With Redis
    (ASSAY_REDIS_URL, the team stack) every worker takes the provider's limit from it; without,
    there is nobody to share with beyond this run, which then keeps to the provider's limit
    itself (the smaller of the two wins)."""
    if provider_max_concurrency is None and provider_requests_per_minute is None:
        return run, None
    if redis_url:
        return run, SharedLimit(redis_url, provider_max_concurrency, provider_requests_per_minute,
                                lease_s=timeout_s + LEASE_MARGIN_S)
    return ModelLimits(
        int(_lower(run.max_concurrency, provider_max_concurrency)),
        _lower(run.requests_per_minute, provider_requests_per_minute),
        run.tokens_per_minute,
    ), None


def configured_engine(
    config: AssayConfig, home: AssayHome, log: Callable[[str], None] | None = None, *, budget_usd: float | None = None
) -> LLMEngine:
    """The engine of one run. A run budget (`budget_usd`) also turns on the daily one."""
    judge = config.judge
    redis_url = os.environ.get("ASSAY_REDIS_URL") or None
    default_limits, default_shared = run_and_shared_limits(
        ModelLimits(judge.max_concurrency, judge.requests_per_minute, judge.tokens_per_minute),
        judge.provider_max_concurrency, judge.provider_requests_per_minute,
        redis_url=redis_url, timeout_s=judge.timeout_s,
    )
    model_limits, shared_limits = {}, {}
    for model, lim in judge.per_model.items():
        model_limits[model], shared = run_and_shared_limits(
            ModelLimits(lim.max_concurrency, lim.requests_per_minute, lim.tokens_per_minute),
            lim.provider_max_concurrency, lim.provider_requests_per_minute,
            redis_url=redis_url, timeout_s=judge.timeout_s,
        )
        if shared is not None:
            shared_limits[model] = shared
    return LLMEngine(
        max_concurrency=default_limits.max_concurrency,
        requests_per_minute=default_limits.requests_per_minute,
        tokens_per_minute=default_limits.tokens_per_minute,
        model_limits=model_limits,
        # A model of `per_model` without provider limits has none shared either.
        shared_limits={model: shared_limits.get(model) for model in judge.per_model} | shared_limits,
        default_shared_limit=default_shared,
        overload_threshold=judge.overload_threshold,
        timeout_s=judge.timeout_s,
        max_retries=judge.max_retries,
        deadline_s=judge.deadline_s,
        budget_usd=budget_usd,
        budget_per_day_usd=judge.budget_per_day_usd if budget_usd is not None else None,
        spend_dir=home.llm_spend,
        prices={model: price.model_dump(exclude_none=True) for model, price in config.pricing.items()},
        worker_processes=judge.worker_processes,
        cache_dir=home.judge_cache,
        shared_redis_url=redis_url,  # the judge cache and the day's spend, shared by every worker
        log=log,
    )


def configured_batch_judge(config: AssayConfig, home: AssayHome, engine: LLMEngine, log: Callable[[str], None] | None = None):
    """The Batch API judge of a home (`judge.mode: batch`, `replay_mode: batch`): its ledger in
    the lake, the engine's cache, budget and prices. Provider keys come from the environment
    (OPENAI_API_KEY, ...), as litellm reads them."""
    from assay.llm.batch import BatchJudge, BatchLedger, BatchSettings

    judge = config.judge
    settings = BatchSettings(deadline_h=judge.batch_deadline_h, discount=judge.batch_discount)
    return BatchJudge(BatchLedger.of_lake(home.lake), engine, settings, log=log)
