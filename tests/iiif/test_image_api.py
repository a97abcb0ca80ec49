"""Image API 3.0 request parsing and rendering from a pyramid, without HTTP."""

from __future__ import annotations

import pytest
import pyvips

from heritage.iiif import image_api
from heritage.iiif.image_api import BadImageRequest, parse

W, H = 1000, 600
LIMITS = {"width": W, "height": H, "max_area": 4_000_000, "max_width": 3000}


def request(region: str = "full", size: str = "max", rotation: str = "0", qf: str = "default.jpg"):
    return parse(region, size, rotation, qf, **LIMITS)


@pytest.mark.parametrize(
    ("region", "box"),
    [
        ("full", (0, 0, W, H)),
        ("square", (200, 0, 600, 600)),
        ("10,20,30,40", (10, 20, 30, 40)),
        ("900,500,500,500", (900, 500, 100, 100)),  # clipped at the edges
        ("pct:10,50,20,50", (100, 300, 200, 300)),
        ("pct:0.5,0,99.5,100", (5, 0, 995, 600)),
    ],
)
def test_regions(region: str, box: tuple[int, int, int, int]) -> None:
    assert request(region=region).region == box


@pytest.mark.parametrize(
    ("size", "out"),
    [
        ("max", (W, H)),
        ("500,", (500, 300)),
        (",300", (500, 300)),
        ("pct:25", (250, 150)),
        ("100,100", (100, 100)),  # distorted, as asked
        ("!200,200", (200, 120)),
        ("!2000,600", (W, H)),
        ("^max", (2581, 1549)),  # up to maxArea
        ("^2000,", (2000, 1200)),
        ("^pct:150", (1500, 900)),
        ("^!2000,2000", (2000, 1200)),
    ],
)
def test_sizes(size: str, out: tuple[int, int]) -> None:
    assert request(size=size).size == out


@pytest.mark.parametrize(
    ("region", "size", "rotation", "qf"),
    [
        ("full", "1001,", "0", "default.jpg"),  # upscaling without ^
        ("full", "pct:101", "0", "default.jpg"),
        ("full", "!2000,3000", "0", "default.jpg"),
        ("full", "0,", "0", "default.jpg"),
        ("full", ",", "0", "default.jpg"),
        ("full", "^3001,", "0", "default.jpg"),  # beyond maxWidth
        ("full", "max", "361", "default.jpg"),
        ("full", "max", "-90", "default.jpg"),
        ("full", "max", "0", "default"),
        ("full", "max", "0", "native.jpg"),
        ("full", "max", "0", "default.tif"),
        ("1000,0,10,10", "max", "0", "default.jpg"),  # outside
        ("0,0,0,10", "max", "0", "default.jpg"),
        ("pct:abc", "max", "0", "default.jpg"),
        ("full", "w,h", "0", "default.jpg"),
    ],
)
def test_requests_the_api_does_not_allow(region: str, size: str, rotation: str, qf: str) -> None:
    with pytest.raises(BadImageRequest):
        request(region, size, rotation, qf)


def test_rotation_and_mirroring() -> None:
    assert (request(rotation="!90").mirror, request(rotation="!90").rotation) == (True, 90.0)
    assert request(rotation="360").rotation == 0.0
    assert request(rotation="22.5").rotation == 22.5


def pyramid() -> tuple[list[list[int]], dict[int, pyvips.Image]]:
    """A left-red, right-blue image and its half-size level."""
    red = pyvips.Image.black(W // 2, H).new_from_image([255, 0, 0]).cast("uchar")
    blue = pyvips.Image.black(W // 2, H).new_from_image([0, 0, 255]).cast("uchar")
    full = red.join(blue, "horizontal").copy(interpretation="srgb")
    pages = {0: full, 1: full.resize(0.5)}
    return [[W, H], [W // 2, H // 2]], pages


def test_render_picks_the_level_and_transforms() -> None:
    levels, pages = pyramid()
    used: list[int] = []

    def load(page: int) -> pyvips.Image:
        used.append(page)
        return pages[page]

    small = pyvips.Image.new_from_buffer(image_api.render(request(size="250,"), levels, load), "")
    assert (small.width, small.height) == (250, 150) and used == [1]
    # mirrored: blue now on the left
    mirrored = pyvips.Image.new_from_buffer(
        image_api.render(request(rotation="!0", qf="default.png"), levels, load), ""
    )
    assert mirrored.getpoint(10, 10)[2] == 255 and mirrored.getpoint(990, 10)[0] == 255
    turned = pyvips.Image.new_from_buffer(
        image_api.render(request(rotation="90", qf="default.png"), levels, load), ""
    )
    assert (turned.width, turned.height) == (H, W)
    assert turned.getpoint(10, 10)[0] == 255  # the red left half is now on top
    bitonal = pyvips.Image.new_from_buffer(
        image_api.render(request(qf="bitonal.png"), levels, load), ""
    )
    assert bitonal.bands == 1 and set(bitonal.getpoint(5, 5) + bitonal.getpoint(995, 5)) <= {
        0.0,
        255.0,
    }
    arbitrary = pyvips.Image.new_from_buffer(
        image_api.render(request(rotation="45", qf="default.png"), levels, load), ""
    )
    assert arbitrary.hasalpha() and arbitrary.getpoint(0, 0)[3] == 0  # transparent corner


def test_info_document() -> None:
    levels = [[4000, 3000], [2000, 1500], [1000, 750], [500, 375]]
    document = image_api.info(
        "https://x/iiif/3/a", 4000, 3000, levels, max_area=4_000_000, max_width=16384
    )
    assert document["tiles"] == [{"width": 256, "height": 256, "scaleFactors": [1, 2, 4, 8]}]
    # sizes within maxArea only, smallest first
    assert document["sizes"] == [
        {"width": 500, "height": 375},
        {"width": 1000, "height": 750},
        {"width": 2000, "height": 1500},
    ]


def test_stored_tiles_are_whole_jpegs_of_the_right_place() -> None:
    import io

    from heritage.iiif import derive, tiles

    picture = pyvips.Image.black(1200, 700).new_from_image([30, 90, 200]).cast("uchar")
    # a white square in the second tile of the second row of the full-size level
    picture = picture.draw_rect([255, 255, 255], 256 + 50, 256 + 50, 100, 100, fill=True)
    copy = derive.make_access_copy(picture.copy(interpretation="srgb"))
    stream = io.BytesIO(copy.tiff)
    levels = tiles.read_levels(stream)
    assert [[level.width, level.height] for level in levels] == copy.levels
    jpeg = tiles.tile_jpeg(stream, levels[0], 1, 1)
    assert jpeg is not None
    tile = pyvips.Image.new_from_buffer(jpeg, "")
    assert (tile.width, tile.height) == (256, 256)
    assert tile.getpoint(100, 100)[2] > 240 and tile.getpoint(10, 10)[0] < 60
    with pytest.raises(tiles.NotOurTiff):
        tiles.read_levels(io.BytesIO(b"GIF89a" + bytes(100)))
