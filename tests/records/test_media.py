"""Media lookup in folders and zips, and the refusal of unsafe or oversized archives."""

from __future__ import annotations

import os
import struct
import unicodedata
import zipfile
from pathlib import Path

import pytest

from heritage.records.media import AmbiguousMedia, Limits, MediaError, MediaSource


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "media"
    (root / "images").mkdir(parents=True)
    (root / "images" / "inv-12.jpg").write_bytes(b"jpeg-12")
    (root / "inv-13.tif").write_bytes(b"tiff-13")
    (root / "a").mkdir()
    (root / "b").mkdir()
    (root / "a" / "same.png").write_bytes(b"a")
    (root / "b" / "same.png").write_bytes(b"b")
    # a name as macOS writes it (NFD)
    (root / unicodedata.normalize("NFD", "Mühle.jpg")).write_bytes(b"muehle")
    return root


def test_folder_lookup(folder: Path) -> None:
    with MediaSource.open_folder(folder) as media:
        by_path = media.find("images/inv-12.jpg")
        assert by_path is not None and by_path.size == 7
        with by_path.open() as stream:
            assert stream.read() == b"jpeg-12"
        by_name = media.find("inv-12.jpg")
        assert by_name is not None and by_name.name == "images/inv-12.jpg"
        by_identifier = media.find("inv-13")
        assert by_identifier is not None and by_identifier.name == "inv-13.tif"
        assert media.find("images\\inv-12.jpg") == by_path  # a Windows path from a sheet
        assert media.find("INV-13.TIF") is not None  # unambiguous case-insensitive match
        nfc = media.find("Mühle.jpg")
        assert nfc is not None and nfc.name == unicodedata.normalize("NFC", "Mühle.jpg")
        assert media.find("missing.jpg") is None
        with pytest.raises(AmbiguousMedia, match=r"a/same\.png, b/same\.png"):
            media.find("same.png")
        with pytest.raises(MediaError, match=r"'\.\.'"):
            media.find("../secret.txt")
        with pytest.raises(MediaError, match="absolute"):
            media.find("/etc/passwd")


def test_folder_symlink_escape(folder: Path, tmp_path: Path) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_text("secret")
    os.symlink(outside, folder / "escape.jpg")
    os.symlink(tmp_path, folder / "up")
    os.symlink(folder / "inv-13.tif", folder / "alias.tif")  # inside: fine
    with MediaSource.open_folder(folder) as media:
        with pytest.raises(MediaError, match=r"'escape.jpg' is a symbolic link leading outside"):
            media.find("escape.jpg")
        with pytest.raises(MediaError, match="'up'"):
            media.find("up/secret.txt")
        alias = media.find("alias.tif")
        assert alias is not None
        with alias.open() as stream:
            assert stream.read() == b"tiff-13"


def make_zip(path: Path, members: dict[str, bytes], **kwargs: int) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, **kwargs) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def test_zip_lookup(tmp_path: Path) -> None:
    path = make_zip(
        tmp_path / "media.zip",
        {"images/inv-12.jpg": b"jpeg-12", "inv-13.tif": b"tiff-13", "Mühle.jpg": b"m"},
    )
    with MediaSource.open_zip(path) as media:
        assert media.names() == ["Mühle.jpg", "images/inv-12.jpg", "inv-13.tif"]
        found = media.find("inv-12")
        assert found is not None and found.name == "images/inv-12.jpg"
        with found.open() as stream:
            assert stream.read() == b"jpeg-12"
        assert media.find(unicodedata.normalize("NFD", "Mühle.jpg")) is not None


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("../evil.sh", "'..'"),
        ("images/../../evil.sh", "'..'"),
        ("/etc/cron.d/evil", "absolute"),
        ("C:/Windows/evil.dll", "absolute"),
        ("images\\..\\..\\evil.dll", "backslash"),
    ],
)
def test_zip_slip_is_refused(tmp_path: Path, name: str, why: str) -> None:
    path = tmp_path / "slip.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("ok.jpg", b"ok")
        archive.writestr(zipfile.ZipInfo(name), b"evil")
    with pytest.raises(MediaError, match=why) as raised:
        MediaSource.open_zip(path)
    assert name in str(raised.value)


def test_zip_symlink_member_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "link.zip"
    info = zipfile.ZipInfo("link.jpg")
    info.external_attr = 0o120777 << 16  # a symbolic link, as Info-ZIP stores it
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(info, "/etc/passwd")
    with pytest.raises(MediaError, match=r"'link\.jpg' is a symbolic link"):
        MediaSource.open_zip(path)


def test_zip_bomb_ratio(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "bomb.zip", {"zeros.tif": bytes(20 * 1024 * 1024)})
    with pytest.raises(MediaError, match=r"'zeros.tif' would expand \d+ times"):
        MediaSource.open_zip(path)
    with pytest.raises(MediaError, match="more than 1000000 bytes"):
        MediaSource.open_zip(path, Limits(max_total=1_000_000, max_ratio=10_000))
    # with a generous ratio it opens, and reads exactly what the header says
    with MediaSource.open_zip(path, Limits(max_ratio=100_000)) as media:
        found = media.find("zeros.tif")
        assert found is not None
        with found.open() as stream:
            assert sum(len(chunk) for chunk in stream) == 20 * 1024 * 1024


def test_lying_header_is_caught_while_reading(tmp_path: Path) -> None:
    data = bytes(2 * 1024 * 1024)
    path = make_zip(tmp_path / "liar.zip", {"small.jpg": data})
    raw = bytearray(path.read_bytes())
    # claim 100 bytes uncompressed in both the local and the central header
    local = raw.find(b"PK\x03\x04")
    central = raw.find(b"PK\x01\x02")
    struct.pack_into("<I", raw, local + 22, 100)
    struct.pack_into("<I", raw, central + 24, 100)
    path.write_bytes(bytes(raw))
    with MediaSource.open_zip(path) as media:  # the headers look harmless
        found = media.find("small.jpg")
        assert found is not None and found.size == 100
        with found.open() as stream, pytest.raises(MediaError, match=r"'small\.jpg'.*forged"):
            while stream.read(65_536):
                pass


def test_too_many_members(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "many.zip", {f"f{n}.txt": b"x" for n in range(101)})
    with pytest.raises(MediaError, match="101 members, more than the limit of 100"):
        MediaSource.open_zip(path, Limits(max_members=100))
    with MediaSource.open_zip(path, Limits(max_members=101)) as media:
        assert len(media) == 101


def test_duplicate_and_unreadable_zips(tmp_path: Path) -> None:
    path = tmp_path / "dup.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("a.jpg", b"1")
        with pytest.warns(UserWarning):
            archive.writestr("a.jpg", b"2")
    with pytest.raises(MediaError, match="appears twice"):
        MediaSource.open_zip(path)
    not_zip = tmp_path / "not.zip"
    not_zip.write_bytes(b"hello")
    with pytest.raises(MediaError, match="not a readable zip"):
        MediaSource.open_zip(not_zip)
