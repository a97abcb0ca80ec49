"""Derivatives of an image master with libvips: technical metadata, the access copy (a
tiled pyramidal JPEG TIFF in sRGB) and thumbnails.

Masters are untrusted: libvips reads them with ``fail=True`` (a damaged file is an
error, not a half-grey picture), the header's pixel count is checked against a limit
before any pixel is decoded (decompression bombs), and every libvips failure becomes
:class:`ImageRejected` with a message for the person who uploaded the file.
Masters are read through a seekable file object, never a path, so an encrypted master
is decrypted chunk by chunk in memory and never lands on disk in plaintext.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, BinaryIO

import pyvips

# Tile size of the access copy and of the IIIF tiles we advertise.
TILE = 256
ACCESS_QUALITY = 85
THUMBNAIL_WIDTHS = (200, 400)  # as Europeana makes them
TOOL = "libvips"


class ImageRejected(Exception):
    """The file cannot be made into derivatives; the message says why, for people."""


@dataclass(frozen=True)
class AccessCopy:
    tiff: bytes
    width: int
    height: int
    levels: list[list[int]]  # [width, height] of each pyramid page, full size first
    thumbnails: dict[int, bytes]  # width -> JPEG
    parameters: dict[str, Any]


def libvips_version() -> str:
    return f"{pyvips.version(0)}.{pyvips.version(1)}.{pyvips.version(2)}"


def source_for(stream: BinaryIO) -> pyvips.Source:
    """A libvips source reading ``stream`` (seekable) by callbacks."""
    source = pyvips.SourceCustom()

    def read(size: int) -> bytes:
        return stream.read(size) or b""

    def seek(offset: int, whence: int) -> int:
        return stream.seek(offset, whence)

    source.on_read(read)
    source.on_seek(seek)
    return source


def _reason(error: pyvips.Error) -> str:
    # libvips messages name the loader and the problem on their first lines; the rest
    # is noise (and may carry temporary names).
    detail = " ".join(str(error.detail or error.message).split())
    return detail[:300] or "libvips could not read it"


def open_master(stream: BinaryIO, max_pixels: int, *, in_memory: bool = False) -> pyvips.Image:
    """The master's first page, lazily: only its header is read here.

    Random access, because libvips 8.14 crashes (SIGSEGV) making a pyramid of a
    truncated JPEG read sequentially. Large images are then decoded to a temporary
    file, unless ``in_memory`` (encrypted masters: their pixels must not reach the
    disk in plaintext).
    """
    try:
        image = pyvips.Image.new_from_source(source_for(stream), "", fail=True, memory=in_memory)
    except pyvips.Error as error:
        raise ImageRejected(
            f"This file is not an image libvips can read: {_reason(error)}"
        ) from None
    pixels = image.width * image.height
    if pixels > max_pixels:
        raise ImageRejected(
            f"The image is {image.width} × {image.height} pixels ({pixels:,}), more than the "
            f"{max_pixels:,} this instance accepts (HERITAGE_IMAGE_MAX_PIXELS); it may be a "
            "decompression bomb. The file stays stored, without derivatives."
        )
    return image


def _field(image: pyvips.Image, name: str) -> Any:
    return image.get(name) if image.get_typeof(name) else None


EXIF_FIELDS = {
    "exif-ifd0-Make": "make",
    "exif-ifd0-Model": "model",
    "exif-ifd0-Software": "software",
    "exif-ifd0-Artist": "artist",
    "exif-ifd0-Copyright": "copyright",
    "exif-ifd2-DateTimeOriginal": "date_time_original",
}

_BIT_DEPTH = {
    "uchar": 8,
    "char": 8,
    "ushort": 16,
    "short": 16,
    "uint": 32,
    "int": 32,
    "float": 32,
    "double": 64,
}


def technical_metadata(image: pyvips.Image) -> dict[str, Any]:
    """What the master is, from its header (no pixels decoded)."""
    icc = _field(image, "icc-profile-data")
    exif: dict[str, str] = {}
    for name, key in EXIF_FIELDS.items():
        value = _field(image, name)
        if isinstance(value, str) and value.strip():
            # libvips renders EXIF as "value (explanation, type, count)"
            exif[key] = value.split(" (")[0].strip()[:200]
    orientation = _field(image, "orientation")
    return {
        "width": image.width,
        "height": image.height,
        "bands": image.bands,
        "band_format": image.format,
        "bit_depth": _BIT_DEPTH.get(image.format),
        "interpretation": image.interpretation,
        "has_alpha": bool(image.hasalpha()),
        "loader": _field(image, "vips-loader"),
        "pages": _field(image, "n-pages") or 1,
        "orientation": int(orientation) if orientation else 1,
        "resolution_ppmm": [round(image.xres, 4), round(image.yres, 4)],
        "icc_profile": {"present": icc is not None, "bytes": len(icc) if icc else 0},
        "exif": exif,
        "has_exif": _field(image, "exif-data") is not None,
        "has_iptc": _field(image, "iptc-data") is not None,
        "has_xmp": _field(image, "xmp-data") is not None,
    }


def to_srgb(image: pyvips.Image) -> pyvips.Image:
    """8-bit sRGB, 3 bands, upright: what every viewer shows."""
    if image.get_typeof("icc-profile-data"):
        try:
            image = image.icc_transform("srgb", embedded=True, intent="perceptual", depth=8)
        except pyvips.Error:
            # a broken embedded profile: fall back to the colour space the header names
            image = image.colourspace("srgb")
    elif image.interpretation != "srgb" or image.format != "uchar":
        image = image.colourspace("srgb")
    if image.hasalpha():
        image = image.flatten(background=[255, 255, 255])
    if image.bands == 1:
        image = image.bandjoin([image, image])
    elif image.bands > 3:
        image = image.extract_band(0, n=3)
    if image.format != "uchar":
        image = image.cast("uchar")
    if (_field(image, "orientation") or 1) != 1:
        image = image.autorot()
    return image.copy(interpretation="srgb")


def make_access_copy(image: pyvips.Image) -> AccessCopy:
    """The pyramidal JPEG TIFF and the thumbnails of ``image`` (from :func:`open_master`)."""
    parameters = {
        "format": "tiff",
        "tile": True,
        "tile_width": TILE,
        "tile_height": TILE,
        "pyramid": True,
        "compression": "jpeg",
        "Q": ACCESS_QUALITY,
        "colour": "sRGB 8-bit",
        "thumbnail_widths": list(THUMBNAIL_WIDTHS),
    }
    try:
        access = to_srgb(image)
        tiff = access.tiffsave_buffer(
            tile=True,
            tile_width=TILE,
            tile_height=TILE,
            pyramid=True,
            compression="jpeg",
            Q=ACCESS_QUALITY,
            strip=False,
        )
        levels = pyramid_levels(tiff)
        thumbnails = {
            width: pyvips.Image.thumbnail_buffer(tiff, width, height=10_000_000).jpegsave_buffer(
                Q=ACCESS_QUALITY, strip=True
            )
            for width in THUMBNAIL_WIDTHS
        }
    except pyvips.Error as error:
        raise ImageRejected(
            f"The image could not be read to the end (damaged or truncated?): {_reason(error)}"
        ) from None
    width, height = levels[0]
    return AccessCopy(tiff, width, height, levels, thumbnails, parameters)


def pyramid_levels(tiff: bytes) -> list[list[int]]:
    first = pyvips.Image.new_from_buffer(tiff, "")
    pages = int(_field(first, "n-pages") or 1)
    levels = [[first.width, first.height]]
    for page in range(1, pages):
        level = pyvips.Image.new_from_buffer(tiff, "", page=page)
        levels.append([level.width, level.height])
    return levels
