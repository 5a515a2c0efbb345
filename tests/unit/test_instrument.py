"""assay.instrument: the litellm callback logger that lands every call in ASSAY_HOME."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import math
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import assay  # noqa: F401  (LITELLM_LOCAL_MODEL_COST_MAP before litellm is imported)
from assay import instrument

ROOT = Path(__file__).resolve().parents[2]
MODEL = "gpt-4o-mini"
SECRET = "sk-proj-Q3v9XbT7LmN2pR8sK4wY6zA1cD5eF0gH"
HOST = instrument._HOST


@pytest.fixture(scope="module")
def litellm():
    import litellm as _litellm

    return _litellm


@pytest.fixture
def logger(litellm, tmp_path):
    """An AssayLogger on a temporary home, registered for the test only."""
    instrument.uninstall()
    registered = instrument.AssayLogger(tmp_path)
    litellm.callbacks.append(registered)
    yield registered
    litellm.logging_callback_manager.remove_callback_from_all_lists(registered)
    registered.flush()


def landed(home: Path) -> dict[Path, list[dict]]:
    """Every landing file under `home`, with its parsed lines (each must be valid JSON)."""
    files = sorted((home / "landing" / "litellm").glob("*/*.jsonl"))
    return {f: [json.loads(line) for line in f.read_text("utf-8").splitlines()] for f in files}


def records(home: Path) -> list[dict]:
    return [record for lines in landed(home).values() for record in lines]


def wait_for_records(home: Path, count: int, timeout: float = 20.0) -> list[dict]:
    """Sync callbacks run on litellm's thread pool after the call returns: wait for them
    (no timing is asserted; the timeout only stops a broken test from hanging)."""
    deadline = time.monotonic() + timeout
    while True:
        instrument.flush()
        found = records(home)
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def utc_day(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, tz=dt.UTC).date().isoformat()


def payload(call_id: str, start: float, **fields) -> dict:
    """A StandardLoggingPayload-shaped dict, for driving the logger without litellm."""
    return {
        "id": call_id,
        "litellm_call_id": call_id,
        "call_type": "acompletion",
        "status": "success",
        "model": MODEL,
        "startTime": start,
        "endTime": start + 0.5,
        "messages": [{"role": "user", "content": "hello"}],
        "response": {"choices": [{"message": {"role": "assistant", "content": "hi"}}]},
        **fields,
    }


# --- import cost ---------------------------------------------------------------------------


def test_importing_the_module_does_not_import_litellm():
    code = (
        "import sys, assay.instrument as i; "
        "assert 'litellm' not in sys.modules, 'litellm imported'; "
        "assert callable(i.install)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_assay_logger_is_a_litellm_custom_logger(litellm, tmp_path):
    from litellm.integrations.custom_logger import CustomLogger

    from assay.instrument import AssayLogger

    assert issubclass(AssayLogger, CustomLogger)
    assert AssayLogger is instrument.AssayLogger  # built once
    assert isinstance(AssayLogger(tmp_path), CustomLogger)


# --- through litellm's call path -----------------------------------------------------------


def test_sync_success_and_failure_land_in_the_day_file(litellm, logger, tmp_path):
    litellm.completion(
        model=MODEL, messages=[{"role": "user", "content": "ping"}], mock_response="pong"
    )
    with pytest.raises(Exception, match="provider down"):
        litellm.completion(
            model=MODEL,
            messages=[{"role": "user", "content": "ping"}],
            mock_response=Exception("provider down"),
        )
    found = wait_for_records(tmp_path, 2)
    assert sorted(r["status"] for r in found) == ["failure", "success"]
    for path, lines in landed(tmp_path).items():
        assert path.name == f"{HOST}-{os.getpid()}.jsonl"
        for record in lines:
            assert path.parent.name == utc_day(record["startTime"])
    success = next(r for r in found if r["status"] == "success")
    assert success["response"]["choices"][0]["message"]["content"] == "pong"
    assert success["messages"] == [{"role": "user", "content": "ping"}]
    failure = next(r for r in found if r["status"] == "failure")
    assert "provider down" in failure["error_str"]


def test_async_success_and_failure_land(litellm, logger, tmp_path):
    async def app() -> None:
        await litellm.acompletion(
            model=MODEL, messages=[{"role": "user", "content": "a"}], mock_response="b"
        )
        with pytest.raises(litellm.RateLimitError):
            await litellm.acompletion(
                model=MODEL,
                messages=[{"role": "user", "content": "a"}],
                mock_response=litellm.RateLimitError(
                    "slow down", llm_provider="openai", model=MODEL
                ),
            )
        assert await instrument.aflush()

    asyncio.run(app())
    found = wait_for_records(tmp_path, 2)
    assert len(found) == 2
    assert sorted(r["status"] for r in found) == ["failure", "success"]
    failure = next(r for r in found if r["status"] == "failure")
    assert failure["error_information"]["error_class"] == "RateLimitError"
    # The payload is written as litellm built it (normalising is the adapter's job).
    assert {"id", "trace_id", "startTime", "endTime", "model", "response_cost"} <= set(found[0])


def test_secrets_are_dropped_and_api_keys_redacted(litellm, logger, tmp_path):
    litellm.completion(
        model=MODEL,
        messages=[{"role": "user", "content": f"my key is {SECRET}, keep it safe"}],
        mock_response=f"noted: {SECRET}",
        api_key=SECRET,
        metadata={"headers": {"authorization": f"Bearer {SECRET}"}, "tenant": "acme"},
    )
    logger.log_success_event(
        {
            "standard_logging_object": payload(
                "direct-1",
                time.time(),
                metadata={
                    "user_api_key_hash": "9f86d081884c7d659a2feaa0c55ad015",
                    "user_api_key_alias": "prod-key",
                    "headers": {"x-api-key": SECRET, "user-agent": "app/1.0"},
                    "requester_metadata": {"headers": {"cookie": "s=1"}, "tenant": "acme"},
                    "team_id": "team-7",
                },
                hidden_params={
                    "api_key": SECRET,
                    "additional_headers": {"Authorization": f"Bearer {SECRET}", "x-ratelimit": 9},
                },
                model_parameters={"extra_headers": {"X-Api-Key": SECRET}, "temperature": 0.2},
                tool_output={"headers": ["kept: not request metadata"]},
                note=f"api_key={SECRET}",
            )
        },
        None,
        None,
        None,
    )
    found = wait_for_records(tmp_path, 2)
    assert len(found) == 2
    text = "\n".join(json.dumps(r) for r in found)
    assert SECRET not in text
    assert "Bearer" not in text and "prod-key" not in text and "9f86d0818" not in text
    through_litellm = next(r for r in found if r["id"] != "direct-1")
    assert through_litellm["messages"][0]["content"] == "my key is [API_KEY], keep it safe"
    assert through_litellm["response"]["choices"][0]["message"]["content"] == "noted: [API_KEY]"
    direct = next(r for r in found if r["id"] == "direct-1")
    assert direct["metadata"] == {"requester_metadata": {"tenant": "acme"}, "team_id": "team-7"}
    assert direct["hidden_params"] == {"additional_headers": {"x-ratelimit": 9}}
    assert direct["model_parameters"] == {"extra_headers": {}, "temperature": 0.2}
    assert direct["tool_output"] == {"headers": ["kept: not request metadata"]}
    assert direct["note"] == "api_key=[API_KEY]"


# --- the writer ----------------------------------------------------------------------------


def test_each_record_lands_in_the_utc_day_of_its_start(tmp_path):
    logger = instrument.AssayLogger(tmp_path)
    late_evening = dt.datetime(2025, 3, 10, 23, 59, 59, tzinfo=dt.UTC).timestamp()
    logger.log_success_event(
        {"standard_logging_object": payload("a", late_evening)}, None, None, None
    )
    logger.log_failure_event(
        {"standard_logging_object": payload("b", late_evening + 2, status="failure")},
        None,
        None,
        None,
    )
    assert logger.flush()
    by_day = {
        path.parent.name: [r["id"] for r in lines] for path, lines in landed(tmp_path).items()
    }
    assert by_day == {"2025-03-10": ["a"], "2025-03-11": ["b"]}


def test_values_json_cannot_hold_are_kept_as_valid_json(tmp_path):
    class Opaque:
        def __str__(self) -> str:
            return "opaque-object"

    cyclic: dict = {"name": "loop"}
    cyclic["self"] = cyclic
    logger = instrument.AssayLogger(tmp_path)
    logger.log_success_event(
        {
            "standard_logging_object": payload(
                "odd",
                time.time(),
                when=dt.datetime(2025, 3, 10, 12, 0, tzinfo=dt.UTC),
                tags={"x"},
                pair=(1, 2),
                score=math.nan,
                raw=b"bytes \xff",
                obj=Opaque(),
                by_number={1: "one"},
                cyclic=cyclic,
                text="caf\u00e9 \ud800 end",
            )
        },
        None,
        None,
        None,
    )
    assert logger.flush()
    [record] = records(tmp_path)  # the line parsed: valid JSON
    assert record["when"] == "2025-03-10T12:00:00+00:00"
    assert record["tags"] == ["x"] and record["pair"] == [1, 2]
    assert record["score"] is None
    assert record["raw"].startswith("bytes ")
    assert record["obj"] == "opaque-object"
    assert record["by_number"] == {"1": "one"}
    assert record["cyclic"]["name"] == "loop"
    assert record["text"].startswith("caf\u00e9")


def test_a_call_without_a_standard_logging_object_still_lands(tmp_path):
    logger = instrument.AssayLogger(tmp_path)
    start = dt.datetime(2025, 3, 10, 8, 0, tzinfo=dt.UTC)
    logger.log_failure_event(
        {"litellm_call_id": "raw-1", "model": MODEL, "messages": [], "api_key": SECRET},
        RuntimeError("boom"),
        start,
        start + dt.timedelta(seconds=1),
    )
    assert logger.flush()
    [(path, [record])] = landed(tmp_path).items()
    assert path.parent.name == "2025-03-10"
    assert record["id"] == "raw-1" and record["status"] == "failure"
    assert "boom" in record["error_str"]
    assert SECRET not in json.dumps(record)


def test_flush_writes_what_the_background_thread_has_not(tmp_path):
    logger = instrument.AssayLogger(tmp_path, flush_interval=3600)
    for i in range(5):
        logger.log_success_event(
            {"standard_logging_object": payload(f"c{i}", time.time())}, None, None, None
        )
    assert records(tmp_path) == []  # still queued: the thread sleeps for an hour
    assert logger.flush()
    assert [r["id"] for r in records(tmp_path)] == [f"c{i}" for i in range(5)]


def test_past_the_queue_cap_the_caller_writes_and_nothing_is_dropped(tmp_path):
    logger = instrument.AssayLogger(tmp_path, flush_interval=3600, max_queue=10)
    for i in range(25):
        logger.log_success_event(
            {"standard_logging_object": payload(f"q{i}", time.time())}, None, None, None
        )
        assert len(logger._writer.queue) <= 10
    assert len(records(tmp_path)) >= 15  # written by the callers, before any flush
    assert logger.flush()
    assert sorted(r["id"] for r in records(tmp_path)) == sorted(f"q{i}" for i in range(25))


def test_a_write_failure_never_raises_and_loses_nothing(tmp_path, caplog):
    blocker = tmp_path / "landing" / "litellm"
    blocker.parent.mkdir(parents=True)
    blocker.write_text("not a folder")  # every write now fails
    logger = instrument.AssayLogger(tmp_path, flush_interval=3600, max_queue=3)
    with caplog.at_level(logging.WARNING, logger="assay.instrument"):
        for i in range(6):  # past the cap too: the spill fails, quietly
            logger.log_success_event(
                {"standard_logging_object": payload(f"f{i}", time.time())}, None, None, None
            )
        assert logger.flush() is False
        assert logger.flush() is False
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "records kept" in warnings[0].getMessage()
    blocker.unlink()
    assert logger.flush()
    assert sorted(r["id"] for r in records(tmp_path)) == [f"f{i}" for i in range(6)]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_writes_its_own_file_and_not_its_parents_records(tmp_path):
    logger = instrument.AssayLogger(tmp_path, flush_interval=3600)
    start = time.time()
    logger.log_success_event(
        {"standard_logging_object": payload("parent", start)}, None, None, None
    )
    pid = os.fork()
    if pid == 0:  # the child: log one, flush, leave without running the parent's hooks
        code = 1
        try:
            logger.log_success_event(
                {"standard_logging_object": payload("child", start)}, None, None, None
            )
            code = 0 if logger.flush() else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert logger.flush()
    day = utc_day(start)
    files = {path.name: [r["id"] for r in lines] for path, lines in landed(tmp_path).items()}
    assert files == {f"{HOST}-{os.getpid()}.jsonl": ["parent"], f"{HOST}-{pid}.jsonl": ["child"]}
    assert all(path.parent.name == day for path in landed(tmp_path))


def test_exit_hooks_drain_the_queue(tmp_path):
    """A process that never calls flush(): what is still queued (the writer thread sleeps
    for an hour here) is written by the exit hook."""
    app = textwrap.dedent(
        f"""
        import asyncio
        import assay.instrument as instrument
        import litellm

        logger = instrument.AssayLogger({str(tmp_path)!r}, flush_interval=3600)
        litellm.callbacks.append(logger)
        for i in range(3):
            litellm.completion(model={MODEL!r}, mock_response="ok",
                               messages=[{{"role": "user", "content": str(i)}}])
        payload = {{"id": "direct", "litellm_call_id": "direct", "startTime": 1741600000.0}}
        asyncio.run(logger.async_log_success_event({{"standard_logging_object": payload}},
                                                   None, None, None))
        """
    )
    subprocess.run([sys.executable, "-c", app], check=True, cwd=ROOT, capture_output=True)
    found = records(tmp_path)
    assert len(found) == 4
    assert len({r["litellm_call_id"] for r in found}) == 4


# --- install -------------------------------------------------------------------------------


def test_install_is_idempotent_and_honours_assay_home(litellm, tmp_path, monkeypatch):
    instrument.uninstall()
    monkeypatch.setenv("ASSAY_HOME", str(tmp_path / "home"))
    try:
        first = instrument.install()
        assert instrument.install() is first
        assert instrument.install(tmp_path / "elsewhere") is first
        assert first.directory == (tmp_path / "home" / "landing" / "litellm").resolve()
        assert sum(c is first for c in litellm.callbacks) == 1
        instrument.uninstall()
        assert first not in litellm.logging_callback_manager.get_all_callbacks()
        by_hand = instrument.AssayLogger(tmp_path / "by-hand")
        litellm.callbacks = [*litellm.callbacks, by_hand]
        assert instrument.install() is by_hand
    finally:
        instrument.uninstall()


def test_install_defaults_to_dot_assay(litellm, tmp_path, monkeypatch):
    instrument.uninstall()
    monkeypatch.delenv("ASSAY_HOME", raising=False)
    monkeypatch.chdir(tmp_path)
    try:
        assert instrument.install().directory == (tmp_path / ".assay/landing/litellm").resolve()
    finally:
        instrument.uninstall()


# --- acceptance: 10,000 concurrent calls across 4 processes --------------------------------

APP = """
import asyncio
import multiprocessing
import sys

