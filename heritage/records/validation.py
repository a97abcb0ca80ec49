"""Checks a record against the rules Europeana enforces, and gives advice on quality.

Every rule is data: a stable code, a severity, the record field it is about, a
plain-language message and a fix (both templates, filled in with the values
found) and a check function that yields one :class:`Hit` per problem. Errors
mirror what Europeana's schema and schematron reject, so a record with errors
stays a draft; warnings are advice that raises the record's metadata tier.

:data:`RULES` lists them all for ``docs/validation.md``; :func:`validate` runs
them. It is called for every record of large imports, so the checks use
precompiled patterns and build nothing big per call.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import NamedTuple

from heritage.records.fields import EDM_TYPES, FIELDS
from heritage.records.model import Record, Representation, Value
from heritage.records.problems import Problem, Severity
from heritage.records.rights import RightsCheck, check_rights


class Hit(NamedTuple):
    """One occurrence of a rule's problem: the field (when it differs from the
    rule's own) and the values its message and hint templates are filled with."""

    field: str | None = None
    params: Mapping[str, str] = MappingProxyType({})


Check = Callable[[Record], Iterable[Hit]]


@dataclass(frozen=True)
class Rule:
    code: str
    severity: Severity
    field: str | None  # None: the field the hit names
    message: str  # a template: {name} is filled from the hit
    hint: str
    check: Check = field(repr=False, compare=False)

    def problem(self, hit: Hit) -> Problem:
        return Problem(
            self.severity,
            self.code,
            self.message.format_map(hit.params) if hit.params else self.message,
            self.hint.format_map(hit.params) if hit.params else self.hint,
            hit.field or self.field,
        )


# -- facts shared by the checks -----------------------------------------------------------------

_LABELS: dict[str, str] = {spec.name: spec.label for spec in FIELDS} | {
    "edm_type": "Type",
    "rights": "Rights",
    "is_shown_at": "Web page",
    "preview": "Preview image",
    "representations": "Digital files",
    "entities": "Linked people, places, periods and concepts",
    "other": "Other properties",
}

# Fields whose texts Europeana counts when it rates language coverage.
_LANGUAGE_FIELDS = (
    "title",
    "alternative",
    "description",
    "subject",
    "type",
    "medium",
    "technique",
    "spatial",
    "temporal",
    "current_location",
    "rights_statement",
    "provenance",
    "source",
    "relation",
    "is_part_of",
)
_VOCABULARIES = {
    "creator": "Getty ULAN or Wikidata",
    "type": "Getty AAT or Wikidata",
    "subject": "Getty AAT, Wikidata or another published thesaurus",
    "spatial": "GeoNames, Getty TGN or Wikidata",
}
_DATE_FIELDS = ("date", "created", "issued")
_LIST_FIELDS = tuple(spec.name for spec in FIELDS)

_DATE = (
    r"-?\d{1,4}(?:-(?:0[1-9]|1[0-2])(?:-(?:0[1-9]|[12]\d|3[01])"
    r"(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?)?)?[?~%]?"
)
# ISO 8601 dates and intervals, with the open ends and qualifiers of EDTF (1890?, ../1900)
ISO_DATE = re.compile(rf"^(?:{_DATE}(?:/(?:{_DATE}|\.\.)?)?|(?:\.\.)?/{_DATE})$")
_DATE_PARTS = re.compile(r"^(-?\d{1,4})(?:-(\d\d)(?:-(\d\d))?)?")
_LABEL = r"[^\W_](?:[\w-]{0,61}[^\W_])?"
# an absolute http(s) URL: a host name, IPv4 or [IPv6], an optional port, then no
# spaces or characters that must be escaped; non-ASCII letters are allowed (IRIs)
HTTP_URL = re.compile(
    rf"^https?://(?:[^\s/?#@]+@)?(?:{_LABEL}(?:\.{_LABEL})*\.?|\[[0-9A-Fa-f:.]+\])"
    r"(?::\d{1,5})?(?:[/?#][^\s<>\"{}|\\^`]*)?$"
)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")

