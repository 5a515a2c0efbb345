"""The demo traffic generator: deterministic, valid records, ground truth that matches."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from assay.contracts.call import CallRecord
from assay.demo import domain
from assay.demo.generator import INJECTED_KINDS, generate, landing_path, load_truth

END_DAY = date(2025, 3, 10)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory):
    home = tmp_path_factory.mktemp("demo")
    summary = generate(home, days=7, calls_per_day=400, end_day=END_DAY, seed=7)
    return home, summary


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def _records_and_truth(home: Path, day: date):
    lines = _lines(landing_path(home, day))
    truth = load_truth(home, day)
    malformed = {row["line"] for row in truth if row["injected"] == "malformed"}
    calls = {row["call_id"]: row for row in truth if "call_id" in row}
    records = [
        CallRecord.model_validate_json(line)
        for number, line in enumerate(lines, start=1)
        if number not in malformed
    ]
    return lines, records, calls, malformed


def test_same_seed_gives_identical_bytes_and_reruns_are_idempotent(tmp_path, demo):
    home, summary = demo
    other = tmp_path / "other"
    again = generate(other, days=7, calls_per_day=400, end_day=END_DAY, seed=7)
    for a, b in zip(summary.landing_files + summary.truth_files, again.landing_files + again.truth_files, strict=True):
        assert a.read_bytes() == b.read_bytes()
    generate(other, days=7, calls_per_day=400, end_day=END_DAY, seed=7)  # overwrite in place
    assert again.landing_files[0].read_bytes() == summary.landing_files[0].read_bytes()
    assert not [p for p in other.rglob("*") if ".tmp" in p.name], "temporary files left behind"
    different = generate(tmp_path / "seed8", days=1, calls_per_day=400, end_day=END_DAY, seed=8)
    assert different.landing_files[0].read_bytes() != summary.landing_files[-1].read_bytes()


def test_layout_and_summary(demo):
    home, summary = demo
    assert summary.days == [END_DAY - timedelta(days=6 - i) for i in range(7)]
    for day, path in zip(summary.days, summary.landing_files, strict=True):
        assert path == home / "landing" / "native" / day.isoformat() / "calls.jsonl"
        assert len(_lines(path)) == 400 + 3
    assert (home / "demo_truth" / f"{END_DAY.isoformat()}.jsonl").exists()
    assert summary.malformed_lines == 21 and summary.injected["malformed"] == 21
    assert set(INJECTED_KINDS) <= set(summary.injected)


def test_every_line_but_the_malformed_ones_is_a_call_record(demo):
    home, summary = demo
    for day in summary.days:
        lines, records, calls, malformed = _records_and_truth(home, day)
        assert len(malformed) == 3
        for number in malformed:
            with pytest.raises((ValidationError, ValueError)):
                CallRecord.model_validate_json(lines[number - 1])
        assert len(records) == 400 == len(calls)
        assert {r.call_id for r in records} == set(calls)
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        for record in records:
            assert start <= record.ts < start + timedelta(days=1)
            assert record.source_format == "assay_jsonl"
            assert record.app == "acme-support" and record.model == "sim/support-v1"
            assert record.prompt_version == "v3" and record.provider == "sim"


def test_truth_matches_the_records(demo):
    """Injected failures are what the domain's own checks say they are."""
    home, summary = demo
    for day in summary.days:
        _, records, calls, _ = _records_and_truth(home, day)
        for record in records:
            injected = calls[record.call_id]["injected"]
            assert calls[record.call_id]["feature"] == record.feature
            if injected == "provider_error":
                assert record.status == "error" and record.error_type
                assert record.output_text is None and record.output_tokens is None
                continue
            assert record.status == "success" and record.cost_usd > 0
            if injected == "latency_breach":
                assert 6000 <= record.latency_ms <= 15000
            else:
                assert record.latency_ms < 6000
            if injected == "refusal":
                assert domain.is_refusal(record.output_text)
                continue
            if record.feature == "rag_answer":
                score, _ = domain.faithfulness(record.output_text, record.context)
                assert (score < 0.8) == (injected in {"hallucination", "pii_leak"}), record.output_text
            elif record.feature == "classify_ticket":
                try:
                    json.loads(record.output_text)
                    valid = True
                except json.JSONDecodeError:
                    valid = False
                assert valid == (injected != "format_break"), record.output_text
            else:
                ok, _ = domain.tool_call_correct(record.input_text, record.tool_calls)
                assert ok == (injected != "tool_misuse"), record.tool_calls


def test_traffic_looks_real(demo):
    home, summary = demo
    records = []
    for day in summary.days:
        records += _records_and_truth(home, day)[1]
    features = Counter(r.feature for r in records)
    assert 0.38 < features["rag_answer"] / len(records) < 0.52
    assert 0.23 < features["classify_ticket"] / len(records) < 0.37
    assert 0.18 < features["tool_router"] / len(records) < 0.32
    assert 80 <= len({r.user_id for r in records}) <= 120
    inputs = Counter(r.input_text for r in records)
    assert inputs.most_common(1)[0][1] >= 10, "real traffic repeats questions"
    feedback = [r.feedback_score for r in records if r.feedback_score is not None]
    assert 0.05 < len(feedback) / len(records) < 0.2 and set(feedback) == {-1.0, 1.0}
    rag = sorted(r.latency_ms for r in records if r.feature == "rag_answer" and r.status == "success")
    classify = sorted(r.latency_ms for r in records if r.feature == "classify_ticket" and r.status == "success")
    assert 900 < rag[len(rag) // 2] < 1500 and 350 < classify[len(classify) // 2] < 650


def test_hallucination_rate_drifts_up_on_the_last_three_days(demo):
    home, summary = demo

    def rate(days: list[date]) -> float:
        rows = [row for d in days for row in load_truth(home, d) if row.get("feature") == "rag_answer"]
        return sum(row["injected"] == "hallucination" for row in rows) / len(rows)

    early, late = rate(summary.days[:4]), rate(summary.days[4:])
    assert early < 0.09 and late > 0.12 and late > 2 * early
    subtle = [row["subtle"] for d in summary.days for row in load_truth(home, d) if row.get("injected") == "hallucination"]
    assert 0 < sum(subtle) < len(subtle)


def test_default_end_day_is_yesterday_utc(tmp_path):
    summary = generate(tmp_path, days=1, calls_per_day=10)
    assert summary.days == [datetime.now(UTC).date() - timedelta(days=1)]
    assert len(_lines(summary.landing_files[0])) == 13
