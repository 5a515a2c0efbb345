"""dbt-duckdb plugin (dbt_project/profiles.yml `plugins:`): opens the home's warehouse, and lets
dbt's DuckDB read a lake on object storage. The sources read `<lake>/<table>/*/part.parquet`; with `storage.lake:
s3://...` that is `assaylake://...`, the committed view of `assay.object_lake`, registered on
each connection dbt opens. With a local lake it does nothing (and imports nothing heavy).

Not the profile's `filesystems:` key: that builds the filesystem from the profile's own
settings, which would need the lake's location (and so assay.yaml) in profiles.yml; the
plugin reads it where every other process does, ASSAY_LAKE.
"""

from __future__ import annotations

import os

from dbt.adapters.duckdb.plugins import BasePlugin


class Plugin(BasePlugin):
    def update_connection_config(self, creds, config) -> None:
        """Open this home's warehouse (`AssayHome.warehouse_build`). The profile names no home
        (profiles.yml says why); dbt-duckdb connects to `creds.path` right after this hook."""
        from pathlib import Path

        from assay.runtime import AssayHome

        creds.path = str(AssayHome(Path(os.environ.get("ASSAY_HOME", "../.assay"))).warehouse_build)

    def configure_connection(self, conn) -> None:
        from assay.committed_fs import committed_filesystem
        from assay.object_lake import is_object_url

        if is_object_url(os.environ.get("ASSAY_LAKE", "")):
            # A snapshot: the build reads the lake as it first sees it (each source's files
            # and manifests fetched once, not once per model: 38-61 s -> see architecture.md).
            conn.register_filesystem(committed_filesystem(snapshot=True))