# The kind of a digital file, from its media type or else its file name extension.
_MEDIA_PREFIXES = {"image": "IMAGE", "audio": "SOUND", "video": "VIDEO", "text": "TEXT"}
_MEDIA_TYPES = {
    "application/pdf": "TEXT",
    "application/epub+zip": "TEXT",
    "application/vnd.las": "3D",
    "application/vnd.laszip": "3D",
    "image/vnd.dxf": "3D",  # Europeana counts DXF drawings as 3D
}
_EXTENSIONS = {
    **dict.fromkeys(
        ("jpg", "jpeg", "png", "gif", "tif", "tiff", "jp2", "jpx", "webp", "bmp", "svg"), "IMAGE"
    ),
    **dict.fromkeys(("mp3", "wav", "flac", "oga", "m4a", "aac", "aif", "aiff"), "SOUND"),
    **dict.fromkeys(("mp4", "m4v", "webm", "ogv", "mov", "mkv", "avi", "mpg", "mpeg"), "VIDEO"),
    **dict.fromkeys(("pdf", "txt", "epub", "rtf", "odt", "docx"), "TEXT"),
    **dict.fromkeys(
        (
            *("glb", "gltf", "obj", "ply", "stl", "las", "laz", "e57", "dae", "wrl", "x3d"),
            *("usdz", "nxs", "nxz", "ifc", "dxf", "fbx", "3ds"),
        ),
        "3D",
    ),
}
_EXTENSION = re.compile(r"\.([A-Za-z0-9]{1,5})(?:[?#].*)?$")


def media_kind(item: Representation) -> str | None:
    """The edm:type a digital file suggests (IMAGE, TEXT…), None if it cannot be told."""
    if item.media_type:
        media = item.media_type.split(";", 1)[0].strip().lower()
        kind = _MEDIA_TYPES.get(media)
        if kind:
            return kind
        if media.startswith("model/"):
            return "3D"
        kind = _MEDIA_PREFIXES.get(media.split("/", 1)[0])
        if kind:
            return kind
    match = _EXTENSION.search(item.file or item.url or "")
    return _EXTENSIONS.get(match.group(1).lower()) if match else None


def _name(index: int, item: Representation) -> str:
    return f"{index + 1} (“{item.file or item.url}”)"


def _more(count: int) -> str:
    return f" and {count} more" if count > 0 else ""


def _hit(field_name: str | None = None, **params: str) -> Hit:
    return Hit(field_name, params)


# -- errors: what Europeana rejects ------------------------------------------------------------


def _title_or_description(record: Record) -> Iterator[Hit]:
    if not record.title and not record.description:
        yield Hit()


def _subject_type_time_or_place(record: Record) -> Iterator[Hit]:
    if not (record.subject or record.type or record.temporal or record.spatial):
        yield Hit()


def _type_missing(record: Record) -> Iterator[Hit]:
    if not record.edm_type:
        yield Hit()


def _type_invalid(record: Record) -> Iterator[Hit]:
    # the model rejects other values; this catches records built without validation
    if record.edm_type and record.edm_type not in EDM_TYPES:
        yield _hit(value=record.edm_type)


def _language_for_text(record: Record) -> Iterator[Hit]:
    if record.edm_type == "TEXT" and not record.language:
        yield Hit()


def _data_provider(record: Record) -> Iterator[Hit]:
    if not record.data_provider:
        yield Hit()


def _provider(record: Record) -> Iterator[Hit]:
    if not record.provider:
        yield Hit()


def _rights_missing(record: Record) -> Iterator[Hit]:
    if not (record.rights or "").strip():
        yield Hit()


def _rights(record: Record) -> RightsCheck | None:
    if not (record.rights or "").strip():
        return None
    return check_rights(record.rights)


def _rights_near_miss(record: Record) -> Iterator[Hit]:
    result = _rights(record)
    if result and result.near_miss:
        yield _hit(value=result.uri, label=result.label or "", uri=result.canonical or "")


def _rights_not_accepted(record: Record) -> Iterator[Hit]:
    result = _rights(record)
    if result and not result.accepted and not result.near_miss:
        yield _hit(value=result.uri)


def _shown_at_or_by(record: Record) -> Iterator[Hit]:
    if not record.is_shown_at and not record.representations:
        yield Hit()


def _url_invalid(record: Record) -> Iterator[Hit]:
    for name in ("is_shown_at", "preview"):
        url = getattr(record, name)
        if url and not HTTP_URL.match(url):
            yield _hit(name, value=url, label=_LABELS[name])
    for index, item in enumerate(record.representations):
        for url, what in ((item.url, "digital file"), (item.iiif_service, "IIIF image service")):
            if url and not HTTP_URL.match(url):
                label = f"{_LABELS['representations']}, {what} {index + 1}"
                yield _hit("representations", value=url, label=label)


def _representation_rights(record: Record) -> Iterator[tuple[int, Representation, RightsCheck]]:
    for index, item in enumerate(record.representations):
        if item.rights and item.rights.strip():
            result = check_rights(item.rights)
            if not result.accepted:
                yield index, item, result


