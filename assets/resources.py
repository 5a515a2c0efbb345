"""The one resource every assay asset uses: where ASSAY_HOME is and what assay.yaml says."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from dagster import ConfigurableResource

from assay.config import AssayConfig, load_config
from assay.lake import Lake
from assay.llm.engine import LLMEngine
from assay.llm.limits import ModelLimits
from assay.runtime import AssayHome


class AssayResource(ConfigurableResource):
    home_dir: str
    """ASSAY_HOME, absolute."""
    config_file: str
    """Path of assay.yaml."""

    @cached_property
    def home(self) -> AssayHome:
        return AssayHome(Path(self.home_dir))

    @cached_property
    def config(self) -> AssayConfig:
        return load_config(self.config_file)

    @cached_property
    def lake(self) -> Lake:
        lake = Lake(self.home.lake)
        # Once per process: a run launched by the daemon starts clean of what killed writers
        # left (readers never see those files; this keeps them from piling up).
        lake.sweep()
        return lake

    def llm_engine(self, log=None, *, budget_usd: float | None = None) -> LLMEngine:
        """The engine of one run: the judge section's limits, `pricing:` for costs the price
        map lacks, the day's spend kept under ASSAY_HOME."""
        judge = self.config.judge
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
            spend_dir=self.home.llm_spend,
            prices={model: price.model_dump() for model, price in self.config.pricing.items()},
            worker_processes=judge.worker_processes,
            cache_dir=self.home.judge_cache,
            log=log,
        )
