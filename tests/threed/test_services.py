"""Models attached to records on a real store: sets stay one representation, the job
analyses and derives, hostile masters are rejected with a reason and kept as they are."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import orjson
import pytest

from heritage.errors import InvalidInput, PermissionDenied
from heritage.jobs.models import Job, JobStatus
from heritage.runtime import Runtime
from heritage.testing.world import World, build_world
from heritage.threed.models import ModelStatus
from heritage.threed.paradata import Paradata
from heritage.threed.services import ThreeDService
from tests.records.test_record_service import complete, who


@pytest.fixture
def world(heritage_runtime: Runtime) -> World:
    return build_world(heritage_runtime)


def new_record(runtime: Runtime, world: World, workspace: str) -> str:
    from heritage.records.services import RecordService

    owner = who(world, "owner", runtime)
    return RecordService(runtime).create(owner, workspace, complete("3d-1", "Mask")).uuid


@pytest.mark.parametrize("workspace", ["alpha", "gamma"])  # alpha encrypts its files
def test_gltf_set_is_one_representation_analysed_and_derived(
    heritage_runtime: Runtime, world: World, models: Path, workspace: str, gltf_validator
) -> None:
    owner = who(world, "owner", heritage_runtime)
    record_uuid = new_record(heritage_runtime, world, workspace)
    folder = models / "gltf" / "cube-separated"
    files = {path.name: path.read_bytes() for path in folder.iterdir()}
    service = ThreeDService(heritage_runtime)
    view = service.attach(owner, record_uuid, files)

    [representation] = view.record.representations
    assert representation.file == "media/cube-gltf-2.0_separated-unmodified-valid/" + (
        "cube-gltf-2.0_separated-unmodified-valid.gltf"
    )
    assert representation.parts == [
        "media/cube-gltf-2.0_separated-unmodified-valid/cube-gltf-2.0_separated-unmodified-valid.bin"
    ]
    assert representation.media_type == "model/gltf+json"
    [item] = service.models(owner, record_uuid)
    assert item.row.status is ModelStatus.READY, item.row.error
    analysis = item.row.analysis
    assert (analysis["vertex_count"], analysis["face_count"]) == (24, 12)
    assert analysis["watertight"] is True
    assert analysis["europeana"] == {"edm:vertexCount": 24, "edm:polygonCount": 12}
    # the record's preserved EDM carries the counts on its web resource
    from heritage.records.services import RecordService

    current = RecordService(heritage_runtime).get(owner, record_uuid)
    assert current.version == "v3"  # created, model added, counts written
    document = orjson.loads(
        RecordService(heritage_runtime).version_document(owner, record_uuid, "v3")
    )
    shown_by = document["@reverse"]["edm:aggregatedCHO"][0]["edm:isShownBy"]
    assert shown_by["edm:vertexCount"] == 24 and shown_by["edm:polygonCount"] == 12
    # the master is the bytes that were sent
    main = folder / "cube-gltf-2.0_separated-unmodified-valid.gltf"
    assert item.row.master_sha256 == hashlib.sha256(main.read_bytes()).hexdigest()
    files_made = item.row.derivatives["files"]
    assert set(files_made) == {
        "lod-100k",
        "lod-100k-uncompressed",
        "thumbnail-200",
        "thumbnail-400",
        "turntable",
    }
    assert all(entry["encrypted"] is (workspace == "alpha") for entry in files_made.values())
    glb, media_type = service.derivative(owner, record_uuid, representation.file, "lod-100k")
    assert media_type == "model/gltf-binary" and glb[:4] == b"glTF"
    assert files_made["lod-100k"]["provenance"]["tools"][0]["name"] == "trimesh"
    assert b"KHR_draco_mesh_compression" in glb[:4096]  # the viewer's level is compressed
    png, _ = service.derivative(owner, record_uuid, representation.file, "thumbnail-200")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    # an encrypted workspace keeps no plaintext derivative on disk
    cached = service.cache_dir(item.row) / files_made["lod-100k"]["file"]
    assert (cached.read_bytes()[:4] == b"glTF") is (workspace == "gamma")
    target = Path(heritage_runtime.settings.resolved_data_dir / "check.glb")
    target.write_bytes(glb)
    [report] = gltf_validator(target)
    assert report["errors"] == 0, report["messages"]


def test_zipped_obj_set_and_zip_slip(heritage_runtime: Runtime, world: World, models: Path) -> None:
    owner = who(world, "owner", heritage_runtime)
    record_uuid = new_record(heritage_runtime, world, "gamma")
    folder = models / "obj" / "cube-with-mtl"
    bundle = io.BytesIO()
    with zipfile.ZipFile(bundle, "w") as archive:
        for path in folder.iterdir():
            archive.writestr(f"cube/{path.name}", path.read_bytes())
    service = ThreeDService(heritage_runtime)
    view = service.attach(owner, record_uuid, {"cube.zip": bundle.getvalue()})
    [representation] = view.record.representations
    assert representation.file.endswith("/cube-obj-1.0-unmodified-unknown.obj")
    assert [part.rsplit("/", 1)[1] for part in representation.parts] == [
        "cube-obj-1.0-unmodified-unknown.mtl"
    ]
    [item] = service.models(owner, record_uuid)
    assert item.row.status is ModelStatus.READY, item.row.error

    hostile = io.BytesIO()
    with zipfile.ZipFile(hostile, "w") as archive:
        archive.writestr("model.obj", "v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n")
        archive.writestr("../../evil.mtl", "newmtl x\n")
    with pytest.raises(InvalidInput, match="zip-slip"):
        service.attach(owner, record_uuid, {"evil.zip": hostile.getvalue()})


HOSTILE = {
    "absurd.ply": b"ply\nformat binary_little_endian 1.0\nelement vertex 40000000\n"
    b"property float x\nproperty float y\nproperty float z\nend_header\n" + b"\0" * 24,
    "nan.obj": b"v 0 0 0\nv nan 0 0\nv 0 1 0\nf 1 2 3\n",
    "outside.obj": b"v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 9\n",
}


def test_hostile_master_is_rejected_kept_and_the_next_model_still_processed(
    heritage_runtime: Runtime, world: World, models: Path
) -> None:
    owner = who(world, "owner", heritage_runtime)
    record_uuid = new_record(heritage_runtime, world, "alpha")
    service = ThreeDService(heritage_runtime)
    for name, data in HOSTILE.items():
        service.attach(owner, record_uuid, {name: data})
    good = (models / "stl" / "stl_binary" / "Cube.stl").read_bytes()
    service.attach(owner, record_uuid, {"cube.stl": good})
    found = {item.row.path: item.row for item in service.models(owner, record_uuid)}
    assert "more than the" in found["media/absurd.ply"].error
    assert "NaN" in found["media/nan.obj"].error
    assert "out of range" in found["media/outside.obj"].error
    for name in HOSTILE:
        assert found[f"media/{name}"].status is ModelStatus.REJECTED
        opened = service.records.store.open_file(owner, "alpha", record_uuid, f"media/{name}")
        assert opened.read_all() == HOSTILE[name]  # the master is preserved
    assert found["media/cube.stl"].status is ModelStatus.READY
    with heritage_runtime.database.session() as session:
        jobs = session.query(Job).filter(Job.kind == "threed.process").all()
        assert jobs and all(job.status is JobStatus.SUCCEEDED for job in jobs)


def test_paradata_and_quality_report(heritage_runtime: Runtime, world: World, models: Path) -> None:
    owner = who(world, "owner", heritage_runtime)
    record_uuid = new_record(heritage_runtime, world, "gamma")
    service = ThreeDService(heritage_runtime)
    data = (models / "stl" / "stl_binary" / "Cube.stl").read_bytes()
    service.attach(owner, record_uuid, {"cube.stl": data})
    [item] = service.models(owner, record_uuid)
    before = service.report(owner, record_uuid, item)
    assert "the units of the coordinates: measurements have no scale" in before["missing"]
    assert (
        "paradata: the acquisition method (photogrammetry, laser scanning, ...)"
        in before["missing"]
    )
    paradata = Paradata(method="structured-light", device="Artec Eva", units="mm", accuracy_mm=0.1)
    item = service.set_paradata(owner, record_uuid, "cube.stl", paradata)
    after = service.report(owner, record_uuid, item)
    assert after["score"] > before["score"]
    assert not any("units" in line for line in after["missing"])
    assert "paradata: the capture device" not in after["missing"]
    viewer = who(world, "viewer", heritage_runtime)
    with pytest.raises(PermissionDenied):
        service.set_paradata(viewer, record_uuid, "cube.stl", paradata)


def test_removing_a_model_removes_its_parts(
    heritage_runtime: Runtime, world: World, models: Path
) -> None:
    owner = who(world, "owner", heritage_runtime)
    record_uuid = new_record(heritage_runtime, world, "gamma")
    folder = models / "gltf" / "mask-bali-separated"
    service = ThreeDService(heritage_runtime)
    view = service.attach(owner, record_uuid, {p.name: p.read_bytes() for p in folder.iterdir()})
    [representation] = view.record.representations
    assert len(representation.parts) == 2
    [item] = service.models(owner, record_uuid)
    cache = service.cache_dir(item.row)
    assert cache.is_dir()
    after = service.records.detach_file(owner, record_uuid, representation.file)
    assert service.prune(owner, record_uuid) == 1
    assert not cache.exists()
    assert after.record.representations == []
    stored = service.records.store.get(owner, "gamma", record_uuid)
    names = {item.logical_path for item in stored.files}
    assert not names & {representation.file, *representation.parts}
    assert service.models(owner, record_uuid) == []
    # a job that was still waiting for the removed model ends quietly
    assert service.process(owner, record_uuid, representation.file) == {"status": "gone"}
