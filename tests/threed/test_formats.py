"""Model sets: which files make one model, and zip bundles read without zip-slip."""

from __future__ import annotations

import io
import stat
import zipfile

import pytest

from heritage.errors import InvalidInput
from heritage.threed import formats


def zipped(*members: tuple[str, bytes], link: str | None = None) -> io.BytesIO:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members:
            archive.writestr(name, data)
        if link is not None:
            info = zipfile.ZipInfo(link)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, "/etc/passwd")
    buffer.seek(0)
    return buffer


def test_zip_slip_names_refused() -> None:
    for name in ("../x.obj", "/etc/x.obj", "a/../../x.obj", "C:\\x.obj", "a\\..\\x.obj"):
        with pytest.raises(InvalidInput, match="zip-slip"):
            formats.safe_member(name)
    assert formats.safe_member("a/./b.png") == "a/b.png"


def test_sets_group_one_main_file_with_its_parts() -> None:
    assert formats.group(["m.obj", "m.mtl", "t/wood.png"]) == formats.ModelSet(
        "m.obj", ("m.mtl", "t/wood.png")
    )
    assert formats.group(["scan.laz"]).format == "laz"
    with pytest.raises(InvalidInput, match="several"):
        formats.group(["a.obj", "b.stl"])
    with pytest.raises(InvalidInput, match="neither buffers"):
        formats.group(["a.obj", "run.sh"])
    with pytest.raises(InvalidInput, match="none of the files"):
        formats.group(["notes.txt"])


def test_bundles_read_safely() -> None:
    bundle = zipped(
        ("mask/mask.gltf", b"{}"),
        ("mask/mask.bin", b"\0"),
        ("__MACOSX/mask/._mask.gltf", b"fork"),
    )
    files = formats.strip_common_folder(formats.read_bundle(bundle))
    assert sorted(files) == ["mask.bin", "mask.gltf"]
    with pytest.raises(InvalidInput, match="zip-slip"):
        formats.read_bundle(zipped(("m.obj", b""), ("../../evil.png", b"")))
    with pytest.raises(InvalidInput, match="symbolic link"):
        formats.read_bundle(zipped(("m.obj", b""), link="texture.png"))
    with pytest.raises(InvalidInput, match="not a readable zip"):
        formats.read_bundle(io.BytesIO(b"PK\x03\x04 nonsense"))
