"""`assay ingest`: files in several formats land by day and are ingested through Dagster."""

import json
from datetime import UTC, datetime

import pytest

from tests.unit.test_formats import langfuse_export, litellm_success, openai_pair

pytestmark = pytest.mark.integration


def test_ingest_lands_ingests_and_reports_per_file(tmp_path, monkeypatch, capsys):
    from assay.orchestration.cli import main

    home = tmp_path / "home"
    monkeypatch.setenv("ASSAY_HOME", str(home))
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))
    config = tmp_path / "assay.yaml"
    config.write_text("project: {app: shop}\n")
    monkeypatch.setenv("ASSAY_CONFIG", str(config))
    payloads = tmp_path / "litellm.jsonl"
    payloads.write_text(json.dumps(litellm_success()) + "\n" + "{truncated\n")
    pairs = tmp_path / "openai.jsonl"
    pairs.write_text(json.dumps(openai_pair()) + "\n")
    trace = tmp_path / "trace.json"
    trace.write_text(json.dumps(langfuse_export(), indent=2))

    assert main(["ingest", str(payloads), str(pairs), str(trace)]) == 0
    out = capsys.readouterr().out
    lines = {line.split(":")[0]: line for line in out.splitlines() if line.startswith(str(tmp_path))}
    assert "format=litellm_payload calls=1 rejected=1" in lines[str(payloads)]
    assert "format=openai_chat calls=1 rejected=0" in lines[str(pairs)]
    assert "format=langfuse" in lines[str(trace)] and "rejected=0" in lines[str(trace)]

    # Again: the same per-day files are rewritten, so nothing is counted twice.
    assert main(["ingest", str(payloads), str(pairs), str(trace)]) == 0
    again = capsys.readouterr().out
    assert "format=litellm_payload calls=1 rejected=1" in again
    assert (home / "lake" / "trace_spans").exists()


def test_ingest_names_an_unreadable_file_and_fails(tmp_path, monkeypatch, capsys):
    from assay.orchestration.cli import main

    monkeypatch.setenv("ASSAY_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home" / "dagster"))
    config = tmp_path / "assay.yaml"
    config.write_text("project: {app: shop}\n")
    monkeypatch.setenv("ASSAY_CONFIG", str(config))
    odd = tmp_path / "odd.jsonl"
    odd.write_text(json.dumps({"ts": datetime.now(UTC).isoformat(), "something": "else"}) + "\n")
    assert main(["ingest", str(odd)]) == 1
    assert "odd.jsonl" in capsys.readouterr().err
