"""The lake on object storage (`storage.lake: s3://bucket/prefix`): partitions committed by a
manifest, read through a filesystem that shows only what was committed.

Object stores have no rename, and a Parquet reader fetches a file in several ranged GETs
(footer, then column chunks): a file overwritten in place between two of them would give the
reader one version's footer and another's pages. So no lake Parquet object is ever
overwritten. Writing `<dir>/part.parquet`:

1. the writer PUTs `<dir>/_attempts/<attempt>/_writer.json` (who, when) and streams the data to
   `<dir>/_attempts/<attempt>/part.parquet`, a fresh key (a multipart upload for a large file:
   invisible until completed);
2. it commits with one PUT of a small object, the manifest `<dir>/part.parquet.manifest.json`,
   naming that attempt's object and its size. One PUT is atomic: a reader GETs the old
   manifest or the new one.

Readers go through `CommittedFileSystem` (fsspec protocol `assaylake://`), registered on
DuckDB connections (`con.register_filesystem`) and in dbt's profile: it lists
`<dir>/part.parquet` where a manifest exists and opens the object the manifest names, so
`<table>/*/part.parquet` globs read exactly the committed partitions, each a single immutable
object, and DuckDB, dbt sources and pyarrow need no other change. A writer killed before its
manifest PUT leaves only its attempt prefix (and perhaps an unfinished multipart upload),
which no manifest names; `sweep` deletes those of dead writers, and superseded attempts once
no reader can still be in them. Small text files (pointers, fingerprints) are written with one
PUT, atomic as it is.

Endpoint, region and credentials come from where the AWS SDKs read them (AWS_ENDPOINT_URL_S3 /
AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_PROFILE, AWS_REGION...):
botocore resolves them, s3fs passes nothing of its own.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from datetime import UTC, datetime
from typing import Any

from fsspec import AbstractFileSystem

PROTOCOL = "assaylake"
"""How readers address the committed view of a lake: `assaylake://bucket/prefix/...`."""
ATTEMPTS_DIR = "_attempts"
MANIFEST_SUFFIX = ".manifest.json"
WRITER_FILE = "_writer.json"
UPLOAD_BLOCK_BYTES = 8 * 1024 * 1024
"""Multipart part size: a streamed partition is uploaded in parts of this size (memory stays
bounded) and appears only when the upload completes."""
SUPERSEDED_GRACE_S = 600
"""A committed attempt that a later commit replaced is deleted this long after it was written
at the earliest: a reader that opened it before the new manifest may still be reading it."""
INFO_TTL_S = 1.0
"""How long a process reuses what it learnt of a path (a manifest, a folder). DuckDB asks
`info` a dozen times per file of one query (52 manifest GETs for a 4-file glob, 1.6 s on
moto): within a query they are answered once. A commit by this process updates its own entry
at once; another process's commit is seen within this long."""
STALE_ATTEMPT_S = 24 * 3600
"""An unfinished attempt of another host (whose pids cannot be checked) is deleted after this."""


def is_object_url(location: object) -> bool:
    return str(location).startswith(("s3://", f"{PROTOCOL}://"))


def reader_url(location: str) -> str:
    """`s3://bucket/prefix` -> `assaylake://bucket/prefix` (the committed view readers use)."""
    _, _, rest = str(location).partition("://")
    return f"{PROTOCOL}://{rest.strip('/')}"


def _is_data(path: str) -> bool:
    return path.endswith(".parquet") and f"/{ATTEMPTS_DIR}/" not in path


def _host() -> str:
    import socket

    return socket.gethostname().replace(".", "_").replace("/", "_").replace("-", "_") or "localhost"


