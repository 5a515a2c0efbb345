"""The committed view of a lake on object storage, as an fsspec filesystem: what
`assay.object_lake` describes (attempt prefixes, manifests, sweeping), done.

Its own module so that fsspec and s3fs load only with a lake on object storage.
"""

from __future__ import annotations

import io
import json
import os
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from fsspec import AbstractFileSystem

from assay.object_lake import (
    ATTEMPTS_DIR,
    CACHE_BYTES,
    CACHED_OBJECT_BYTES,
    DATA_SUFFIXES,
    INFO_TTL_S,
    MANIFEST_SUFFIX,
    PROTOCOL,
    STALE_ATTEMPT_S,
    SUPERSEDED_GRACE_S,
    UPLOAD_BLOCK_BYTES,
    WRITER_FILE,
    _host,
    _is_data,
    attempt_writer,
    new_attempt_id,
    strip_protocol,
)


class CommittedFileSystem(AbstractFileSystem):
    """An fsspec filesystem over S3 (s3fs) that shows each lake Parquet file as its manifest
    says, and writes Parquet files as attempt + manifest. Other files pass through."""

    protocol = PROTOCOL
    root_marker = ""
    # Not fsspec's instance cache (per thread, blind to the AWS environment): see
    # `committed_filesystem`.
    cachable = False

    def __init__(self, *, snapshot: bool = False, s3: Any = None, **storage_options: Any):
        """`snapshot`: remember every listing and manifest for the life of this instance, so
        one long reader (a dbt build, a DuckDB connection) sees the lake as it was when it
        first looked, and asks the store once per path instead of once per model. `s3`: the
        S3 filesystem to go through (a view shares its parent's client and its connections)."""
        super().__init__(snapshot=snapshot, **storage_options)
        self._ttl_s = float("inf") if snapshot else INFO_TTL_S
        self._listings: dict[str, tuple[float, list[dict[str, Any]]]] = {}
        self._objects: OrderedDict[str, bytes] = OrderedDict()
        self._object_bytes = 0
        if s3 is None:
            import s3fs

            # No listings cache: a reader must see a manifest another process just committed.
            s3 = s3fs.S3FileSystem(use_listings_cache=False, skip_instance_cache=True, **storage_options)
        self.s3 = s3
        self._infos: dict[str, tuple[float, dict[str, Any] | None]] = {}

    def pinned_view(self) -> CommittedFileSystem:
        """A snapshot over the same store, for one DuckDB connection: each path resolves to
        one committed version for the connection's life. DuckDB takes a file's size from the
        glob, then opens the file several times from several threads; through the shared
        instance a commit in between (by this process's writer, or seen once the info cache
        expires) handed it the new object with the old size: "size mismatch" errors, never
        mixed rows. Pinned, every open of a path reads the immutable object it first saw."""
        return CommittedFileSystem(snapshot=True, s3=self.s3)

    def _remember(self, path: str, info: dict[str, Any] | None) -> None:
        self._infos[path] = (time.monotonic(), info)

    def forget(self, path: str | None = None) -> None:
        """Drop what this process remembers of `path` (of every path: None)."""
        if path is None:
            self._infos.clear()
            self._listings.clear()
        else:
            path = self._strip_protocol(path)
            self._infos.pop(path, None)
            self._listings.pop(path.rsplit("/", 1)[0], None)

    @classmethod
    def _strip_protocol(cls, path: str) -> str:
        return strip_protocol(path)

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
        seen = self._listings.get(path)
        if seen is not None and time.monotonic() - seen[0] < self._ttl_s:
            entries = seen[1]
        else:
            entries = self._list(path)
            self._listings[path] = (time.monotonic(), entries)
        return entries if detail else [e["name"] for e in entries]

    def _list(self, path: str) -> list[dict[str, Any]]:
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
        return entries

    def find(self, path: str, maxdepth: int | None = None, withdirs: bool = False, detail: bool = False, **kwargs: Any):
        """Every committed file under `path` from one recursive listing (not one LIST per
        folder), with their manifests fetched concurrently: a glob over a table's partitions
        (DuckDB, dbt) costs a few requests instead of two per partition."""
        path = self._strip_protocol(path)
        found: dict[str, dict[str, Any]] = {}
        try:
            listing = self.s3.find(path, detail=True)
        except FileNotFoundError:
            listing = {}
        manifests = []
        for key, entry in listing.items():
            if f"/{ATTEMPTS_DIR}/" in key:
                continue
            if key.endswith(MANIFEST_SUFFIX):
                manifests.append(key)
            elif not _is_data(key):
                found[key] = entry | {"name": key}
        now = time.monotonic()
        for key in list(manifests):
            seen = self._infos.get(key[: -len(MANIFEST_SUFFIX)])
            if seen is not None and seen[1] is not None and now - seen[0] < self._ttl_s:
                found[seen[1]["name"]] = seen[1]
                manifests.remove(key)
        if manifests:
            bodies = self.s3.cat(manifests, on_error="omit")
            for key, body in bodies.items():
                name = key[: -len(MANIFEST_SUFFIX)]
                entry = self._data_entry(name, json.loads(body))
                self._remember(name, entry)
                found[name] = entry
        depth = path.count("/") + 1 if path else 0
        if maxdepth is not None:
            found = {k: v for k, v in found.items() if k.count("/") - depth < maxdepth}
        if withdirs:
            for name in list(found):
                parent = name.rsplit("/", 1)[0]
                while parent.count("/") >= depth and parent != path and parent not in found:
                    found[parent] = {"name": parent, "type": "directory", "size": 0}
                    parent = parent.rsplit("/", 1)[0]
        return dict(sorted(found.items())) if detail else sorted(found)

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        path = self._strip_protocol(path)
        seen = self._infos.get(path)
        if seen is not None and time.monotonic() - seen[0] < self._ttl_s:
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
                if info["size"] <= CACHED_OBJECT_BYTES:
                    return io.BytesIO(self._object(info["object"]))
                # The immutable attempt object: every ranged GET of this reader sees one version.
                return self.s3.open(info["object"], "rb", size=info["size"])
            return self.s3.open(path, "rb")
        if _is_data(path):
            return AttemptFile(self, path)
        return self.s3.open(path, mode)

    def _object(self, key: str) -> bytes:
        """A small attempt object's bytes, kept (LRU, `CACHE_BYTES` in all): attempt objects
        never change, so a copy is never stale. DuckDB opens each file of a glob about four
        times per query (schema, metadata, scan); this makes that one GET per version."""
        if key in self._objects:
            self._objects.move_to_end(key)
            return self._objects[key]
        data = self.s3.cat_file(key)
        self._objects[key] = data
        self._object_bytes += len(data)
        while self._object_bytes > CACHE_BYTES and len(self._objects) > 1:
            _, dropped = self._objects.popitem(last=False)
            self._object_bytes -= len(dropped)
        return data

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
    def sweep(self, root: str, *, is_alive: Callable[[int], bool], now: float | None = None) -> list[str]:
        """Delete the attempts no reader can pick up: those never committed whose writer is
        gone (a dead pid on this host; another host's after `STALE_ATTEMPT_S`), with their
        unfinished multipart uploads, and committed ones a later commit replaced more than
        `SUPERSEDED_GRACE_S` ago. Returns the attempt prefixes deleted."""
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
            data = [e for e in entries if e["name"].endswith(DATA_SUFFIXES)]
            directory = prefix.rsplit(f"/{ATTEMPTS_DIR}/", 1)[0]
            committed = {
                (m or {}).get("object")
                for m in (self.manifest(f"{directory}/{e['name'].rsplit('/', 1)[-1]}") for e in data)
            }
            if any(e["name"] in committed for e in data):
                continue  # the current version of its partition
            if data:
                # Complete, never or no longer committed: a reader may be in it for a while.
                written = max(e["LastModified"].timestamp() if "LastModified" in e else started for e in data)
                is_done = now - written > SUPERSEDED_GRACE_S
            elif host == _host():
                is_done = not is_alive(pid)
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
        self.fs._listings.pop(self.path.rsplit("/", 1)[0], None)

    def __enter__(self) -> AttemptFile:
        return self

    def __exit__(self, exc_type, *exc: object) -> None:
        if exc_type is not None:
            self.discard()
        else:
            self.close()


_INSTANCES: dict[tuple, CommittedFileSystem] = {}
_AWS_SETTINGS = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_PROFILE", "AWS_REGION",
                 "AWS_DEFAULT_REGION")


def committed_filesystem(*, snapshot: bool = False) -> CommittedFileSystem:
    """This process's committed-view filesystem for the AWS settings now in the environment;
    with `snapshot`, one that answers each path once for its whole life (a dbt build). One
    instance per settings, so its caches are shared by every reader and writer of the
    process, and a changed endpoint (another store) gets its own."""
    key = (snapshot, os.getpid(), *(os.environ.get(name) for name in _AWS_SETTINGS))
    if key not in _INSTANCES:
        _INSTANCES[key] = CommittedFileSystem(snapshot=snapshot)
    return _INSTANCES[key]
