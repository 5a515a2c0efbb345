"""A source that watches a folder a Langfuse blob-storage export is synced to: each run's files
are landed once its manifest exists, each record to its own day, each file once."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from assay.assets.day_ingest import ingest_day

from assay.landing import land_new_watched, watched_files
from tests.unit.trace_samples import observation_rows, write_shape

TODAY = date(2025, 3, 10)


def _export(folder: Path, stamp: str, rows: list[dict], *, manifest: bool = True) -> Path:
    """One export run as Langfuse writes it: `observations_v2/<stamp>.jsonl`, then its manifest."""
    (folder / "observations_v2").mkdir(parents=True, exist_ok=True)
    data = write_shape(folder / "observations_v2", stamp, rows, "jsonl")
    if manifest:
        (folder / "manifests").mkdir(exist_ok=True)
        key = f"exports/proj-1/observations_v2/{data.name}"  # the bucket key carries the prefix
        (folder / "manifests" / f"{stamp}.json").write_text(json.dumps({
            "window": {"minTimestamp": stamp, "maxTimestamp": stamp},
            "files": [{"key": key, "table": "observations_v2", "format": "jsonl", "rowCount": len(rows)}],
        }))
    return data


def test_a_run_is_landed_once_its_manifest_exists_and_only_once(tmp_path):
    export, landing, state = tmp_path / "export", tmp_path / "home" / "landing", tmp_path / "home" / "state.json"
    rows = observation_rows()
    first = _export(export, "2025-03-01T12:00:00.000Z", rows[:2])
    uploading = _export(export, "2025-03-01T13:00:00.000Z", rows[2:], manifest=False)
    (export / "scores").mkdir()
    (export / "scores" / "2025-03-01T12:00:00.000Z.jsonl").write_text('{"id": "score-1"}\n')
    assert watched_files(export) == [first]

    def land():
        return land_new_watched(export, landing, state, source="langfuse", fmt="langfuse_observations",
                                default_app="a", today=TODAY)

    landed, errors = land()
    assert errors == [] and [item.source_path for item in landed] == [first]
    assert land() == ([], [])  # nothing new
    _export(export, "2025-03-01T13:00:00.000Z", rows[2:])  # its manifest arrives
    landed, _ = land()
    assert [item.source_path for item in landed] == [uploading]
    ingested = ingest_day(landing, date(2025, 3, 1), default_app="a",
                          formats_by_source={"langfuse": "langfuse_observations"})
    assert (ingested.call_count, ingested.span_count, ingested.rejected) == (2, 2, [])


def test_the_sensor_lands_what_is_new(tmp_path, monkeypatch):
    from assay.orchestration.sensors import source_watch_sensor
    from dagster import DagsterInstance, build_sensor_context

    export = tmp_path / "export"
    _export(export, "2025-03-01T12:00:00.000Z", observation_rows())
    config = tmp_path / "assay.yaml"
    config.write_text("project: {app: shop}\nsources:\n  langfuse: {format: langfuse_observations, watch: export}\n")
    monkeypatch.setenv("ASSAY_CONFIG", str(config))
    monkeypatch.setenv("ASSAY_HOME", str(tmp_path / "home"))
    with DagsterInstance.ephemeral() as instance:
        said = source_watch_sensor(build_sensor_context(instance=instance))
        assert "langfuse: 1 file(s) landed (2025-03-01)" in said.skip_message
        assert list((tmp_path / "home" / "landing" / "langfuse" / "2025-03-01").glob("*.jsonl"))
        again = source_watch_sensor(build_sensor_context(instance=instance))
        assert "langfuse: 0 file(s) landed" in again.skip_message
