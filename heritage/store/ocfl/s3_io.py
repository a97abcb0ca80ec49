"""S3 plumbing for the OCFL storage root in ``s3.py``: requests, errors, ranged reads, claims.

``Bucket`` wraps a boto3 client and one bucket. It turns the service's refusals
into :class:`S3Error` naming the bucket, endpoint and key (never a credential),
and reports failed preconditions of conditional writes as :class:`PreconditionFailed`
so callers can act on them. ``RangedReader`` serves a stored file as a seekable
stream by ranged GETs. ``Claims`` is the per-object writer lease that
``s3.py``'s module docstring describes, built on conditional writes.
"""

from __future__ import annotations

import io
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, BinaryIO

import boto3
import botocore.exceptions
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

from heritage.store.ocfl.digests import BLOCK_SIZE, new_hash
from heritage.store.ocfl.errors import OcflError

MiB = 1024 * 1024
#: what a ranged reader fetches at least per request: small enough that a seek and a
#: short read (an HTTP range, one encrypted chunk's header) do not fetch the whole file
READ_BUFFER = 256 * 1024
#: at most about (max_in_memory_upload_chunks + 1) x multipart_chunksize per upload
DEFAULT_TRANSFER = TransferConfig(
    multipart_threshold=8 * MiB,
    multipart_chunksize=8 * MiB,
    max_concurrency=4,
    max_io_queue=4,
    io_chunksize=256 * 1024,
)
DEFAULT_TRANSFER.max_in_memory_upload_chunks = 4
_DENIED = {
    "403",
    "AccessDenied",
    "SignatureDoesNotMatch",
    "InvalidAccessKeyId",
    "InvalidToken",
    "ExpiredToken",
    "InvalidSecurity",
}
_MISSING = {"404", "NoSuchKey", "NotFound"}
# 409 ConditionalRequestConflict: AWS's answer when a concurrent write won the race
_PRECONDITION = {"412", "PreconditionFailed", "ConditionalRequestConflict"}


class S3Error(OcflError):
    """The S3 service refused a request or could not be reached (bucket, endpoint, key named)."""


class PreconditionFailed(S3Error):
    """A conditional write found the key in another state than the one it was made for."""


class KeyMissing(S3Error):
    """The key does not exist (``get`` and ``head`` answer None instead)."""


# what an If-Match write or delete meets when the key changed (412) or went away (AWS: 404)
_LOST = (PreconditionFailed, KeyMissing)


class ObjectLocked(OcflError):
    """Another writer holds the object's claim, or this writer lost its own."""


def make_client(
    endpoint_url: str | None,
    access_key_id: str | None,
    secret_access_key: str | None,
    region: str,
    *,
    max_pool_connections: int = 16,
) -> Any:
    """A boto3 S3 client; path-style addressing for custom endpoints (no wildcard DNS needed)."""
    config = Config(
        signature_version="s3v4",
        retries={"max_attempts": 4, "mode": "standard"},
        max_pool_connections=max_pool_connections,
        s3={"addressing_style": "path" if endpoint_url else "auto"},
    )
    global _session
    with _session_lock:  # making clients from one session is not thread-safe
        if _session is None:
            _session = boto3.session.Session()
        return _session.client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            config=config,
        )


# one session for all clients: each new session loads the service model again (~0.2 s)
_session: boto3.session.Session | None = None
_session_lock = threading.Lock()


@dataclass(frozen=True)
class Stored:
    """One GET's answer: the bytes, their ETag, when they were written and the server's clock."""

    data: bytes
    etag: str
    last_modified: datetime
    server_time: datetime


