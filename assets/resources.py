"""The one resource every assay asset uses: where ASSAY_HOME is and what assay.yaml says."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from dagster import ConfigurableResource

from assay.config import AssayConfig, load_config
from assay.lake import Lake
from assay.llm.engine import LLMEngine
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
        return Lake(self.home.lake)

    def llm_engine(self, log=None, *, budget_usd: float | None = None) -> LLMEngine:
        judge = self.config.judge
        return LLMEngine(
            max_concurrency=judge.max_concurrency,
            timeout_s=judge.timeout_s,
            max_retries=judge.max_retries,
            budget_usd=budget_usd,
            cache_dir=self.home.judge_cache,
            log=log,
        )
