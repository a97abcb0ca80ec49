"""A collection record: the Europeana Data Model's object, aggregation and context.

``Record`` holds one provided object (``edm:ProvidedCHO``) with its descriptive
fields (see :mod:`heritage.records.fields`), the provider's aggregation
(``ore:Aggregation``: rights, data provider, provider, landing page) with its
digital representations (``edm:WebResource``: files in the store or external
URLs), and the contextual entities it links to (``edm:Agent``, ``edm:Place``,
``edm:TimeSpan``, ``skos:Concept``). Every text may carry a language tag.

Values of properties the model has no field for are kept in ``other``, keyed by
their prefixed EDM property, so nothing an import brings is dropped.
"""

from __future__ import annotations

import hashlib
import re
from typing import Annotated, Any, Literal

import orjson
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from heritage.records.fields import EDM_TYPES, FIELDS, PREFIXES

PROPERTY_NAME = re.compile(r"^([A-Za-z][A-Za-z0-9_]*):([A-Za-z_][A-Za-z0-9_.-]*)$")
LANGUAGE_TAG = re.compile(r"^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$")
MAX_TEXT = 100_000

Identifier = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


def _clean_lang(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if not LANGUAGE_TAG.match(value):
        raise ValueError(f"'{value}' is not a language tag (BCP 47, for example en or de-AT)")
    return value


class Value(BaseModel):
    """One value of a property: a text with an optional language, a link, or a
    link with a label (the label in the language ``lang``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    value: str = Field("", max_length=MAX_TEXT)
    lang: str | None = None
    ref: str | None = Field(None, max_length=2000)

    @field_validator("value")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()

    @field_validator("lang")
    @classmethod
    def _lang(cls, value: str | None) -> str | None:
        return _clean_lang(value)

    @field_validator("ref")
    @classmethod
    def _ref(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        return value.strip()

    @model_validator(mode="after")
    def _not_empty(self) -> Value:
        if not self.value and not self.ref:
            raise ValueError("a value needs a text or a link")
        return self

    @classmethod
    def text(cls, value: str, lang: str | None = None) -> Value:
        return cls(value=value, lang=lang)

    @classmethod
    def link(cls, ref: str, label: str = "", lang: str | None = None) -> Value:
        return cls(value=label, ref=ref, lang=lang)

    def display(self) -> str:
        return self.value or self.ref or ""


EntityType = Literal["agent", "place", "timespan", "concept"]


class Entity(BaseModel):
    """A contextual entity: a person or organisation, a place, a time span or a concept.

    ``id`` is the entity's URI: a vocabulary's (Wikidata, GeoNames, Getty) or, for
    entities that only exist in this record, a ``#`` name local to the record.
    """

    model_config = ConfigDict(extra="forbid")

    id: Identifier
    type: EntityType
    pref_label: list[Value] = Field(default_factory=list)
    alt_label: list[Value] = Field(default_factory=list)
    note: list[Value] = Field(default_factory=list)
    same_as: list[str] = Field(default_factory=list)  # owl:sameAs / skos:exactMatch
    # agents and time spans
    begin: str | None = None
    end: str | None = None
    # agents
    profession: list[Value] = Field(default_factory=list)
    # places (WGS84)
    lat: float | None = Field(None, ge=-90, le=90)
    long: float | None = Field(None, ge=-180, le=180)
    # concepts
    broader: list[str] = Field(default_factory=list)

    def label(self, lang: str | None = None) -> str:
        return pick_text(self.pref_label, lang) or self.id


Role = Literal["primary", "view"]


class Representation(BaseModel):
    """A digital representation of the object (``edm:WebResource``).

    Either a file stored with the record (``file``, a path in its stored object)
    or an external URL (``url``). The primary one is the aggregation's
    ``edm:isShownBy``; others are ``edm:hasView``.
    """

    model_config = ConfigDict(extra="forbid")

    file: str | None = Field(None, max_length=1000)
    url: str | None = Field(None, max_length=2000)
    role: Role = "view"
    media_type: str | None = Field(None, max_length=200)
    label: list[Value] = Field(default_factory=list)
    rights: str | None = Field(None, max_length=500)  # edm:rights of this resource
    # IIIF Image API service of the image (svcs:Service), when it has one
    iiif_service: str | None = Field(None, max_length=2000)
    # the compliance level URI the service implements (doap:implements), which says its
    # Image API version: http://iiif.io/api/image/{2,3}/level{0,1,2}.json
    iiif_profile: str | None = Field(None, max_length=200)
    width: int | None = Field(None, ge=0)
    height: int | None = Field(None, ge=0)
    # a stored file copied from another server: the remote image's URL and IIIF Image
    # service it was copied from (heritage.iiif.copies), kept as its source
    source_url: str | None = Field(None, max_length=2000)
    source_service: str | None = Field(None, max_length=2000)
    # Europeana's 3D properties of the web resource (edm:vertexCount, edm:polygonCount,
    # edm:pointCount), written by the analysis of a 3D model (heritage.threed)
    vertex_count: int | None = Field(None, ge=0)
    polygon_count: int | None = Field(None, ge=0)
    point_count: int | None = Field(None, ge=0)
    # Other stored files that make one representation with ``file``: a glTF's buffers
    # and images, an OBJ's material library and textures (paths in the stored object).
    parts: list[str] = Field(default_factory=list, max_length=2000)

    @model_validator(mode="after")
    def _one_location(self) -> Representation:
        if bool(self.file) == bool(self.url):
            raise ValueError("a representation is either a stored file or an external URL")
        if self.parts and not self.file:
            raise ValueError("only a stored file has parts")
        return self


class Record(BaseModel):
    """One record. ``identifier`` is the provider's own identifier for it: imports
    find the record again by it, so re-importing updates instead of duplicating."""

    model_config = ConfigDict(extra="forbid")

    identifier: Identifier
    # the provided object (edm:ProvidedCHO)
    title: list[Value] = Field(default_factory=list)
    alternative: list[Value] = Field(default_factory=list)
    description: list[Value] = Field(default_factory=list)
    creator: list[Value] = Field(default_factory=list)
    contributor: list[Value] = Field(default_factory=list)
    publisher: list[Value] = Field(default_factory=list)
    date: list[Value] = Field(default_factory=list)
    created: list[Value] = Field(default_factory=list)
    issued: list[Value] = Field(default_factory=list)
    temporal: list[Value] = Field(default_factory=list)
    type: list[Value] = Field(default_factory=list)
    subject: list[Value] = Field(default_factory=list)
    medium: list[Value] = Field(default_factory=list)
    technique: list[Value] = Field(default_factory=list)
    extent: list[Value] = Field(default_factory=list)
    spatial: list[Value] = Field(default_factory=list)
    current_location: list[Value] = Field(default_factory=list)
    identifiers: list[Value] = Field(default_factory=list)
    language: list[Value] = Field(default_factory=list)
    rights_statement: list[Value] = Field(default_factory=list)
    provenance: list[Value] = Field(default_factory=list)
    source: list[Value] = Field(default_factory=list)
    relation: list[Value] = Field(default_factory=list)
    is_part_of: list[Value] = Field(default_factory=list)
    edm_type: str | None = None  # edm:type: TEXT, IMAGE, SOUND, VIDEO or 3D
    # the aggregation (ore:Aggregation)
    data_provider: list[Value] = Field(default_factory=list)
    provider: list[Value] = Field(default_factory=list)
    rights: str | None = Field(None, max_length=500)  # edm:rights: a licence or statement URI
    is_shown_at: str | None = Field(None, max_length=2000)  # landing page
    preview: str | None = Field(None, max_length=2000)  # edm:object: a thumbnail URL
    representations: list[Representation] = Field(default_factory=list)
    # contextual entities the values link to
    entities: list[Entity] = Field(default_factory=list)
    # values of EDM properties without a field, keyed by prefixed property name
    other: dict[str, list[Value]] = Field(default_factory=dict)

    @field_validator("edm_type")
    @classmethod
    def _edm_type(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip().upper()
        if value not in EDM_TYPES:
            raise ValueError(f"'{value}' is not an EDM type ({', '.join(EDM_TYPES)})")
        return value

    @field_validator("other")
    @classmethod
    def _other(cls, value: dict[str, list[Value]]) -> dict[str, list[Value]]:
        for name in value:
            match = PROPERTY_NAME.match(name)
            if not match or match.group(1) not in PREFIXES:
                known = ", ".join(sorted(PREFIXES))
                raise ValueError(f"'{name}' is not a property name with a known prefix ({known})")
        return {name: items for name, items in value.items() if items}

    # -- reading -----------------------------------------------------------------------------

    def values(self, name: str) -> list[Value]:
        return list(getattr(self, name))

    def display_title(self, lang: str | None = None) -> str:
        return (
            pick_text(self.title, lang)
            or pick_text(self.description, lang)[:120]
            or self.identifier
        )

    def entity(self, ref: str) -> Entity | None:
        for entity in self.entities:
            if entity.id == ref:
                return entity
        return None

    def primary_representation(self) -> Representation | None:
        for item in self.representations:
            if item.role == "primary":
                return item
        return self.representations[0] if self.representations else None

    def canonical(self) -> dict[str, Any]:
        """The record as plain JSON, without empty fields: what versions compare."""
        return self.model_dump(mode="json", exclude_defaults=True)

    def content_hash(self) -> str:
        """SHA-256 of the canonical JSON: equal for records with equal content."""
        return hash_canonical(self.canonical())


def hash_canonical(canonical: dict[str, Any]) -> str:
    """:meth:`Record.content_hash` of the record whose :meth:`Record.canonical` this is."""
    return hashlib.sha256(orjson.dumps(canonical, option=orjson.OPT_SORT_KEYS)).hexdigest()


def pick_text(values: list[Value], lang: str | None = None) -> str:
    """The value in ``lang`` if there is one, else one without a language, else the first."""
    texts = [item for item in values if item.value]
    if not texts:
        return ""
    if lang:
        for item in texts:
            if item.lang and item.lang.split("-")[0].lower() == lang.lower():
                return item.value
    for item in texts:
        if item.lang is None:
            return item.value
    return texts[0].value


LIST_FIELDS = tuple(spec.name for spec in FIELDS)
assert all(name in Record.model_fields for name in LIST_FIELDS)
