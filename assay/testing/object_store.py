"""An S3-compatible endpoint on 127.0.0.1 for tests and demos: `moto_server` in a child process.

No S3 server is installable from the package registries here (MinIO ships only clients), so
the team-stack tests and `make demo-team` talk S3's wire protocol to moto's server, a
protocol-level stand-in: real HTTP, real signatures, real multipart uploads, real ListObjects
pagination. It keeps objects in memory (a restart empties it) and is a dev/test dependency
only (`moto[server]`): the runtime never imports it.

    with ObjectStore() as store:
        store.create_bucket("lake")
        env = store.environ()           # AWS_ENDPOINT_URL, fake keys, region
        subprocess.run([...], env={**os.environ, **env})

`environ()` is what any process needs to reach it, read the way the AWS SDKs read their
settings (`AWS_ENDPOINT_URL_S3`, `AWS_ACCESS_KEY_ID`, ...): nothing goes in assay.yaml.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

READY_TIMEOUT_S = 30.0
"""moto_server imports Flask and moto's backends (~2-4 s on this machine) before it listens."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _moto_server() -> list[str]:
    # The console script beside this interpreter (a venv's bin/), else on PATH.
    beside = Path(sys.executable).with_name("moto_server")
    found = str(beside) if beside.exists() else shutil.which("moto_server")
    if not found:
        raise RuntimeError("moto_server not found: install the dev extra (`uv sync --extra dev`, moto[server])")
    return [found]


class ObjectStore:
    """One moto_server on 127.0.0.1:<free port>, started by `start()` and stopped by `stop()`."""

    region = "us-east-1"
    access_key_id = "assay-test"
    secret_access_key = "assay-test-secret"  # moto accepts any pair: not a credential

    def __init__(self, port: int | None = None, *, log_file: Path | None = None):
        self.port = port or free_port()
        self.log_file = log_file
        self._process: subprocess.Popen | None = None
        self._log = None

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def environ(self) -> dict[str, str]:
        """The environment that points the AWS SDKs (and so s3fs and assay) at this endpoint."""
        return {
            "AWS_ENDPOINT_URL_S3": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            "AWS_DEFAULT_REGION": self.region,
        }

    def start(self) -> ObjectStore:
        if self._process is not None:
            return self
        self._log = open(self.log_file, "ab") if self.log_file else subprocess.DEVNULL  # noqa: SIM115
        self._process = subprocess.Popen(
            [*_moto_server(), "-H", "127.0.0.1", "-p", str(self.port)],
            # A session of its own: a Ctrl-C at the terminal reaches the program that started it
            # (`make demo-team` saves the bucket before stopping it), not the server.
            stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            if self._process.poll() is not None:
                raise RuntimeError(f"moto_server exited with {self._process.returncode} before listening on {self.port}")
            try:
                with urllib.request.urlopen(f"{self.endpoint_url}/moto-api/", timeout=1):
                    return self
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"moto_server did not listen on 127.0.0.1:{self.port} within {READY_TIMEOUT_S} s") from None
                time.sleep(0.1)

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None
        if self._log not in (None, subprocess.DEVNULL):
            self._log.close()
        self._log = None

    def client(self):
        """A boto3 S3 client on this endpoint (for test set-up and inspection)."""
        import boto3

        return boto3.client(
            "s3", endpoint_url=self.endpoint_url, region_name=self.region,
            aws_access_key_id=self.access_key_id, aws_secret_access_key=self.secret_access_key,
        )

    def create_bucket(self, name: str) -> str:
        self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        """Every object key under `prefix` (all pages)."""
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return sorted(obj["Key"] for page in pages for obj in page.get("Contents", []))

    def __enter__(self) -> ObjectStore:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> None:
    """`python -m assay.testing.object_store [--port N]`: serve until interrupted (demos)."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("ASSAY_S3_PORT", "0")) or None)
    args = parser.parse_args()
    with ObjectStore(args.port) as store:
        print(f"endpoint_url={store.endpoint_url}", flush=True)
        try:
            while store._process and store._process.poll() is None:
                time.sleep(1)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
