"""A record as EDM in JSON-LD: the form every record version is stored in.

The document is self-contained: its ``@context`` is only the prefix map, and
every key is an EDM property written as a compact IRI (``dc:title``), so any
JSON-LD processor expands it to the EDM graph without fetching anything. The
provided object is the top node; the aggregation points at it through
``edm:aggregatedCHO`` (written with ``@reverse``), web resources are the
aggregation's ``edm:isShownBy``/``edm:hasView``, and contextual entities are
``@included``.

Record-local entity ids (``#agent-1``) become ``<record URI>#agent-1`` in the
document and are made local again on reading, so a record keeps its links when
it moves between instances.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import orjson

from heritage.records.fields import FIELDS, PREFIXES, Group
from heritage.records.model import Entity, Record, Representation, Value

FORMAT = "https://heritage-cloud.eu/spec/record/1"
RECORD_PATH = "record.jsonld"
MEDIA_TYPE = "application/ld+json"

_ENTITY_CLASSES = {
    "agent": "edm:Agent",
    "place": "edm:Place",
    "timespan": "edm:TimeSpan",
    "concept": "skos:Concept",
}
_ENTITY_TYPES = {value: key for key, value in _ENTITY_CLASSES.items()}
_FILE_MARK = "#file:"


class RecordFormatError(ValueError):
    """A stored record document that is not in the form this module writes."""


def record_uri(record_uuid: str) -> str:
    return f"urn:uuid:{record_uuid}"


# -- writing -------------------------------------------------------------------------------------


def _literal(value: Value) -> dict[str, Any]:
    item: dict[str, Any] = {"@value": value.value}
    if value.lang:
        item["@language"] = value.lang
    return item


def _absolute(ref: str, base: str) -> str:
    return base + ref if ref.startswith("#") else ref


def _value(value: Value, base: str) -> dict[str, Any]:
    if value.ref is None:
        return _literal(value)
    node: dict[str, Any] = {"@id": _absolute(value.ref, base)}
    if value.value:
        # the label the value was given with, kept beside the link
        node["hc:valueLabel"] = _literal(value)
    return node


def _values(values: list[Value], base: str) -> list[dict[str, Any]]:
    return [_value(value, base) for value in values]


def _web_resource(item: Representation, base: str) -> dict[str, Any]:
    node: dict[str, Any] = {"@type": "edm:WebResource"}
    if item.file:
        node["@id"] = base + _FILE_MARK + quote(item.file, safe="/")
        node["hc:storedFile"] = item.file
        if item.parts:
            node["hc:storedParts"] = list(item.parts)
    else:
        node["@id"] = item.url
    if item.media_type:
        node["ebucore:hasMimeType"] = item.media_type
    if item.label:
        node["dc:description"] = _values(item.label, base)
    if item.rights:
        node["edm:rights"] = {"@id": item.rights}
    if item.iiif_service:
        service: dict[str, Any] = {"@id": item.iiif_service, "@type": "svcs:Service"}
        if item.iiif_profile:
            service["doap:implements"] = {"@id": item.iiif_profile}
        node["svcs:has_service"] = service
    if item.source_url:
        node["dcterms:source"] = {"@id": item.source_url}
    if item.source_service:
        node["hc:sourceService"] = {"@id": item.source_service}
    if item.width is not None:
        node["ebucore:width"] = item.width
    if item.height is not None:
        node["ebucore:height"] = item.height
    for key, value in (
        ("edm:vertexCount", item.vertex_count),
        ("edm:polygonCount", item.polygon_count),
        ("edm:pointCount", item.point_count),
    ):
        if value is not None:
            node[key] = value
    return node


def _entity(entity: Entity, base: str) -> dict[str, Any]:
    node: dict[str, Any] = {
        "@id": _absolute(entity.id, base),
        "@type": _ENTITY_CLASSES[entity.type],
    }
    for key, values in (
        ("skos:prefLabel", entity.pref_label),
        ("skos:altLabel", entity.alt_label),
        ("skos:note", entity.note),
        ("rdaGr2:professionOrOccupation", entity.profession),
    ):
        if values:
            node[key] = _values(values, base)
    if entity.same_as:
        node["owl:sameAs"] = [{"@id": uri} for uri in entity.same_as]
    if entity.broader:
        node["skos:broader"] = [{"@id": _absolute(uri, base)} for uri in entity.broader]
    if entity.begin:
        node["edm:begin"] = entity.begin
    if entity.end:
        node["edm:end"] = entity.end
    if entity.lat is not None:
        node["wgs84_pos:lat"] = entity.lat
    if entity.long is not None:
        node["wgs84_pos:long"] = entity.long
    return node


def to_jsonld(record: Record, record_uuid: str) -> dict[str, Any]:
    base = record_uri(record_uuid)
    cho: dict[str, Any] = {
        "@context": dict(PREFIXES),
        "@id": base,
        "@type": "edm:ProvidedCHO",
        "hc:format": FORMAT,
        "hc:recordIdentifier": record.identifier,
    }
    aggregation: dict[str, Any] = {"@id": base + "#aggregation", "@type": "ore:Aggregation"}
    for spec in FIELDS:
        values = getattr(record, spec.name)
        if values:
            target = cho if spec.group is Group.OBJECT else aggregation
            target[spec.property] = _values(values, base)
    if record.edm_type:
        cho["edm:type"] = record.edm_type
    for name, values in sorted(record.other.items()):
        cho[name] = _values(values, base)
    if record.rights:
        aggregation["edm:rights"] = {"@id": record.rights}
    if record.is_shown_at:
        aggregation["edm:isShownAt"] = {"@id": record.is_shown_at}
    if record.preview:
        aggregation["edm:object"] = {"@id": record.preview}
    primary = record.primary_representation()
    views = [item for item in record.representations if item is not primary]
    if primary is not None:
        aggregation["edm:isShownBy"] = _web_resource(primary, base)
    if views:
        aggregation["edm:hasView"] = [_web_resource(item, base) for item in views]
    cho["@reverse"] = {"edm:aggregatedCHO": [aggregation]}
    if record.entities:
        cho["@included"] = [_entity(entity, base) for entity in record.entities]
    return cho


def dumps(record: Record, record_uuid: str) -> bytes:
    return orjson.dumps(to_jsonld(record, record_uuid), option=orjson.OPT_INDENT_2) + b"\n"


# -- reading -------------------------------------------------------------------------------------


def _list(node: Any) -> list[Any]:
    if node is None:
        return []
    return node if isinstance(node, list) else [node]


def _local(ref: str, base: str) -> str:
    return ref[len(base) :] if ref.startswith(base + "#") else ref


def _read_value(item: Any, base: str) -> Value:
    if isinstance(item, str):
        return Value(value=item)
    if "@id" in item:
        label = item.get("hc:valueLabel") or {}
        return Value(
            ref=_local(item["@id"], base),
            value=label.get("@value", ""),
            lang=label.get("@language"),
        )
    return Value(value=str(item.get("@value", "")), lang=item.get("@language"))


def _read_values(node: Any, base: str) -> list[Value]:
    return [_read_value(item, base) for item in _list(node)]


def _read_id(node: Any) -> str | None:
    return node.get("@id") if isinstance(node, dict) else None


def _read_web_resource(node: dict[str, Any], role: str, base: str) -> Representation:
    stored = node.get("hc:storedFile")
    service = node.get("svcs:has_service")
    return Representation(
        file=stored,
        url=None if stored else node.get("@id"),
        role=role,  # type: ignore[arg-type]
        media_type=node.get("ebucore:hasMimeType"),
        label=_read_values(node.get("dc:description"), base),
        rights=_read_id(node.get("edm:rights")),
        iiif_service=_read_id(service),
        iiif_profile=_read_id(service.get("doap:implements"))
        if isinstance(service, dict)
        else None,
        source_url=_read_id(node.get("dcterms:source")),
        source_service=_read_id(node.get("hc:sourceService")),
        width=node.get("ebucore:width"),
        height=node.get("ebucore:height"),
        vertex_count=node.get("edm:vertexCount"),
        polygon_count=node.get("edm:polygonCount"),
        point_count=node.get("edm:pointCount"),
        parts=[str(part) for part in node.get("hc:storedParts") or []],
    )


def _read_entity(node: dict[str, Any], base: str) -> Entity:
    return Entity(
        id=_local(node["@id"], base),
        type=_ENTITY_TYPES[node["@type"]],  # type: ignore[arg-type]
        pref_label=_read_values(node.get("skos:prefLabel"), base),
        alt_label=_read_values(node.get("skos:altLabel"), base),
        note=_read_values(node.get("skos:note"), base),
        profession=_read_values(node.get("rdaGr2:professionOrOccupation"), base),
        same_as=[item["@id"] for item in _list(node.get("owl:sameAs"))],
        broader=[_local(item["@id"], base) for item in _list(node.get("skos:broader"))],
        begin=node.get("edm:begin"),
        end=node.get("edm:end"),
        lat=node.get("wgs84_pos:lat"),
        long=node.get("wgs84_pos:long"),
    )


_CHO_KEYS = {
    "@context",
    "@id",
    "@type",
    "@reverse",
    "@included",
    "hc:format",
    "hc:recordIdentifier",
    "edm:type",
}


def from_jsonld(document: dict[str, Any]) -> Record:
    """Read a document written by :func:`to_jsonld` back into a record."""
    try:
        if document.get("hc:format") != FORMAT:
            raise RecordFormatError(f"not a record document of format {FORMAT}")
        base = document["@id"]
        aggregation = _list(document.get("@reverse", {}).get("edm:aggregatedCHO"))[0]
        fields: dict[str, Any] = {}
        for spec in FIELDS:
            source = document if spec.group is Group.OBJECT else aggregation
            if spec.property in source:
                fields[spec.name] = _read_values(source[spec.property], base)
        other = {
            key: _read_values(value, base)
            for key, value in document.items()
            if key not in _CHO_KEYS and not any(spec.property == key for spec in FIELDS)
        }
        representations = []
        if "edm:isShownBy" in aggregation:
            representations.append(
                _read_web_resource(aggregation["edm:isShownBy"], "primary", base)
            )
        representations += [
            _read_web_resource(node, "view", base) for node in _list(aggregation.get("edm:hasView"))
        ]
        return Record(
            identifier=document["hc:recordIdentifier"],
            edm_type=document.get("edm:type"),
            rights=_read_id(aggregation.get("edm:rights")),
            is_shown_at=_read_id(aggregation.get("edm:isShownAt")),
            preview=_read_id(aggregation.get("edm:object")),
            representations=representations,
            entities=[_read_entity(node, base) for node in _list(document.get("@included"))],
            other=other,
            **fields,
        )
    except RecordFormatError:
        raise
    except (KeyError, IndexError, TypeError, AttributeError, ValueError) as error:
        raise RecordFormatError(f"record document not readable: {error}") from error


def loads(raw: bytes) -> Record:
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise RecordFormatError(f"record document is not JSON: {error}") from error
    if not isinstance(document, dict):
        raise RecordFormatError("record document is not a JSON object")
    return from_jsonld(document)


__all__ = [
    "FORMAT",
    "MEDIA_TYPE",
    "RECORD_PATH",
    "RecordFormatError",
    "dumps",
    "from_jsonld",
    "loads",
    "record_uri",
    "to_jsonld",
]
