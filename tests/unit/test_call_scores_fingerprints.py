"""Incremental call_scores rescores a call whose content changed under the same call_id (a
corrected file delivered again), and only that call; provenance alone changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime

from assay.assets.sampled_calls import SAMPLED_SCHEMA
from assay.assets.scoring import subject_fingerprints, unchanged_subjects

from assay.contracts._arrow import rows_to_table
from assay.contracts.call import CALL_JSON_COLUMNS


def _write(path, calls):
    import pyarrow.parquet as pq

    pq.write_table(rows_to_table(calls, SAMPLED_SCHEMA, frozenset(CALL_JSON_COLUMNS)), path)
    return path


def _call(i: int, **overrides) -> dict:
    return {
        "call_id": f"c{i}", "ts": datetime(2026, 11, 20, 12, tzinfo=UTC), "app": "a", "feature": "rag_answer",
        "model": "m", "messages": [{"role": "user", "content": f"question {i}"}], "output_text": f"answer {i}",
        "status": "success", "latency_ms": 100.0, "metadata": {"tags": ["x"]}, "source_file": "f.jsonl",
        "source_offset": i * 100, "sample_reason": "rate",
    } | overrides


def test_only_a_call_whose_content_changed_is_rescored(tmp_path):
    before = subject_fingerprints(_write(tmp_path / "a.parquet", [_call(1), _call(2), _call(3)]))
    assert sorted(before) == ["c1", "c2", "c3"] and len(set(before.values())) == 3
    # Re-delivered: c2's answer was corrected; every record moved in the file.
    after = subject_fingerprints(_write(tmp_path / "b.parquet", [
        _call(1, source_offset=999, source_file="g.jsonl"),
        _call(2, output_text="corrected answer"),
        _call(3, source_offset=5),
    ]))
    assert unchanged_subjects(after, before) == {"c1", "c3"}
    # Metadata and tool calls are evaluable content too.
    moved = subject_fingerprints(_write(tmp_path / "c.parquet", [_call(1, metadata={"tags": ["y"]}), _call(2), _call(3)]))
    assert unchanged_subjects(moved, before) == {"c2", "c3"}


def test_a_partition_scored_before_fingerprints_were_kept_reuses_everything(tmp_path):
    now = subject_fingerprints(_write(tmp_path / "a.parquet", [_call(1), _call(2)]))
    assert unchanged_subjects(now, None) == {"c1", "c2"}
    assert unchanged_subjects(now, {}) == set()
