"""The Dagster UI (what `make ui` starts).

On an empty home, the webserver alone serves every asset as one connected lineage graph, bound
to 127.0.0.1 (queried through its GraphQL API, as the UI itself does).

On a home right after `assay demo` (runs, partitions, decisions), `assay ui` starts as a user
starts it (webserver, daemon and code server): the daemon's first sensor ticks launch no run,
since nothing new landed or changed, while a new candidate or a late file still starts one;
and the pages a user first opens, in headless Chromium with every request logged, reach nothing
past 127.0.0.1 and show no community modal.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.integration.headless_chromium import CHROMIUM, HeadlessChromium, leaves_loopback
from tests.integration.test_definitions import EXPECTED_ASSETS
from tests.network_audit import audit_events, audited_env, leaves_the_machine, spawned
from tests.support import launcher

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
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


# --- a home right after `assay demo`, and `assay ui` on it ---------------------------------

DEMO_DAYS = 2


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory) -> Path:
    """`assay demo` on a fresh home, as `make demo` runs it (fewer days and calls)."""
    root = tmp_path_factory.mktemp("demo_home")
    result = launcher.run([str(BIN / "assay"), "demo", "--days", str(DEMO_DAYS), "--calls-per-day", "60"],
                          cwd=ROOT, env=_home_env(root), timeout=900)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return root


def _home_env(root: Path, config: Path = ROOT / "assay.yaml") -> dict[str, str]:
    return os.environ | {"ASSAY_HOME": str(root), "DAGSTER_HOME": str(root / "dagster"), "ASSAY_CONFIG": str(config)}


@pytest.fixture
def on_home(monkeypatch):
    """Point this process at a home (as `assay` would), for in-process sensor evaluations."""

    def use(root: Path, config: Path = ROOT / "assay.yaml") -> None:
        monkeypatch.setenv("ASSAY_HOME", str(root))
        monkeypatch.setenv("DAGSTER_HOME", str(root / "dagster"))
        monkeypatch.setenv("ASSAY_CONFIG", str(config))

    return use


def _context(instance, defs, cursor: str | None = None):
    from dagster import build_sensor_context

    return build_sensor_context(instance=instance, cursor=cursor, definitions=defs)


def _tick(sensor, instance, defs, cursor: str | None = None):
    """One tick as the daemon evaluates it (any kind of sensor; requests resolved)."""
    return sensor.evaluate_tick(_context(instance, defs, cursor))


def test_no_sensor_requests_a_run_on_a_home_where_nothing_changed(demo_home, on_home):
    """The daemon's first tick after `make demo`: every sensor, fresh (no cursor), requests
    nothing. The demo decided in-process, so a regression sensor that had never ticked used
    to request a `decide_job` that only repeated those decisions."""
    from assay.orchestration.definitions import build_definitions
    from dagster import DagsterInstance

    on_home(demo_home)
    defs = build_definitions()
    with DagsterInstance.get() as instance:
        requested = {
            sensor.name: [(r.job_name, r.partition_key) for r in _tick(sensor, instance, defs).run_requests]
            for sensor in defs.sensors
        }
    assert len(requested) == 8  # every sensor of the definitions, the watched-source and batch-collecting ones included
    assert requested == {name: [] for name in requested}


def test_a_daemon_that_ran_before_the_demo_requests_no_run_either(demo_home, on_home):
    """`make ui`, then `make demo`, then `make ui` again: the sensors resume from cursors older
    than the demo's runs. The follow-up sensor then reads the demo's daily_job successes, but
    the demo curated those days itself; the regression sensor's cursor names older scores,
    but the lake's decisions stand."""
    from assay.orchestration.definitions import build_definitions
    from assay.orchestration.sensors import nightly_followup_sensor, regression_sensor
    from dagster import DagsterInstance
    from dagster._core.definitions.run_status_sensor_definition import RunStatusSensorCursor

    on_home(demo_home)
    defs = build_definitions()
    with DagsterInstance.get() as instance:
        cursor, requested, ticks = RunStatusSensorCursor(record_id=0, record_timestamp=None).to_json(), [], 0
        while True:  # one run per tick; until the cursor has read every run of the demo
            result = _tick(nightly_followup_sensor, instance, defs, cursor)
            requested += result.run_requests
            ticks += 1
            if result.cursor == cursor:
                break
            cursor = result.cursor
        assert ticks > DEMO_DAYS  # it did read the demo's daily runs
        assert requested == []
        stale = json.dumps({"decided": "prod-v1=ds-old:f;policy=p", "requested": {}})
        assert _tick(regression_sensor, instance, defs, stale).run_requests == []


