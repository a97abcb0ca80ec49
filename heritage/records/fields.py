"""The descriptive fields of a record, one table that everything else reads.

Each field names the EDM property it maps to, the class it belongs to
(the provided object or the aggregation), what kind of values it takes, and the
spreadsheet headers that suggest it. The JSON-LD writer, the edit form, the
spreadsheet mapping, batch editing, diffs and ``docs/records.md`` all follow
this table, so adding a field here adds it everywhere.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class ValueKind(enum.StrEnum):
    # free text, any number of values, each with an optional language tag;
    # a value may instead (or as well) link to a vocabulary term or an entity
    TEXT = "text"
    # like TEXT, but the values are expected to be links (agents, places, concepts)
    LINKED = "linked"
    # dates and periods: text (ISO 8601 or free) or a link to a time span
    DATE = "date"
    # codes without language (ISO 639 language codes)
    CODE = "code"


class Group(enum.StrEnum):
    OBJECT = "object"  # edm:ProvidedCHO
    AGGREGATION = "aggregation"  # ore:Aggregation


@dataclass(frozen=True)
class FieldSpec:
    name: str
    property: str  # the EDM property, prefixed (see heritage.records.jsonld.PREFIXES)
    label: str
    kind: ValueKind
    group: Group = Group.OBJECT
    help: str = ""
    headers: tuple[str, ...] = ()  # spreadsheet headers (lower case) that suggest the field


FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec(
        "title",
        "dc:title",
        "Title",
        ValueKind.TEXT,
        help="The name given to the object; one per language.",
        headers=("title", "titel", "titre", "name", "object name", "objectname"),
    ),
    FieldSpec(
        "alternative",
        "dcterms:alternative",
        "Other title",
        ValueKind.TEXT,
        help="Alternative, former or translated titles.",
        headers=("alternative title", "other title", "subtitle"),
    ),
    FieldSpec(
        "description",
        "dc:description",
        "Description",
        ValueKind.TEXT,
        help="A description of the object, one per language.",
        headers=("description", "beschreibung", "abstract", "notes", "inscription"),
    ),
    FieldSpec(
        "creator",
        "dc:creator",
        "Creator",
        ValueKind.LINKED,
        help="Who made the object; link to an agent (ULAN, Wikidata) where you can.",
        headers=("creator", "artist", "author", "maker", "künstler", "hersteller"),
    ),
    FieldSpec(
        "contributor",
        "dc:contributor",
        "Contributor",
        ValueKind.LINKED,
        headers=("contributor",),
    ),
    FieldSpec(
        "publisher",
        "dc:publisher",
        "Publisher",
        ValueKind.LINKED,
        headers=("publisher",),
    ),
    FieldSpec(
        "date",
        "dc:date",
        "Date",
        ValueKind.DATE,
        help="A date associated with the object (ISO 8601 where possible: 1890, 1890-05).",
        headers=("date", "datum", "year", "dating", "datierung"),
    ),
    FieldSpec(
        "created",
        "dcterms:created",
        "Date created",
        ValueKind.DATE,
        headers=("created", "date created", "creation date", "production date", "creationdate"),
    ),
    FieldSpec(
        "issued",
        "dcterms:issued",
        "Date issued",
        ValueKind.DATE,
        headers=("issued", "date issued", "published"),
    ),
    FieldSpec(
        "temporal",
        "dcterms:temporal",
        "Period",
        ValueKind.DATE,
        help="The period the object is about or belongs to; link to a time span or period.",
        headers=("period", "temporal", "epoch", "epoche"),
    ),
    FieldSpec(
        "type",
        "dc:type",
        "Object type",
        ValueKind.LINKED,
        help="What kind of object it is (painting, coin); link to Getty AAT where you can.",
        headers=(
            "type",
            "object type",
            "objecttype",
            "objektbezeichnung",
            "classification",
            "category",
            "medium type",
        ),
    ),
    FieldSpec(
        "subject",
        "dc:subject",
        "Subject",
        ValueKind.LINKED,
        help="What the object depicts or is about.",
        headers=("subject", "subjects", "keywords", "keyword", "schlagwort", "topic"),
    ),
    FieldSpec(
        "medium",
        "dcterms:medium",
        "Material",
        ValueKind.LINKED,
        help="Materials the object is made of; link to Getty AAT where you can.",
        headers=("material", "materials", "medium"),
    ),
    FieldSpec(
        "technique",
        "dc:format",
        "Technique",
        ValueKind.LINKED,
        help="Techniques used to make the object (EDM puts them in dc:format).",
        headers=("technique", "techniques", "technik"),
    ),
    FieldSpec(
        "extent",
        "dcterms:extent",
        "Dimensions",
        ValueKind.TEXT,
        help="Measurements with units, for example 'height 32 cm'.",
        headers=("dimensions", "extent", "size", "maße", "measurements"),
    ),
    FieldSpec(
        "spatial",
        "dcterms:spatial",
        "Place",
        ValueKind.LINKED,
        help="Places the object is about, from or was made in; link to GeoNames or Wikidata.",
        headers=("place", "places", "spatial", "location", "ort", "geography"),
    ),
    FieldSpec(
        "current_location",
        "edm:currentLocation",
        "Current location",
        ValueKind.LINKED,
        help="Where the object is kept now.",
        headers=("current location", "repository"),
    ),
    FieldSpec(
        "identifiers",
        "dc:identifier",
        "Identifier",
        ValueKind.TEXT,
        help="Inventory or accession numbers and other identifiers of the object.",
        headers=(
            "inventory number",
            "accession number",
            "inventarnummer",
            "object number",
            "accession_number",
        ),
    ),
    FieldSpec(
        "language",
        "dc:language",
        "Language",
        ValueKind.CODE,
        help="Languages of a text object's content, as ISO 639 codes (en, de, fr).",
        headers=("language", "sprache", "lang"),
    ),
    FieldSpec(
        "rights_statement",
        "dc:rights",
        "Rights note",
        ValueKind.TEXT,
        help="Free-text rights and credit line; the licence itself goes into Rights.",
        headers=("credit line", "creditline", "copyright", "rights holder"),
    ),
    FieldSpec(
        "provenance",
        "dcterms:provenance",
        "Provenance",
        ValueKind.TEXT,
        headers=("provenance", "acquisition", "erwerbung"),
    ),
    FieldSpec(
        "source",
        "dc:source",
        "Source",
        ValueKind.TEXT,
        headers=("source",),
    ),
    FieldSpec(
        "relation",
        "dc:relation",
        "Related to",
        ValueKind.LINKED,
        headers=("relation", "related"),
    ),
    FieldSpec(
        "is_part_of",
        "dcterms:isPartOf",
        "Part of",
        ValueKind.LINKED,
        help="The collection, series or larger object this is a part of.",
        headers=("part of", "collection", "series", "sammlung"),
    ),
    FieldSpec(
        "data_provider",
        "edm:dataProvider",
        "Data provider",
        ValueKind.LINKED,
        group=Group.AGGREGATION,
        help="The institution that holds the object and provides its data.",
        headers=("data provider", "dataprovider", "institution", "museum"),
    ),
    FieldSpec(
        "provider",
        "edm:provider",
        "Provider",
        ValueKind.LINKED,
        group=Group.AGGREGATION,
        help="The aggregator that delivers the data to Europeana.",
        headers=("provider", "aggregator"),
    ),
)

FIELDS_BY_NAME: dict[str, FieldSpec] = {spec.name: spec for spec in FIELDS}
FIELDS_BY_PROPERTY: dict[str, FieldSpec] = {spec.property: spec for spec in FIELDS}

# Fields that are not lists of values: they have their own widgets and rules.
EDM_TYPES = ("TEXT", "IMAGE", "SOUND", "VIDEO", "3D")

# The namespaces of the properties above and of the record's JSON-LD.
PREFIXES: dict[str, str] = {
    "dc": "http://purl.org/dc/elements/1.1/",
    "dcterms": "http://purl.org/dc/terms/",
    "edm": "http://www.europeana.eu/schemas/edm/",
    "ore": "http://www.openarchives.org/ore/terms/",
    "skos": "http://www.w3.org/2004/02/skos/core#",
    "owl": "http://www.w3.org/2002/07/owl#",
    "rdaGr2": "http://rdvocab.info/ElementsGr2/",
    "wgs84_pos": "http://www.w3.org/2003/01/geo/wgs84_pos#",
    "foaf": "http://xmlns.com/foaf/0.1/",
    "ebucore": "http://www.ebu.ch/metadata/ontologies/ebucore/ebucore#",
    "svcs": "http://rdfs.org/sioc/services#",
    "doap": "http://usefulinc.com/ns/doap#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "hc": "https://heritage-cloud.eu/ns/record#",
}
