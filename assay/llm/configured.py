"""The LLM engine as assay.yaml configures it: the judge section's limits, `pricing:` for costs
the price map lacks, the day's spend kept under ASSAY_HOME. Plain (no Dagster), so the assets
(through their resource) and `assay suggest` build the same engine."""

from __future__ import annotations

from collections.abc import Callable

from assay.config import AssayConfig
from assay.llm.engine import LLMEngine
from assay.llm.limits import ModelLimits
from assay.runtime import AssayHome


def configured_engine(
    config: AssayConfig, home: AssayHome, log: Callable[[str], None] | None = None, *, budget_usd: float | None = None
) -> LLMEngine:
    """The engine of one run. A run budget (`budget_usd`) also turns on the daily one."""
    judge = config.judge
    return LLMEngine(
        max_concurrency=judge.max_concurrency,
        requests_per_minute=judge.requests_per_minute,
        tokens_per_minute=judge.tokens_per_minute,
        model_limits={
            model: ModelLimits(lim.max_concurrency, lim.requests_per_minute, lim.tokens_per_minute)
            for model, lim in judge.per_model.items()
        },
        overload_threshold=judge.overload_threshold,
        timeout_s=judge.timeout_s,
        max_retries=judge.max_retries,
        deadline_s=judge.deadline_s,
        budget_usd=budget_usd,
        budget_per_day_usd=judge.budget_per_day_usd if budget_usd is not None else None,
        spend_dir=home.llm_spend,
        prices={model: price.model_dump() for model, price in config.pricing.items()},
        worker_processes=judge.worker_processes,
        cache_dir=home.judge_cache,
        log=log,
    )
