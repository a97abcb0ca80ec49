"""Derivatives on attach: made by the job, encrypted like the workspace, bad input
reported on the image while the master and the record stay as they were."""

from __future__ import annotations

from pathlib import Path

import pytest
import pyvips
from sqlalchemy import select

from heritage.accounts.identity import SYSTEM
from heritage.iiif.models import DerivativeStatus, ImageDerivative
from heritage.iiif.services import ImageService, image_identifier
from heritage.jobs.models import Job, JobStatus
from heritage.records.model import Record, Value
from heritage.records.services import RecordService
from heritage.runtime import Runtime
from heritage.testing.world import World, build_world


@pytest.fixture
def world(heritage_runtime: Runtime) -> World:
    return build_world(heritage_runtime)


def new_record(runtime: Runtime, slug: str = "alpha") -> str:
    record = Record(identifier="img-1", title=[Value.text("Mill", "en")])
    return RecordService(runtime).create(SYSTEM, slug, record).uuid


def derivative(runtime: Runtime, record_uuid: str, path: str) -> ImageDerivative:
    with runtime.database.session() as session:
        row = session.scalar(
            select(ImageDerivative).where(
                ImageDerivative.record_uuid == record_uuid, ImageDerivative.path == path
            )
        )
        assert row is not None
        session.expunge(row)
        return row


def png(width: int, height: int, **options: object) -> bytes:
    image = pyvips.Image.black(width, height).new_from_image([40, 120, 200])
    return image.cast("uchar").pngsave_buffer(**options)


def test_attaching_an_image_makes_encrypted_derivatives(
    heritage_runtime: Runtime, world: World, shared_data: Path
) -> None:
    master = (shared_data / "images" / "bentheim.jpg").read_bytes()
    record_uuid = new_record(heritage_runtime)
    RecordService(heritage_runtime).attach_file(SYSTEM, record_uuid, "mill.jpg", master)

    row = derivative(heritage_runtime, record_uuid, "media/mill.jpg")
    assert row.status is DerivativeStatus.READY, row.error
    assert row.identifier == image_identifier(record_uuid, "media/mill.jpg")
    assert (row.width, row.height) == (3000, 2279)
    assert row.levels[0] == [3000, 2279] and row.levels[-1][0] < 256 * 2
    assert row.technical["loader"] == "jpegload_source"
    assert row.technical["bit_depth"] == 8 and row.technical["file_size"] == len(master)
    import hashlib

    assert row.master_sha256 == hashlib.sha256(master).hexdigest()
    assert row.provenance["master"]["sha256"] == row.master_sha256
    assert row.provenance["tool"] == "libvips" and row.provenance["tool_version"]
    assert row.provenance["parameters"]["compression"] == "jpeg"
    # alpha encrypts its files: no derivative lies on disk in plaintext
    assert row.key_id is not None
    folder = heritage_runtime.settings.resolved_data_dir / "derivatives" / row.identifier
    written = [path for path in folder.rglob("*") if path.is_file()]
    assert len(written) == 3
    for path in written:
        head = path.read_bytes()[:8]
        assert head.startswith(b"HCENC\0"), path
    # ...and they read back through the workspace key
    view = ImageService(heritage_runtime).image(SYSTEM, row.identifier)
    access = pyvips.Image.new_from_buffer(view.files.read("access.tif"), "")
    assert (access.width, access.height, access.interpretation) == (3000, 2279, "srgb")
    thumb = pyvips.Image.new_from_buffer(view.files.read("thumbnail-200.jpg"), "")
    assert thumb.width == 200
    # a whole tile comes straight from the encrypted access copy, the same picture as
    # the one rendered, at full size and at scale factor 2
    from heritage.iiif import image_api

    service = ImageService(heritage_runtime)
    for region in ("512,256,256,256", "512,512,512,512"):
        data, media_type = service.render(view, region, "256,", "0", "default.jpg")
        request = image_api.parse(
            region,
            "256,",
            "0",
            "default.jpg",
            width=3000,
            height=2279,
            max_area=10**8,
            max_width=10**5,
        )
        assert service._stored_tile(view, request) == data
        rendered = pyvips.Image.new_from_buffer(service._render(view, request), "")
        stored = pyvips.Image.new_from_buffer(data, "")
        assert media_type == "image/jpeg" and (stored.width, stored.height) == (256, 256)
        assert (stored - rendered).abs().avg() < 4
    with heritage_runtime.database.session() as session:
        job = session.scalar(select(Job).where(Job.kind == "iiif.derivatives"))
        assert job is not None and job.status is JobStatus.SUCCEEDED