def _representation_rights_near_miss(record: Record) -> Iterator[Hit]:
    for index, item, result in _representation_rights(record):
        if result.near_miss:
            yield _hit(
                file=_name(index, item),
                value=result.uri,
                label=result.label or "",
                uri=result.canonical or "",
            )


def _representation_rights_not_accepted(record: Record) -> Iterator[Hit]:
    for index, item, result in _representation_rights(record):
        if not result.near_miss:
            yield _hit(file=_name(index, item), value=result.uri)


def _local_refs(record: Record) -> Iterator[tuple[str, str, str]]:
    """(field, label, ref) of every value that names a record-local entity."""
    for name in _LIST_FIELDS:
        for value in getattr(record, name):
            if value.ref and value.ref.startswith("#"):
                yield name, _LABELS[name], value.ref
    for prop, values in record.other.items():
        for value in values:
            if value.ref and value.ref.startswith("#"):
                yield "other", prop, value.ref
    for entity in record.entities:
        for ref in entity.broader:
            if ref.startswith("#"):
                yield "entities", f"The broader concept of “{entity.label()}”", ref


def _entity_missing(record: Record) -> Iterator[Hit]:
    known: set[str] | None = None  # built only when a record has local links
    for name, label, ref in _local_refs(record):
        if known is None:
            known = {entity.id for entity in record.entities}
        if ref not in known:
            yield _hit(name, label=label, value=ref)


# -- warnings: advice for a better metadata tier -------------------------------------------------


def _language_tags(record: Record) -> Iterator[Hit]:
    for name in _LANGUAGE_FIELDS:
        missing = [
            value
            for value in getattr(record, name)
            if value.ref is None
            and value.lang is None
            and not (name == "temporal" and ISO_DATE.match(value.value))
        ]
        if missing:
            yield _hit(
                name, label=_LABELS[name], value=missing[0].value, more=_more(len(missing) - 1)
            )


def _vocabulary_links(record: Record) -> Iterator[Hit]:
    for name, vocabularies in _VOCABULARIES.items():
        plain = [value for value in getattr(record, name) if value.ref is None]
        if plain:
            yield _hit(
                name,
                label=_LABELS[name],
                value=plain[0].value,
                more=_more(len(plain) - 1),
                vocabularies=vocabularies,
            )


def _date_format(record: Record) -> Iterator[Hit]:
    for name in _DATE_FIELDS:
        for value in getattr(record, name):
            if value.ref is None and not ISO_DATE.match(value.value):
                yield _hit(name, label=_LABELS[name], value=value.value)
    for entity in record.entities:
        for date in (entity.begin, entity.end):
            if date and not ISO_DATE.match(date):
                yield _hit("entities", label=f"“{entity.label()}”", value=date)


def _place_coordinates(record: Record) -> Iterator[Hit]:
    for entity in record.entities:
        if entity.type == "place" and (entity.lat is None or entity.long is None):
            yield _hit(value=entity.label())


def _date_key(date: str) -> tuple[int, int, int] | None:
    if "/" in date or not ISO_DATE.match(date):
        return None
    match = _DATE_PARTS.match(date)
    if not match:
        return None
    return int(match.group(1)), int(match.group(2) or 0), int(match.group(3) or 0)


def _time_span_order(record: Record) -> Iterator[Hit]:
    for entity in record.entities:
        if entity.begin and entity.end:
            begin, end = _date_key(entity.begin), _date_key(entity.end)
            if begin and end and begin > end:
                yield _hit(value=entity.label(), begin=entity.begin, end=entity.end)


def _image_media_type(record: Record) -> Iterator[Hit]:
    if record.edm_type != "IMAGE":
        return
    primary = record.primary_representation()
    if primary is None:
        return
    kind = media_kind(primary)
    if kind is not None and kind != "IMAGE":
        yield _hit(
            file=_name(record.representations.index(primary), primary),
            media_type=primary.media_type or "a " + kind + " file",
            suggestion=kind,
        )


def _value_key(value: Value) -> tuple[str, str | None, str | None]:
    return value.value.casefold(), (value.lang or "").lower() or None, value.ref


def _duplicates(record: Record) -> Iterator[Hit]:
    for name in _LIST_FIELDS:
        values: list[Value] = getattr(record, name)
        if len(values) < 2:
            continue
        seen: set[tuple[str, str | None, str | None]] = set()
        for value in values:
            key = _value_key(value)
            if key in seen:
                yield _hit(name, label=_LABELS[name], value=value.display())
                break
            seen.add(key)
    if len(record.representations) > 1:
        locations: set[str] = set()
        for item in record.representations:
            location = item.file or item.url or ""
            if location in locations:
                yield _hit("representations", label=_LABELS["representations"], value=location)
                break
            locations.add(location)


