"""What the API and the pages show of a record's 3D models: analysis, derivative and
thumbnail URLs, paradata, quality report, the embeddable viewer and its oEmbed URL."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from heritage.accounts.identity import Identity
from heritage.records.services import MEDIA_FOLDER
from heritage.runtime import Runtime
from heritage.threed.paradata import model_units
from heritage.threed.services import ModelView, ThreeDService

THUMBNAILS = ("thumbnail-200", "thumbnail-400", "turntable")


def short(path: str) -> str:
    """The model's path as URLs name it (without the media folder)."""
    return path.removeprefix(MEDIA_FOLDER)


def derivative_url(record_uuid: str, path: str, name: str) -> str:
    return f"/api/records/{record_uuid}/models/derivatives?" + urlencode(
        {"file": short(path), "name": name}
    )


def viewer_url(record_uuid: str, path: str) -> str:
    return f"/embed/records/{record_uuid}/model?" + urlencode({"file": short(path)})


def model_json(
    runtime: Runtime, identity: Identity, record_uuid: str, item: ModelView
) -> dict[str, Any]:
    row = item.row
    files = (row.derivatives or {}).get("files") or {}
    derivatives = {
        name: {
            "url": derivative_url(record_uuid, row.path, name),
            **{key: value for key, value in entry.items() if key not in {"file", "encrypted"}},
        }
        for name, entry in files.items()
        if name not in THUMBNAILS
    }
    thumbnails = {
        name.removeprefix("thumbnail-"): derivative_url(record_uuid, row.path, name)
        for name in THUMBNAILS
        if name in files
    }
    viewer = viewer_url(record_uuid, row.path)
    base = runtime.settings.base_url.rstrip("/")
    return {
        "file": row.path,
        "format": row.format,
        "status": str(row.status),
        "error": row.error,
        "master_sha256": row.master_sha256,
        "analysis": row.analysis or None,
        "units": model_units(row.analysis or {}, item.paradata),
        "paradata": row.paradata or {},
        "quality": ThreeDService(runtime).report(identity, record_uuid, item),
        "derivatives": derivatives,
        "thumbnails": thumbnails,
        "viewer": viewer,
        "oembed": "/api/oembed?" + urlencode({"url": base + viewer, "format": "json"}),
    }


def models_json(runtime: Runtime, identity: Identity, record_uuid: str) -> dict[str, Any]:
    """The record's 3D models by their main file."""
    service = ThreeDService(runtime)
    return {
        item.row.path: model_json(runtime, identity, record_uuid, item)
        for item in service.models(identity, record_uuid)
    }


def web_model(model: dict[str, Any]) -> str | None:
    """The derivative the viewer opens first: the smallest level of detail, or the
    point cloud's web version."""
    found = model["derivatives"]
    for name in ("lod-100k", "points-web", "lod-1m"):
        if name in found:
            return found[name]["url"]
    return None
