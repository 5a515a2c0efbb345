"""`AssayResource`, the one resource every assay asset uses: where ASSAY_HOME is, what assay.yaml
says, and the LLM engine it configures."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from dagster import ConfigurableResource

from assay.config import AssayConfig, load_config
from assay.lake import Lake
from assay.llm.configured import configured_engine
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
        # assay.yaml's `storage:` says where the lake is (loading it exports ASSAY_LAKE).
        lake = Lake(self.home.lake if self.config.storage.lake else self.home.root / "lake")
        # Once per process: a run launched by the daemon starts clean of what killed writers
        # left (readers never see those files; this keeps them from piling up).
        lake.sweep()
        return lake

    def llm_engine(self, log=None, *, budget_usd: float | None = None) -> LLMEngine:
        """The engine of one run (`assay.llm.configured`)."""
        return configured_engine(self.config, self.home, log, budget_usd=budget_usd)
