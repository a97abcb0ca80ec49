"""What each column of a spreadsheet holds: the :class:`Mapping` and its suggestion.

A :class:`Mapping` says what each column holds: a record field from
:data:`~heritage.records.fields.FIELDS` (with a language, a separator for several
values per cell, and whether the values are links), or one of the
:data:`SPECIAL_TARGETS` (the identifier, the EDM type, the licence, the landing
page, the thumbnail, media files beside the sheet, media URLs). Mappings are saved
as JSON and reused; :func:`suggest_mapping` proposes one from the header names
(and the first rows' values). The readers are in
:mod:`heritage.records.importers.tabular`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, field_validator

from heritage.records.fields import EDM_TYPES, FIELDS, FIELDS_BY_NAME, FIELDS_BY_PROPERTY, ValueKind
from heritage.records.model import LANGUAGE_TAG

SPECIAL_TARGETS = (
    "identifier",
    "edm_type",
    "rights",
    "is_shown_at",
    "preview",
    "media",
    "media_url",
    "ignore",
)
MEDIA_SEPARATOR = "|"

URI_PATTERN = re.compile(r"^(?:https?://|urn:|info:|doi:)\S+$", re.IGNORECASE)
_BRACKETED = re.compile(r"\s*[(\[][^)\]]*[)\]]\s*$")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_LANG_SUFFIX = re.compile(
    r"^(?P<base>.+?)\s*(?:@(?P<at>[A-Za-z0-9-]+)|[(\[](?P<paren>[A-Za-z0-9-]+)[)\]])\s*$"
)
# ISO 639-1: a bracketed suffix is taken as a language only if it is one of these, so
# units such as "dimensions (mm)" or "width (cm)" are not mistaken for languages
_ISO_639_1 = frozenset(
    """aa ab ae af ak am an ar as av ay az ba be bg bh bi bm bn bo br bs ca ce ch co cr cs cu
    cv cy da de dv dz ee el en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho
    hr ht hu hy hz ia id ie ig ii ik io is it iu ja jv ka kg ki kj kk kl km kn ko kr ks ku kv
    kw ky la lb lg li ln lo lt lu lv mg mh mi mk ml mn mr ms mt my na nb nd ne ng nl nn no nr
    nv ny oc oj om or os pa pi pl ps pt qu rm rn ro ru rw sa sc sd se sg si sk sl sm sn so sq
    sr ss st su sv sw ta te tg th ti tk tl tn to tr ts tt tw ty ug uk ur uz ve vi vo wa wo xh
    yi yo za zh zu""".split()  # noqa: SIM905
)


def _synonyms(names: str) -> frozenset[str]:
    return frozenset(names.split("|"))


# header synonyms of the special targets, normalised (see _normalise)
_SPECIAL_HEADERS: dict[str, frozenset[str]] = {
    "identifier": _synonyms("identifier|id|object id|objectid|record id|local identifier|uid"),
    "edm_type": _synonyms("edm type|edmtype|europeana type|edm type uri"),
    "rights": _synonyms(
        "rights|license|licence|edm rights|rights uri|license url|licence url|license uri"
    ),
    "is_shown_at": _synonyms(
        "url|link|landing page|web page|webpage|permalink|is shown at|edm is shown at"
        "|record url|object url|uri"
    ),
    "preview": _synonyms("thumbnail|thumbnail url|thumbnail uri|thumb|preview|edm object"),
    "media": _synonyms(
        "media|image|images|file|files|filename|file name|filenames|file names|image file"
        "|image files|media file|media files|picture"
    ),
    "media_url": _synonyms(
        "media url|image url|image uri|file url|iiif|is shown by|edm is shown by|download url"
    ),
}
# used as the identifier only when no column is called identifier/id
_INVENTORY_HEADERS = frozenset(FIELDS_BY_NAME["identifiers"].headers) | {
    *_synonyms("inventory no|inv no|inv nr|inventory|accession no"),
}
# fields and targets that take one value per record: only the first column claims them
_SINGLE = frozenset(("identifier", "edm_type", "rights", "is_shown_at", "preview"))
_SUFFIX_WORDS = frozenset(("text", "label", "value", "display", "string", "note"))


# -- the mapping ------------------------------------------------------------------------------


class ColumnMapping(BaseModel):
    """What one column holds."""

    model_config = ConfigDict(extra="forbid")

    column: str
    # a field name from FIELDS, or one of SPECIAL_TARGETS
    target: str = "ignore"
    # the language of the column's text (BCP 47); checked per value, so a bad tag is a
    # problem on the field rather than a mapping that cannot be loaded
    lang: str | None = None
    # several values per cell, split at this string (media cells always split at "|")
    separator: str | None = None
    # the values are links (URIs of agents, places, concepts) rather than text
    links: bool = False

    @field_validator("target")
    @classmethod
    def _target(cls, value: str) -> str:
        if value not in FIELDS_BY_NAME and value not in SPECIAL_TARGETS:
            known = ", ".join([*SPECIAL_TARGETS, *FIELDS_BY_NAME])
            raise ValueError(f"'{value}' is not a field or target ({known})")
        return value

    @field_validator("lang", "separator")
    @classmethod
    def _empty_none(cls, value: str | None) -> str | None:
        return value if value else None


class Mapping(BaseModel):
    """The columns of a spreadsheet and what they hold; saved as JSON for reuse."""

    model_config = ConfigDict(extra="forbid")

    columns: list[ColumnMapping]
    delimiter: str | None = None  # CSV: recognised from the header line when None
    sheet: str | None = None  # XLSX: the first sheet when None

    def column(self, name: str) -> ColumnMapping | None:
        for item in self.columns:
            if item.column == name:
                return item
        return None

    def to_json(self) -> str:
        return self.model_dump_json(indent=2, exclude_defaults=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> Mapping:
        return cls.model_validate_json(text)

    def save(self, path: Path) -> None:
        path.write_text(self.to_json() + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> Mapping:
        return cls.from_json(path.read_bytes())


# -- suggestions ------------------------------------------------------------------------------


def _normalise(header: str) -> str:
    text = unicodedata.normalize("NFC", header).strip()
    text = _CAMEL.sub(" ", text).lower()
    text = re.sub(r"[_\-:./#]+", " ", text)
    return " ".join(text.split())


def split_language(header: str) -> tuple[str, str | None]:
    """``"title@de"`` and ``"title (de)"`` -> ``("title", "de")``; other headers unchanged."""
    match = _LANG_SUFFIX.match(header.strip())
    if not match:
        return header.strip(), None
    tag = match.group("at") or match.group("paren")
    if not LANGUAGE_TAG.match(tag):
        return header.strip(), None
    if match.group("paren") and tag.split("-")[0].lower() not in _ISO_639_1:
        return header.strip(), None
    return match.group("base").strip(), tag


def _field_for(normalised: str) -> str | None:
    for target, names in _SPECIAL_HEADERS.items():
        if normalised in names:
            return target
    for spec in FIELDS:
        if normalised in spec.headers:
            return spec.name
    return None


def target_for_header(header: str) -> str | None:
    """The field or special target a header (without its language suffix) suggests."""
    base = header.strip()
    lowered = base.lower()
    for prop, spec in FIELDS_BY_PROPERTY.items():
        if lowered == prop.lower():
            return spec.name
    normalised = _normalise(base)
    found = _field_for(normalised)
    if found:
        return found
    words = normalised.split()
    # "dateText" -> "date", "subjects" -> "subject"
    if len(words) > 1 and words[-1] in _SUFFIX_WORDS:
        found = _field_for(" ".join(words[:-1]))
    if not found and normalised.endswith("s"):
        found = _field_for(normalised[:-1])
    unit = _BRACKETED.sub("", base)  # "Dimensions (mm)", "Weight [g]"
    if not found and unit and unit != base:
        found = target_for_header(unit)
    return found


def _values(rows: Sequence[Sequence[str]] | None, index: int) -> list[str]:
    out: list[str] = []
    for row in rows or ():
        if index < len(row) and row[index].strip():
            out.append(row[index].strip())
    return out


def suggest_mapping(headers: Sequence[str], rows: Sequence[Sequence[str]] | None = None) -> Mapping:
    """A mapping proposed from header names (and, if given, the first rows' values)."""
    columns: list[ColumnMapping] = []
    claimed: set[tuple[str, str | None]] = set()
    inventory: int | None = None
    for index, header in enumerate(headers):
        base, lang = split_language(header)
        target = target_for_header(base) or "ignore"
        values = _values(rows, index)
        if target == "type" and values and all(v.upper() in EDM_TYPES for v in values):
            target = "edm_type"
        if target == "media" and values and all(URI_PATTERN.match(v) for v in values):
            target = "media_url"
        if _normalise(base) in _INVENTORY_HEADERS and inventory is None:
            inventory = index
        spec = FIELDS_BY_NAME.get(target)
        single = target in _SINGLE or (spec is not None and spec.kind is ValueKind.DATE)
        if single and (target, lang) in claimed:
            target = "ignore"  # e.g. "year" after "dateText": one date column is enough
        claimed.add((target, lang))
        separator = None
        links = False
        if spec is not None and spec.kind in (ValueKind.LINKED, ValueKind.CODE):
            for candidate in (MEDIA_SEPARATOR, ";"):
                if any(candidate in v for v in values):
                    separator = candidate
                    break
            links = bool(values) and all(URI_PATTERN.match(v) for v in values)
        columns.append(
            ColumnMapping(
                column=header,
                target=target,
                lang=lang if spec is not None and spec.kind is not ValueKind.CODE else None,
                separator=separator,
                links=links,
            )
        )
    if inventory is not None and not any(c.target == "identifier" for c in columns):
        columns[inventory] = columns[inventory].model_copy(update={"target": "identifier"})
    return Mapping(columns=columns)
