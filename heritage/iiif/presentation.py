"""IIIF Presentation API 3.0: a manifest per record with images, a collection per workspace
and one per dataset (an import).

Plain dictionaries in the shape of the official JSON Schema
(``iiif_3_0.json``; the tests validate every document against it). Labels and metadata
keep the record's languages; values without a language go under ``none``.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from heritage.iiif.derive import THUMBNAIL_WIDTHS
from heritage.iiif.image_api import PROFILE
from heritage.iiif.models import DerivativeStatus, ImageDerivative
from heritage.records.fields import FIELDS, Group
from heritage.records.model import Record, Representation, Value

CONTEXT = "http://iiif.io/api/presentation/3/context.json"
EDM_PROFILE = "http://www.europeana.eu/schemas/edm/"
# the record fields shown as manifest metadata, in the order of the record form
# what Presentation 3 accepts as ``rights``; other statements go into the metadata
RIGHTS = re.compile(
    r"^http://(creativecommons\.org/(licenses|publicdomain)/|rightsstatements\.org/vocab/)"
)
SKIPPED = {"title", "description", "data_provider", "provider", "rights"}


def language_map(values: list[Value], fallback: str = "") -> dict[str, list[str]]:
    mapped: dict[str, list[str]] = defaultdict(list)
    for value in values:
        text = value.value or value.ref or ""
        if text:
            mapped[value.lang or "none"].append(text)
    if not mapped and fallback:
        mapped["none"].append(fallback)
    return dict(mapped)


def _english(text: str) -> dict[str, list[str]]:
    return {"en": [text]}


def image_service(base: str, row: ImageDerivative) -> dict[str, Any]:
    return {"id": f"{base}/iiif/3/{row.identifier}", "type": "ImageService3", "profile": PROFILE}


def thumbnail(base: str, row: ImageDerivative) -> dict[str, Any]:
    assert row.width is not None and row.height is not None
    width = min(THUMBNAIL_WIDTHS[-1], row.width)
    return {
        "id": f"{base}/iiif/3/{row.identifier}/full/{width},/0/default.jpg",
        "type": "Image",
        "format": "image/jpeg",
        "width": width,
        "height": max(1, round(row.height * width / row.width)),
        "service": [image_service(base, row)],
    }


def _metadata(record: Record) -> list[dict[str, Any]]:
    entries = []
    for spec in FIELDS:
        if spec.name in SKIPPED or spec.group is not Group.OBJECT:
            continue
        values = getattr(record, spec.name, None)
        if not isinstance(values, list) or not values:
            continue
        value = language_map(values)  # links show their label, else the URI itself
        if value:
            entries.append({"label": _english(spec.label), "value": value})
    entries.append({"label": _english("Identifier"), "value": {"none": [record.identifier]}})
    return entries


def manifest(
    base: str,
    record_uuid: str,
    version: str,
    record: Record,
    images: list[ImageDerivative],
    *,
    institution: tuple[str, str],
) -> dict[str, Any]:
    """The manifest of a record; ``images`` are its ready images in order.
    ``institution`` is the slug and name of the institution holding the record."""
    own = f"{base}/iiif/presentation/records/{record_uuid}"
    ready = {row.path: row for row in images if row.status is DerivativeStatus.READY}
    canvases = []
    first_local: ImageDerivative | None = None
    for item in record.representations:
        row = ready.get(item.file) if item.file else None
        if row is not None:
            assert row.width is not None and row.height is not None
            first_local = first_local or row
            body: dict[str, Any] | None = {
                "id": f"{base}/iiif/3/{row.identifier}/full/max/0/default.jpg",
                "type": "Image",
                "format": "image/jpeg",
                "width": row.width,
                "height": row.height,
                "service": [image_service(base, row)],
            }
            label = row.path.removeprefix("media/")
            extra = {"thumbnail": [thumbnail(base, row)]}
        else:
            body = remote_image(item)
            label = item.url.rsplit("/", 1)[-1] if item.url else ""
            extra = {}
        if body is None:
            continue
        canvas_id = f"{own}/canvas/{len(canvases) + 1}"
        canvases.append(
            {
                "id": canvas_id,
                "type": "Canvas",
                "label": language_map(item.label, fallback=label or f"{len(canvases) + 1}"),
                "width": body["width"],
                "height": body["height"],
                **extra,
                "items": [
                    {
                        "id": f"{canvas_id}/page",
                        "type": "AnnotationPage",
                        "items": [
                            {
                                "id": f"{canvas_id}/page/image",
                                "type": "Annotation",
                                "motivation": "painting",
                                "body": body,
                                "target": canvas_id,
                            }
                        ],
                    }
                ],
            }
        )
    slug, name = institution
    attribution = language_map(record.data_provider, fallback=name)
    document: dict[str, Any] = {
        "@context": CONTEXT,
        "id": f"{own}/manifest",
        "type": "Manifest",
        "label": language_map(record.title, fallback=record.identifier),
        "metadata": _metadata(record),
        "requiredStatement": {"label": _english("Attribution"), "value": attribution},
        "provider": [
            {
                "id": f"{base}/institutions/{slug}",
                "type": "Agent",
                "label": {"none": [name]},
                "homepage": [
                    {
                        "id": f"{base}/institutions/{slug}",
                        "type": "Text",
                        "label": {"none": [name]},
                        "format": "text/html",
                    }
                ],
            }
        ],
        "homepage": [
            {
                "id": f"{base}/records/{record_uuid}",
                "type": "Text",
                "label": language_map(record.title, fallback=record.identifier),
                "format": "text/html",
            }
        ],
        "seeAlso": [
            {
                "id": f"{base}/api/records/{record_uuid}/versions/{version}",
                "type": "Dataset",
                "format": "application/ld+json",
                "profile": EDM_PROFILE,
            }
        ],
        "items": canvases,
    }
    if record.description:
        document["summary"] = language_map(record.description)
    if record.rights and RIGHTS.match(record.rights):
        document["rights"] = record.rights
    elif record.rights:
        document["metadata"].append(
            {"label": _english("Rights"), "value": {"none": [record.rights]}}
        )
    if first_local is not None:
        document["thumbnail"] = [thumbnail(base, first_local)]
    return document


_REMOTE_SERVICE_VERSION = re.compile(r"^http://iiif\.io/api/image/([23])/level([012])\.json$")


def remote_image(item: Representation) -> dict[str, Any] | None:
    """The painting body of an image on another server, shown from there: its URL, and
    its Image API service where the version it implements is known (a client must know
    it to build requests); None when it is not an image of known size."""
    if item.url is None or item.width is None or item.height is None:
        return None
    if not (item.iiif_service or (item.media_type or "").startswith("image/")):
        return None
    body: dict[str, Any] = {
        "id": item.url,
        "type": "Image",
        "format": item.media_type or "image/jpeg",
        "width": item.width,
        "height": item.height,
    }
    level = _REMOTE_SERVICE_VERSION.match(item.iiif_profile or "")
    if item.iiif_service and level is not None:
        if level.group(1) == "3":
            body["service"] = [
                {
                    "id": item.iiif_service,
                    "type": "ImageService3",
                    "profile": f"level{level.group(2)}",
                }
            ]
        else:  # Presentation 3 names older services with JSON-LD 1.0 keys
            body["service"] = [
                {"@id": item.iiif_service, "@type": "ImageService2", "profile": item.iiif_profile}
            ]
    return body


def _manifest_refs(base: str, members: list[tuple[str, Record]]) -> list[dict[str, Any]]:
    return [
        {
            "id": f"{base}/iiif/presentation/records/{record_uuid}/manifest",
            "type": "Manifest",
            "label": language_map(record.title, fallback=record.identifier),
        }
        for record_uuid, record in members
    ]


def workspace_collection_id(base: str, workspace_slug: str) -> str:
    return f"{base}/iiif/presentation/workspaces/{workspace_slug}/collection"


def dataset_collection_id(base: str, import_id: str) -> str:
    return f"{base}/iiif/presentation/imports/{import_id}/collection"


def collection(
    base: str,
    workspace_slug: str,
    name: str,
    members: list[tuple[str, Record]],
    datasets: Sequence[tuple[str, dict[str, list[str]]]] = (),
) -> dict[str, Any]:
    """The collection of a workspace: a reference to the manifest of each record with
    images (``members``: uuid and record), then one to the collection of each of its
    datasets (``datasets``: import id and label)."""
    return {
        "@context": CONTEXT,
        "id": workspace_collection_id(base, workspace_slug),
        "type": "Collection",
        "label": {"none": [name]},
        "items": _manifest_refs(base, members)
        + [
            {"id": dataset_collection_id(base, import_id), "type": "Collection", "label": label}
            for import_id, label in datasets
        ],
    }


def dataset_collection(
    base: str,
    import_id: str,
    label: dict[str, list[str]],
    members: list[tuple[str, Record]],
    *,
    workspace_slug: str,
    page: int | None = None,
    pages: int = 0,
) -> dict[str, Any]:
    """The collection of an import's records with images. ``pages`` > 0: the collection
    is large and lists its pages (sub-collections) instead; ``page``: one of those."""
    own = dataset_collection_id(base, import_id)
    document: dict[str, Any] = {
        "@context": CONTEXT,
        "id": own if page is None else f"{own}/{page}",
        "type": "Collection",
        "label": label,
    }
    if page is None:
        document["homepage"] = [
            {
                "id": f"{base}/imports/{import_id}",
                "type": "Text",
                "label": label,
                "format": "text/html",
            }
        ]
        document["partOf"] = [
            {"id": workspace_collection_id(base, workspace_slug), "type": "Collection"}
        ]
    else:
        document["partOf"] = [{"id": own, "type": "Collection"}]
    if pages:
        text = next(iter(label.values()))[0]
        document["items"] = [
            {
                "id": f"{own}/{number}",
                "type": "Collection",
                "label": {"none": [f"{text}: {number}/{pages}"]},
            }
            for number in range(1, pages + 1)
        ]
    else:
        document["items"] = _manifest_refs(base, members)
    return document
