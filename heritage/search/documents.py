"""A record as the search backends index it.

:func:`build_document` works on the record's canonical JSON (the ``records``
index row's ``data``), not on the pydantic model: a rebuild of a million records
must not validate each one again. Texts are grouped by weight (title over agents
over context over body), each group indexed as folded words and as stems, and
every short field also as ``field:word`` terms for field queries such as
``creator:rembrandt``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from heritage.records.rights import reuse_category
from heritage.search import analysis
from heritage.search.dates import century_of, decade_of, year_span

# Weight groups, best first; the backends boost them in this order.
GROUPS = ("title", "agents", "context", "body")
GROUP_FIELDS: dict[str, tuple[str, ...]] = {
    "title": ("title", "alternative"),
    "agents": ("creator", "contributor", "publisher"),
    "context": (
        "subject",
        "type",
        "medium",
        "technique",
        "spatial",
        "current_location",
        "temporal",
        "date",
        "created",
        "issued",
        "identifiers",
        "data_provider",
    ),
    "body": ("description", "provenance", "extent", "source", "relation", "is_part_of"),
}
# Names people may put before a colon, and the record fields each searches.
QUERY_FIELDS: dict[str, tuple[str, ...]] = {
    "title": ("title", "alternative"),
    "creator": ("creator",),
    "contributor": ("contributor",),
    "publisher": ("publisher",),
    "agent": ("creator", "contributor", "publisher"),
    "subject": ("subject",),
    "type": ("type",),
    "material": ("medium",),
    "technique": ("technique",),
    "place": ("spatial", "current_location"),
    "date": ("date", "created", "issued", "temporal"),
    "identifier": ("identifiers",),
    "description": ("description",),
    "provenance": ("provenance",),
    "provider": ("data_provider", "provider"),
}
_FIELD_OF: dict[str, list[str]] = {}
for _name, _fields in QUERY_FIELDS.items():
    for _field in _fields:
        _FIELD_OF.setdefault(_field, []).append(_name)

# Facets every backend counts; values are strings.
FACETS = (
    "type",
    "creator",
    "institution",
    "workspace",
    "century",
    "decade",
    "place",
    "subject",
    "material",
    "rights",
    "media",
    "status",
    "content_tier",
    "metadata_tier",
)
MAX_FACET_VALUE = 200
MAX_BODY_WORDS = 5_000
SNIPPET_SOURCE = 2_000  # characters of description kept for snippets

_MEDIA_BY_PREFIX = (
    ("image/", "image"),
    ("model/", "3d"),
    ("video/", "video"),
    ("audio/", "sound"),
    ("text/", "text"),
)
_MEDIA_BY_TYPE = {
    "application/pdf": "text",
    "application/xml": "text",
    "application/vnd.las": "pointcloud",
    "application/vnd.laszip": "pointcloud",
    "application/x-las": "pointcloud",
    "application/x-laz": "pointcloud",
    "application/x-e57": "pointcloud",
    "application/e57": "pointcloud",
    "application/ply": "3d",
    "application/sla": "3d",
    "application/x-ply": "3d",
}
_MEDIA_BY_SUFFIX = {
    "jpg": "image",
    "jpeg": "image",
    "png": "image",
    "tif": "image",
    "tiff": "image",
    "jp2": "image",
    "webp": "image",
    "gif": "image",
    "glb": "3d",
    "gltf": "3d",
    "obj": "3d",
    "stl": "3d",
    "ply": "3d",
    "las": "pointcloud",
    "laz": "pointcloud",
    "e57": "pointcloud",
    "pdf": "text",
    "txt": "text",
    "xml": "text",
    "mp3": "sound",
    "wav": "sound",
    "mp4": "video",
}
_MEDIA_BY_EDM_TYPE = {
    "IMAGE": "image",
    "3D": "3d",
    "TEXT": "text",
    "SOUND": "sound",
    "VIDEO": "video",
}


@dataclass(slots=True)
class SearchDocument:
    uuid: str
    workspace_id: int
    institution_id: int | None
    identifier: str
    title: str
    description: str
    words: dict[str, list[str]] = field(default_factory=dict)  # group -> folded words
    stems: dict[str, list[str]] = field(default_factory=dict)  # group -> stems
    field_terms: list[str] = field(default_factory=list)  # "creator:rembrandt"
    facets: dict[str, list[str]] = field(default_factory=dict)
    year_from: int | None = None
    year_to: int | None = None
    points: list[tuple[float, float]] = field(default_factory=list)  # (lat, lon)
    updated: int = 0  # milliseconds since the epoch
    title_key: str = ""  # folded title, for sorting by title
    suggestions: list[str] = field(default_factory=list)  # phrases offered while typing


def _labels(
    values: list[dict[str, Any]], entities: dict[str, dict[str, Any]]
) -> Iterable[tuple[str, str | None]]:
    """(text, language) of every value, with the labels of the entities it links to."""
    for value in values:
        text = value.get("value", "")
        if text:
            yield text, value.get("lang")
        ref = value.get("ref")
        entity = entities.get(ref) if ref else None
        if entity is not None:
            for label in [*entity.get("pref_label", ()), *entity.get("alt_label", ())]:
                if label.get("value"):
                    yield label["value"], label.get("lang")
        elif ref and not text:
            yield ref, None


def _facet_label(
    value: dict[str, Any], entities: dict[str, dict[str, Any]], language: str
) -> str | None:
    """One label per value for facets: the linked entity's in ``language`` if it has one."""
    ref = value.get("ref")
    entity = entities.get(ref) if ref else None
    if entity is not None:
        labels = [item for item in entity.get("pref_label", ()) if item.get("value")]
        for item in labels:
            if (item.get("lang") or "").split("-")[0] == language:
                return item["value"][:MAX_FACET_VALUE]
        for item in labels:
            if not item.get("lang"):
                return item["value"][:MAX_FACET_VALUE]
        if labels:
            return labels[0]["value"][:MAX_FACET_VALUE]
    text = " ".join(value.get("value", "").split())
    return text[:MAX_FACET_VALUE] or None