def new_attempt_id() -> str:
    """`<UTC yyyymmddThhmmss>-<host>-<pid>-<random>`: sortable, and says whose it is."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{_host()}-{os.getpid()}-{secrets.token_hex(4)}"


def attempt_writer(attempt_id: str) -> tuple[str, int, float] | None:
    """(host, pid, started epoch seconds) of an attempt id; None if it is not one."""
    parts = attempt_id.split("-")
    if len(parts) != 4 or not parts[2].isdigit():
        return None
    try:
        started = datetime.strptime(parts[0], "%Y%m%dT%H%M%S").replace(tzinfo=UTC).timestamp()
    except ValueError:
        return None
    return parts[1], int(parts[2]), started


class CommittedFileSystem(AbstractFileSystem):
    """An fsspec filesystem over S3 (s3fs) that shows each lake Parquet file as its manifest
    says, and writes Parquet files as attempt + manifest. Other files pass through."""

    protocol = PROTOCOL
    root_marker = ""
    # One instance per process and arguments (fsspec's cache): DuckDB and pyarrow share it.
    cachable = True

    def __init__(self, **storage_options: Any):
        super().__init__(**storage_options)
        import s3fs

        # No listings cache: a reader must see a manifest another process just committed.
        self.s3 = s3fs.S3FileSystem(use_listings_cache=False, skip_instance_cache=True, **storage_options)
        self._infos: dict[str, tuple[float, dict[str, Any] | None]] = {}

    def _remember(self, path: str, info: dict[str, Any] | None) -> None:
        self._infos[path] = (time.monotonic(), info)

    def forget(self, path: str | None = None) -> None:
        """Drop what this process remembers of `path` (of every path: None)."""
        if path is None:
            self._infos.clear()
        else:
            self._infos.pop(self._strip_protocol(path), None)

    @classmethod
    def _strip_protocol(cls, path: str) -> str:
        path = str(path)
        for prefix in (f"{PROTOCOL}://", "s3://"):
            if path.startswith(prefix):
                path = path[len(prefix) :]
        return path.rstrip("/")

    # -- reading ---------------------------------------------------------------------------
    def manifest(self, path: str) -> dict[str, Any] | None:
        """The committed manifest of a lake Parquet path, None when none was committed."""
        try:
            return json.loads(self.s3.cat_file(self._strip_protocol(path) + MANIFEST_SUFFIX))
        except FileNotFoundError:
            return None

    def _data_entry(self, path: str, manifest: dict[str, Any]) -> dict[str, Any]:
        return {"name": path, "type": "file", "size": manifest["size"], "object": manifest["object"],
                "attempt": manifest["attempt"], "committed_at": manifest["committed_at"]}

    def ls(self, path: str, detail: bool = True, **kwargs: Any):
        path = self._strip_protocol(path)
        entries = []
        for entry in self.s3.ls(path, detail=True):
            name = entry["name"].rstrip("/")
            base = name.rsplit("/", 1)[-1]
            if entry["type"] == "directory":
                if base != ATTEMPTS_DIR:
                    entries.append({"name": name, "type": "directory", "size": 0})
            elif name.endswith(MANIFEST_SUFFIX):
                # Size from the manifest costs a GET per file; the listing only names the file
                # (DuckDB asks `info` for the size of what it opens).
                entries.append({"name": name[: -len(MANIFEST_SUFFIX)], "type": "file", "size": None})
            elif not _is_data(name):
                entries.append(entry | {"name": name})
        return entries if detail else [e["name"] for e in entries]

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        path = self._strip_protocol(path)
        seen = self._infos.get(path)
        if seen is not None and time.monotonic() - seen[0] < INFO_TTL_S:
            info = seen[1]
        elif _is_data(path):
            manifest = self.manifest(path)
            info = None if manifest is None else self._data_entry(path, manifest)
            self._remember(path, info)
        else:
            try:
                info = self.s3.info(path)
            except FileNotFoundError:
                info = None
            self._remember(path, info)
        if info is None:
            raise FileNotFoundError(path)
        return info

    def modified(self, path: str) -> datetime:
        info = self.info(path)
        if "committed_at" in info:
            return datetime.fromisoformat(info["committed_at"])
        return self.s3.modified(self._strip_protocol(path))

    def _open(self, path: str, mode: str = "rb", **kwargs: Any):
        path = self._strip_protocol(path)
        if "r" in mode:
            if _is_data(path):
                info = self.info(path)
                # The immutable attempt object: every ranged GET of this reader sees one version.
                return self.s3.open(info["object"], "rb", size=info["size"])
            return self.s3.open(path, "rb")
        if _is_data(path):
            return AttemptFile(self, path)
        return self.s3.open(path, mode)

    def cat_file(self, path: str, start: int | None = None, end: int | None = None, **kwargs: Any) -> bytes:
        path = self._strip_protocol(path)
        if _is_data(path):
            return self.s3.cat_file(self.info(path)["object"], start=start, end=end)
        return self.s3.cat_file(path, start=start, end=end)

    def pipe_file(self, path: str, value: bytes, **kwargs: Any) -> None:
        with self.open(path, "wb") as handle:
            handle.write(value)

    def mkdir(self, path: str, create_parents: bool = True, **kwargs: Any) -> None:
        pass  # object stores have no folders

    def makedirs(self, path: str, exist_ok: bool = False) -> None:
        pass

    def rm_file(self, path: str) -> None:
        """Uncommit a Parquet path (its attempt is left to `sweep`); delete any other file."""
        path = self._strip_protocol(path)
        self.forget(path)
        self.s3.rm_file(path + MANIFEST_SUFFIX if _is_data(path) else path)

    def _rm(self, path: str) -> None:
        self.rm_file(path)

    # -- cleaning up -----------------------------------------------------------------------
    def sweep(self, root: str, *, now: float | None = None) -> list[str]:
        """Delete the attempts no reader can pick up: those never committed whose writer is
        gone (a dead pid on this host; another host's after `STALE_ATTEMPT_S`), with their
        unfinished multipart uploads, and committed ones a later commit replaced more than
        `SUPERSEDED_GRACE_S` ago. Returns the attempt prefixes deleted."""
        from assay.lake import process_is_alive

        now = now or time.time()
        root = self._strip_protocol(root)
        attempts: dict[str, list[dict[str, Any]]] = {}
        try:
            listing = self.s3.find(root, detail=True)
        except FileNotFoundError:
            return []
        for key, entry in listing.items():
            head, sep, tail = key.partition(f"/{ATTEMPTS_DIR}/")
            if sep and "/" in tail:
                attempt_id = tail.split("/", 1)[0]
                attempts.setdefault(f"{head}/{ATTEMPTS_DIR}/{attempt_id}", []).append(entry)
        removed = []
        for prefix, entries in sorted(attempts.items()):
            writer = attempt_writer(prefix.rsplit("/", 1)[-1])
            if writer is None:
                continue
            host, pid, started = writer
            data = [e for e in entries if e["name"].endswith(".parquet")]
            directory = prefix.rsplit(f"/{ATTEMPTS_DIR}/", 1)[0]
            committed = {
                (m or {}).get("object")
                for m in (self.manifest(f"{directory}/{e['name'].rsplit('/', 1)[-1]}") for e in data)
            }
            if any(e["name"] in committed for e in data):
                continue  # the current version of its partition
            if data:
                # Complete, never or no longer committed: a reader may be in it for a while.
                written = max(e["LastModified"].timestamp() for e in data if "LastModified" in e) if all(
                    "LastModified" in e for e in data) else started
                is_done = now - written > SUPERSEDED_GRACE_S and not (host == _host() and process_is_alive(pid))
            elif host == _host():
                is_done = not process_is_alive(pid)
            else:
                is_done = now - started > STALE_ATTEMPT_S
            if is_done:
                self._abort_uploads(prefix)
                self.s3.rm([e["name"] for e in entries])
                removed.append(prefix)
        return removed

    def _abort_uploads(self, prefix: str) -> None:
        bucket, _, key_prefix = prefix.partition("/")
        client_call = self.s3.call_s3
        uploads = client_call("list_multipart_uploads", Bucket=bucket, Prefix=key_prefix + "/").get("Uploads", [])
        for upload in uploads:
            client_call("abort_multipart_upload", Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])


class AttemptFile:
    """A lake Parquet file being written: the bytes go to a fresh attempt object; `close()`
    completes it and commits the manifest, `discard()` abandons it (nothing is committed)."""

    def __init__(self, fs: CommittedFileSystem, path: str):
        self.fs = fs
        self.path = path
        directory, _, name = path.rpartition("/")
        self.attempt = new_attempt_id()
        prefix = f"{directory}/{ATTEMPTS_DIR}/{self.attempt}"
        self.object = f"{prefix}/{name}"
        # First, so the attempt is visible to `sweep` even if the writer dies mid-upload.
        fs.s3.pipe_file(f"{prefix}/{WRITER_FILE}", json.dumps(
            {"host": _host(), "pid": os.getpid(), "path": path, "started": datetime.now(UTC).isoformat()}).encode())
        self._handle = fs.s3.open(self.object, "wb", block_size=UPLOAD_BLOCK_BYTES)
        self._size = 0
        self.closed = False

    def write(self, data) -> int:
        written = self._handle.write(data)
        self._size += len(memoryview(data))
        return written

    def tell(self) -> int:
        return self._size

    def flush(self) -> None:
        pass  # parts are uploaded as they fill; the object appears at close

    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return False

    def seekable(self) -> bool:
        return False

    def discard(self) -> None:
        """Abandon the attempt: abort the upload; no manifest is written."""
        if not self.closed:
            self.closed = True
            self._handle.discard()
            self._handle.closed = True  # fsspec's discard leaves it open: its __del__ would upload
            # Nothing of a discarded attempt can be committed: its prefix goes now, not at a sweep.
            self.fs.s3.rm_file(self.object.rsplit("/", 1)[0] + "/" + WRITER_FILE)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._handle.close()
        manifest = {"object": self.object, "size": self._size, "attempt": self.attempt,
                    "committed_at": datetime.now(UTC).isoformat()}
        self.fs.s3.pipe_file(self.path + MANIFEST_SUFFIX, json.dumps(manifest).encode())
        self.fs._remember(self.path, self.fs._data_entry(self.path, manifest))

    def __enter__(self) -> AttemptFile:
        return self

    def __exit__(self, exc_type, *exc: object) -> None:
        if exc_type is not None:
            self.discard()
        else:
            self.close()


class RemotePath:
    """The few pathlib operations lake callers use, on a path of the committed view
    (`assaylake://bucket/prefix/...`)."""

    def __init__(self, fs: CommittedFileSystem, path: str):
        self.fs = fs
        self.path = CommittedFileSystem._strip_protocol(path)

    def __truediv__(self, other: str) -> RemotePath:
        return RemotePath(self.fs, f"{self.path}/{other}")

    def __str__(self) -> str:
        return f"{PROTOCOL}://{self.path}"

    def __repr__(self) -> str:
        return f"RemotePath({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RemotePath) and other.path == self.path

    def __hash__(self) -> int:
        return hash(self.path)

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    @property
    def parent(self) -> RemotePath:
        return RemotePath(self.fs, self.path.rsplit("/", 1)[0])

    def exists(self) -> bool:
        return self.fs.exists(self.path)

    def mkdir(self, parents: bool = False, exist_ok: bool = False) -> None:
        pass  # object stores have no folders

    def read_bytes(self) -> bytes:
        return self.fs.cat_file(self.path)

    def read_text(self, encoding: str = "utf-8") -> str:
        return self.read_bytes().decode(encoding)

    def write_text(self, text: str, encoding: str = "utf-8") -> None:
        # One PUT: atomic for a small text file.
        self.fs.s3.pipe_file(self.path, text.encode(encoding))
        self.fs.forget(self.path)

    def open(self, mode: str = "rb"):
        return self.fs.open(self.path, mode)

    def unlink(self, missing_ok: bool = False) -> None:
        try:
            self.fs.rm_file(self.path)
        except FileNotFoundError:
            if not missing_ok:
                raise


def committed_filesystem() -> CommittedFileSystem:
    """This process's committed-view filesystem (settings from the AWS environment)."""
    return CommittedFileSystem()
