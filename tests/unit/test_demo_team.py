"""`make demo-team`'s own logic (assay.orchestration.demo_team): the team config it derives from
the project's, and the S3 stand-in's bucket kept under ASSAY_HOME between runs (moto_server
keeps objects in memory only). The whole demo runs in `make demo-team` (its times are in the
README), not here: it starts every service and runs the full demo."""

from __future__ import annotations

from pathlib import Path

import yaml
from assay.orchestration.demo_team import BUCKET, LAKE_URL, restore_bucket, save_bucket, team_config

from assay.config import LAKE_ENV, WAREHOUSE_ENV, load_config

ROOT = Path(__file__).resolve().parents[2]


def test_the_team_config_is_the_projects_plus_the_team_sections_and_loads(tmp_path, monkeypatch):
    config = team_config(ROOT / "assay.yaml")
    assert config["storage"] == {"instance": "postgres", "lake": LAKE_URL}
    assert config["workers"] == {"executor": "celery"}
    # Written elsewhere, it still finds the project's golden cases.
    assert config["dataset"]["golden_dir"] == str(ROOT / "golden")
    project = yaml.safe_load((ROOT / "assay.yaml").read_text())
    assert [c["candidate_id"] for c in config["candidates"]] == [c["candidate_id"] for c in project["candidates"]]

    written = tmp_path / "team" / "assay.yaml"
    written.parent.mkdir()
    written.write_text(yaml.safe_dump(config, sort_keys=False))
    monkeypatch.setenv("ASSAY_CONFIG", str(written))
    monkeypatch.setenv("ASSAY_PG_URL", "postgresql+psycopg2://assay@127.0.0.1:5432/assay")
    monkeypatch.setenv("ASSAY_REDIS_URL", "redis://127.0.0.1:6379/0")
    for name in (LAKE_ENV, WAREHOUSE_ENV):  # load_config exports the s3 lake process-wide: restored after
        monkeypatch.setenv(name, "placeholder")
    loaded = load_config()
    assert (loaded.storage.instance, loaded.workers.executor) == ("postgres", "celery")


def test_the_bucket_saved_under_the_home_comes_back_whole_in_a_new_store(tmp_path):
    from assay.testing.object_store import ObjectStore

    folder = tmp_path / "s3"
    with ObjectStore() as store:
        client = store.client()
        assert restore_bucket(client, folder) == 0  # first run: nothing kept yet
        for key in ("lake/raw_calls/day=2026-11-20/a.parquet", "lake/_manifests/raw_calls.json"):
            client.put_object(Bucket=BUCKET, Key=key, Body=key.encode())
        assert save_bucket(client, folder) == 2
        client.delete_object(Bucket=BUCKET, Key="lake/_manifests/raw_calls.json")
        assert save_bucket(client, folder) == 1  # a mirror: what the store no longer holds goes
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()) == [
        "lake/raw_calls/day=2026-11-20/a.parquet"]
    with ObjectStore() as fresh:  # moto_server restarted: empty until restored
        client = fresh.client()
        assert restore_bucket(client, folder) == 1
        body = client.get_object(Bucket=BUCKET, Key="lake/raw_calls/day=2026-11-20/a.parquet")["Body"].read()
        assert body == b"lake/raw_calls/day=2026-11-20/a.parquet"
