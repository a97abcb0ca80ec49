"""Europeana's content tier (0-4): the best digital file, capped by the licence.

The rules follow Metis' classifiers (``metis-indexing/.../tiers/media``,
``docs/tiers.md``): each web resource of the record is rated by the record's
``edm:type``, the best one wins, a landing page (``edm:isShownAt``) is worth
tier 1 where the type allows it, and the reuse category of ``edm:rights`` caps
the result (open 4, restricted 3, closed 2).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from heritage.quality.findings import N_, Finding, finding
from heritage.quality.media import READY_IMAGE, READY_MODEL, MediaFacts
from heritage.records.model import Record, Representation
from heritage.records.rights import ReuseCategory, reuse_category
from heritage.records.validation import media_kind

# ImageClassifier: RESOLUTION_LARGE, _MEDIUM, _SMALL (width × height), best first.
IMAGE_STEPS: tuple[tuple[int, int], ...] = ((950_000, 4), (420_000, 2), (100_000, 1))
# What each image step looks like, for hints: pixels -> an example size.
IMAGE_EXAMPLES = {950_000: "1200 × 800", 420_000: "800 × 533", 100_000: "400 × 250"}
VIDEO_LARGE_HEIGHT = 480  # VideoClassifier.LARGE_VERTICAL_SIZE
# Players Europeana embeds (its oEmbed registry): a link to one is worth tier 4 for
# video, sound and 3D. The 3D patterns are those of the EDM 3D profile.
EMBEDDABLE: tuple[re.Pattern[str], ...] = tuple(
    re.compile(pattern, re.IGNORECASE)
    for pattern in (
        r"^https?://(www\.)?sketchfab\.com/(3d-models|models|show)/",
        r"^https?://[^/]*weave[^/]*/asset/",
        r"^https?://(www\.)?youtube\.com/(watch|embed)",
        r"^https?://youtu\.be/",
        r"^https?://(www\.|player\.)?vimeo\.com/",
        r"^https?://(www\.)?soundcloud\.com/",
    )
)
PDF = "application/pdf"


@dataclass(frozen=True)
class WebResource:
    """One digital file or URL of the record, with what is known of it."""

    name: str
    kind: str | None  # the edm:type it suggests: IMAGE, TEXT, SOUND, VIDEO, 3D
    pdf: bool = False
    width: int | None = None
    height: int | None = None
    embeddable: bool = False
    technical: bool = False  # a 3D model analysed here, or one whose counts are given
    waiting: str = ""  # why the size is unknown: "pending", "failed", "remote"

    @property
    def pixels(self) -> int | None:
        if self.width is None or self.height is None:
            return None
        return self.width * self.height


def web_resources(record: Record, media: MediaFacts) -> list[WebResource]:
    return [_resource(item, media) for item in record.representations]


def _resource(item: Representation, media: MediaFacts) -> WebResource:
    name = item.file or item.url or ""
    kind = media_kind(item)
    media_type = (item.media_type or "").split(";", 1)[0].strip().lower()
    pdf = media_type == PDF or name.lower().split("?", 1)[0].endswith(".pdf")
    width, height, waiting = item.width, item.height, ""
    technical = any(
        count is not None for count in (item.vertex_count, item.polygon_count, item.point_count)
    )
    if item.file and item.file in media.images:
        image = media.images[item.file]
        if image.status == READY_IMAGE:
            width, height = image.width, image.height
        else:
            width = height = None
            waiting = image.status
    elif item.url and kind == "IMAGE" and (width is None or height is None):
        waiting = "remote"
    if item.file and item.file in media.models:
        technical = media.models[item.file].status == READY_MODEL
    embeddable = bool(item.url) and any(pattern.match(item.url or "") for pattern in EMBEDDABLE)
    return WebResource(name, kind, pdf, width, height, embeddable, technical, waiting)


def image_level(pixels: int | None) -> int:
    """The tier an image of ``pixels`` pixels gives (0 when the size is unknown)."""
    if pixels is None:
        return 0
    for minimum, level in IMAGE_STEPS:
        if pixels >= minimum:
            return level
    return 0


# -- rating one web resource by the record's type --------------------------------------------------

Rating = tuple[int, Finding]
_CODE = "content.media"


def _image_rating(resource: WebResource, *, text: bool = False) -> Rating:
    pixels = resource.pixels
    level = image_level(pixels)
    if pixels is None:
        reasons = {
            "pending": N_("The image {name} is still being processed; its size is not known yet."),
            "failed": N_("No derivatives could be made of the image {name}, so it has no preview."),
            "remote": N_(
                "The size of the linked image {name} is not known (no width and height given)."
            ),
        }
        message = reasons.get(resource.waiting, reasons["remote"])
        return level, finding(_CODE, level, message, name=resource.name)
    message = N_("The best image, {name}, has {pixels} pixels ({width} × {height}).")
    if text and level:
        message = N_("The best page image, {name}, has {pixels} pixels ({width} × {height}).")
    return level, finding(
        _CODE,
        level,
        message,
        name=resource.name,
        pixels=f"{pixels:,}",
        width=resource.width,
        height=resource.height,
    )


def _no_media(level: int, edm_type: str) -> Rating:
    if level:
        return level, finding(
            _CODE,
            level,
            N_(
                "The record links to its web page (edm:isShownAt), but has no {type} file "
                "that counts for a higher tier."
            ),
            type=edm_type,
        )
    return 0, finding(
        _CODE,
        0,
        N_(
            "The record has no web page (edm:isShownAt) and no digital file that counts for "
            "a record of type {type}."
        ),
        type=edm_type,
    )


def _rate_image(resource: WebResource) -> Rating | None:
    return _image_rating(resource) if resource.kind == "IMAGE" else None


def _rate_text(resource: WebResource) -> Rating | None:
    if resource.pdf:
        return 4, finding(_CODE, 4, N_("{name} is a PDF document."), name=resource.name)
    if resource.kind == "IMAGE":
        return _image_rating(resource, text=True)
    return None


def _rate_video(resource: WebResource) -> Rating | None:
    if resource.embeddable:
        return 4, finding(_CODE, 4, N_("{name} is an embeddable player."), name=resource.name)
    if resource.kind != "VIDEO":
        return None
    if resource.height is not None and resource.height >= VIDEO_LARGE_HEIGHT:
        return 4, finding(
            _CODE,
            4,
            N_("The video {name} is {height} pixels high."),
            name=resource.name,
            height=resource.height,
        )
    return 1, finding(
        _CODE,
        1,
        N_("{name} is a video whose height is below {minimum} pixels or not known."),
        name=resource.name,
        minimum=VIDEO_LARGE_HEIGHT,
    )


def _rate_sound(resource: WebResource) -> Rating | None:
    if resource.embeddable:
        return 4, finding(_CODE, 4, N_("{name} is an embeddable player."), name=resource.name)
    if resource.kind == "SOUND":
        return 4, finding(_CODE, 4, N_("{name} is an audio file."), name=resource.name)
    return None


def _rate_3d(resource: WebResource) -> Rating | None:
    if resource.embeddable:
        return 4, finding(_CODE, 4, N_("{name} is an embeddable 3D viewer."), name=resource.name)
    if resource.kind in (None, "IMAGE") or resource.pdf:
        return None
    if resource.technical:
        return 4, finding(
            _CODE,
            4,
            N_("{name} is a 3D model with technical metadata (its analysis)."),
            name=resource.name,
        )
    return 0, finding(
        _CODE,
        0,
        N_("{name} has no technical metadata yet: the 3D analysis has not finished or failed."),
        name=resource.name,
    )


@dataclass(frozen=True)
class TypeRule:
    """How one edm:type rates a web resource, and what its landing page is worth."""

    edm_type: str
    rate: Callable[[WebResource], Rating | None]
    landing_page: int  # the tier edm:isShownAt alone gives
    hints: dict[int, str]  # how to reach the next level, by the level reached


CONTENT_RULES: tuple[TypeRule, ...] = (
    TypeRule(
        "IMAGE",
        _rate_image,
        0,
        {
            0: N_("Add an image of at least 100,000 pixels (about 400 × 250) for tier 1."),
            1: N_("Add an image of at least 420,000 pixels (about 800 × 533) for tier 2."),
            2: N_("Add an image of at least 950,000 pixels (about 1200 × 800) for tier 4."),
        },
    ),
    TypeRule(
        "TEXT",
        _rate_text,
        1,
        {
            0: N_(
                "Add the object's web page (edm:isShownAt) or page images of at least "
                "100,000 pixels for tier 1."
            ),
            1: N_("Add page images of at least 420,000 pixels for tier 2, or a PDF for tier 4."),
            2: N_("Add a PDF, or page images of at least 950,000 pixels, for tier 4."),
        },
    ),
    TypeRule(
        "VIDEO",
        _rate_video,
        1,
        {
            0: N_("Add the object's web page (edm:isShownAt) or a video file for tier 1."),
            1: N_(
                "Add a video at least 480 pixels high, or a link to an embeddable player "
                "(YouTube, Vimeo), for tier 4."
            ),
        },
    ),
    TypeRule(
        "SOUND",
        _rate_sound,
        1,
        {
            0: N_(
                "Add the object's web page (edm:isShownAt) for tier 1, or an audio file for tier 4."
            ),
            1: N_("Add an audio file, or a link to an embeddable player (SoundCloud), for tier 4."),
        },
    ),
    TypeRule(
        "3D",
        _rate_3d,
        1,
        {
            0: N_(
                "Add the object's web page (edm:isShownAt) for tier 1, or a 3D model for "
                "tier 4: images and PDFs alone do not count for 3D."
            ),
            1: N_(
                "Add a 3D model (analysed here once uploaded) or the oEmbed link of an "
                "embeddable viewer such as Sketchfab for tier 4."
            ),
        },
    ),
)
CONTENT_RULES_BY_TYPE = {rule.edm_type: rule for rule in CONTENT_RULES}


def media_finding(record: Record, media: MediaFacts) -> Finding:
    """The media tier (before the licence cap): the best web resource wins."""
    rule = CONTENT_RULES_BY_TYPE.get(record.edm_type or "")
    if rule is None:
        return finding(
            _CODE,
            0,
            N_("The type of the digital object is not set (edm:type), so no file counts."),
            N_("Choose TEXT, IMAGE, SOUND, VIDEO or 3D."),
        )
    best: Rating | None = None
    if record.is_shown_at and rule.landing_page:
        best = _no_media(rule.landing_page, rule.edm_type)
    for resource in web_resources(record, media):
        rating = rule.rate(resource)
        if rating is not None and (best is None or rating[0] > best[0]):
            best = rating
    if best is None:
        best = _no_media(0, rule.edm_type)
    level, found = best
    hint = rule.hints.get(level, "")
    return Finding(found.code, found.level, found.message, hint, found.params)


# -- the licence ----------------------------------------------------------------------------------

LICENCE_HINTS: dict[ReuseCategory, str] = {
    ReuseCategory.OPEN: "",
    ReuseCategory.RESTRICTED: N_(
        "Tier 4 needs an open licence: CC BY, CC BY-SA, CC0 or the Public Domain Mark."
    ),
    ReuseCategory.CLOSED: N_(
        "Tier 3 needs a licence that allows some reuse (for example CC BY-NC, NoC-NC or "
        "InC-EDU); tier 4 an open one (CC BY, CC BY-SA, CC0, Public Domain Mark)."
    ),
}


def licence_finding(record: Record) -> Finding:
    category = reuse_category(record.rights)
    if category is None:
        return finding(
            "content.licence",
            ReuseCategory.CLOSED.tier_cap,
            N_(
                "The rights (edm:rights) are not a licence or statement Europeana accepts, so "
                "the content tier is at most 2."
            ),
            LICENCE_HINTS[ReuseCategory.CLOSED],
        )
    return finding(
        "content.licence",
        category.tier_cap,
        N_("The rights allow {category} reuse: the content tier is at most {cap}."),
        LICENCE_HINTS[category],
        category=category.value,
        cap=category.tier_cap,
    )
