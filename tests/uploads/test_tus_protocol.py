"""tus 1.0 over the API: headers, offsets, extensions, errors, permissions, results."""

from __future__ import annotations

import base64
import hashlib
import io
import os
from datetime import timedelta

import pytest

from heritage.accounts.models import User
from heritage.accounts.services import identity_of
from heritage.db.base import utcnow
from heritage.runtime import Runtime
from heritage.store.crypto import read_header
from heritage.store.models import StoredObject
from heritage.store.services import PreservationService
from heritage.testing.world import World
from heritage.uploads.models import Upload, UploadStatus
from tests.uploads.conftest import sha256_hex

MiB = 1 << 20


def read_back(runtime: Runtime, world: World, slug: str, object_uuid: str, path: str) -> bytes:
    with runtime.database.session() as session:
        user = session.get(User, world.people["owner"].user_id)
        actor = identity_of(user, "test")
    with PreservationService(runtime).open_file(actor, slug, object_uuid, path) as opened:
        return opened.read_all()


def upload_all(tus, data: bytes, piece: int, **meta: str):
    created = tus.create(len(data), **meta)
    assert created.status_code == 201, created.text
    location = created.headers["location"]
    offset = 0
    response = created
    while offset < len(data):
        response = tus.patch(location, offset, data[offset : offset + piece])
        assert response.status_code in (200, 204), response.text
        offset = int(response.headers["upload-offset"])
    return location, response


def test_options_advertise_the_protocol(tus_as, heritage_runtime: Runtime) -> None:
    tus = tus_as("contributor")
    response = tus.client.options(tus.endpoint, headers=tus.headers())
    assert response.status_code == 204
    assert response.headers["tus-resumable"] == "1.0.0"
    assert response.headers["tus-version"] == "1.0.0"
    extensions = set(response.headers["tus-extension"].split(","))
    assert extensions == {
        "creation",
        "creation-with-upload",
        "termination",
        "checksum",
        "expiration",
    }
    assert response.headers["tus-max-size"] == str(heritage_runtime.settings.upload_max_bytes)
    assert set(response.headers["tus-checksum-algorithm"].split(",")) == {"sha1", "sha256"}


@pytest.mark.parametrize(
    ("slug", "person", "encrypted"), [("alpha", "contributor", True), ("gamma", "owner", False)]
)
def test_upload_in_pieces_becomes_a_new_object(
    tus_as, heritage_runtime: Runtime, world: World, slug: str, person: str, encrypted: bool
) -> None:
    tus = tus_as(person, slug)
    data = os.urandom(3 * MiB + 4321)
    # Pieces that do not fall on chunk boundaries: the server keeps whole chunks.
    location, last = upload_all(
        tus, data, MiB + 777, filename="scans/page 1.tif", sha256=sha256_hex(data), message="Scans"
    )
    assert last.status_code == 200
    body = last.json()
    assert body["path"] == "scans/page 1.tif" and body["version"] == "v1"
    assert body["links"]["page"] == f"/workspaces/{slug}/objects/{body['object']}"
    assert last.headers["heritage-object"] == body["object"]
    assert last.headers["tus-resumable"] == "1.0.0"

    assert read_back(heritage_runtime, world, slug, body["object"], "scans/page 1.tif") == data
    view = PreservationService(heritage_runtime).get(
        identity_of_person(heritage_runtime, world, person), slug, body["object"]
    )
    assert view.row.title == "page 1.tif"
    assert view.files[0].sha256 == sha256_hex(data)
    assert (view.files[0].encrypted_with is not None) is encrypted
    stored = heritage_runtime.storage.read(view.row.object_id, "scans/page 1.tif").read()
    assert stored.startswith(b"HCENC") is encrypted
    if encrypted:
        assert read_header(io.BytesIO(stored)).key_id == view.files[0].encrypted_with
    versions = PreservationService(heritage_runtime).versions(
        identity_of_person(heritage_runtime, world, person), slug, body["object"]
    )
    assert versions[0].message == "Scans"

    # Finished: HEAD reports every byte and the result; the part file is gone.
    head = tus.head(location)
    assert head.status_code == 200
    assert head.headers["upload-offset"] == head.headers["upload-length"] == str(len(data))
    assert head.headers["heritage-object"] == body["object"]
    assert not list((heritage_runtime.settings.resolved_data_dir / "uploads").glob("*.part"))


def identity_of_person(runtime: Runtime, world: World, person: str):
    with runtime.database.session() as session:
        return identity_of(session.get(User, world.people[person].user_id), "test")


