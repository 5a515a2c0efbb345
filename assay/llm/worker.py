"""A child process of `WorkerPoolTransport`: runs call attempts through litellm on its own
event loop. Protocol: JSON lines. In: `{"id", "model", "messages", "params", "timeout_s",
"http_limit"}` or `{"cancel": id}`; `http_limit` is this worker's share of the model's
concurrency limit, which its HTTP gate enforces (`http_gate.py`); `shared` (optional) the
provider's limit across workers (`shared_limits.py`), which the gate takes after its own. Arguments: the models (JSON
list) and the configured prices (JSON object). Out: `ready` once, then `{"id", "outcome"}`
per attempt.

litellm prints banners to stdout; the protocol gets its own copy of the stdout descriptor and
everything else printed goes to stderr.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

import assay  # noqa: F401  (privacy defaults before litellm loads)


async def serve(protocol_out) -> None:
    from assay.llm.http_gate import HttpGate, install
    from assay.llm.providers import ensure_providers
    from assay.llm.shared_limits import SharedLimit
    from assay.llm.transport import (
        SharedLimitClients,
        attempt_in_this_process,
        model_gate,
        outcome_as_dict,
    )

    install()
    gates: dict[str, HttpGate] = {}
    shared_clients = SharedLimitClients()

    seen_models: set[str] = set()

    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=2**24, loop=loop)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader, loop=loop), sys.stdin)
    tasks: dict[int, asyncio.Task] = {}

    async def run(message: dict) -> None:
        try:
            shared = message.get("shared")
            shared = await shared_clients.for_limit(SharedLimit(**shared) if shared else None)
            gate = model_gate(gates, message["model"], message["http_limit"], shared)
            outcome = await attempt_in_this_process(
                message["model"], message["messages"], message["params"], message["timeout_s"], gate
            )
        except asyncio.CancelledError:
            return
        finally:
            tasks.pop(message["id"], None)
        protocol_out.write(json.dumps({"id": message["id"], "outcome": outcome_as_dict(outcome)}).encode() + b"\n")
        protocol_out.flush()

    while line := await reader.readline():
        message = json.loads(line)
        if "cancel" in message:
            task = tasks.pop(message["cancel"], None)
            if task is not None:
                task.cancel()
            continue
        if message["model"] not in seen_models:  # a pool kept open may meet new models
            seen_models.add(message["model"])
            ensure_providers([message["model"]])
        tasks[message["id"]] = asyncio.create_task(run(message))
    for task in list(tasks.values()):
        task.cancel()
    await shared_clients.close()


def main() -> None:
    protocol_out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    import litellm

    from assay.llm.providers import ensure_providers

    litellm.suppress_debug_info = True
    models = json.loads(sys.argv[1]) if len(sys.argv) > 1 else []
    prices = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    ensure_providers(models, prices)
    protocol_out.write(b"ready\n")
    protocol_out.flush()
    asyncio.run(serve(protocol_out))


if __name__ == "__main__":
    main()
