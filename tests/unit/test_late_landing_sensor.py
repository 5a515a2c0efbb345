"""The late-landing sensor: a past day whose landing files changed since its raw_calls
partition was built is re-run, once per state of its landing folder."""

import json
from datetime import date

from assay.orchestration.sensors import plan_late_days

TODAY = date(2026, 11, 22)


def test_a_changed_past_day_is_rerun():
    assert plan_late_days({"2026-11-18": "b"}, {"2026-11-18": "a"}, TODAY) == ["2026-11-18"]


def test_an_unchanged_day_is_left_alone():
    assert plan_late_days({"2026-11-18": "a"}, {"2026-11-18": "a"}, TODAY) == []


def test_a_missed_old_day_is_backfilled():
    assert plan_late_days({"2026-11-10": "a"}, {"2026-11-10": None}, TODAY) == ["2026-11-10"]


def test_today_is_never_touched_and_yesterday_waits_for_the_nightly_run():
    landed = {"2026-11-22": "a", "2026-11-21": "a"}
    assert plan_late_days(landed, {"2026-11-22": None, "2026-11-21": None}, TODAY) == []
    # Once the nightly run built yesterday, a late file for it is picked up.
    assert plan_late_days({"2026-11-21": "b"}, {"2026-11-21": "a"}, TODAY) == ["2026-11-21"]


def _land(landing, day: str, name: str, lines: list[dict]) -> None:
    folder = landing / "native" / day
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / name).open("a") as handle:
        for line in lines:
            handle.write(json.dumps(line) + "\n")


def _call(call_id: str, day: str) -> dict:
    return {"call_id": call_id, "ts": f"{day}T10:00:00Z", "app": "a", "feature": "f", "model": "m"}


def test_sensor_reruns_a_day_after_a_late_file_and_only_then(tmp_path, monkeypatch):
    from assay.assets.raw_calls import materialise_day
    from assay.orchestration.sensors import late_landing_sensor
    from dagster import DagsterInstance, build_sensor_context

    from assay.config import RedactionConfig
    from assay.lake import Lake

    monkeypatch.setenv("ASSAY_HOME", str(tmp_path))
    landing, lake, day = tmp_path / "landing", Lake(tmp_path / "lake"), "2026-01-05"
    _land(landing, day, "a.jsonl", [_call("c1", day)])

    with DagsterInstance.ephemeral() as instance:
        first = late_landing_sensor(build_sensor_context(instance=instance))
        assert [r.partition_key for r in first.run_requests] == [day]  # never built

        materialise_day(lake, landing, date.fromisoformat(day), default_app="a", prices={}, redaction=RedactionConfig())
        assert late_landing_sensor(build_sensor_context(instance=instance)).run_requests == []

        _land(landing, day, "late.jsonl", [_call("c2", day)])  # a file arrives late
        late = late_landing_sensor(build_sensor_context(instance=instance))
        assert [r.partition_key for r in late.run_requests] == [day]
        assert late.run_requests[0].run_key != first.run_requests[0].run_key
