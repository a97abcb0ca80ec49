"""Stored JPEG tiles of the access copy, handed out without decoding them again.

A request for exactly one whole tile of a pyramid level (the requests deep-zoom viewers
make) is answered with the tile's own JPEG data from the TIFF, joined to the level's
shared JPEG tables: no decoding, no encoding, the same pixels libvips stored. Only
classic and BigTIFF files as libvips writes them (tiled, JPEG-compressed, one IFD per
level) are read; anything else returns None and the caller renders the tile.
"""

from __future__ import annotations

import struct
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import BinaryIO

TAG_WIDTH, TAG_HEIGHT, TAG_COMPRESSION = 256, 257, 259
TAG_TILE_WIDTH, TAG_TILE_HEIGHT, TAG_TILE_OFFSETS, TAG_TILE_COUNTS = 322, 323, 324, 325
TAG_JPEG_TABLES = 347
JPEG_COMPRESSION = 7
_TYPES = {1: ("B", 1), 2: ("s", 1), 3: ("H", 2), 4: ("I", 4), 7: ("B", 1), 16: ("Q", 8)}
MAX_IFDS = 64
MAX_TILES = 1 << 22  # entries read from one offsets array: a bound on untrusted sizes


@dataclass(frozen=True)
class Level:
    width: int
    height: int
    tile_width: int
    tile_height: int
    offsets: tuple[int, ...]
    counts: tuple[int, ...]
    tables: bytes

    @property
    def across(self) -> int:
        return -(-self.width // self.tile_width)


class NotOurTiff(ValueError):
    """The file is not a tiled JPEG TIFF this module reads."""


def _read(stream: BinaryIO, offset: int, size: int) -> bytes:
    stream.seek(offset)
    data = stream.read(size)
    if len(data) != size:
        raise NotOurTiff("truncated")
    return data


def read_levels(stream: BinaryIO) -> list[Level]:
    """Every IFD of the TIFF, as pyramid levels (full size first)."""
    head = _read(stream, 0, 16)
    order = {b"II": "<", b"MM": ">"}.get(head[:2])
    if order is None:
        raise NotOurTiff("no TIFF byte order")
    magic = struct.unpack(order + "H", head[2:4])[0]
    if magic == 42:
        big, offset = False, struct.unpack(order + "I", head[4:8])[0]
    elif magic == 43:
        big, offset = True, struct.unpack(order + "Q", head[8:16])[0]
    else:
        raise NotOurTiff("not a TIFF")
    levels = []
    while offset and len(levels) < MAX_IFDS:
        tags, offset = _ifd(stream, order, offset, big)
        if tags.get(TAG_COMPRESSION, (0,))[0] != JPEG_COMPRESSION:
            raise NotOurTiff("not JPEG-compressed")
        try:
            levels.append(
                Level(
                    width=tags[TAG_WIDTH][0],
                    height=tags[TAG_HEIGHT][0],
                    tile_width=tags[TAG_TILE_WIDTH][0],
                    tile_height=tags[TAG_TILE_HEIGHT][0],
                    offsets=tuple(tags[TAG_TILE_OFFSETS]),
                    counts=tuple(tags[TAG_TILE_COUNTS]),
                    tables=bytes(tags.get(TAG_JPEG_TABLES, ())),
                )
            )
        except KeyError:
            raise NotOurTiff("not tiled") from None
    return levels


def _ifd(
    stream: BinaryIO, order: str, offset: int, big: bool
) -> tuple[dict[int, tuple[int, ...]], int]:
    count_size, entry_size, next_size = (8, 20, 8) if big else (2, 12, 4)
    count = struct.unpack(order + ("Q" if big else "H"), _read(stream, offset, count_size))[0]
    if count > 4096:
        raise NotOurTiff("implausible IFD")
    raw = _read(stream, offset + count_size, count * entry_size + next_size)
    wanted = {
        TAG_WIDTH,
        TAG_HEIGHT,
        TAG_COMPRESSION,
        TAG_TILE_WIDTH,
        TAG_TILE_HEIGHT,
        TAG_TILE_OFFSETS,
        TAG_TILE_COUNTS,
        TAG_JPEG_TABLES,
    }
    tags: dict[int, tuple[int, ...]] = {}
    for index in range(count):
        entry = raw[index * entry_size : (index + 1) * entry_size]
        if big:
            tag, kind, number = struct.unpack(order + "HHQ", entry[:12])
            inline, value_at = 8, entry[12:]
        else:
            tag, kind, number = struct.unpack(order + "HHI", entry[:8])
            inline, value_at = 4, entry[8:]
        if tag not in wanted or kind not in _TYPES or number > MAX_TILES:
            continue
        code, width = _TYPES[kind]
        size = width * number
        if size <= inline:
            data = value_at[:size]
        else:
            pointer = struct.unpack(order + ("Q" if big else "I"), value_at)[0]
            data = _read(stream, pointer, size)
        if code == "s":
            code = "B"
        tags[tag] = struct.unpack(f"{order}{number}{code}", data)
    next_offset = struct.unpack(order + ("Q" if big else "I"), raw[count * entry_size :])[0]
    return tags, next_offset


def tile_jpeg(stream: BinaryIO, level: Level, column: int, row: int) -> bytes | None:
    """The tile as a complete JPEG file, or None when it has no data."""
    index = row * level.across + column
    if index >= len(level.offsets) or index >= len(level.counts):
        return None
    data = _read(stream, level.offsets[index], level.counts[index])
    if not data.startswith(b"\xff\xd8"):
        return None
    if not level.tables:
        return data
    # the tables stream is SOI, tables, EOI; the tile is SOI, frame, scan, EOI
    return level.tables[:-2] + data[2:]


class LevelCache:
    """Parsed pyramids by file and master digest, a few hundred at most (process-wide)."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._items: OrderedDict[str, list[Level] | None] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str, stream: BinaryIO) -> list[Level] | None:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        try:
            levels: list[Level] | None = read_levels(stream)
        except (NotOurTiff, struct.error, OSError):
            levels = None
        with self._lock:
            self._items[key] = levels
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return levels


LEVELS = LevelCache()
