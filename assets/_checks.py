"""Blocking Great Expectations checks, emitted by the asset that already holds the data."""

import warnings

import dagster as dg
from assay.assets.quality import SuiteResult

from assay.lake import read_parquet_file


def blocking_suite_spec(name: str, asset: str, partitions_def: dg.PartitionsDefinition, description: str) -> dg.AssetCheckSpec:
    with warnings.catch_warnings():
        # Partitioned check specs are "preview" in Dagster 1.13, but without the partitions the
        # result of each partition's check is recorded unpartitioned and every one shows "planned".
        warnings.simplefilter("ignore", dg.PreviewWarning)
        return dg.AssetCheckSpec(
            name, asset=asset, blocking=True, partitions_def=partitions_def, description=description
        )


def read_for_suite(path, columns: list[str]):
    """Only the columns a suite checks: the whole partition in pandas could be gigabytes."""
    return read_parquet_file(path, columns).to_pandas()


def suite_check_result(asset: str, name: str, suite: SuiteResult) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        asset_key=asset,
        check_name=name,
        passed=suite.passed,
        metadata={
            "expectations": suite.evaluated,
            "failed": dg.MetadataValue.md("\n".join(f"- {f}" for f in suite.failed) or "none"),
        },
    )
