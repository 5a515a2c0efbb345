"""Issue 18, item 5: `assay run --estimate` knows the bill before it is paid.

On the demo's generated traffic, with the user's own config whose judge is served by the local
OpenAI-compatible server (assay.testing.llm_server) over litellm's real HTTP path, the CLI run as
a subprocess:

- `--max-cost` below the estimate refuses to start: exit 1, one line, no request, nothing in the lake;
- `--estimate` makes no request, and counts exactly the calls the run then makes, with tokens
  within 10% of what the server counted;
- after the run, the same estimate has nothing left to pay;
- an evaluator added later and backfilled over a past day (`assay run --day`) shows its bill
  before anything starts, and the backfill makes exactly the calls it showed (the other
  evaluators' scores are kept, not asked again).
"""

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
import yaml

from assay.demo.generator import generate
from assay.testing.llm_server import LLMTestServer
from tests.support import launcher

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PRICE = {"input_cost_per_token": 2e-6, "output_cost_per_token": 8e-6}


def _config(api_base: str) -> dict:
    return {
        "project": {"app": "acme-support", "start_day": "2026-10-01"},
        "judge": {"model": "openai/judge", "params": {"api_base": api_base}, "max_retries": 1, "budget_usd": 5.0,
                  "batch_discount": 0.5},
        "pricing": {"openai/judge": PRICE},
        "evaluators": [
            {"name": "no_refusal", "type": "refusal"},
            {"name": "faithfulness", "type": "llm_judge", "params": {"rubric": "faithfulness"},
             "applies_to": {"features": ["rag_answer"]}},
            {"name": "tool_choice", "type": "llm_judge", "params": {"rubric": "tool_correctness"},
             "applies_to": {"features": ["tool_router"]}},
            {"name": "chat_resolution", "type": "conversation_resolution",
             "applies_to": {"subjects": ["sessions"], "features": ["support_chat"]}},
        ],
    }


def _assay(env: dict, *args: str) -> subprocess.CompletedProcess:
    return launcher.run([sys.executable, "-m", "assay.orchestration.cli", *args], cwd=ROOT, env=env, timeout=900)


def test_run_estimate_counts_the_calls_and_tokens_the_run_then_makes(tmp_path):
    home = tmp_path / "home"
    with LLMTestServer() as server:
        config = tmp_path / "assay.yaml"
        config.write_text(yaml.safe_dump(_config(server.api_base), sort_keys=False))
        env = os.environ | {"ASSAY_HOME": str(home), "DAGSTER_HOME": str(home / "dagster"), "ASSAY_CONFIG": str(config),
                            "OPENAI_API_KEY": "test"}
        generate(home, days=2, calls_per_day=40, end_day=date(2026, 11, 20), seed=5)

        refused = _assay(env, "run", "--max-cost", "0.0001")
        assert refused.returncode == 1, refused.stderr
        last = refused.stderr.strip().splitlines()[-1]
        assert last.startswith("assay: --max-cost $0.0001: the estimate is $") and "nothing was started" in last
        assert server.stats["requests"] == 0
        assert not (home / "lake" / "raw_calls").exists()

        estimated = _assay(env, "run", "--estimate", "json")
        assert estimated.returncode == 0, estimated.stderr
        assert server.stats["requests"] == 0  # the estimate asks no provider
        estimate = json.loads(estimated.stdout)
        total = estimate["total"]
        by_evaluator = {row["what"]: row for row in estimate["rows"]}
        assert set(by_evaluator) == {"faithfulness", "tool_choice", "chat_resolution"}
        assert total["calls"] > 50
        assert total["batch_usd"] == pytest.approx(total["sync_usd"] * 0.5)

        ran = _assay(env, "run")
        assert ran.returncode == 0, ran.stderr
        served = server.stats
        assert served["outcomes"] == {"ok": served["requests"]}  # no retry, no repair: one request per call
        assert served["requests"] == total["calls"]  # exactly the calls estimated
        estimated_tokens = total["input_tokens"] + total["output_tokens"]
        used_tokens = served["input_tokens"] + served["output_tokens"]
        print(f"estimated_tokens={estimated_tokens} used_tokens={used_tokens} calls={served['requests']}")
        assert abs(estimated_tokens - used_tokens) <= 0.10 * used_tokens, (estimate, served)

        again = _assay(env, "run", "--estimate", "json")
        assert again.returncode == 0, again.stderr
        assert json.loads(again.stdout)["total"]["calls"] == 0  # everything scored: nothing to pay
        assert server.stats["requests"] == served["requests"]

        # An evaluator added later, backfilled over the first day: the estimate comes first.
        added = _config(server.api_base)
        added["evaluators"].append({"name": "helpfulness", "type": "llm_judge", "params": {"rubric": "answer_relevance"},
                                    "applies_to": {"features": ["rag_answer"]}})
        config.write_text(yaml.safe_dump(added, sort_keys=False))
        backfill = _assay(env, "run", "--day", "2026-11-19")
        assert backfill.returncode == 0, backfill.stderr
        err = backfill.stderr
        assert err.index("Estimate for assay run over 1 day(s):") < err.index("  ok  daily_job"), err
        table = err[err.index("Estimate for assay run"):err.index("  ok  daily_job")]
        rows = {line.split()[1]: line.split() for line in table.splitlines() if line.startswith("  call_scores")}
        assert set(rows) == {"helpfulness"}, table  # the other evaluators' scores of that day are kept
        (total,) = [line.split() for line in table.splitlines() if line.startswith("  total")]
        assert int(total[3]) == int(rows["helpfulness"][5]) > 0
        assert server.stats["requests"] - served["requests"] == int(total[3])  # exactly the calls shown
