"""`AssayResource`, the one resource every assay asset uses: where ASSAY_HOME is, what assay.yaml
says, and the LLM engine it configures."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import dagster as dg
from dagster import ConfigurableResource

from assay.config import AssayConfig, load_config
from assay.lake import Lake
from assay.llm.configured import configured_batch_judge, configured_engine
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

    def batch_judge(self, engine: LLMEngine, log=None):
        """The Batch API judge over `engine` (`judge.mode: batch`, `replay_mode: batch`)."""
        return configured_batch_judge(self.config, self.home, engine, log)


class BatchesOpen(Exception):
    """Raised inside a partition writer when requests wait in open provider batches: the staged
    partition is discarded and the asset is not materialised this run."""


def batches_open_check(engine: LLMEngine, assay: AssayResource, check_name: str, log) -> dg.AssetCheckResult:
    """The result a partitioned asset yields for its blocking check when it is not materialised
    because its judge batches are open (a check must answer; it does not pass judgement on data
    that was not written). Its metadata is the open batches, for the UI."""
    from assay.llm.batch import open_batches_markdown

    stats = engine.stats
    message = (f"{stats.batch_pending} requests wait in open provider batches ({stats.batch_submitted} submitted "
               f"by this run): not materialised; the judge_batch_sensor collects them and re-runs the partition")
    log(message)
    return dg.AssetCheckResult(
        check_name=check_name, passed=True, severity=dg.AssetCheckSeverity.WARN, description=message,
        metadata={"batch_pending": stats.batch_pending, "batch_submitted": stats.batch_submitted,
                  "open_batches": dg.MetadataValue.md(open_batches_markdown(engine.batch.ledger))},
    )
