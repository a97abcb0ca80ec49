"""EDM RDF/XML as Europeana receives it (and as its OAI-PMH serves it).

One ``rdf:RDF`` element is one record: its ``edm:ProvidedCHO`` gives the
descriptive fields, the ``ore:Aggregation`` pointing at it the rights,
providers, landing page and the web resources (``edm:WebResource``) shown, and
the contextual entities (agents, places, time spans, concepts) the values link
to. Europeana-internal records describe the object in ``ore:Proxy`` elements;
the provider's proxy is read, Europeana's own enrichment proxy is not. The same
graph written by generic RDF tools (``rdf:Description`` with ``rdf:type``, nested
descriptions, property attributes, ``xml:base``) is read too (:mod:`.rdfxml`).

Properties the model has no field for are kept in ``Record.other`` under their
prefixed name; only what the model cannot hold at all (web resource and entity
details, properties outside the known namespaces) is left out, and a warning
names it. Europeana's validity rules are checked elsewhere: problems here are
only what stops or distorts the mapping.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lxml import etree
from pydantic import ValidationError

from heritage.records.fields import EDM_TYPES, FIELDS_BY_PROPERTY, PREFIXES
from heritage.records.importers import rdfxml, xmlsafe
from heritage.records.importers.base import SourceError, SourceRecord, register
from heritage.records.importers.dublincore import (
    build_record,
    enclosing_header,
    lang_of,
    make_value,
    qname,
    url_of,
    where,
)
from heritage.records.model import Entity, Representation, Value
from heritage.records.problems import Problem

RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
ABOUT = f"{{{RDF}}}about"
RESOURCE = f"{{{RDF}}}resource"
EDM = PREFIXES["edm"]
ORE = PREFIXES["ore"]
_PREFIX_OF = {uri: prefix for prefix, uri in PREFIXES.items()}

CHO = f"{{{EDM}}}ProvidedCHO"
AGGREGATION = f"{{{ORE}}}Aggregation"
WEB_RESOURCE = f"{{{EDM}}}WebResource"
PROXY = f"{{{ORE}}}Proxy"
EUROPEANA_AGGREGATION = f"{{{EDM}}}EuropeanaAggregation"
SERVICE = "{http://rdfs.org/sioc/services#}Service"
ENTITY_TYPES = {
    f"{{{EDM}}}Agent": "agent",
    f"{{{PREFIXES['foaf']}}}Organization": "agent",  # an organisation is an agent
    f"{{{EDM}}}Place": "place",
    f"{{{EDM}}}TimeSpan": "timespan",
    f"{{{PREFIXES['skos']}}}Concept": "concept",
}
# proxy bookkeeping, not description
_PROXY_ONLY = {"edm:europeanaProxy", "ore:proxyFor", "ore:proxyIn", "ore:lineage", "edm:year"}
_LANG_FREE = {"language"}  # CODE fields: a language tag on a language code is noise
_MIME = "ebucore:hasMimeType"
# Europeana's 3D properties of a web resource (metis-schema, MET-6682)
_COUNTS_3D = {
    "edm:vertexCount": "vertex_count",
    "edm:polygonCount": "polygon_count",
    "edm:pointCount": "point_count",
}


def _mime_like(text: str) -> bool:
    main, _, sub = text.partition("/")
    return bool(main and sub and " " not in text and len(text) < 200)


class _Mapping:
    """The state of mapping one rdf:RDF: the problems so far and what was left out."""

    def __init__(self, rdf: etree._Element, location: str) -> None:
        self.rdf = rdf
        self.location = location
        self.problems: list[Problem] = []
        self.not_kept: dict[str, None] = {}  # ordered set of "class property" names
        self.namespace_warned: set[str] = set()

    # -- names and values ------------------------------------------------------------------------

    def name(self, element: etree._Element) -> str | None:
        """``prefix:local`` with our prefix for the element's namespace, or None if unknown."""
        tag = etree.QName(element)
        namespace = tag.namespace or ""
        prefix = _PREFIX_OF.get(namespace)
        if prefix is None:
            # a common slip: the namespace without its closing '#' or '/' (wgs84_pos, rdaGr2)
            for candidate in (namespace + "#", namespace + "/", namespace.rstrip("#/")):
                if candidate in _PREFIX_OF and candidate != namespace:
                    prefix = _PREFIX_OF[candidate]
                    if namespace not in self.namespace_warned:
                        self.namespace_warned.add(namespace)
                        self.problems.append(
                            Problem.warning(
                                "edm.namespace-typo",
                                f"the namespace '{namespace}' was read as '{candidate}' "
                                f"({prefix}:)",
                                f'Declare xmlns:{prefix}="{candidate}" exactly.',
                                location=where(element),
                            )
                        )
                    break
        return f"{prefix}:{tag.localname}" if prefix else None

    def leave_out(self, owner: str, element: etree._Element) -> None:
        self.not_kept[f"{owner} {self.name(element) or qname(element)}"] = None

    def resource(self, element: etree._Element) -> str | None:
        """The rdf:resource of a property, reporting an empty one."""
        ref = element.get(RESOURCE)
        if ref is not None and not ref.strip():
            self.problems.append(
                Problem.warning(
                    "edm.empty-resource",
                    f"{qname(element)} has an empty rdf:resource; it was not kept",
                    "Give the link's URI in rdf:resource, or write the value as text.",
                    location=where(element),
                )
            )
            return None
        return ref.strip() if ref else None

    def value(self, element: etree._Element, labels: dict[str, Entity]) -> Value | None:
        ref = self.resource(element)
        text = xmlsafe.text_of(element)
        lang = lang_of(element, self.problems)
        if ref and text:
            self.problems.append(
                Problem.warning(
                    "edm.text-and-resource",
                    f"{qname(element)} has both text and an rdf:resource; the text was kept "
                    "as the link's label",
                    "Use either rdf:resource (a link) or text, not both.",
                    location=where(element),
                )
            )
            return make_value(element, self.problems, text=text, ref=ref, lang=lang)
        if ref:
            entity = labels.get(ref)
            label, label_lang = _label(entity) if entity else ("", None)
            return make_value(element, self.problems, text=label, ref=ref, lang=label_lang)
        if not text:
            return None  # empty elements carry nothing to map
        return make_value(element, self.problems, text=text, lang=lang)

    def number(self, element: etree._Element, kind: type[float] | type[int]) -> Any:
        text = xmlsafe.text_of(element)
        try:
            return kind(float(text)) if kind is int else kind(text)
        except ValueError:
            self.problems.append(
                Problem.warning(
                    "edm.not-a-number",
                    f"{qname(element)} '{text}' is not a number; it was not kept",
                    "Write a plain decimal number, for example 51.5142.",
                    location=where(element),
                )
            )
            return None

    def uri(self, element: etree._Element) -> str | None:
        """A property that should be a link: its rdf:resource, or a URI written as text."""
        ref = self.resource(element)
        if ref:
            return ref
        text = xmlsafe.text_of(element)
        url = url_of(text) if text else None
        if url:
            self.problems.append(
                Problem.warning(
                    "edm.uri-as-text",
                    f"{qname(element)} gives the URI as text; it was read as a link",
                    f'Write <{qname(element)} rdf:resource="{url}"/>.',
                    location=where(element),
                )
            )
        return url

    # -- entities and web resources --------------------------------------------------------------

    def entity(self, element: etree._Element, kind: str) -> Entity | None:
        about = (element.get(ABOUT) or "").strip()
        owner = qname(element)
        if not about:
            self.problems.append(
                Problem.warning(
                    "edm.entity-without-about",
                    f"an {owner} has no rdf:about, so nothing can link to it; it was not kept",
                    "Give each contextual entity its URI in rdf:about.",
                    location=where(element),
                )
            )
            return None
        data: dict[str, Any] = {"id": about, "type": kind}
        lists = {
            "skos:prefLabel": "pref_label",
            "skos:altLabel": "alt_label",
            "skos:note": "note",
            "rdaGr2:professionOrOccupation": "profession",
        }
        links = {"owl:sameAs": "same_as", "skos:exactMatch": "same_as", "skos:broader": "broader"}
        dates = {
            "edm:begin": "begin",
            "rdaGr2:dateOfBirth": "begin",
            "rdaGr2:dateOfEstablishment": "begin",
            "edm:end": "end",
            "rdaGr2:dateOfDeath": "end",
            "rdaGr2:dateOfTermination": "end",
        }
        for child in element:
            if not isinstance(child.tag, str):
                continue
            name = self.name(child)
            if name in lists:
                item = self.value(child, {})
                if item is not None:
                    data.setdefault(lists[name], []).append(item)
            elif name in links:
                uri = self.uri(child)
                if uri:
                    data.setdefault(links[name], []).append(uri)
            elif name in dates and kind in ("agent", "timespan"):
                text = xmlsafe.text_of(child)
                if text and not data.get(dates[name]):
                    data[dates[name]] = text
            elif name in ("wgs84_pos:lat", "wgs84_pos:long") and kind == "place":
                number = self.number(child, float)
                key = "lat" if name.endswith("lat") else "long"
                limit = 90 if key == "lat" else 180
                if number is not None and -limit <= number <= limit:
                    data[key] = number
                elif number is not None:
                    self.problems.append(
                        Problem.warning(
                            "edm.coordinate-out-of-range",
                            f"{qname(child)} {number} is outside ±{limit}; it was not kept",
                            "Give WGS84 decimal degrees (latitude first, then longitude).",
                            location=where(child),
                        )
                    )
            else:
                self.leave_out(owner, child)
        try:
            return Entity(**data)
        except ValidationError as error:
            self.problems.append(
                Problem.warning(
                    "edm.entity-refused",
                    f"{owner} {about} was not kept: {error.errors()[0]['msg']}",
                    "Correct the entity in the source.",
                    location=where(element),
                )
            )
            return None

    def representation(
        self, url: str, role: str, resources: dict[str, etree._Element]
    ) -> Representation | None:
        data: dict[str, Any] = {"url": url, "role": role}
        element = resources.get(url)
        if element is not None:
            for child in element:
                if not isinstance(child.tag, str):
                    continue
                name = self.name(child)
                if name == _MIME:
                    data["media_type"] = xmlsafe.text_of(child) or None
                elif name == "dc:format" and _mime_like(xmlsafe.text_of(child)):
                    data.setdefault("media_type", xmlsafe.text_of(child))
                elif name in ("ebucore:width", "ebucore:height"):
                    number = self.number(child, int)
                    if number is not None and number >= 0:
                        data[name.split(":")[1]] = number
                elif name in _COUNTS_3D:
                    number = self.number(child, int)
                    if number is not None and number >= 0:
                        data[_COUNTS_3D[name]] = number
                elif name == "edm:rights":
                    data["rights"] = self.uri(child)
                elif name == "svcs:has_service":
                    data["iiif_service"] = self.uri(child)
                elif name == "dc:description":
                    item = self.value(child, {})
                    if item is not None:
                        data.setdefault("label", []).append(item)
                else:
                    self.leave_out("edm:WebResource", child)
        try:
            return Representation(**data)
        except ValidationError as error:
            self.problems.append(
                Problem.warning(
                    "edm.web-resource-refused",
                    f"the web resource {url[:200]} was not kept: {error.errors()[0]['msg']}",
                    "Correct the web resource in the source.",
                    location=where(element) if element is not None else None,
                )
            )
            return None


