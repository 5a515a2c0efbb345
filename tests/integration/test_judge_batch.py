"""Judging through a Batch API (assay.llm.batch) against the local server's Files and Batches
endpoints: 2,000 requests, 2% of lines failing, one batch that expires, two submitters killed
with SIGKILL (one between creating a batch and recording its id, one between submit and
collect), a re-run, then collection until every request has a result."""

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from assay.llm.batch import BatchLedger, run_until_collected
from assay.testing.llm_server import Faults, LLMTestServer
from tests.support import launcher
from tests.support.batch_child import judge, requests

REPO = Path(__file__).resolve().parents[2]
SCOPE = "call_scores/day=2026-03-01"
N = 2000


def _child(tmp_path: Path, api_base: str, mode: str) -> subprocess.Popen:
    # cwd=REPO: `-m` finds tests.support there (sys.path[0]), no PYTHONPATH needed.
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    return launcher.popen(
        [sys.executable, "-m", "tests.support.batch_child", str(tmp_path / "ledger"), str(tmp_path / "cache"),
         api_base, str(N), mode],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


@pytest.mark.integration
def test_batch_judging_accounts_for_every_request_across_kills_and_reruns(tmp_path):
    faults = Faults(batch_line_error_rate=0.02, persistent=True, batch_expire=[2], batch_delay_s=0.001, seed=7)
    with LLMTestServer(faults) as server:
        # 1. Killed right after the provider created its 2nd batch, before the id was recorded.
        first = _child(tmp_path, server.api_base, "kill-after-create=2")
        assert first.wait(300) == -signal.SIGKILL, first.stderr.read()
        ledger = BatchLedger(tmp_path / "ledger")
        intents = ledger.intents(SCOPE)
        assert [i["intent_status"] for i in intents] == ["open", "intent"]  # recorded before submission
        assert server.stats["batches_created"] == 2
        assert all("api_key" not in r["params"] for i in intents for r in i["requests"])  # no secret in the lake

        # 2. A new submitter finds batch 2 by its metadata, submits the rest, and is killed before collecting.
        second = _child(tmp_path, server.api_base, "wait")
        line = second.stdout.readline()
        assert line.strip() == "submitted 1000 pending 2000", (line, second.stderr.read() if second.poll() is not None else "")
        second.send_signal(signal.SIGKILL)
        assert second.wait(60) == -signal.SIGKILL
        assert server.stats["batches_created"] == 4
        assert server.stats["batch_lines_submitted_twice"] == 0
        assert [i["intent_status"] for i in ledger.intents(SCOPE)] == ["open"] * 4

        # 3. A re-run of the partition while its batches are open submits nothing.
        batch_judge = judge(tmp_path / "ledger", tmp_path / "cache")
        again = batch_judge.submit_now(SCOPE, requests(server.api_base, N))
        assert (again.submitted, again.pending) == (0, N)
        assert server.stats["batches_created"] == 4

        # 4. Collection resumes by batch id; failed, expired and missing lines are retried.
        report = run_until_collected(batch_judge, SCOPE)
        assert report.retried > 0
        final = batch_judge.submit_now(SCOPE, requests(server.api_base, N))
        assert final.pending == 0 and final.submitted == 0
        statuses = Counter(r.status for r in final.results)
        assert sum(statuses.values()) == N and set(statuses) <= {"completed", "error", "skipped"}
        assert statuses["completed"] == report.completed and statuses["error"] == report.errors
        # persistent line failures fail every attempt: they end as errors with their reason
        errors = [r for r in final.results if r.status == "error"]
        assert 10 < len(errors) < 100
        assert all(r.error_type == "server_error" and "3 batch(es)" in r.error_message for r in errors)
        completed = [r for r in final.results if r.status == "completed"]
        assert all(r.judge_mode == "batch" and r.cost_source == "batch_discount" for r in completed)
        assert all(r.cost_usd and r.cost_usd > 0 for r in completed)
        assert all(json.loads(r.text)["reason"] for r in completed)

        # Nothing submitted twice except the retries the ledger records.
        stats = server.stats
        sent_per_request = Counter(r["custom_id"] for i in ledger.intents(SCOPE) for r in i["requests"])
        assert stats["batch_lines_by_custom_id"] == dict(sent_per_request)
        first_attempts = Counter(r["custom_id"] for i in ledger.intents(SCOPE) if i["attempt"] == 1 for r in i["requests"])
        assert len(first_attempts) == N and set(first_attempts.values()) == {1}
        assert stats["batches_created"] == len(ledger.intents(SCOPE))
        assert stats["answered"] == statuses["completed"]  # each answer paid for once
        assert all(i["spend_usd"] is not None for i in ledger.intents(SCOPE))