CALLS = {calls}


def worker(index: int) -> None:
    import assay.instrument; assay.instrument.install()  # the one line
    import litellm

    async def main() -> None:
        await asyncio.gather(*[
            litellm.acompletion(
                model="gpt-4o-mini",
                messages=[{{"role": "user", "content": f"process {{index}} call {{i}}"}}],
                mock_response="ok",
            )
            for i in range(CALLS)
        ])
        # litellm runs async callbacks on a background worker that asyncio.run cancels:
        # let it hand them over before the loop closes.
        await assay.instrument.aflush()

    asyncio.run(main())


if __name__ == "__main__":
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=worker, args=(i,)) for i in range({processes})]
    for process in processes:
        process.start()
    for process in processes:
        process.join()
    sys.exit(max(process.exitcode for process in processes))
"""


@pytest.mark.integration  # ~45-60 s on 2 cores: 4 interpreters importing litellm, 10,000 calls
def test_ten_thousand_concurrent_calls_in_four_processes_lose_none(tmp_path):
    processes, calls = 4, 2_500
    script = tmp_path / "app.py"
    script.write_text(APP.format(calls=calls, processes=processes))
    home = tmp_path / "home"
    env = os.environ | {"ASSAY_HOME": str(home), "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-3000:]
    files = landed(home)  # parses every line: each is valid JSON
    assert len(files) == processes
    pids = set()
    for path, lines in files.items():
        host, pid = path.stem.rsplit("-", 1)
        assert host == HOST
        pids.add(pid)
        assert {utc_day(r["startTime"]) for r in lines} == {path.parent.name}
    assert len(pids) == processes
    found = [record for lines in files.values() for record in lines]
    assert len(found) == processes * calls
    assert len({r["litellm_call_id"] for r in found}) == processes * calls
    assert len({r["id"] for r in found}) == processes * calls
    assert {r["status"] for r in found} == {"success"}
    contents = {r["messages"][0]["content"] for r in found}
    assert contents == {f"process {p} call {i}" for p in range(processes) for i in range(calls)}


def test_logged_calls_come_back_out_of_ingestion(litellm, logger, tmp_path):
    """The two halves of the instrumentation meet: what the logger lands, raw_calls ingests."""
    from assay.assets.day_ingest import ingest_day

    litellm.completion(
        model=MODEL,
        messages=[{"role": "user", "content": "where is my order?"}],
        mock_response="It ships tomorrow.",
        metadata={"assay_feature": "order_status"},
    )
    with pytest.raises(Exception, match="provider down"):
        litellm.completion(model=MODEL, messages=[{"role": "user", "content": "x"}], mock_response=Exception("provider down"))
    (record_one, record_two) = wait_for_records(tmp_path, 2)
    day = dt.date.fromisoformat(utc_day(record_one["startTime"]))
    ingested = ingest_day(tmp_path / "landing", day, default_app="shop")
    assert ingested.rejected == []
    calls = sorted(ingested.calls.to_pylist(), key=lambda c: c["status"])
    assert [c["status"] for c in calls] == ["error", "success"]
    assert {c["source_format"] for c in calls} == {"litellm_payload"}
    success = calls[1]
    assert success["output_text"] == "It ships tomorrow." and success["feature"] == "order_status"