def _pick(values: list[dict[str, Any]], language: str) -> str:
    texts = [item for item in values if item.get("value")]
    for item in texts:
        if (item.get("lang") or "").split("-")[0] == language:
            return item["value"]
    for item in texts:
        if not item.get("lang"):
            return item["value"]
    return texts[0]["value"] if texts else ""


def media_kinds(data: dict[str, Any]) -> list[str]:
    """Kinds of media the record has: image, 3d, pointcloud, text, sound, video."""
    kinds: set[str] = set()
    for item in data.get("representations", ()):
        media_type = (item.get("media_type") or "").lower().split(";")[0].strip()
        kind = _MEDIA_BY_TYPE.get(media_type)
        if kind is None:
            for prefix, candidate in _MEDIA_BY_PREFIX:
                if media_type.startswith(prefix):
                    kind = candidate
                    break
        if kind is None:
            location = (item.get("file") or item.get("url") or "").lower().split("?")[0]
            suffix = location.rsplit(".", 1)[-1] if "." in location else ""
            kind = _MEDIA_BY_SUFFIX.get(suffix)
        if kind is None and item.get("iiif_service"):
            kind = "image"
        if kind is not None:
            kinds.add(kind)
    if not kinds and data.get("representations"):
        edm_kind = _MEDIA_BY_EDM_TYPE.get(data.get("edm_type") or "")
        if edm_kind:
            kinds.add(edm_kind)
    return sorted(kinds)


def _record_language(data: dict[str, Any], default: str) -> str:
    for value in data.get("language", ()):
        code = analysis.language_code(value.get("value"))
        if code:
            return code
    return default


