"""Europeana's metadata tier (0, A, B, C): the lowest of three criteria.

Following Metis' classifiers (``metis-indexing/.../tiers/metadata``) on the
provider's own data: the share of relevant properties with a language, the
enabling elements and their discovery groups, and the classes of complete
contextual entities the object links to. ``docs/tiers.md`` lists the rules.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

from heritage.quality.findings import N_, Finding, finding
from heritage.records.fields import FIELDS_BY_PROPERTY
from heritage.records.model import LIST_FIELDS, Entity, Record, Value

LEVELS = ("0", "A", "B", "C")

# The 22 properties of the provided object whose languages count (wiki "Metadata Tier A/C").
RELEVANT_PROPERTIES: tuple[str, ...] = (
    *("dc:coverage", "dc:description", "dc:format", "dc:relation", "dc:rights", "dc:source"),
    *("dc:subject", "dc:title", "dc:type"),
    *("dcterms:alternative", "dcterms:hasPart", "dcterms:isPartOf", "dcterms:isReferencedBy"),
    *("dcterms:medium", "dcterms:provenance", "dcterms:references", "dcterms:spatial"),
    *("dcterms:tableOfContents", "dcterms:temporal"),
    *("edm:currentLocation", "edm:hasType", "edm:isRelatedTo"),
)
# LanguageClassifier: the share of those properties (present in the record) that have
# a value with a language, by level.
LANGUAGE_SHARES: dict[str, float] = {"C": 0.75, "B": 0.50, "A": 0.25}
# Entities whose language-tagged preferred label makes a link to them count as a
# value with a language (not agents: their names are not translated).
LANGUAGE_ENTITY_TYPES = frozenset({"place", "concept", "timespan"})


@dataclass(frozen=True)
class EnablingElement:
    """A property that lets people find the object, and its discovery group.
    ``via``: the class of entity the value must link to (None: any value)."""

    property: str
    group: str
    via: str | None = None


DISCOVERY_GROUPS = ("time", "subject", "agent", "place")
ENABLING_ELEMENTS: tuple[EnablingElement, ...] = (
    EnablingElement("dcterms:issued", "time"),
    EnablingElement("dcterms:created", "time"),
    EnablingElement("dcterms:temporal", "time"),
    EnablingElement("edm:hasMet", "time", via="timespan"),
    EnablingElement("dc:subject", "subject", via="concept"),
    EnablingElement("dc:format", "subject"),
    EnablingElement("dc:type", "subject"),
    EnablingElement("dcterms:medium", "subject"),
    EnablingElement("dc:creator", "agent"),
    EnablingElement("dc:contributor", "agent"),
    EnablingElement("dc:publisher", "agent"),
    EnablingElement("dc:subject", "agent", via="agent"),
    EnablingElement("edm:hasMet", "agent", via="agent"),
    EnablingElement("dc:subject", "place", via="place"),
    EnablingElement("dcterms:spatial", "place"),
    EnablingElement("edm:currentLocation", "place"),
)
# EnablingElementsClassifier: (distinct elements, distinct groups) each level needs.
ENABLING_MINIMUMS: dict[str, tuple[int, int]] = {"C": (4, 2), "B": (3, 2), "A": (1, 1)}
# ContextualClassesClassifier: distinct classes with a complete linked entity.
CONTEXTUAL_MINIMUMS: dict[str, int] = {"C": 2, "B": 1, "A": 0}
CONTEXTUAL_CLASSES = ("agent", "concept", "place", "timespan")


def values_of(record: Record, prop: str) -> list[Value]:
    spec = FIELDS_BY_PROPERTY.get(prop)
    if spec is not None:
        return record.values(spec.name)
    return list(record.other.get(prop, ()))


def _entities(record: Record) -> dict[str, Entity]:
    return {entity.id: entity for entity in record.entities}


def _level(value: float | int, minimums: dict[str, float] | dict[str, int]) -> str:
    for level in ("C", "B", "A"):
        if value >= minimums[level]:
            return level
    return "0"


def _next(level: str) -> str | None:
    index = LEVELS.index(level)
    return LEVELS[index + 1] if index + 1 < len(LEVELS) else None


# -- language --------------------------------------------------------------------------------------


def _has_language(value: Value, entities: dict[str, Entity]) -> bool:
    if value.lang:
        return True
    entity = entities.get(value.ref or "")
    return (
        entity is not None
        and entity.type in LANGUAGE_ENTITY_TYPES
        and any(label.lang for label in entity.pref_label)
    )


def language_finding(record: Record) -> Finding:
    entities = _entities(record)
    present = [prop for prop in RELEVANT_PROPERTIES if values_of(record, prop)]
    tagged = [
        prop
        for prop in present
        if any(_has_language(value, entities) for value in values_of(record, prop))
    ]
    untagged = [prop for prop in present if prop not in tagged]
    code = "metadata.language"
    if not present:
        return finding(
            code,
            "0",
            N_(
                "The record has none of the properties whose language counts (title, "
                "description, subject, type and others)."
            ),
            N_("Add a title or description with its language (for example en)."),
        )
    share = len(tagged) / len(present)
    level = _level(share, LANGUAGE_SHARES)
    following = _next(level)
    hint = ""
    if following is not None:
        needed = LANGUAGE_SHARES[following]
        missing = max(1, math.ceil(round(needed * len(present), 6)) - len(tagged))
        hint = N_(
            "Give a language to the values of {missing} more of these properties for tier "
            "{next}: {untagged}."
        )
        return finding(
            code,
            level,
            N_(
                "{tagged} of the {present} properties whose language counts have a value "
                "with a language ({percent} per cent)."
            ),
            hint,
            tagged=len(tagged),
            present=len(present),
            percent=int(share * 100),
            missing=missing,
            next=following,
            untagged=", ".join(untagged),
        )
    return finding(
        code,
        level,
        N_(
            "{tagged} of the {present} properties whose language counts have a value with a "
            "language ({percent} per cent)."
        ),
        tagged=len(tagged),
        present=len(present),
        percent=int(share * 100),
    )


# -- enabling elements -----------------------------------------------------------------------------


def _linked_class(value: Value, entities: dict[str, Entity]) -> str | None:
    entity = entities.get(value.ref or "")
    return entity.type if entity is not None else None


def enabling_elements(record: Record) -> Iterator[EnablingElement]:
    """The enabling elements the record has (dc:subject once per group it reaches)."""
    entities = _entities(record)
    for element in ENABLING_ELEMENTS:
        values = values_of(record, element.property)
        if element.via is None:
            if values:
                yield element
            continue
        classes = {_linked_class(value, entities) for value in values}
        if element.property == "dc:subject" and element.via == "concept":
            # a subject that is text or links to no agent or place is a concept
            classes = {"concept" if c not in ("agent", "place") else c for c in classes}
        if element.via in classes:
            yield element


def enabling_finding(record: Record) -> Finding:
    found = list(enabling_elements(record))
    elements = sorted({element.property for element in found})
    groups = sorted({element.group for element in found})
    level = "0"
    for candidate in ("C", "B", "A"):
        minimum_elements, minimum_groups = ENABLING_MINIMUMS[candidate]
        if len(elements) >= minimum_elements and len(groups) >= minimum_groups:
            level = candidate
            break
    following = _next(level)
    hint = ""
    params: dict[str, object] = {
        "elements": len(elements),
        "groups": len(groups),
        "names": ", ".join(elements) or "—",
    }
    if following is not None:
        need_elements, need_groups = ENABLING_MINIMUMS[following]
        hint = N_(
            "Tier {next} needs {need_elements} different ones in {need_groups} groups: add "
            "dates (dcterms:created, dcterms:temporal), object types or materials (dc:type, "
            "dcterms:medium), creators (dc:creator) or places (dcterms:spatial)."
        )
        params |= {"next": following, "need_elements": need_elements, "need_groups": need_groups}
    return finding(
        "metadata.enabling",
        level,
        N_(
            "The record has {elements} different properties that help people find it ({names}), "
            "in {groups} of the four groups (time, subject and type, agents, places)."
        ),
        hint,
        **params,
    )


# -- contextual classes ----------------------------------------------------------------------------


def is_complete(entity: Entity) -> bool:
    """Whether Europeana counts the entity as complete for the contextual classes."""
    labelled = bool(entity.pref_label)
    if entity.type == "agent":
        return labelled and bool(entity.begin or entity.end or entity.profession)
    if entity.type == "concept":
        return labelled and bool(entity.note or entity.broader or entity.same_as)
    if entity.type == "place":
        return labelled and entity.lat is not None and entity.long is not None
    return bool(entity.begin and entity.end)  # a time span


def _linked_entities(record: Record) -> Iterator[Entity]:
    entities = _entities(record)
    seen: set[str] = set()
    for name in _PROXY_FIELDS:
        for value in getattr(record, name):
            entity = entities.get(value.ref or "")
            if entity is not None and entity.id not in seen:
                seen.add(entity.id)
                yield entity
    for values in record.other.values():
        for value in values:
            entity = entities.get(value.ref or "")
            if entity is not None and entity.id not in seen:
                seen.add(entity.id)
                yield entity


# the provided object's fields (the aggregation's data provider and provider are not)
_PROXY_FIELDS = tuple(name for name in LIST_FIELDS if name not in ("data_provider", "provider"))


def contextual_finding(record: Record) -> Finding:
    linked = list(_linked_entities(record))
    complete = sorted({entity.type for entity in linked if is_complete(entity)})
    incomplete = [entity for entity in linked if not is_complete(entity)]
    level = _level(len(complete), CONTEXTUAL_MINIMUMS)
    following = _next(level)
    hint = ""
    if following is not None:
        hint = N_(
            "Describe linked entities fully: a person with a name and life dates or "
            "profession, a concept with a label and a note, broader term or vocabulary match, "
            "a place with a name and coordinates, a period with a begin and an end."
        )
        if incomplete:
            hint = N_(
                "Complete “{example}”, or describe another linked entity fully: a "
                "person with a name and life dates or profession, a concept with a label "
                "and a note, broader term or vocabulary match, a place with a name and "
                "coordinates, a period with a begin and an end."
            )
    return finding(
        "metadata.contextual",
        level,
        N_(
            "Complete linked entities in {count} of the four classes (people, concepts, "
            "places, periods){classes}."
        ),
        hint,
        count=len(complete),
        classes=f": {', '.join(complete)}" if complete else "",
        example=incomplete[0].label() if incomplete else "",
    )


METADATA_CRITERIA = (language_finding, enabling_finding, contextual_finding)


def metadata_level(findings: list[Finding]) -> str:
    """The metadata tier: the lowest level of the criteria."""
    return min((item.level for item in findings), key=LEVELS.index)
