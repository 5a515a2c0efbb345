"""`make demo-team`: `make demo` on the team stack, every service on 127.0.0.1, all of it
started here and stopped here (on success, failure, Ctrl-C or SIGTERM).

- Postgres 15 and redis-server 7 from Debian's packages (`assay.testing.services`), their
  data under `ASSAY_HOME/team/services/` (`pg/`, `redis/` with an append-only file);
- `moto_server` as the S3 endpoint of the lake (`s3://assay-demo/lake`): a protocol-level
  stand-in (no S3 server installs from the registries here) that keeps objects in memory, so
  the bucket is copied to `ASSAY_HOME/team/services/s3/` when the demo stops and put back when it starts;
- `assay daemon --queue-only` (the run queue and run monitoring) and two `assay worker`s
  (Celery), each a process group of its own, logs in `ASSAY_HOME/team/services/logs/`;
- then `assay demo --queue`: the same demo as `make demo`, its runs submitted to the daemon's
  run queue and their steps run by the workers.

The config is the project's assay.yaml plus the team sections (`storage.instance: postgres`,
`storage.lake: s3://...`, `workers.executor: celery`), written to `ASSAY_HOME/team/assay.yaml`. `ASSAY_HOME/team` is the demo's own
ASSAY_HOME (Dagster's home, the landing folder, caches): `make demo`'s stays as it was.
A second run reuses the same data: the same days are generated again, and each run replaces
its partitions whole, so the lake ends with the same rows (the last line counts them).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import yaml

BUCKET = "assay-demo"
LAKE_URL = f"s3://{BUCKET}/lake"
WORKERS = 2


def team_config(config_file: Path) -> dict:
    """The project's config plus the team stack's sections; a relative golden folder is made
    absolute (the team config lives elsewhere)."""
    config = yaml.safe_load(config_file.read_text(encoding="utf-8")) or {}
    dataset = config.setdefault("dataset", {}) or {}
    golden = dataset.get("golden_dir", "golden")
    if golden and not Path(golden).is_absolute():
        dataset["golden_dir"] = str((config_file.parent / golden).resolve())
    config["dataset"] = dataset
    config["storage"] = {"instance": "postgres", "lake": LAKE_URL}
    config["workers"] = {"executor": "celery"}
    return config


def restore_bucket(client, folder: Path) -> int:
    """Put the copy kept under ASSAY_HOME back into the (empty, just started) store."""
    client.create_bucket(Bucket=BUCKET)
    count = 0
    for path in sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []:
        client.upload_file(str(path), BUCKET, path.relative_to(folder).as_posix())
        count += 1
    return count


def save_bucket(client, folder: Path) -> int:
    """Mirror the bucket into `folder` (what the store holds, nothing else), through a
    temporary folder swapped in whole, so a stop in the middle leaves the last copy."""
    import shutil

    staging = folder.with_name(folder.name + ".saving")
    shutil.rmtree(staging, ignore_errors=True)
    count = 0
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        for item in page.get("Contents", []):
            target = staging / item["Key"]
            target.parent.mkdir(parents=True, exist_ok=True)
            client.download_file(BUCKET, item["Key"], str(target))
            count += 1
    staging.mkdir(parents=True, exist_ok=True)
    old = folder.with_name(folder.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        folder.rename(old)
    staging.rename(folder)
    shutil.rmtree(old, ignore_errors=True)
    return count


def lake_tables(client) -> list[str]:
    """The lake's table folders in the bucket (not its staging area)."""
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix="lake/", Delimiter="/")
    names = [p["Prefix"].split("/")[1] for page in pages for p in page.get("CommonPrefixes", [])]
    return sorted(n for n in names if not n.startswith(("_", ".")))