def test_a_new_candidate_and_a_late_file_still_start_runs(demo_home, on_home, tmp_path):
    """On a copy of the home: a candidate added to the config is registered and replayed, and
    decided once its scores are in; a late file for a past day re-runs that day."""
    from assay.assets.partitions import candidate_partitions
    from assay.orchestration.definitions import build_definitions
    from assay.orchestration.sensors import late_landing_sensor, regression_sensor
    from dagster import DagsterInstance

    home = tmp_path / "home"
    shutil.copytree(demo_home, home)
    shutil.copytree(ROOT / "golden", tmp_path / "golden")
    config = tmp_path / "assay.yaml"
    config.write_text((ROOT / "assay.yaml").read_text().replace(
        "\ngate:", "  - candidate_id: support-v3\n    model: sim/support-v2\n    params: {temperature: 0.3}\n\ngate:", 1
    ))
    on_home(home, config)
    defs = build_definitions()
    with DagsterInstance.get() as instance:
        # Called directly: a tick would resolve the request against a partition not added yet.
        first = regression_sensor(_context(instance, defs))
        assert [(r.job_name, r.partition_key) for r in first.run_requests] == [("candidate_job", "support-v3")]
        assert [r.partition_keys for r in first.dynamic_partitions_requests] == [["support-v3"]]

        instance.add_dynamic_partitions(candidate_partitions.name, ["support-v3"])
        replay = defs.resolve_job_def("candidate_job").execute_in_process(
            instance=instance, partition_key="support-v3", raise_on_error=False
        )
        assert replay.success
        decide = regression_sensor(_context(instance, defs, first.cursor))
        assert [r.job_name for r in decide.run_requests] == ["decide_job"]

        day_folder = sorted((home / "landing").glob("*/*"))[0]
        record = json.loads(next(day_folder.glob("*.jsonl")).read_text().splitlines()[0])
        (day_folder / "late.jsonl").write_text(json.dumps(record | {"call_id": "late-call-1"}) + "\n")
        late = _tick(late_landing_sensor, instance, defs)
        assert late_landing_sensor.job_name == "daily_job"
        assert [r.partition_key for r in late.run_requests] == [day_folder.name]


needs_chromium = pytest.mark.skipif(
    not Path(CHROMIUM).exists() and not os.environ.get("CI"),
    reason=f"{CHROMIUM} missing (`make test` installs it; in CI this test always runs)",
)


