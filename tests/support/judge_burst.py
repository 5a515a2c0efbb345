"""One worker's judge calls, as a separate process: `python -m tests.support.judge_burst <calls>
<label> <barrier folder>`. The engine is the one assay.yaml configures (ASSAY_CONFIG,
ASSAY_HOME and ASSAY_REDIS_URL from the environment), so the limits it keeps are the user's.

Two phases: first with the environment as given (the provider's limit shared through Redis),
then, once the test has read the server's figures (it creates `<barrier>/go`), the same calls
again without ASSAY_REDIS_URL: each run then keeps the provider's limit on its own. Between
them it creates `<barrier>/<label>` and waits. Prints one JSON line per phase."""

from __future__ import annotations

import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

from assay.config import load_config
from assay.llm.configured import configured_engine
from assay.llm.engine import LLMRequest
from assay.runtime import AssayHome


def burst(calls: int, label: str) -> dict:
    config = load_config()
    engine = configured_engine(config, AssayHome.from_env())
    requests = [
        LLMRequest(config.judge.model, [{"role": "user", "content": f"{label} question {i}"}], dict(config.judge.params))
        for i in range(calls)
    ]
    return {"statuses": Counter(r.status for r in engine.run(requests))}


def main() -> None:
    calls, label, barrier = int(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    print(json.dumps(burst(calls, f"{label} shared")), flush=True)
    (barrier / label).touch()
    while not (barrier / "go").exists():
        time.sleep(0.05)
    os.environ.pop("ASSAY_REDIS_URL", None)
    print(json.dumps(burst(calls, f"{label} alone")), flush=True)


if __name__ == "__main__":
    main()
