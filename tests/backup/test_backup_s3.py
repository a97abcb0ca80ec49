"""A backup of an instance whose storage root is in S3 (SeaweedFS) restores as a local one."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from heritage.accounts.identity import SYSTEM
from heritage.backup import backup, restore
from heritage.config import Settings, load_settings
from heritage.runtime import Runtime
from heritage.store.description import DESCRIPTION_PATH
from heritage.store.services import PreservationService
from heritage.testing.plugin import TEST_SECRET_KEY
from heritage.testing.services import S3Service
from heritage.testing.world import build_world

boto3 = pytest.importorskip("boto3")

PASSPHRASE = "a long and memorable passphrase"


@pytest.fixture
def bucket(seaweedfs: S3Service) -> Iterator[str]:
    client = boto3.client(
        "s3",
        endpoint_url=seaweedfs.endpoint_url,
        aws_access_key_id=seaweedfs.access_key_id,
        aws_secret_access_key=seaweedfs.secret_access_key,
        region_name=seaweedfs.region,
    )
    name = f"backup-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=name)
    yield name
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=name):
        keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
        if keys:
            client.delete_objects(Bucket=name, Delete={"Objects": keys, "Quiet": True})
    client.delete_bucket(Bucket=name)


def plaintexts(runtime: Runtime) -> dict[tuple[str, str, str], str]:
    """SHA-256 of every file of every version, read through the service."""
    service = PreservationService(runtime)
    found: dict[tuple[str, str, str], str] = {}
    for slug in ("alpha", "gamma"):
        for row in service.list_objects(SYSTEM, slug):
            uuid_ = row.object_id.removeprefix("urn:uuid:")
            for version in service.versions(SYSTEM, slug, uuid_):
                state = runtime.storage.state(row.object_id, version.name)
                for path in set(state) - {DESCRIPTION_PATH}:
                    with service.open_file(SYSTEM, slug, uuid_, path, version.name) as opened:
                        digest = hashlib.sha256(opened.read_all()).hexdigest()
                    assert digest == opened.sha256
                    found[(row.object_id, version.name, path)] = digest
    return found


def test_an_s3_storage_root_restores_as_a_local_one(
    heritage_settings: Settings, seaweedfs: S3Service, bucket: str, tmp_path: Path
) -> None:
    from heritage.store.ocfl.validate import validate_storage_root

    common: dict[str, Any] = {
        "_env_file": None,
        "secret_key": TEST_SECRET_KEY,
        "password_memory_kib": 1024,
        "queue": "immediate",
    }
    source = load_settings(
        **common,
        data_dir=heritage_settings.resolved_data_dir,
        database_url=heritage_settings.resolved_database_url,
        store_backend="s3",
        s3_bucket=bucket,
        s3_prefix="ocfl",
        s3_endpoint_url=seaweedfs.endpoint_url,
        s3_access_key_id=seaweedfs.access_key_id,
        s3_secret_access_key=seaweedfs.secret_access_key,
        s3_region=seaweedfs.region,
    )
    runtime = Runtime(source)
    try:
        build_world(runtime)
        service = PreservationService(runtime)
        made = service.create_object(SYSTEM, "alpha", files={"scan.tif": bytes(range(256)) * 9000})
        service.add_files(SYSTEM, "alpha", made.uuid, {"notes.txt": b"second"})
        before = plaintexts(runtime)
        keys = tmp_path / "k.hckeys"
        report = backup(source, tmp_path / "b", keys_out=keys, passphrase=PASSPHRASE)
        assert report.storage is not None and report.storage.objects == 5
    finally:
        runtime.close()

    target_dir = tmp_path / "restored"
    target = load_settings(
        **common, data_dir=target_dir, database_url=f"sqlite:///{target_dir / 'h.sqlite3'}"
    )
    restored = restore(target, tmp_path / "b", keys_file=keys, passphrase=PASSPHRASE)
    assert restored.index is None
    assert validate_storage_root(target.resolved_storage_root).valid
    again = Runtime(target)
    try:
        assert plaintexts(again) == before and len(before) == 11
    finally:
        again.close()
