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

import os
import secrets
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem as CommittedFileSystem  # assay.committed_fs's base

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
CACHED_OBJECT_BYTES = 8 * 1024 * 1024
"""Attempt objects up to this size are read whole once and kept in memory (they never change);
larger ones are read in ranged GETs as needed."""
CACHE_BYTES = 256 * 1024 * 1024
"""The most a process keeps of such objects (least recently used go first)."""
STALE_ATTEMPT_S = 24 * 3600
"""An unfinished attempt of another host (whose pids cannot be checked) is deleted after this."""


def is_object_url(location: object) -> bool:
    return str(location).startswith(("s3://", f"{PROTOCOL}://"))


def reader_url(location: str) -> str:
    """`s3://bucket/prefix` -> `assaylake://bucket/prefix` (the committed view readers use)."""
    _, _, rest = str(location).partition("://")
    return f"{PROTOCOL}://{rest.strip('/')}"


DATA_SUFFIXES = (".parquet", ".duckdb")
"""Files read in ranged GETs (Parquet partitions, the published warehouse): never overwritten
in place, always attempt + manifest."""


def _is_data(path: str) -> bool:
    return path.endswith(DATA_SUFFIXES) and f"/{ATTEMPTS_DIR}/" not in path


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


class RemotePath:
    """The few pathlib operations lake callers use, on a path of the committed view
    (`assaylake://bucket/prefix/...`)."""

    def __init__(self, fs: CommittedFileSystem, path: str):
        self.fs = fs
        self.path = strip_protocol(path)

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


def strip_protocol(path: str) -> str:
    path = str(path)
    for prefix in (f"{PROTOCOL}://", "s3://"):
        if path.startswith(prefix):
            path = path[len(prefix) :]
    return path.rstrip("/")
