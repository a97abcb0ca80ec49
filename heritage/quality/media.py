"""What the tiers need to know about a record's media beyond the record itself.

The record says which files and URLs it has; the image derivative job
(:mod:`heritage.iiif`) learns each stored image's size, and the 3D analysis
(:mod:`heritage.threed`) whether a stored model could be read and measured.
:func:`load_media_facts` reads both for many records with two queries, so a
search rebuild pays once per batch, not once per record. The facts are plain
tuples: they travel to the rebuild's worker processes.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from heritage.iiif.models import DerivativeStatus, ImageDerivative
from heritage.threed.models import ModelStatus, ThreeDModel


@dataclass(frozen=True)
class ImageFacts:
    """A stored image: its pixel size once derivatives (with thumbnails) were made."""

    status: str  # pending, ready or failed (DerivativeStatus)
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True)
class ModelFacts:
    """A stored 3D model: ``ready`` once analysed, with the counts the analysis found."""

    status: str  # queued, ready, rejected or failed (ModelStatus)


@dataclass(frozen=True)
class MediaFacts:
    """The facts of one record's stored files, by their path in the record."""

    images: dict[str, ImageFacts] = field(default_factory=dict)
    models: dict[str, ModelFacts] = field(default_factory=dict)

    def to_plain(self) -> tuple[dict[str, tuple[str, int | None, int | None]], dict[str, str]]:
        images = {
            path: (item.status, item.width, item.height) for path, item in self.images.items()
        }
        return images, {path: item.status for path, item in self.models.items()}

    @classmethod
    def from_plain(
        cls, plain: tuple[dict[str, tuple[str, int | None, int | None]], dict[str, str]] | None
    ) -> MediaFacts:
        if not plain:
            return NO_FACTS
        images, models = plain
        return cls(
            {path: ImageFacts(*values) for path, values in images.items()},
            {path: ModelFacts(status) for path, status in models.items()},
        )


NO_FACTS = MediaFacts()
READY_IMAGE = DerivativeStatus.READY.value
READY_MODEL = ModelStatus.READY.value


def load_media_facts(session: Session, record_uuids: Collection[str]) -> dict[str, MediaFacts]:
    """The media facts of each record in ``record_uuids`` that has stored images or models."""
    if not record_uuids:
        return {}
    uuids = list(record_uuids)
    images: dict[str, dict[str, ImageFacts]] = {}
    for uuid, path, status, width, height in session.execute(
        select(
            ImageDerivative.record_uuid,
            ImageDerivative.path,
            ImageDerivative.status,
            ImageDerivative.width,
            ImageDerivative.height,
        ).where(ImageDerivative.record_uuid.in_(uuids))
    ):
        images.setdefault(uuid, {})[path] = ImageFacts(
            DerivativeStatus(status).value, width, height
        )
    models: dict[str, dict[str, ModelFacts]] = {}
    for uuid, path, status in session.execute(
        select(ThreeDModel.record_uuid, ThreeDModel.path, ThreeDModel.status).where(
            ThreeDModel.record_uuid.in_(uuids)
        )
    ):
        models.setdefault(uuid, {})[path] = ModelFacts(ModelStatus(status).value)
    return {
        uuid: MediaFacts(images.get(uuid, {}), models.get(uuid, {}))
        for uuid in set(images) | set(models)
    }
