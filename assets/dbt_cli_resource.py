"""`OfflineDbtCliResource`: the Dagster resource that runs dbt, without dbt's phone-home."""

from __future__ import annotations

import os
import shutil
import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import cached_property
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import Any

from assay.assets.warehouse_project import dbt_executable
from dagster_dbt import DbtCliResource
from packaging.version import Version

KEPT_DBT_INVOCATIONS = 20
"""dbt invocation folders (target files and logs) kept under ASSAY_HOME/dbt; older ones go."""

PARTIAL_PARSE_FILE = "partial_parse.msgpack"

_ENVIRON_LOCK = threading.Lock()


__all__ = ["OfflineDbtCliResource", "dbt_executable"]


class OfflineDbtCliResource(DbtCliResource):
    """DbtCliResource without the phone-home.

    dagster-dbt learns the dbt version by running `dbt --version`, and `dbt --version` always
    asks pypi.org for the latest release (dbt/version.py: no flag turns it off) — seen with
    strace as a DNS lookup and an HTTPS connect on every dbt build. The dbt assay runs is the
    one installed beside this Python, so its version is read from the package metadata.
    """

    artifacts_dir: str | None = None
    """Where each dbt invocation writes its target files (compiled SQL, run results, its
    manifest) and its logs: a fresh folder per invocation under ASSAY_HOME/dbt, not inside the
    checkout, so two homes never share them and a read-only install works. dagster-dbt would
    put them under dbt_project/target/ (and never remove them). The manifest Dagster loads is
    built into dbt_project/target/ by `make`, as before."""

    @cached_property
    def _cli_version(self) -> Version:
        return Version(installed_version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args: Sequence[str]) -> None:  # type: ignore[override]
        """No adapter in this process. dagster-dbt loads dbt's project, profile and DuckDB adapter
        into the Dagster process before every build (about 3 s the first time, 1 s after), only
        for `fetch_column_metadata()` and `fetch_row_counts()` on the build's events, which assay
        does not call; dbt runs in a process of its own with its own adapter. (dagster-dbt treats
        a failure here as "no adapter" too.)"""
        return None

    def cli(
        self, args: Sequence[str], *, target_path: Path | None = None, env: Mapping[str, str] | None = None,
        **kwargs: Any,
    ):
        """`env`: variables set for this dbt process only (the build's values, see
        assay.assets.slo_marts.dbt_run_env)."""
        if target_path is None and self.artifacts_dir:
            target_path = invocation_dir(Path(self.artifacts_dir), kwargs.get("context"))
            project_state = Path(self.project_dir) / "target" / PARTIAL_PARSE_FILE  # `make setup`'s dbt parse
            seed_partial_parse(Path(self.artifacts_dir), target_path, project_state)
        # dagster-dbt builds the dbt process's environment from os.environ and takes no other:
        # the values are set there only while the process is started.
        with _environ(env or {}):
            return super().cli(args, target_path=target_path, **kwargs)


@contextmanager
def _environ(values: Mapping[str, str]) -> Iterator[None]:
    with _ENVIRON_LOCK:
        before = {name: os.environ.get(name) for name in values}
        os.environ.update(values)
        try:
            yield
        finally:
            for name, value in before.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


def seed_partial_parse(artifacts_dir: Path, target_path: Path, project_state: Path | None = None) -> None:
    """Start a build from the parse state the newest earlier build of this home left
    (`partial_parse.msgpack`), or, in a home with none, from the project's own (`project_state`,
    written by the `dbt parse` that makes the manifest Dagster loads): dbt then re-parses only the
    files that changed, or that read an environment variable whose value changed, instead of the
    whole project (about 4 s of CPU of each build). dbt checks the state itself (dbt version,
    project files, profile, `--vars`) and parses in full when it does not match, or when the
    file is unreadable (a build killed while writing it)."""
    earlier = [p / PARTIAL_PARSE_FILE for p in artifacts_dir.iterdir() if p != target_path and p.is_dir()]
    earlier = [p for p in earlier if p.is_file()]
    if not earlier and project_state is not None and project_state.is_file():
        earlier = [project_state]
    if earlier:
        target_path.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(max(earlier, key=lambda p: p.stat().st_mtime), target_path / PARTIAL_PARSE_FILE)


def invocation_dir(artifacts_dir: Path, context: Any = None) -> Path:
    """A fresh folder for one dbt invocation's target files and logs (`<op>-<run>-<random>`,
    as dagster-dbt names them), after removing all but the newest `KEPT_DBT_INVOCATIONS`
    earlier ones. dbt runs one at a time per home (the warehouse pool), so none of those is
    in use."""
    artifacts_dir.mkdir(parents=True, exist_ok=True)
    earlier = sorted((p for p in artifacts_dir.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
    for old in earlier[: max(0, len(earlier) - KEPT_DBT_INVOCATIONS + 1)]:
        shutil.rmtree(old, ignore_errors=True)
    name = uuid.uuid4().hex[:7]
    if context is not None:
        name = f"{context.op_execution_context.op.name}-{context.run.run_id[:7]}-{name}"
    return artifacts_dir / name
