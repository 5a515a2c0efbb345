"""One day of `assay run` with the user's config pointing the lake at `s3://` (moto_server
on 127.0.0.1) gives the same rows, marts and decisions as the same day on the local lake:
ingest, scoring, the regression dataset, candidate replays, dbt (reading the lake through
the assay.dbt_lake plugin, the warehouse published to the lake) and the gate."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
import yaml

from assay.lake import Lake
from assay.object_lake import RemotePath
from assay.testing.llm_server import LLMTestServer
from assay.testing.object_store import ObjectStore
from tests.integration import user_world
from tests.integration.user_world import FAKE_KEY
from tests.support.cli import assay, user_env

pytestmark = pytest.mark.integration

MARTS = ["slo_daily", "candidate_comparison", "candidate_case_scores"]


def run_one_day(project: Path, home: Path, export: Path, day: str, env: dict[str, str]) -> dict:
    """The day's export landed as `assay ingest` lands it, then one `assay run` (which ingests
    it: one Dagster run, not two) and the decisions."""
    landed = home / "landing" / "manual" / day
    landed.mkdir(parents=True)
    shutil.copy(export, landed / export.name)
    ran = assay("run", "--day", day, cwd=project, env=env)
    assert ran.returncode == 0, ran.stderr
    reported = assay("report", "--format", "json", cwd=project, env=env)
    assert reported.returncode == 0, reported.stderr
    return {d["candidate_id"]: d["verdict"] for d in json.loads(reported.stdout)}


def table_rows(lake: Lake) -> dict[str, int]:
    if lake.is_remote:
        tables = [e.rsplit("/", 1)[-1] for e in lake.fs.ls(lake.root.path, detail=False)]
    else:
        tables = [p.name for p in lake.root.iterdir() if p.is_dir()]
    counts = {}
    for table in sorted(t for t in tables if not t.startswith("_")):
        data = lake.read_table(table)
        counts[table] = 0 if data is None else data.num_rows
    return counts


def mart_rows(warehouse: Path) -> dict[str, int]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return {mart: con.sql(f"select count(*) from {mart}").fetchall()[0][0] for mart in MARTS}


def test_a_day_on_an_s3_lake_matches_the_local_lake(tmp_path, monkeypatch):
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    with LLMTestServer(answers=user_world.SCRIPTED_MODELS, in_subprocess=True) as server, ObjectStore() as store:
        store.create_bucket("team-lake")
        export = user_world.write_exports(tmp_path / "exports", [yesterday])["litellm"][0]
        results = {}
        for kind in ("local", "s3"):
            project = tmp_path / kind
            config = user_world.write_project(project, server.api_base)
            settings = yaml.safe_load(config.read_text())
            # Lean: the baseline and one challenger (a third candidate adds replays, not proof).
            settings["candidates"] = [c for c in settings["candidates"] if c["candidate_id"] != "refuser"]
            if kind == "s3":
                settings["storage"] = {"lake": "s3://team-lake/assay"}
            config.write_text(yaml.safe_dump(settings, sort_keys=False))
            home = tmp_path / f"{kind}-home"
            env = user_env(home, config, OPENAI_API_KEY=FAKE_KEY, **(store.environ() if kind == "s3" else {}))
            verdicts = run_one_day(project, home, export, yesterday.isoformat(), env)
            results[kind] = (verdicts, home)

        local_verdicts, local_home = results["local"]
        s3_verdicts, s3_home = results["s3"]
        assert s3_verdicts == local_verdicts == {"challenger": "approved"}
        # Nothing of the s3 run's lake is on local disk: every partition went to the store.
        assert not (s3_home / "lake").exists()
        for key, value in store.environ().items():
            monkeypatch.setenv(key, value)
        remote = Lake("s3://team-lake/assay")
        assert isinstance(remote.root, RemotePath)
        local_counts, remote_counts = table_rows(Lake(local_home / "lake")), table_rows(remote)
        assert remote_counts == local_counts
        assert local_counts["raw_calls"] == 20 and local_counts["call_scores"] > 0
        # The marts: built by dbt over the s3 lake, published there, read from the fetched copy.
        published = sorted((s3_home / "cache" / "warehouse").glob("*.duckdb"))
        assert published, "the warehouse was not published to the lake"
        assert remote.fs.exists(f"{remote.root.path}/_warehouse/warehouse.duckdb")
        assert mart_rows(published[-1]) == mart_rows(local_home / "warehouse.duckdb")
        assert mart_rows(published[-1])["candidate_case_scores"] > 0
