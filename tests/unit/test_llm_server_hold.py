"""The local test server's hold, which the crash tests kill runs behind: the calls it lets
through count as answered only once answered (`answered_since_hold`), so a test can wait for
them before a kill instead of killing while the server still answers them."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request

from assay.testing.llm_server import Faults, LLMTestServer


def _ask(server: LLMTestServer, model: str, text: str, statuses: list[int]) -> None:
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": text}]}).encode()
    request = urllib.request.Request(f"{server.api_base}/chat/completions", data=body,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            statuses.append(response.status)
    except urllib.error.HTTPError as error:
        statuses.append(error.code)


def _wait(condition, what: str) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


def test_the_calls_let_through_count_once_answered_and_the_rest_wait_for_release():
    with LLMTestServer(Faults(latency_s=0.5)) as server:
        _ask(server, "judge", "before the hold", [])
        server.hold("judge", after=2)
        statuses: list[int] = []
        threads = [threading.Thread(target=_ask, args=(server, "judge", f"call {i}", statuses)) for i in range(3)]
        for thread in threads:
            thread.start()
        _wait(lambda: server.stats["held"] == 1, "the third call was not held")
        # Held: the two let through are still in the server's 0.5 s, not answered yet.
        assert server.stats["answered_since_hold"] == 0
        _wait(lambda: server.stats["answered_since_hold"] == 2, "the two calls let through were not answered")
        assert server.stats["held"] == 1 and server.stats["answered"] == 3
        server.release()
        for thread in threads:
            thread.join(30)
        assert sorted(statuses) == [200, 200, 503]
        assert server.stats["answered_since_hold"] == 0  # no hold any more