def _type_suggestion(record: Record) -> Iterator[Hit]:
    if record.edm_type or not record.representations:
        return
    kinds = {media_kind(item) for item in record.representations}
    if len(kinds) == 1 and None not in kinds:
        yield _hit(suggestion=kinds.pop() or "")


# -- the rules ------------------------------------------------------------------------------------

_E = Severity.ERROR
_W = Severity.WARNING

RULES: tuple[Rule, ...] = (
    Rule(
        "edm.title-or-description",
        _E,
        "title",
        "The record has neither a title nor a description. Europeana needs at least one of "
        "them (dc:title or dc:description).",
        "Add a title, for example the name of the object, or a short description.",
        _title_or_description,
    ),
    Rule(
        "edm.subject-type-time-or-place",
        _E,
        "subject",
        "Europeana needs at least one subject, object type, period or place (dc:subject, "
        "dc:type, dcterms:temporal or dcterms:spatial).",
        "Add what kind of object it is (for example “painting”), what it shows, when or where "
        "it is from.",
        _subject_type_time_or_place,
    ),
    Rule(
        "edm.type-missing",
        _E,
        "edm_type",
        "The type of the digital object is not set (edm:type). Europeana needs it to show "
        "the record in the right way.",
        "Choose TEXT, IMAGE, SOUND, VIDEO or 3D: the kind of the digital files, not of the "
        "physical object.",
        _type_missing,
    ),
    Rule(
        "edm.type-invalid",
        _E,
        "edm_type",
        "“{value}” is not a type of digital object Europeana knows (edm:type).",
        "Use one of TEXT, IMAGE, SOUND, VIDEO or 3D.",
        _type_invalid,
    ),
    Rule(
        "edm.language-for-text",
        _E,
        "language",
        "A record of type TEXT needs the language of the text (dc:language).",
        "Add the language as an ISO 639 code, for example en, de or fr; use zxx when the "
        "text has no language, such as a table of numbers.",
        _language_for_text,
    ),
    Rule(
        "edm.data-provider",
        _E,
        "data_provider",
        "The institution that provides the data is missing (edm:dataProvider).",
        "Add the name of the institution that holds the object, ideally linked to its "
        "Wikidata entry.",
        _data_provider,
    ),
    Rule(
        "edm.provider",
        _E,
        "provider",
        "The aggregator that delivers the data to Europeana is missing (edm:provider).",
        "Add the name of your aggregator; if you deliver to Europeana yourself, repeat the "
        "data provider.",
        _provider,
    ),
    Rule(
        "edm.rights-missing",
        _E,
        "rights",
        "Europeana needs a licence or rights statement for the digital object (edm:rights).",
        "Choose one from the rights list, for example CC BY 4.0 "
        "(http://creativecommons.org/licenses/by/4.0/) or In Copyright "
        "(http://rightsstatements.org/vocab/InC/1.0/).",
        _rights_missing,
    ),
    Rule(
        "edm.rights-near-miss",
        _E,
        "rights",
        "The rights “{value}” are not written the way Europeana accepts them: it needs the "
        "exact address of {label} (edm:rights).",
        "Use exactly {uri}",
        _rights_near_miss,
    ),
    Rule(
        "edm.rights-not-accepted",
        _E,
        "rights",
        "“{value}” is not a licence or rights statement that Europeana accepts (edm:rights).",
        "Choose one from the rights list: a Creative Commons licence, CC0, the Public Domain "
        "Mark or one of six rightsstatements.org statements.",
        _rights_not_accepted,
    ),
    Rule(
        "edm.shown-at-or-by",
        _E,
        "is_shown_at",
        "The record has neither a web page nor a digital file (edm:isShownAt or "
        "edm:isShownBy); Europeana needs one to link to.",
        "Add the address of the object's page on your website, or add a digital file.",
        _shown_at_or_by,
    ),
    Rule(
        "edm.url-invalid",
        _E,
        None,
        "“{value}” in {label} is not a valid web address.",
        "Enter the full address, starting with https:// or http:// and without spaces, for "
        "example https://museum.example/objects/123.",
        _url_invalid,
    ),
    Rule(
        "edm.representation-rights-near-miss",
        _E,
        "representations",
        "The rights of digital file {file}, “{value}”, are not written the way Europeana "
        "accepts them: it needs the exact address of {label}.",
        "Use exactly {uri}",
        _representation_rights_near_miss,
    ),
    Rule(
        "edm.representation-rights-not-accepted",
        _E,
        "representations",
        "The rights of digital file {file}, “{value}”, are not a licence or rights statement "
        "that Europeana accepts.",
        "Choose one from the rights list, or leave the file's rights empty so that the "
        "record's rights apply.",
        _representation_rights_not_accepted,
    ),
    Rule(
        "edm.entity-missing",
        _E,
        None,
        "{label} links to “{value}”, but this record describes no person, place, period or "
        "concept with that identifier.",
        "Add it to the record's linked people, places, periods and concepts, or link to a "
        "vocabulary instead (for example a Wikidata or GeoNames address).",
        _entity_missing,
    ),
    Rule(
        "quality.language-tag",
        _W,
        None,
        "{label}: “{value}”{more} does not say which language it is in.",
        "Set the language of each text, for example en or de. Europeana rates records with "
        "languages higher and can translate them.",
        _language_tags,
    ),
    Rule(
        "quality.vocabulary-link",
        _W,
        None,
        "{label}: “{value}”{more} is plain text, not a link to a shared vocabulary.",
        "Link it to a term from {vocabularies}: Europeana can then show it in many "
        "languages and connect it with other collections.",
        _vocabulary_links,
    ),
    Rule(
        "quality.date-format",
        _W,
        None,
        "{label}: “{value}” is not a date in the standard form (ISO 8601).",
        "Write dates as YYYY, YYYY-MM or YYYY-MM-DD and periods as 1890/1895; put wording "
        "such as “about 1890” in the description, or link to a period.",
        _date_format,
    ),
    Rule(
        "quality.place-coordinates",
        _W,
        "entities",
        "The place “{value}” has no coordinates.",
        "Add its latitude and longitude in decimal degrees (WGS84), for example from its "
        "GeoNames or Wikidata entry.",
        _place_coordinates,
    ),
    Rule(
        "quality.time-span-order",
        _W,
        "entities",
        "“{value}” begins ({begin}) after it ends ({end}).",
        "Swap the begin and end dates, or correct the one that is wrong.",
        _time_span_order,
    ),
    Rule(
        "quality.image-media-type",
        _W,
        "representations",
        "The record is of type IMAGE, but its main digital file {file} is not an image "
        "({media_type}).",
        "Make an image the main file, or change the type to {suggestion}.",
        _image_media_type,
    ),
    Rule(
        "quality.duplicate-value",
        _W,
        None,
        "{label} has “{value}” more than once.",
        "Remove the repeated value.",
        _duplicates,
    ),
    Rule(
        "quality.type-suggestion",
        _W,
        "edm_type",
        "The type is not set (edm:type), and all digital files look like {suggestion} files.",
        "Set the type to {suggestion} if that describes the digital object.",
        _type_suggestion,
    ),
)