def test_upload_adds_a_version_to_an_existing_object(
    tus_as, heritage_runtime: Runtime, world: World
) -> None:
    tus = tus_as("contributor")
    target = world.objects["alpha"]
    data = b"second page" * 1000
    _, last = upload_all(tus, data, len(data), filename="notes/page2.txt", object=target)
    assert last.json()["object"] == target and last.json()["version"] == "v2"
    assert read_back(heritage_runtime, world, "alpha", target, "notes/page2.txt") == data


def test_upload_to_a_record_becomes_one_of_its_representations(
    tus_as, heritage_runtime: Runtime, world: World
) -> None:
    from heritage.accounts.identity import SYSTEM
    from heritage.records.services import RecordService

    tus = tus_as("contributor")
    record = world.records["alpha"]
    data = b"\xff\xd8" + b"scan" * 50_000
    _, last = upload_all(tus, data, len(data), filename="front.jpg", record=record)
    assert last.json()["object"] == record
    view = RecordService(heritage_runtime).get(SYSTEM, record)
    assert "media/front.jpg" in [item.file for item in view.record.representations]
    stored = RecordService(heritage_runtime).store.read_bytes(view.row.object_id, "media/front.jpg")
    assert stored == data
    # a record of another workspace, or an object and a record at once, are refused
    other = tus.create(4, filename="x.jpg", record=world.records["gamma"])
    assert other.status_code in (404, 422)
    both = tus.create(4, filename="x.jpg", record=record, object=world.objects["alpha"])
    assert both.status_code == 422


def test_creation_with_upload_and_empty_files(
    tus_as, heritage_runtime: Runtime, world: World
) -> None:
    tus = tus_as("contributor")
    data = os.urandom(200_000)
    created = tus.create(len(data), body=data, filename="whole.bin")
    assert created.status_code == 201
    assert created.headers["upload-offset"] == str(len(data))
    assert created.json()["version"] == "v1"
    assert (
        read_back(heritage_runtime, world, "alpha", created.json()["object"], "whole.bin") == data
    )

    empty = tus.create(0, filename="empty.txt")
    assert empty.status_code == 201 and empty.json()["version"] == "v1"
    assert read_back(heritage_runtime, world, "alpha", empty.json()["object"], "empty.txt") == b""


def test_protocol_errors(tus_as, heritage_runtime: Runtime) -> None:
    tus = tus_as("contributor")
    no_version = tus.client.post(
        tus.endpoint,
        headers={"Authorization": tus.headers()["Authorization"], "Upload-Length": "1"},
    )
    assert no_version.status_code == 412
    assert no_version.headers["tus-version"] == "1.0.0"
    assert no_version.headers["tus-resumable"] == "1.0.0"
    assert no_version.headers["content-type"] == "application/problem+json"

    assert tus.create(5).status_code == 422  # no filename
    assert tus.create(5, filename="../escape").status_code == 422
    assert tus.create(5, filename="a", sha256="xyz").status_code == 422
    missing_length = tus.client.post(tus.endpoint, headers=tus.headers())
    assert missing_length.status_code == 400

    heritage_runtime.settings.upload_max_bytes = 1000
    too_large = tus.create(1001, filename="big.bin")
    assert too_large.status_code == 413
    assert too_large.headers["tus-resumable"] == "1.0.0"
    heritage_runtime.settings.upload_max_bytes = 1 << 40

    location = tus.create(10, filename="a.txt").headers["location"]
    wrong_type = tus.client.patch(
        location,
        headers=tus.headers(**{"Upload-Offset": "0", "Content-Type": "text/plain"}),
        content=b"x",
    )
    assert wrong_type.status_code == 415
    mismatch = tus.patch(location, 3, b"abc")
    assert mismatch.status_code == 409
    assert mismatch.json()["type"].endswith("offset-mismatch")
    past_the_end = tus.patch(location, 0, b"x" * 11)
    assert past_the_end.status_code == 413
    assert tus.head(location).headers["upload-offset"] == "0"

    unknown = tus.head(f"{tus.endpoint}/no-such-upload")
    assert unknown.status_code == 404
    assert unknown.headers["tus-resumable"] == "1.0.0"


