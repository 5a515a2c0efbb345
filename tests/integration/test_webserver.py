"""The Dagster webserver (what `make ui` starts) serves every asset as one connected lineage
graph, bound to 127.0.0.1. Queried through its GraphQL API, as the UI itself does."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.integration.test_definitions import EXPECTED_ASSETS

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
QUERY = "{ assetNodes { assetKey { path } dependencyKeys { path } } }"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _graphql(port: int, query: str) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def webserver(tmp_path_factory):
    from assay.runtime import AssayHome, ensure_home

    home_dir = tmp_path_factory.mktemp("ui_home")
    env = os.environ | {"ASSAY_HOME": str(home_dir), "DAGSTER_HOME": str(home_dir / "dagster")}
    ensure_home(AssayHome(home_dir))
    port = _free_port()
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("dagster-webserver")), "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                payload = _graphql(port, QUERY)
                if payload.get("data", {}).get("assetNodes"):
                    break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail("dagster-webserver did not come up with the assets")
            time.sleep(1)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_every_asset_is_listed_in_one_connected_graph(webserver):
    nodes = _graphql(webserver, QUERY)["data"]["assetNodes"]
    names = {"/".join(n["assetKey"]["path"]) for n in nodes}
    assert EXPECTED_ASSETS <= names
    # Undirected connectivity: every asset reachable from raw_calls through its edges.
    neighbours: dict[str, set[str]] = {name: set() for name in names}
    for node in nodes:
        child = "/".join(node["assetKey"]["path"])
        for dep in node["dependencyKeys"]:
            parent = "/".join(dep["path"])
            neighbours.setdefault(parent, set()).add(child)
            neighbours[child].add(parent)
    seen, frontier = {"raw_calls"}, ["raw_calls"]
    while frontier:
        for nxt in neighbours[frontier.pop()] - seen:
            seen.add(nxt)
            frontier.append(nxt)
    assert seen == set(neighbours), f"not connected: {sorted(set(neighbours) - seen)}"


def test_webserver_listens_on_loopback_only(webserver):
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", webserver)) == 0
    addresses = {info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)}
    for address in addresses - {"127.0.0.1", "127.0.1.1"}:
        with socket.socket() as s:
            s.settimeout(1)
            assert s.connect_ex((address, webserver)) != 0, f"reachable on {address}"