def _code(error: botocore.exceptions.ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


class Bucket:
    """One bucket reached through one boto3 client (thread-safe, as boto3 clients are)."""

    def __init__(self, client: Any, name: str, access_key_id: str | None = None) -> None:
        self.client = client
        self.name = name
        self.endpoint = str(getattr(client.meta, "endpoint_url", "") or "AWS S3")
        self._access_key_id = access_key_id  # named in errors; the secret never is

    def describe(self) -> str:
        return f"bucket {self.name!r} at {self.endpoint}"

    @contextmanager
    def _translated(self, action: str, key: str) -> Iterator[None]:
        try:
            yield
        except botocore.exceptions.ClientError as error:
            code = _code(error)
            if code in _PRECONDITION:
                raise PreconditionFailed(f"{action} {key}: precondition failed") from None
            if code in _MISSING:
                raise KeyMissing(f"{self.describe()}: no key {key}") from None
            if code == "NoSuchBucket":
                raise S3Error(f"{self.describe()} does not exist") from None
            if code in _DENIED:
                named = f" ({self._access_key_id})" if self._access_key_id else ""
                raise S3Error(
                    f"S3 refused access to {self.describe()} ({code}): check the access key"
                    f" id{named} and secret access key, and the bucket's permissions"
                ) from None
            message = error.response.get("Error", {}).get("Message", "")
            raise S3Error(f"{self.describe()}: {action} {key} failed: {code} {message}") from None
        except botocore.exceptions.NoCredentialsError:
            raise S3Error(f"no S3 credentials configured for {self.describe()}") from None
        except botocore.exceptions.BotoCoreError as error:
            # connection errors name the endpoint URL only, never a credential
            raise S3Error(f"cannot reach {self.describe()} ({action} {key}): {error}") from None

    # --- reading ---------------------------------------------------------------------------

    def get(self, key: str) -> Stored | None:
        """The whole (small) object, or None when the key does not exist."""
        try:
            with self._translated("GET", key):
                answer = self.client.get_object(Bucket=self.name, Key=key)
                data = answer["Body"].read()
        except KeyMissing:
            return None
        headers = answer["ResponseMetadata"].get("HTTPHeaders", {})
        server_time = parsedate_to_datetime(headers["date"]) if "date" in headers else None
        return Stored(
            data, answer["ETag"], answer["LastModified"], server_time or answer["LastModified"]
        )

    def head(self, key: str) -> dict[str, Any] | None:
        try:
            with self._translated("HEAD", key):
                return dict(self.client.head_object(Bucket=self.name, Key=key))
        except KeyMissing:
            return None

    def get_range(self, key: str, start: int, end: int, into: memoryview) -> int:
        """Read bytes ``start..end`` (inclusive) of ``key`` into ``into``; the count read."""
        with self._translated("GET", key):
            answer = self.client.get_object(Bucket=self.name, Key=key, Range=f"bytes={start}-{end}")
            body = answer["Body"]
            done = 0
            try:
                while done < len(into):
                    block = body.read(min(len(into) - done, BLOCK_SIZE))
                    if not block:
                        break
                    into[done : done + len(block)] = block
                    done += len(block)
            finally:
                body.close()
        return done

    def open(self, key: str) -> BinaryIO | None:
        """A seekable, buffered reader of ``key`` served by ranged GETs; None if it is absent."""
        meta = self.head(key)
        if meta is None:
            return None
        raw = RangedReader(self, key, int(meta["ContentLength"]))
        return io.BufferedReader(raw, buffer_size=READ_BUFFER)  # type: ignore[return-value]

    def keys(self, prefix: str, *, start_after: str | None = None) -> Iterator[str]:
        """Every key under ``prefix``, in the service's (UTF-8 binary) order."""
        arguments: dict[str, Any] = {"Bucket": self.name, "Prefix": prefix}
        if start_after:
            arguments["StartAfter"] = start_after
        while True:
            with self._translated("LIST", prefix):
                page = self.client.list_objects_v2(**arguments)
            for entry in page.get("Contents", []):
                yield entry["Key"]
            if not page.get("IsTruncated"):
                return
            arguments["ContinuationToken"] = page["NextContinuationToken"]

    def first_key(self, prefix: str, *, start_after: str | None = None) -> str | None:
        arguments: dict[str, Any] = {"Bucket": self.name, "Prefix": prefix, "MaxKeys": 1}
        if start_after:
            arguments["StartAfter"] = start_after
        with self._translated("LIST", prefix):
            page = self.client.list_objects_v2(**arguments)
        contents = page.get("Contents", [])
        return str(contents[0]["Key"]) if contents else None

    def children(self, prefix: str) -> tuple[list[str], list[str]]:
        """(keys, sub-prefixes) directly under ``prefix`` (which ends with '/')."""
        keys: list[str] = []
        prefixes: list[str] = []
        arguments: dict[str, Any] = {"Bucket": self.name, "Prefix": prefix, "Delimiter": "/"}
        while True:
            with self._translated("LIST", prefix):
                page = self.client.list_objects_v2(**arguments)
            keys += [entry["Key"] for entry in page.get("Contents", [])]
            prefixes += [entry["Prefix"] for entry in page.get("CommonPrefixes", [])]
            if not page.get("IsTruncated"):
                return keys, prefixes
            arguments["ContinuationToken"] = page["NextContinuationToken"]

    # --- writing ---------------------------------------------------------------------------

    def put(
        self, key: str, data: bytes, *, if_none_match: bool = False, if_match: str | None = None
    ) -> str:
        """Write a small object in one request; its ETag. Conditional when asked."""
        arguments: dict[str, Any] = {"Bucket": self.name, "Key": key, "Body": data}
        if if_none_match:
            arguments["IfNoneMatch"] = "*"
        if if_match is not None:
            arguments["IfMatch"] = if_match
        with self._translated("PUT", key):
            return str(self.client.put_object(**arguments)["ETag"])

    def upload(
        self,
        key: str,
        stream: BinaryIO | HashingReader,
        config: TransferConfig,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        """Stream into ``key``, in parts above the config's threshold (memory stays bounded)."""
        with self._translated("upload", key):
            self.client.upload_fileobj(stream, self.name, key, Config=config, Callback=progress)

    def upload_file(
        self,
        key: str,
        path: Path,
        config: TransferConfig,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        with self._translated("upload", key):
            self.client.upload_file(str(path), self.name, key, Config=config, Callback=progress)

    def delete(self, key: str, *, if_match: str | None = None) -> None:
        arguments: dict[str, Any] = {"Bucket": self.name, "Key": key}
        if if_match is not None:
            arguments["IfMatch"] = if_match
        with self._translated("DELETE", key):
            self.client.delete_object(**arguments)

    def delete_many(self, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):  # the service's limit per request
            batch = keys[start : start + 1000]
            with self._translated("DELETE", batch[0]):
                answer = self.client.delete_objects(
                    Bucket=self.name,
                    Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True},
                )
            errors = [e for e in answer.get("Errors", []) if e.get("Code") not in _MISSING]
            if errors:
                first = errors[0]
                raise S3Error(
                    f"{self.describe()}: deleting {first.get('Key')} failed:"
                    f" {first.get('Code')} {first.get('Message', '')}"
                )

    def abort_uploads(self, prefix: str) -> int:
        """Abort unfinished multipart uploads under ``prefix`` (left by dead writers)."""
        aborted = 0
        with self._translated("LIST uploads", prefix):
            answer = self.client.list_multipart_uploads(Bucket=self.name, Prefix=prefix)
        for upload in answer.get("Uploads", []):
            with self._translated("ABORT upload", upload["Key"]):
                self.client.abort_multipart_upload(
                    Bucket=self.name, Key=upload["Key"], UploadId=upload["UploadId"]
                )
            aborted += 1
        return aborted


class RangedReader(io.RawIOBase):
    """A stored file as a seekable raw stream: each read is one ranged GET of what it asks.

    Wrapped in ``io.BufferedReader`` by ``Bucket.open``, so small reads are
    served from one ``READ_BUFFER`` fetch and large ones go straight through.
    """

    def __init__(self, bucket: Bucket, key: str, size: int) -> None:
        super().__init__()
        self._bucket = bucket
        self.key = key
        self.size = size
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self.size}[whence]
        if base + offset < 0:
            raise ValueError(f"negative seek position {base + offset}")
        self._position = base + offset
        return self._position

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        wanted = min(len(view), self.size - self._position)
        if wanted <= 0:
            return 0
        start = self._position
        got = self._bucket.get_range(self.key, start, start + wanted - 1, view[:wanted])
        self._position += got
        return got


class HashingReader:
    """Reads a stream once, hashing what passes; deliberately not seekable, so boto3 reads it
    strictly in order, in parts, and never holds more than its configured parts in memory."""

    def __init__(
        self,
        source: BinaryIO,
        algorithm: str,
        on_read: Callable[[], None] | None = None,
    ) -> None:
        self._source = source
        self._hash = new_hash(algorithm)
        self._on_read = on_read
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes, fewer only at the end: boto3 takes a short read for a whole
        part, and S3 refuses parts under 5 MiB but the last (sockets and pipes read short)."""
        if size is None or size < 0:
            block = self._source.read() or b""
        else:
            pieces = []
            wanted = size
            while wanted > 0:
                piece = self._source.read(wanted)
                if not piece:
                    break
                pieces.append(piece)
                wanted -= len(piece)
            block = pieces[0] if len(pieces) == 1 else b"".join(pieces)
        if block:
            self._hash.update(block)
            self.size += len(block)
        if self._on_read is not None:
            self._on_read()
        return bytes(block)

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


# --- claims ------------------------------------------------------------------------------------


@dataclass
class Claim:
    """This writer's hold on one object: the claim key's current ETag and body."""

    key: str
    etag: str
    body: dict[str, Any]
    renewed_at: float = field(default_factory=time.monotonic)


class Claims:
    """Per-object writer leases, ``<prefix><sha256 of id>.json``, made by conditional writes.

    ``acquire`` creates the claim with ``If-None-Match: *``; a claim whose lease
    ran out (judged on the server's clock: its Last-Modified against the Date of
    the answer) is taken over with ``If-Match`` on its ETag, so of many takers
    exactly one wins. ``renew`` rewrites it with ``If-Match`` on our own ETag and
    fails once another writer has taken it over: that is the fence before each
    step that makes a version visible.
    """

    def __init__(
        self, bucket: Bucket, prefix: str, lease_seconds: float, lock_timeout: float
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix
        self.lease_seconds = lease_seconds
        self.lock_timeout = lock_timeout
        self.writer = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        self._lock = threading.Lock()

    def key(self, digest: str) -> str:
        return f"{self.prefix}{digest}.json"

    def _body(self, object_id: object, action: str, dead: dict[str, Any] | None) -> dict[str, Any]:
        """A claim's body. A takeover inherits what the dead writer may have left behind, so
        that a recovery cut short in turn still knows what to clean up."""
        return {
            "object": object_id,
            "action": action,
            "writer": self.writer,
            "nonce": uuid.uuid4().hex,
            "lease_seconds": self.lease_seconds,
            "renewals": 0,
            # what the object is going through: create, update, import, purge, restore
            "doing": dead.get("doing") if dead else None,
            "version": dead.get("version") if dead else None,
            "new_files": list(dead.get("new_files", [])) if dead else [],
        }

    def expired(self, stored: Stored) -> bool:
        body = _json(stored.data)
        lease = float(body.get("lease_seconds", self.lease_seconds))
        if lease <= 0:  # a lease of 0 protects nothing: tests and single-writer maintenance
            return True
        age = (stored.server_time - stored.last_modified).total_seconds()
        return age > lease + 1  # HTTP dates have whole seconds

    def acquire(
        self, digest: str, object_id: str, action: str
    ) -> tuple[Claim, dict[str, Any] | None]:
        """Hold the object's claim, waiting up to ``lock_timeout`` for a live holder.

        Returns the claim and, when a dead writer's claim was taken over, its
        last body (what it was doing), so the caller can clean up after it.
        """
        key = self.key(digest)
        deadline = time.monotonic() + self.lock_timeout
        delay = 0.02
        while True:
            body = self._body(object_id, action, None)
            data = _dump(body)
            try:
                return Claim(key, self.bucket.put(key, data, if_none_match=True), body), None
            except PreconditionFailed:
                pass
            current = self.bucket.get(key)
            if current is None:
                continue  # released meanwhile: try again at once
            if current.data == data:  # our own write, answered late and retried
                return Claim(key, current.etag, body), None
            if self.expired(current):
                claim = self.take_over(key, current, action)
                if claim is None:
                    continue  # another writer took it over first
                return claim, _json(current.data)
            if time.monotonic() > deadline:
                holder = _json(current.data).get("writer", "another writer")
                raise ObjectLocked(
                    f"object {object_id!r} is being changed by {holder} (claim {key});"
                    f" gave up after {self.lock_timeout:.0f} s"
                )
            time.sleep(delay)
            delay = min(delay * 2, 0.5)

    def renew(self, claim: Claim, **changes: Any) -> None:
        """Extend the lease (recording ``changes`` in the body); ObjectLocked if it was lost."""
        with self._lock:
            body = {**claim.body, **changes, "renewals": claim.body["renewals"] + 1}
            data = _dump(body)
            try:
                etag = self.bucket.put(claim.key, data, if_match=claim.etag)
            except _LOST:
                current = self.bucket.get(claim.key)
                if current is None or current.data != data:  # not our own late answer
                    raise ObjectLocked(
                        f"object {claim.body['object']!r}: this writer's claim {claim.key} was"
                        " taken over by another writer (its lease ran out)"
                    ) from None
                etag = current.etag
            claim.etag, claim.body, claim.renewed_at = etag, body, time.monotonic()

    def renew_if_due(self, claim: Claim) -> None:
        if time.monotonic() - claim.renewed_at >= self.lease_seconds / 3:
            self.renew(claim)

    def release(self, claim: Claim) -> None:
        with suppress(*_LOST):  # no longer ours: its holder releases it
            self.bucket.delete(claim.key, if_match=claim.etag)

    def stale(self) -> Iterator[tuple[str, Stored]]:
        """Claims whose lease ran out: writers that died (or stalled past their lease)."""
        for key in self.bucket.keys(self.prefix):
            stored = self.bucket.get(key)
            if stored is not None and self.expired(stored):
                yield key, stored

    def take_over(self, key: str, stored: Stored, action: str) -> Claim | None:
        """Take over a dead writer's claim; None if another writer did first."""
        dead = _json(stored.data)
        body = self._body(dead.get("object"), action, dead)
        data = _dump(body)
        try:
            etag = self.bucket.put(key, data, if_match=stored.etag)
        except _LOST:
            current = self.bucket.get(key)
            if current is None or current.data != data:  # not our own late answer
                return None
            etag = current.etag
        return Claim(key, etag, body)


def _dump(body: dict[str, Any]) -> bytes:
    return json.dumps(body, sort_keys=True).encode("utf-8")


def _json(data: bytes) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
