"""Shared by the S3 storage-root tests: a client of the test SeaweedFS server, a fresh
bucket per test, storage roots in it, and judging a root by ocfl-py after a scenario.

Crashes are simulated by making one client request of the writing instance raise a
``BaseException`` (:class:`SimulatedCrash`, so no clean-up code runs, as if the
process died); readers and the recovering instance use clients of their own.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from heritage.store.ocfl import User
from heritage.store.ocfl.s3 import S3StorageRoot
from heritage.testing.services import S3Service

pytest.importorskip("ocfl", reason="the storage root is judged by ocfl-py (the test extra)")

from heritage.store.ocfl.validate import validate_storage_root

pytestmark = pytest.mark.services

MiB = 1024 * 1024
ALICE = User("Alice", "mailto:alice@example.org")
RECORD = "urn:heritage:record:1"
OCFL_VALIDATE = Path(sys.prefix) / "bin" / "ocfl-validate.py"
FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "data" / "ocfl" / "1.1"


class SimulatedCrash(BaseException):
    """Stands for the process dying: not an Exception, so no clean-up code runs."""


class FakeSigner:
    """A VersionSigner: one ``<version>.sig`` per version and a ``config.json``."""

    extension_name = "test-signer"

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, bytes]] = []

    def sign_version(
        self, object_id: str, version: str, inventory_bytes: bytes
    ) -> dict[str, bytes]:
        self.calls.append((object_id, version, inventory_bytes))
        signature = hashlib.sha256(object_id.encode() + inventory_bytes).hexdigest().encode()
        return {f"{version}.sig": signature, "config.json": b'{"extensionName": "test-signer"}\n'}


@pytest.fixture(scope="session")
def s3(seaweedfs: S3Service) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=seaweedfs.endpoint_url,
        aws_access_key_id=seaweedfs.access_key_id,
        aws_secret_access_key=seaweedfs.secret_access_key,
        region_name=seaweedfs.region,
    )


@pytest.fixture
def bucket(s3: Any) -> Iterator[str]:
    name = f"heritage-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=name)
    yield name
    keys = [key for key in all_keys(s3, name)]
    for start in range(0, len(keys), 1000):
        batch = [{"Key": key} for key in keys[start : start + 1000]]
        s3.delete_objects(Bucket=name, Delete={"Objects": batch, "Quiet": True})
    s3.delete_bucket(Bucket=name)


@pytest.fixture
def make_root(seaweedfs: S3Service, bucket: str) -> Callable[..., S3StorageRoot]:
    def make(prefix: str = "ocfl", **options: Any) -> S3StorageRoot:
        credentials = {
            "endpoint_url": seaweedfs.endpoint_url,
            "access_key_id": seaweedfs.access_key_id,
            "secret_access_key": seaweedfs.secret_access_key,
        }
        return S3StorageRoot(options.pop("bucket", bucket), prefix, **{**credentials, **options})

    return make


@pytest.fixture
def root(make_root: Callable[..., S3StorageRoot]) -> S3StorageRoot:
    return make_root().initialize()


def all_keys(s3: Any, bucket: str, prefix: str = "") -> list[str]:
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys += [entry["Key"] for entry in page.get("Contents", [])]
    return keys


def download(s3: Any, bucket: str, prefix: str, target: Path) -> Path:
    base = f"{prefix}/" if prefix else ""
    target.mkdir(parents=True)
    for key in all_keys(s3, bucket, base):
        path = target / key[len(base) :]
        path.parent.mkdir(parents=True, exist_ok=True)
        s3.download_file(bucket, key, str(path))
    return target


def assert_valid(s3: Any, root: S3StorageRoot, tmp_path: Path, *, stock_root: bool = True) -> Path:
    """Download the storage root; ocfl-py and its stock script must find it valid.

    ``ocfl-validate.py`` run on a storage root exits 0 even when an object in it
    is invalid (ocfl-py 2.1 counts bad objects but does not report them in its
    status), so it is run on each object directory as well. ``stock_root=False``
    for layout 0004, which stock ocfl-py does not know (``validate.py`` teaches it).
    """
    target = download(s3, root.bucket_name, root.prefix, tmp_path / f"copy-{uuid.uuid4().hex}")
    report = validate_storage_root(target)
    assert report.valid, report.summary()
    claims = [p for p in (target / "extensions/heritage-staging/claims").glob("*")]
    assert not claims, f"claims left behind: {claims}"
    objects = sorted({p.parent for p in target.rglob("0=ocfl_object_1.*")})
    paths = [str(path) for path in ([target, *objects] if stock_root else objects)]
    result = subprocess.run(  # one run for all: the script exits 1 if any path is invalid
        [sys.executable, str(OCFL_VALIDATE), *paths], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, f"ocfl-validate.py {paths}:\n{result.stdout}{result.stderr}"
    return target


def read_all(root: S3StorageRoot, object_id: str, path: str, version: str | None = None) -> bytes:
    with root.read(object_id, path, version) as stream:
        return stream.read()


def patch_client(
    monkeypatch: pytest.MonkeyPatch,
    client: Any,
    method: str,
    when: Callable[[tuple[Any, ...], dict[str, Any]], bool] | None = None,
    exception: BaseException | None = None,
) -> list[dict[str, Any]]:
    """Wrap one method of this client instance only (undone by monkeypatch): record each
    call's arguments and, on the call ``when`` picks, raise (a simulated crash by default)."""
    calls: list[dict[str, Any]] = []
    original = getattr(client, method)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls.append({"args": args, **kwargs})
        if when is not None and when(args, kwargs):
            raise exception or SimulatedCrash(f"{method} {kwargs.get('Key', args)}")
        return original(*args, **kwargs)

    monkeypatch.setattr(client, method, wrapper)
    return calls
