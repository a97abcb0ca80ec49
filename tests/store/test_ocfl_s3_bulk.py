"""``create_objects`` on S3: the same batch contract as on local disk."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from heritage.store.ocfl import Changes, User
from heritage.store.ocfl.bulk import NewObject
from heritage.store.ocfl.s3 import S3StorageRoot
from tests.store import s3_support
from tests.store.s3_support import assert_valid, read_all

# the S3 tests' fixtures: a SeaweedFS server, a fresh bucket and a storage root in it
s3, bucket, make_root, root = (
    s3_support.s3,
    s3_support.bucket,
    s3_support.make_root,
    s3_support.root,
)

ALICE = User("Alice", "mailto:alice@example.org")


def test_a_batch_creates_each_object_and_leaves_existing_ones_alone(
    root: S3StorageRoot, s3: Any, tmp_path: Path
) -> None:
    batch = [
        NewObject(
            f"urn:heritage:bulk:{n}", {"record.jsonld": b"{}", "a.txt": bytes([n])}, "m", ALICE
        )
        for n in range(4)
    ]
    root.create_or_update(batch[2].object_id, Changes.of({"other.txt": b"x"}), "first", ALICE)
    created = root.create_objects(batch)
    assert [item.existed for item in created] == [False, False, True, False]
    for item, result in zip(batch, created, strict=True):
        assert result.inventory is not None or item is batch[2]
    assert read_all(root, batch[3].object_id, "a.txt") == b"\x03"
    assert set(root.state(batch[2].object_id)) == {"other.txt"}
    assert_valid(s3, root, tmp_path)