def test_plaintext_workspace_and_formats(
    heritage_runtime: Runtime, world: World, shared_data: Path
) -> None:
    from heritage.workspaces.models import Workspace

    with heritage_runtime.database.session(write=True) as session:
        workspace = session.scalar(select(Workspace).where(Workspace.slug == "gamma"))
        assert workspace is not None
        workspace.encrypt_files = False
        session.commit()
    record_uuid = new_record(heritage_runtime, "gamma")
    records = RecordService(heritage_runtime)
    sixteen = (pyvips.Image.black(300, 200) + 40000).cast("ushort").copy(interpretation="grey16")
    alpha = pyvips.Image.black(120, 80).new_from_image([255, 0, 0, 128]).cast("uchar")
    files = {
        "deep.tif": sixteen.tiffsave_buffer(),
        "alpha.png": alpha.pngsave_buffer(),
        "pic.webp": (pyvips.Image.black(64, 64, bands=3) + 90).cast("uchar").webpsave_buffer(),
        # the official IIIF test image as JPEG 2000
        "test.jp2": (
            shared_data / "iiif/image-api/67352ccc-d1b0-11e1-89ae-279075081939.jp2"
        ).read_bytes(),
        # three pages of 50 x 40: the first is the image
        "pages.tif": pyvips.Image.black(50, 120)
        .new_from_image([200, 10, 10])
        .cast("uchar")
        .copy(interpretation="srgb")
        .tiffsave_buffer(page_height=40),
    }
    for name, data in files.items():
        records.attach_file(SYSTEM, record_uuid, name, data)
    for name in files:
        row = derivative(heritage_runtime, record_uuid, f"media/{name}")
        assert row.status is DerivativeStatus.READY, (name, row.error)
        assert row.key_id is None
    pages = derivative(heritage_runtime, record_uuid, "media/pages.tif")
    assert (pages.width, pages.height, pages.technical["pages"]) == (50, 40, 3)
    jp2 = derivative(heritage_runtime, record_uuid, "media/test.jp2")
    assert (jp2.width, jp2.technical["loader"]) == (1000, "jp2kload_source")
    deep = derivative(heritage_runtime, record_uuid, "media/deep.tif")
    assert deep.technical["bit_depth"] == 16
    folder = heritage_runtime.settings.resolved_data_dir / "derivatives" / deep.identifier
    access = pyvips.Image.new_from_file(str(next(folder.rglob("access.tif"))))
    assert access.format == "uchar" and access.bands == 3


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("notes.png", b"this is plain text, not a picture" * 20, "not an image"),
        ("half.png", png(400, 300)[:600], "could not be read to the end"),
        ("bomb.png", png(3000, 3000, compression=9), "decompression bomb"),
    ],
)
def test_bad_images_fail_alone(
    heritage_runtime: Runtime, world: World, name: str, data: bytes, reason: str
) -> None:
    heritage_runtime.settings.image_max_pixels = 4_000_000
    record_uuid = new_record(heritage_runtime)
    records = RecordService(heritage_runtime)
    records.attach_file(SYSTEM, record_uuid, name, data)
    records.attach_file(SYSTEM, record_uuid, "fine.png", png(50, 40))

    bad = derivative(heritage_runtime, record_uuid, f"media/{name}")
    assert bad.status is DerivativeStatus.FAILED
    assert reason in (bad.error or "")
    # the master is stored untouched, the record usable, the other image made
    view = records.get(SYSTEM, record_uuid)
    assert {item.file for item in view.record.representations} == {
        f"media/{name}",
        "media/fine.png",
    }
    assert records.store.read_bytes(view.row.object_id, f"media/{name}") == data
    good = derivative(heritage_runtime, record_uuid, "media/fine.png")
    assert good.status is DerivativeStatus.READY


def test_replacing_and_removing_an_image(heritage_runtime: Runtime, world: World) -> None:
    record_uuid = new_record(heritage_runtime)
    records = RecordService(heritage_runtime)
    records.attach_file(SYSTEM, record_uuid, "scan.png", png(64, 48))
    first = derivative(heritage_runtime, record_uuid, "media/scan.png")
    records.attach_file(SYSTEM, record_uuid, "scan.png", png(32, 20))
    second = derivative(heritage_runtime, record_uuid, "media/scan.png")
    assert second.identifier == first.identifier
    assert second.master_sha256 != first.master_sha256 and second.width == 32
    folder = heritage_runtime.settings.resolved_data_dir / "derivatives" / first.identifier
    assert [path.name for path in folder.iterdir()] == [second.master_sha256[:32]]
    records.detach_file(SYSTEM, record_uuid, "scan.png")
    with heritage_runtime.database.session() as session:
        assert session.scalar(select(ImageDerivative.id)) is None
    assert not folder.exists()  # the removed image's derivatives are deleted too


def test_derivatives_deleted_from_disk_are_made_again(
    heritage_runtime: Runtime, world: World
) -> None:
    import shutil

    from heritage.iiif.services import ImageNotReady

    record_uuid = new_record(heritage_runtime)
    RecordService(heritage_runtime).attach_file(SYSTEM, record_uuid, "scan.png", png(64, 48))
    row = derivative(heritage_runtime, record_uuid, "media/scan.png")
    shutil.rmtree(heritage_runtime.settings.resolved_data_dir / "derivatives")
    service = ImageService(heritage_runtime)
    with pytest.raises(ImageNotReady):
        service.info(service.image(SYSTEM, row.identifier), "http://x")
    # the immediate queue made them again meanwhile
    again = service.image(SYSTEM, row.identifier)
    assert again.ready and again.files.exists("access.tif")
    assert service.info(again, "http://x")["width"] == 64