def _label(entity: Entity) -> tuple[str, str | None]:
    """The label a link to the entity is shown with: no language, else English, else the first."""
    labels = entity.pref_label
    for item in labels:
        if item.lang is None:
            return item.value, None
    for item in labels:
        if item.lang and item.lang.split("-")[0].lower() in ("en", "eng"):
            return item.value, item.lang
    return (labels[0].value, labels[0].lang) if labels else ("", None)


def _merge(first: Entity, second: Entity) -> Entity:
    """Two descriptions of one entity (repeated in a record): their values together."""
    data = first.model_dump()
    for key, value in second.model_dump().items():
        if isinstance(value, list):
            data[key] = data[key] + [item for item in value if item not in data[key]]
        elif data.get(key) is None:
            data[key] = value
    return Entity(**data)


def map_rdf(element: etree._Element, location: str) -> SourceRecord:
    """Map one ``rdf:RDF`` element to a record (in any RDF/XML abbreviation: it is first
    rewritten into EDM's typed, top-level form by :func:`rdfxml.normalise`)."""
    rdfxml.normalise(element)
    state = _Mapping(element, location)
    problems = state.problems
    chos: list[etree._Element] = []
    aggregations: list[etree._Element] = []
    proxies: list[etree._Element] = []
    resources: dict[str, etree._Element] = {}
    entities: dict[str, Entity] = {}
    stray: list[str] = []
    for child in element:
        if not isinstance(child.tag, str):
            continue
        if child.tag == CHO:
            chos.append(child)
        elif child.tag == AGGREGATION:
            aggregations.append(child)
        elif child.tag == PROXY:
            proxies.append(child)
        elif child.tag == WEB_RESOURCE:
            about = (child.get(ABOUT) or "").strip()
            if about:
                resources.setdefault(about, child)
        elif child.tag in ENTITY_TYPES:
            entity = state.entity(child, ENTITY_TYPES[child.tag])
            if entity is not None:
                known = entities.get(entity.id)
                entities[entity.id] = _merge(known, entity) if known else entity
        elif child.tag in (EUROPEANA_AGGREGATION, SERVICE):
            pass  # Europeana's own aggregation; IIIF services are kept as links
        else:
            stray.append(qname(child))
            state.not_kept[f"{qname(child)} (class)"] = None

    if not chos:
        near = [name for name in stray if "provided" in name.lower()]
        hint = "Each rdf:RDF needs one edm:ProvidedCHO describing the object."
        if near:
            hint += f" Found {', '.join(near)}: is the element name misspelt?"
        problems.append(
            Problem.error(
                "edm.no-provided-cho",
                "the record has no edm:ProvidedCHO, so there is no object to import",
                hint,
                location=where(element),
            )
        )
        return SourceRecord(None, location, problems)
    cho = chos[0]
    if len(chos) > 1:
        problems.append(
            Problem.error(
                "edm.several-provided-chos",
                f"the record has {len(chos)} edm:ProvidedCHO elements; only the first "
                f"({cho.get(ABOUT) or 'without rdf:about'}) was imported",
                "Put each object into its own rdf:RDF record.",
                location=where(chos[1]),
            )
        )

    # what describes the object: the CHO, and in Europeana-internal EDM the provider's proxy
    describing = [cho]
    for proxy in proxies:
        flag = proxy.find(f"{{{EDM}}}europeanaProxy")
        if flag is not None and xmlsafe.text_of(flag).lower() == "true":
            continue  # Europeana's enrichments: not the provider's data
        describing.append(proxy)

    fields: dict[str, Any] = {}
    other: dict[str, list[Value]] = {}
    edm_type: str | None = None
    for source in describing:
        owner = qname(source)
        for child in source:
            if not isinstance(child.tag, str):
                continue
            name = state.name(child)
            if name in _PROXY_ONLY:
                continue
            if name == "edm:type":
                text = xmlsafe.text_of(child)
                if text.upper() in EDM_TYPES:
                    edm_type = edm_type or text.upper()
                elif text:
                    problems.append(
                        Problem.warning(
                            "edm.unknown-type",
                            f"edm:type '{text}' is not an EDM type; it was not kept",
                            f"Use one of {', '.join(EDM_TYPES)}.",
                            field="edm_type",
                            location=where(child),
                        )
                    )
                continue
            if name is None or (name not in FIELDS_BY_PROPERTY and name.startswith("hc:")):
                state.leave_out(owner, child)
                continue
            item = state.value(child, entities)
            if item is None:
                continue
            spec = FIELDS_BY_PROPERTY.get(name)
            if spec is not None:
                if spec.name in _LANG_FREE and item.lang and not item.ref:
                    item = Value.text(item.value)
                fields.setdefault(spec.name, []).append(item)
            else:
                other.setdefault(name, []).append(item)

    identifier = (cho.get(ABOUT) or "").strip()
    if not identifier:
        fallback = next((v.value for v in fields.get("identifiers", []) if v.value), None)
        if fallback is None:
            problems.append(
                Problem.error(
                    "edm.no-identifier",
                    "the edm:ProvidedCHO has neither rdf:about nor dc:identifier, so the "
                    "record cannot be told apart from others",
                    "Give the edm:ProvidedCHO its URI in rdf:about.",
                    location=where(cho),
                )
            )
            return SourceRecord(None, location, problems)
        identifier = fallback
        problems.append(
            Problem.warning(
                "edm.identifier-from-dc",
                f"the edm:ProvidedCHO has no rdf:about; its dc:identifier '{fallback}' "
                "names the record",
                "Give the edm:ProvidedCHO its URI in rdf:about.",
                location=where(cho),
            )
        )

    aggregation = _aggregation_of(identifier, cho, aggregations, problems)
    representations: list[Representation] = []
    extra: dict[str, Any] = {}
    if aggregation is not None:
        shown: list[tuple[str, str]] = []  # (url, role)
        for child in aggregation:
            if not isinstance(child.tag, str):
                continue
            name = state.name(child)
            if name in ("edm:aggregatedCHO", None):
                if name is None:
                    state.leave_out("ore:Aggregation", child)
                continue
            if name in ("edm:rights", "edm:isShownAt", "edm:object"):
                uri = state.uri(child)
                key = {"edm:rights": "rights", "edm:isShownAt": "is_shown_at"}.get(name, "preview")
                if uri and key not in extra:
                    extra[key] = uri
                elif uri:
                    problems.append(
                        Problem.warning(
                            "edm.repeated",
                            f"{name} is given more than once; only the first was kept",
                            f"Give one {name} per aggregation.",
                            location=where(child),
                        )
                    )
                continue
            if name in ("edm:isShownBy", "edm:hasView"):
                uri = state.uri(child)
                primary = name == "edm:isShownBy" and all(role != "primary" for _, role in shown)
                if uri and uri not in (url for url, _ in shown):
                    shown.append((uri, "primary" if primary else "view"))
                continue
            item = state.value(child, entities)
            if item is None:
                continue
            spec = FIELDS_BY_PROPERTY.get(name)
            if spec is not None:
                fields.setdefault(spec.name, []).append(item)
            elif name.startswith("hc:"):
                state.leave_out("ore:Aggregation", child)
            else:
                other.setdefault(name, []).append(item)
        for url, role in shown:
            representation = state.representation(url, role, resources)
            if representation is not None:
                representations.append(representation)

    linked = _linked_entities(fields, other, entities)
    for entity_id, entity in entities.items():
        if entity_id not in linked:
            state.not_kept[f"{entity.type} {entity_id} (linked from no kept value)"] = None
    if state.not_kept:
        names = list(state.not_kept)
        shown_names = ", ".join(names[:12]) + (
            f" and {len(names) - 12} more" if len(names) > 12 else ""
        )
        problems.append(
            Problem.warning(
                "edm.not-kept",
                f"the record model has no place for: {shown_names}",
                "These values stay in the source file; they are not part of the imported record.",
                location=where(element),
            )
        )
    record = build_record(
        {
            "identifier": identifier,
            **fields,
            "other": other,
            "edm_type": edm_type,
            "representations": representations,
            "entities": [entities[entity_id] for entity_id in linked],
            **extra,
        },
        problems,
        where(cho),
    )
    return SourceRecord(record, location, problems, identifier=identifier)