def test_expired_uploads_are_gone_and_cleaned_up(tus_as, heritage_runtime: Runtime) -> None:
    from heritage.uploads.services import UploadService

    tus = tus_as("contributor")
    location = tus.create(10, filename="a.txt").headers["location"]
    upload_id = location.rsplit("/", 1)[1]
    with heritage_runtime.database.session(write=True) as session:
        session.get(Upload, upload_id).expires_at = utcnow() - timedelta(seconds=1)
        session.commit()
    assert tus.head(location).status_code == 410
    assert tus.patch(location, 0, b"x").status_code == 410
    part = UploadService(heritage_runtime).part_path(upload_id)
    assert part.exists()
    assert UploadService(heritage_runtime).expire() == {"uploads": 1, "files": 1}
    assert not part.exists()
    assert tus.head(location).status_code == 404


def test_upload_expires_header_moves_with_activity(tus_as) -> None:
    tus = tus_as("contributor")
    created = tus.create(4, filename="a.txt")
    assert "GMT" in created.headers["upload-expires"]
    patched = tus.patch(created.headers["location"], 0, b"ab")
    assert patched.headers["upload-expires"]


@pytest.mark.parametrize("algorithm", ["sha1", "sha256"])
def test_checksum_extension(
    tus_as, heritage_runtime: Runtime, world: World, algorithm: str
) -> None:
    tus = tus_as("contributor")
    data = os.urandom(2 * MiB + 10)
    location = tus.create(len(data), filename="c.bin").headers["location"]
    first = data[: 2 * MiB]

    def checksum(body: bytes) -> str:
        return f"{algorithm} " + base64.b64encode(hashlib.new(algorithm, body).digest()).decode()

    bad = tus.patch(location, 0, first, **{"Upload-Checksum": checksum(b"other")})
    assert bad.status_code == 460
    assert tus.head(location).headers["upload-offset"] == "0"  # nothing of it kept
    unknown = tus.patch(location, 0, first, **{"Upload-Checksum": "md5 AAAA"})
    assert unknown.status_code == 400
    good = tus.patch(location, 0, first, **{"Upload-Checksum": checksum(first)})
    assert good.status_code == 204 and good.headers["upload-offset"] == str(2 * MiB)
    rest = data[2 * MiB :]
    done = tus.patch(location, 2 * MiB, rest, **{"Upload-Checksum": checksum(rest)})
    assert done.status_code == 200
    assert read_back(heritage_runtime, world, "alpha", done.json()["object"], "c.bin") == data


def test_end_to_end_sha256_mismatch_is_refused(tus_as, heritage_runtime: Runtime) -> None:
    tus = tus_as("contributor")
    data = os.urandom(100_000)
    location = tus.create(len(data), filename="x.bin", sha256=sha256_hex(b"not it")).headers[
        "location"
    ]
    refused = tus.patch(location, 0, data)
    assert refused.status_code == 460
    assert "SHA-256" in refused.json()["detail"]
    assert tus.head(location).status_code == 410
    with heritage_runtime.database.session() as session:
        upload = session.get(Upload, location.rsplit("/", 1)[1])
        assert upload.status is UploadStatus.FAILED and upload.result_object is None
        assert session.query(StoredObject).filter_by(title="x.bin").count() == 0


def test_termination(tus_as, heritage_runtime: Runtime) -> None:
    tus = tus_as("contributor")
    location = tus.create(3 * MiB, filename="t.bin").headers["location"]
    assert tus.patch(location, 0, b"x" * MiB).status_code == 204
    assert tus.delete(location).status_code == 204
    assert tus.head(location).status_code == 404
    assert not list((heritage_runtime.settings.resolved_data_dir / "uploads").glob("*.part"))


def test_permissions(tus_as) -> None:
    viewer = tus_as("viewer")
    assert viewer.create(10, filename="a.txt").status_code == 403
    outsider = tus_as("outsider")
    assert outsider.create(10, filename="a.txt").status_code in (403, 404)

    owner_of_upload = tus_as("contributor")
    location = owner_of_upload.create(10, filename="a.txt").headers["location"]
    other = tus_as("editor")
    assert other.head(location).status_code == 403
    assert other.patch(location, 0, b"0123456789").status_code == 403
    assert other.delete(location).status_code == 403
    assert owner_of_upload.head(location).headers["upload-offset"] == "0"
    # Not in another workspace's address either.
    moved = location.replace("/alpha/", "/gamma/")
    assert tus_as("owner", "gamma").head(moved).status_code == 404
    # An upload into an object of another workspace is refused at creation.
    assert owner_of_upload.create(3, filename="b", object="not-a-uuid").status_code == 422