RULES_BY_CODE: dict[str, Rule] = {rule.code: rule for rule in RULES}
assert len(RULES_BY_CODE) == len(RULES), "rule codes must be unique"
# validate() relies on this order to list errors first without sorting
assert [rule.severity for rule in RULES] == sorted(
    (rule.severity for rule in RULES), key=lambda severity: severity is not Severity.ERROR
)


def validate(record: Record) -> list[Problem]:
    """Every problem of ``record`` in the order of :data:`RULES`: errors first."""
    return [rule.problem(hit) for rule in RULES for hit in rule.check(record)]


@dataclass(frozen=True)
class Summary:
    errors: int
    warnings: int
    by_code: dict[str, int]

    @property
    def publishable(self) -> bool:
        return self.errors == 0

    def to_json(self) -> dict[str, object]:
        return {"errors": self.errors, "warnings": self.warnings, "by_code": dict(self.by_code)}


def summary(problems: Iterable[Problem]) -> Summary:
    """Counts of errors, warnings and of each code (codes sorted)."""
    by_code: Counter[str] = Counter()
    errors = warnings = 0
    for problem in problems:
        by_code[problem.code] += 1
        if problem.severity is Severity.ERROR:
            errors += 1
        else:
            warnings += 1
    return Summary(errors, warnings, dict(sorted(by_code.items())))


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def rules_table() -> list[str]:
    """The Markdown table of :data:`RULES` that ``docs/validation.md`` shows."""
    lines = [
        "| Code | Severity | Field | Message | How to fix |",
        "|---|---|---|---|---|",
    ]
    for rule in RULES:
        field_name = f"`{rule.field}`" if rule.field else "(the field concerned)"
        lines.append(
            f"| `{rule.code}` | {rule.severity.value} | {field_name} | {_cell(rule.message)} "
            f"| {_cell(rule.hint)} |"
        )
    return lines


if __name__ == "__main__":  # python -m heritage.records.validation: the table for the docs
    print("\n".join(rules_table()))