@pytest.fixture(scope="module")
def assay_ui(demo_home, tmp_path_factory):
    """`assay ui` on the demo's home: the runs it held before, its port and its network log."""
    from dagster import DagsterInstance

    # Every Python process `assay ui` starts (webserver, daemon, code server, dbt) logs its
    # sockets; `make ui` puts .venv/bin on PATH, as here.
    audit = tmp_path_factory.mktemp("network_audit")
    env = _home_env(demo_home) | audited_env(audit) | {"PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    with DagsterInstance.from_ref(_instance_ref(demo_home)) as instance:
        runs_before = instance.get_runs_count()
    port = _free_port()
    output = audit / "assay-ui.log"
    process = subprocess.Popen(
        [str(BIN / "assay"), "ui", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT, env=env, stdout=output.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if _graphql(port, QUERY).get("data", {}).get("assetNodes"):
                    break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"`assay ui` did not come up with the assets: {output.read_text()[-3000:]}")
            time.sleep(1)
        yield {"port": port, "runs_before": runs_before, "audit": audit, "output": output}
    finally:
        # `dagster dev` stops its webserver, daemon and code server on SIGTERM; this session
        # (started above for it alone) is signalled as a whole in case one lingers. One of them
        # outlived SIGTERM by a minute in a full `make test`: what is left after 15 s is killed.
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)


def _instance_ref(root: Path):
    from dagster._core.instance.ref import InstanceRef

    return InstanceRef.from_dir(str(root / "dagster"))


PAGES = [
    # (path, what the page shows once it has its data); the first is loaded, the others are
    # reached through the UI's own router, as its navigation does.
    ("/overview", "document.body.innerText.includes('Timeline')"),
    ("/asset-groups", "document.querySelectorAll('foreignObject').length > 0 && document.body.innerText.includes('ingest')"),
    ("/assets/raw_calls?view=partitions", f"document.body.innerText.includes('Materialized ({DEMO_DAYS})')"),
    ("/runs", "document.body.innerText.includes('decide_job')"),
]
COMMUNITY_MODAL = "Join the Dagster community"


@needs_chromium
def test_the_ui_stays_on_the_machine(assay_ui, tmp_path):
    """The overview, the asset graph, an asset's partitions and the runs, in a fresh Chromium
    profile (the community modal shows only on a profile that never dismissed it)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"CI is set but {CHROMIUM} is missing: `make test` installs Debian's chromium")
    base = f"http://127.0.0.1:{assay_ui['port']}"
    with HeadlessChromium(tmp_path / "chromium-profile") as browser:
        for i, (path, loaded) in enumerate(PAGES):
            if i == 0:
                browser.navigate(base + path)
            else:
                browser.evaluate(f"history.pushState({{}}, '', {path!r}); dispatchEvent(new PopStateEvent('popstate')); 1")
            # (/overview redirects to its first tab)
            browser.wait_for(f"document.body && location.pathname.startsWith({path.split('?')[0]!r}) && {loaded}", what=path)
        nux = [r for r in browser.requests if '"operationName":"ShouldShowNux"' in r.post_data]
        assert nux, "the UI did not ask whether to show the community modal"
        # The switch: the modal opens (a second later) only if the server answers true.
        answer = json.loads(browser.response_body(nux[0].request_id))
        assert answer["data"]["shouldShowNux"] is False, answer
        assert not browser.evaluate(f"document.body.innerText.includes({COMMUNITY_MODAL!r})")
        urls = [r.url for r in browser.requests]
    assert any(u.startswith(base + "/graphql") for u in urls)
    outside = sorted({u for u in urls if leaves_loopback(u)})
    assert outside == [], f"the browser reached past 127.0.0.1: {outside}"

    events = audit_events(assay_ui["audit"])
    assert any(e["event"] == "socket.bind" and e["target"][1] == assay_ui["port"] for e in events), (
        "the audit hook did not run in the webserver"
    )
    assert [e for e in events if leaves_the_machine(e)] == []
    # dagster-dbt's dev-mode parse would run `dbt --version`, which asks pypi.org.
    assert [args for args in spawned(events) if "--version" in args] == []


def test_starting_the_ui_after_the_demo_launches_no_run(assay_ui, demo_home):
    """The real daemon under `assay ui`: once every sensor has ticked, no tick requested a run
    and the instance holds the runs it held before."""
    from assay.orchestration.alert_sensors import ALERT_SENSORS
    from assay.orchestration.sensors import ALL_SENSORS
    from dagster import DagsterInstance
    from dagster._core.definitions.run_request import InstigatorType
    from dagster._core.scheduler.instigation import TickStatus

    names = {s.name for s in [*ALL_SENSORS, *ALERT_SENSORS]}
    with DagsterInstance.from_ref(_instance_ref(demo_home)) as instance:
        deadline = time.monotonic() + 300
        while True:
            ticks = {
                state.instigator_name: [
                    t for t in instance.get_ticks(state.instigator_origin_id, state.selector_id, limit=10)
                    if t.status != TickStatus.STARTED
                ]
                for state in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR)
            }
            if names <= {name for name, done in ticks.items() if done}:
                break
            if time.monotonic() > deadline:
                pytest.fail(f"sensors without a finished tick: {sorted(n for n in names if not ticks.get(n))}")
            time.sleep(2)
        failed = {name: t.error.message for name, done in ticks.items() for t in done if t.status == TickStatus.FAILURE}
        assert failed == {}
        assert {name: [rid for t in done for rid in t.run_ids] for name, done in ticks.items()} == {
            name: [] for name in ticks
        }
        assert instance.get_runs_count() == assay_ui["runs_before"]