def lake_rows(env: dict[str, str], tables: list[str]) -> dict[str, int]:
    """Rows per lake table, read the way assay reads them (in a child with the team's env)."""
    import json

    code = (f"import json, sys; from assay.lake import Lake; lake = Lake({LAKE_URL!r}); "
            "print(json.dumps({t: (lambda d: 0 if d is None else d.num_rows)(lake.read_table(t)) "
            "for t in sys.argv[1:]}))")
    out = subprocess.run([sys.executable, "-c", code, *tables], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _run_demo(command: list[str], env: dict[str, str]) -> int:
    """The demo in a process group of its own; interrupted, the group gets SIGINT (the demo
    cancels its runs and stops its code server), then SIGKILL if it has not ended in 30 s."""
    demo = subprocess.Popen(command, env=env, start_new_session=True)
    try:
        return demo.wait()
    except KeyboardInterrupt:
        os.killpg(demo.pid, signal.SIGINT)
        try:
            demo.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(demo.pid, signal.SIGKILL)
            demo.wait()
        raise


def _say(message: str) -> None:
    print(f"demo-team: {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    from assay.config import config_path
    from assay.runtime import AssayHome
    from assay.testing.object_store import ObjectStore
    from assay.testing.services import PostgresServer, ProcessGroup, RedisServer

    def stop_on_sigterm(_signum, _frame):
        raise KeyboardInterrupt("SIGTERM")

    signal.signal(signal.SIGTERM, stop_on_sigterm)
    started = time.perf_counter()
    # A home of its own (`make demo`'s SQLite instance and local lake stay as they are), its
    # services' data and logs inside it.
    team = AssayHome(AssayHome.from_env().root / "team")
    data = team.root / "services"
    (data / "logs").mkdir(parents=True, exist_ok=True)
    config_file = team.root / "assay.yaml"
    config_file.write_text("# Written by `make demo-team`: the project's assay.yaml plus the team sections.\n"
                           + yaml.safe_dump(team_config(config_path()), sort_keys=False))
    assay = str(Path(sys.executable).with_name("assay"))
    status = 1
    with ExitStack() as stack:
        try:
            pg = stack.enter_context(PostgresServer(data / "pg", keep=True))
            redis = stack.enter_context(RedisServer(data / "redis", persist=True))
            store = stack.enter_context(ObjectStore(log_file=data / "logs" / "s3.log"))
            client = store.client()
            restored = restore_bucket(client, data / "s3")

            def save() -> None:
                try:
                    _say(f"saved {save_bucket(client, data / 's3')} lake object(s) to {data / 's3'}")
                except Exception as exc:  # the copy saved last stays whole (see save_bucket)
                    _say(f"could not save the lake's objects ({exc}); {data / 's3'} keeps the last saved copy")

            stack.callback(save)
            # Dagster's calls to a code server give up after 60 s by default; a machine this busy
            # (2 cores: the daemon, a code server, two workers, the runs) can take longer to
            # answer the daemon's "start this run", which then fails the run.
            env = {"DAGSTER_GRPC_TIMEOUT_SECONDS": "300", **os.environ, **pg.env(), **redis.env(), **store.environ(),
                   "ASSAY_HOME": str(team.root), "DAGSTER_HOME": str(team.dagster_home), "ASSAY_CONFIG": str(config_file)}
            _say(f"postgres {pg.url.split('@')[1]}, redis 127.0.0.1:{redis.port}, s3 stand-in (moto_server) "
                 f"{store.endpoint_url} ({restored} lake object(s) restored), data in {data}")
            services = [ProcessGroup([assay, "daemon", "--queue-only"], env=env, log=data / "logs" / "daemon.log")]
            services += [ProcessGroup([assay, "worker", "--name", f"w{i}", "--concurrency", "1"], env=env,
                                      log=data / "logs" / f"worker{i}.log") for i in range(WORKERS)]
            for service in services:
                stack.enter_context(service)
            _say(f"assay daemon (run queue) and {WORKERS} assay workers started; the demo's runs go through the queue")
            status = _run_demo([assay, "demo", "--queue", *(argv or [])], env)
            dead = [s.log.name for s in services if not s.is_running]
            if dead:
                _say(f"stopped on its own during the demo: {', '.join(dead)} (see {data / 'logs'})")
                status = status or 1
            if status == 0:
                rows = lake_rows(env, lake_tables(client))
                _say(f"lake rows: {sum(rows.values())} in {len(rows)} tables "
                     + " ".join(f"{t}={n}" for t, n in rows.items()))
        except KeyboardInterrupt:
            _say("interrupted: stopping everything it started")
            status = 130
        except Exception as exc:
            _say(f"failed: {exc}")
            status = 1
        finally:
            _say("stopping the workers, the daemon, the S3 stand-in, redis and postgres")
    _say(f"{'finished' if status == 0 else f'ended with status {status}'} in {time.perf_counter() - started:.0f}s")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