def build_document(
    uuid: str,
    workspace_id: int,
    institution_id: int | None,
    data: dict[str, Any],
    status: str,
    updated_at: datetime | None,
    language: str = "en",
    tiers: tuple[int, str] | None = None,
) -> SearchDocument:
    """The search document of a record's canonical JSON ``data``; ``tiers``: its
    content and metadata tier (:mod:`heritage.quality`), None when not assessed."""
    entities = {item["id"]: item for item in data.get("entities", ()) if "id" in item}
    record_language = _record_language(data, language)
    title = (
        _pick(data.get("title", ()), language) or _pick(data.get("description", ()), language)[:120]
    )
    title = title or data.get("identifier", "")
    document = SearchDocument(
        uuid=uuid,
        workspace_id=workspace_id,
        institution_id=institution_id,
        identifier=data.get("identifier", ""),
        title=title[:500],
        description=_pick(data.get("description", ()), language)[:SNIPPET_SOURCE],
        updated=int(updated_at.timestamp() * 1000) if updated_at else 0,
        title_key=" ".join(analysis.words(title))[:200],
    )
    field_terms: set[str] = set()
    for group, names in GROUP_FIELDS.items():
        group_words: list[str] = []
        group_stems: list[str] = []
        for name in names:
            query_names = _FIELD_OF.get(name, ())
            for text, lang in _labels(data.get(name, ()), entities):
                folded = analysis.words(text)
                if group == "body" and len(group_words) > MAX_BODY_WORDS:
                    break
                group_words.extend(folded)
                code = analysis.language_code(lang) or record_language
                group_stems.extend(analysis.stems(folded, code) if code else folded)
                for query_name in query_names:
                    field_terms.update(f"{query_name}:{word}" for word in folded)
        if group == "context":
            identifier_words = analysis.words(data.get("identifier", ""))
            group_words.extend(identifier_words)
            group_stems.extend(identifier_words)
            field_terms.update(f"identifier:{word}" for word in identifier_words)
        for values in data.get("other", {}).values() if group == "body" else ():
            for text, _lang in _labels(values, entities):
                folded = analysis.words(text)
                group_words.extend(folded)
                group_stems.extend(folded)
        document.words[group] = group_words
        document.stems[group] = group_stems
    document.field_terms = sorted(field_terms)

    facets: dict[str, list[str]] = {}

    def labels_of(*names: str) -> list[str]:
        found: list[str] = []
        for name in names:
            for value in data.get(name, ()):
                label = _facet_label(value, entities, language)
                if label and label not in found:
                    found.append(label)
        return found

    if data.get("edm_type"):
        facets["type"] = [data["edm_type"]]
    facets["creator"] = labels_of("creator")
    facets["place"] = labels_of("spatial")
    facets["subject"] = labels_of("subject")
    facets["material"] = labels_of("medium")
    facets["workspace"] = [str(workspace_id)]
    if institution_id is not None:
        facets["institution"] = [str(institution_id)]
    category = reuse_category(data.get("rights"))
    facets["rights"] = [category.value if category else "unknown"]
    facets["media"] = media_kinds(data)
    facets["status"] = [status]
    if tiers is not None:
        facets["content_tier"] = [str(tiers[0])]
        facets["metadata_tier"] = [tiers[1]]

    date_texts = [
        text
        for name in ("date", "created", "issued", "temporal")
        for text, _lang in _labels(data.get(name, ()), {})
    ]
    for name in ("date", "created", "issued", "temporal"):
        for value in data.get(name, ()):
            entity = entities.get(value.get("ref") or "")
            if entity and entity.get("type") == "timespan":
                date_texts.extend(item for item in (entity.get("begin"), entity.get("end")) if item)
    span = year_span(date_texts)
    if span is not None:
        document.year_from, document.year_to = span
        # A span of many centuries would flood the facets: count the first ones.
        facets["century"] = [
            str(year) for year in range(century_of(span[0]), century_of(span[1]) + 1, 100)
        ][:5]
        facets["decade"] = [
            str(year) for year in range(decade_of(span[0]), decade_of(span[1]) + 1, 10)
        ][:12]
    document.facets = {name: values for name, values in facets.items() if values}

    for entity in entities.values():
        if (
            entity.get("type") == "place"
            and entity.get("lat") is not None
            and entity.get("long") is not None
        ):
            document.points.append((float(entity["lat"]), float(entity["long"])))

    suggestions = [title, *facets.get("creator", ())[:3], *facets.get("subject", ())[:5]]
    document.suggestions = [item[:120] for item in suggestions if item]
    return document
