"""`make demo-batch`: the demo with its judge in batch mode reaches the decisions of sync mode.

The `sim/` provider has no Batch API, so the demo's judge (`sim/judge`) is put behind the
project's local OpenAI-compatible server (assay.testing.llm_server, `sim_models`), which
speaks the Files and Batches API. The demo runs twice on fresh homes with the same data and
the same judge: `judge.mode: sync`, then `judge.mode: batch` (the demo waits for its batches:
they are answered in milliseconds). Prints both sets of decisions and `demo_batch_same_decisions=`.
Exit 1 if they differ.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from assay.testing.llm_server import Faults, LLMTestServer

REPO = Path(__file__).resolve().parents[1]


def config_for(mode: str, api_base: str, folder: Path) -> Path:
    config = yaml.safe_load((REPO / "assay.yaml").read_text(encoding="utf-8"))
    config["judge"].update({"model": "openai/judge", "mode": mode, "params": {"api_base": api_base}})
    config.setdefault("pricing", {})["openai/judge"] = {"input_cost_per_token": 0.15e-6, "output_cost_per_token": 0.60e-6}
    config["dataset"]["golden_dir"] = str(REPO / config["dataset"]["golden_dir"])
    path = folder / f"assay-{mode}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def run_demo(mode: str, api_base: str, folder: Path) -> list[dict]:
    home = folder / f"home-{mode}"
    env = {**os.environ, "ASSAY_HOME": str(home), "ASSAY_CONFIG": str(config_for(mode, api_base, folder)),
           "OPENAI_API_KEY": "local-test-server"}
    assay = str(Path(sys.executable).with_name("assay"))
    done = subprocess.run([assay, "demo"], env=env, cwd=folder,
                          capture_output=True, text=True)
    print(done.stdout[-3000:])
    if done.returncode != 0:
        print(done.stderr[-3000:], file=sys.stderr)
        raise SystemExit(f"demo ({mode}) failed with exit code {done.returncode}")
    report = subprocess.run([assay, "report", "--format", "json"], env=env, cwd=folder, capture_output=True, text=True)
    if report.returncode != 0:
        raise SystemExit(f"assay report ({mode}) failed: {report.stderr[-2000:]}")
    return sorted(({"candidate_id": r["candidate_id"], "verdict": r["verdict"]} for r in json.loads(report.stdout)),
                  key=lambda r: r["candidate_id"])


def main() -> None:
    faults = Faults(sim_models=["judge"], batch_delay_s=0.01)
    with tempfile.TemporaryDirectory(prefix="assay-demo-batch-") as tmp, LLMTestServer(faults, in_subprocess=True) as server:
        folder = Path(tmp)
        sync = run_demo("sync", server.api_base, folder)
        batch = run_demo("batch", server.api_base, folder)
        stats = server.stats
        print(f"sync decisions:  {sync}")
        print(f"batch decisions: {batch}")
        print(f"demo_batch_batches_created={stats['batches_created']} demo_batch_lines={stats['batch_lines']} "
              f"demo_batch_lines_submitted_twice={stats['batch_lines_submitted_twice']}")
        same = sync == batch and stats["batches_created"] > 0
        print(f"demo_batch_same_decisions={int(same)}")
        if not same:
            raise SystemExit(1)


if __name__ == "__main__":
    main()