def _aggregation_of(
    identifier: str,
    cho: etree._Element,
    aggregations: list[etree._Element],
    problems: list[Problem],
) -> etree._Element | None:
    """The provider's aggregation of the object: the one whose edm:aggregatedCHO names it."""
    about = (cho.get(ABOUT) or "").strip()

    def target(aggregation: etree._Element) -> str:
        node = aggregation.find(f"{{{EDM}}}aggregatedCHO")
        return (node.get(RESOURCE) or "").strip() if node is not None else ""

    matching = [item for item in aggregations if about and target(item) == about]
    if not matching and len(aggregations) == 1:
        matching = aggregations  # one object, one aggregation: no doubt which
    if len(matching) > 1 or (not matching and aggregations):
        problems.append(
            Problem.warning(
                "edm.aggregation-ambiguous",
                f"{len(aggregations)} ore:Aggregation elements, "
                f"{len(matching)} of them for {identifier}; "
                + ("the first was used" if matching else "none was used"),
                "Give the object one ore:Aggregation whose edm:aggregatedCHO is the "
                "edm:ProvidedCHO's rdf:about.",
                location=where(aggregations[0]),
            )
        )
    return matching[0] if matching else None


def _linked_entities(
    fields: dict[str, Any], other: dict[str, list[Value]], entities: dict[str, Entity]
) -> list[str]:
    """The ids of entities the record's values link to, and the broader ones they name."""
    refs = [
        item.ref
        for values in [*fields.values(), *other.values()]
        for item in values
        if isinstance(item, Value) and item.ref
    ]
    linked: dict[str, None] = {}
    while refs:
        ref = refs.pop(0)
        if ref in entities and ref not in linked:
            linked[ref] = None
            refs.extend(entities[ref].broader)
    return list(linked)


@register("edm")
def read_edm(path: Path) -> Iterator[SourceRecord]:
    """Every ``rdf:RDF`` in a file: one, several, or inside an OAI-PMH response."""
    count = 0
    for element in xmlsafe.iterate(path, f"{{{RDF}}}RDF"):
        count += 1
        location = f"{path.name}, record {count} (line {element.sourceline})"
        result = map_rdf(element, location)
        header = enclosing_header(element)
        if header:
            result.datestamp = header.datestamp
        yield result
    if not count:
        raise SourceError("no rdf:RDF record found in the file", source=str(path))
