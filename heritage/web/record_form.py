"""The record edit form: a record as the form shows it, and the record a post describes.

The form carries the record's fields (several values per field, each with a
language and a link), its contextual entities (agents, places, time spans,
concepts with their vocabulary links) and its representations (files and
external URLs). Fields repeat with the same name, so a post lists each field's
texts, languages and links in parallel. Entities and representations are keyed
(``entity-KEY.``, ``rep-KEY.``): existing ones by their position in the record,
ones added in the browser by a fresh key.

Nothing that is not on the form is lost: a post that lacks a section (a hidden
marker says which sections the form carried) keeps that part of the record as
it was; ``other`` properties are never on the form; a stored file stays a
representation whatever the post says (files leave a record through their own
remove action, which makes a version without them).
"""

from __future__ import annotations

import math
import re
from typing import Any

from pydantic import ValidationError
from starlette.datastructures import FormData

from heritage.records.fields import FIELDS
from heritage.records.model import Entity, Record, Representation, Value
from heritage.records.rights import RIGHTS_CHOICES
from heritage.web.i18n import gettext as _

OTHER_RIGHTS = "other"
ENTITY_TYPES = ("agent", "place", "timespan", "concept")
ROLES = ("primary", "view")
# text properties of an entity with several values, each with a language
ENTITY_TEXTS = ("pref_label", "alt_label", "note", "profession")
# URI lists of an entity, typed one per line
ENTITY_URIS = ("same_as", "broader")
ENTITY_SINGLES = ("id", "type", "begin", "end", "lat", "long")
REPRESENTATION_SINGLES = ("file", "url", "role", "media_type", "rights")
KEY = r"([A-Za-z0-9_]{1,16})"
ENTITY_NAME = re.compile(rf"^entity-{KEY}\.")
REPRESENTATION_NAME = re.compile(rf"^rep-{KEY}\.")
# more would only come from a crafted post; the form shows what the record has
MAX_KEYED = 2000

Rows = list[dict[str, str]]


# -- reading posted values ----------------------------------------------------------------------


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _texts(form: FormData, name: str) -> list[str]:
    return [value if isinstance(value, str) else "" for value in form.getlist(name)]


def _rows(form: FormData, name: str) -> Rows:
    """The rows of a repeated value (text, language, link), without the empty ones."""
    values = _texts(form, f"{name}.value")
    langs = _texts(form, f"{name}.lang")
    refs = _texts(form, f"{name}.ref")
    rows = []
    for index in range(max(len(values), len(langs), len(refs))):
        row = {
            "value": values[index] if index < len(values) else "",
            "lang": (langs[index] if index < len(langs) else "").strip(),
            "ref": (refs[index] if index < len(refs) else "").strip(),
        }
        if row["value"].strip() or row["ref"]:
            rows.append(row)
    return rows


def _keys(form: FormData, pattern: re.Pattern[str]) -> list[str]:
    """The keys of a keyed section, in the order the form lists them."""
    keys: dict[str, None] = {}
    for name in form:
        match = pattern.match(name)
        if match:
            keys.setdefault(match.group(1))
            if len(keys) >= MAX_KEYED:
                break
    return list(keys)


def _uri_lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _rows_of(values: list[Value]) -> Rows:
    return [
        {"value": item.value, "lang": item.lang or "", "ref": item.ref or ""} for item in values
    ]


def _reason(error: dict[str, Any]) -> str:
    return str(error.get("msg", "")).removeprefix("Value error, ")


def _number(value: float | None) -> str:
    return "" if value is None else repr(value)


# -- the form's values --------------------------------------------------------------------------


def entity_values(entity: Entity | None, key: str) -> dict[str, Any]:
    """One entity's part of the form (an empty one to add a new entity)."""
    values: dict[str, Any] = {"key": key, "remove": False}
    values["id"] = entity.id if entity else ""
    values["type"] = entity.type if entity else "agent"
    for name in ENTITY_TEXTS:
        values[name] = _rows_of(getattr(entity, name)) if entity else []
    for name in ENTITY_URIS:
        values[name] = "\n".join(getattr(entity, name)) if entity else ""
    values["begin"] = (entity.begin or "") if entity else ""
    values["end"] = (entity.end or "") if entity else ""
    values["lat"] = _number(entity.lat) if entity else ""
    values["long"] = _number(entity.long) if entity else ""
    return values


def representation_values(item: Representation | None, key: str) -> dict[str, Any]:
    """One representation's part of the form (an empty one to add an external URL)."""
    return {
        "key": key,
        "remove": False,
        "file": (item.file or "") if item else "",
        "url": (item.url or "") if item else "",
        "role": item.role if item else "view",
        "media_type": (item.media_type or "") if item else "",
        "rights": (item.rights or "") if item else "",
        "label": _rows_of(item.label) if item else [],
    }


def fresh_key(items: list[dict[str, Any]]) -> str:
    """A key for one more block, unlike those of ``items`` (kept when a post failed)."""
    used = {item["key"] for item in items}
    return next(f"new{number}" for number in range(len(used) + 1) if f"new{number}" not in used)


def form_from_record(record: Record | None, base_version: str | None) -> dict[str, Any]:
    """The form's values for a record (empty for a new one)."""
    uris = {uri for _label, uri in RIGHTS_CHOICES}
    rights = record.rights if record else None
    return {
        "identifier": record.identifier if record else "",
        "edm_type": (record.edm_type or "") if record else "",
        "rights_choice": rights if rights in uris else (OTHER_RIGHTS if rights else ""),
        "rights_other": rights if rights and rights not in uris else "",
        "is_shown_at": (record.is_shown_at or "") if record else "",
        "preview": (record.preview or "") if record else "",
        "message": "",
        "base_version": base_version or "",
        "fields": {
            spec.name: _rows_of(record.values(spec.name)) if record else [] for spec in FIELDS
        },
        "entities_on_form": True,
        "entities": [
            entity_values(entity, str(index))
            for index, entity in enumerate(record.entities if record else [])
        ],
        "representations_on_form": True,
        "representations": [
            representation_values(item, str(index))
            for index, item in enumerate(record.representations if record else [])
        ],
    }


def _posted_entity(form: FormData, key: str) -> dict[str, Any] | None:
    prefix = f"entity-{key}."
    values: dict[str, Any] = {"key": key, "remove": bool(_text(form, prefix + "remove"))}
    for name in ENTITY_SINGLES:
        values[name] = _text(form, prefix + name)
    for name in ENTITY_TEXTS:
        values[name] = _rows(form, prefix + name)
    for name in ENTITY_URIS:
        values[name] = "\n".join(_uri_lines(_text(form, prefix + name)))
    typed = any(values[name] for name in (*ENTITY_TEXTS, *ENTITY_URIS)) or any(
        values[name] for name in ("id", "begin", "end", "lat", "long")
    )
    return values if typed or values["remove"] else None  # an empty new block adds nothing


def _posted_representation(form: FormData, key: str) -> dict[str, Any] | None:
    prefix = f"rep-{key}."
    values: dict[str, Any] = {"key": key, "remove": bool(_text(form, prefix + "remove"))}
    for name in REPRESENTATION_SINGLES:
        values[name] = _text(form, prefix + name)
    values["role"] = values["role"] or "view"
    values["label"] = _rows(form, prefix + "label")
    return values if values["file"] or values["url"] or values["remove"] else None


def form_from_post(form: FormData) -> dict[str, Any]:
    """The values as typed, kept whatever happens so a failed save loses nothing."""
    entities = [_posted_entity(form, key) for key in _keys(form, ENTITY_NAME)]
    representations = [
        _posted_representation(form, key) for key in _keys(form, REPRESENTATION_NAME)
    ]
    return {
        "identifier": _text(form, "identifier"),
        "edm_type": _text(form, "edm_type"),
        "rights_choice": _text(form, "rights_choice"),
        "rights_other": _text(form, "rights_other"),
        "is_shown_at": _text(form, "is_shown_at"),
        "preview": _text(form, "preview"),
        "message": _text(form, "message")[:2000],
        "base_version": _text(form, "base_version"),
        "fields": {spec.name: _rows(form, spec.name) for spec in FIELDS},
        "entities_on_form": bool(_text(form, "entities_on_form")),
        "entities": [item for item in entities if item is not None],
        "representations_on_form": bool(_text(form, "representations_on_form")),
        "representations": [item for item in representations if item is not None],
    }


# -- the record the form describes --------------------------------------------------------------


def _values(rows: Rows, errors: dict[str, str], name: str, what: str = "") -> list[Value]:
    items = []
    for row in rows:
        try:
            items.append(
                Value(value=row["value"], lang=row["lang"] or None, ref=row["ref"] or None)
            )
        except ValidationError as error:
            reason = "; ".join(_reason(item) for item in error.errors())
            errors.setdefault(name, f"{what}{reason}")
    return items


def _coordinate(text: str, low: float, high: float) -> float | None:
    """A latitude or longitude typed with a point or a comma; ValueError when it is none."""
    if not text:
        return None
    number = float(text.replace(",", "."))
    if not math.isfinite(number) or not low <= number <= high:
        raise ValueError(text)
    return number


def _entities(values: list[dict[str, Any]], errors: dict[str, str]) -> list[Entity]:
    entities: list[Entity] = []
    seen: set[str] = set()
    for item in values:
        if item["remove"]:
            continue
        name = f"entity-{item['key']}"
        label = next((row["value"] for row in item["pref_label"] if row["value"]), "")
        what = f"{label or item['id'] or _('new entity')}: "
        if not item["id"]:
            errors[name] = what + _(
                "Give the entity a URI from a vocabulary (Wikidata, GeoNames, Getty) "
                "or a name starting with # for one that exists only in this record."
            )
            continue
        if item["id"] in seen:
            errors[name] = what + _("Another linked entity has this URI already.")
            continue
        seen.add(item["id"])
        data: dict[str, Any] = {
            "id": item["id"],
            "type": item["type"] if item["type"] in ENTITY_TYPES else "agent",
            "begin": item["begin"] or None,
            "end": item["end"] or None,
        }
        for field in ENTITY_TEXTS:
            data[field] = _values(item[field], errors, name, what)
        for field in ENTITY_URIS:
            data[field] = _uri_lines(item[field])
        try:
            data["lat"] = _coordinate(item["lat"], -90, 90)
            data["long"] = _coordinate(item["long"], -180, 180)
        except ValueError:
            errors[name] = what + _(
                "Latitude is a number from -90 to 90 and longitude from -180 to 180 "
                "(decimal degrees, WGS84)."
            )
            continue
        try:
            entities.append(Entity.model_validate(data))
        except ValidationError as error:
            errors.setdefault(name, what + "; ".join(_reason(e) for e in error.errors()))
    return entities


def _web_url(value: str) -> bool:
    return value.lower().startswith(("http://", "https://"))


def _representations(
    values: list[dict[str, Any]], current: list[Representation], errors: dict[str, str]
) -> list[Representation]:
    stored = {item.file: item for item in current if item.file}
    result: list[Representation] = []
    kept_files: set[str] = set()
    for item in values:
        name = f"rep-{item['key']}"
        what = f"{item['file'] or item['url'] or _('new representation')}: "
        role = item["role"] if item["role"] in ROLES else "view"
        changes: dict[str, Any] = {
            "role": role,
            "media_type": item["media_type"] or None,
            "rights": item["rights"] or None,
            "label": _values(item["label"], errors, name, what),
        }
        if item["file"]:
            earlier = stored.get(item["file"])
            if earlier is None or item["file"] in kept_files:
                continue  # not a file of this record: the form cannot add files
            kept_files.add(item["file"])
            result.append(earlier.model_copy(update=changes))
            continue
        if item["remove"]:
            continue
        if not _web_url(item["url"]):
            errors[name] = what + _("An external representation needs an http or https URL.")
            continue
        earlier = _same_url(current, item)
        try:
            if earlier is not None:
                result.append(
                    Representation.model_validate(
                        earlier.model_dump() | changes | {"url": item["url"]}
                    )
                )
            else:
                result.append(Representation.model_validate({"url": item["url"], **changes}))
        except ValidationError as error:
            errors.setdefault(name, what + "; ".join(_reason(e) for e in error.errors()))
    # a stored file is never dropped by the form
    result += [item for file, item in stored.items() if file not in kept_files]
    if sum(1 for item in result if item.role == "primary") > 1:
        errors["representations"] = _(
            "Only one representation can be the primary one (edm:isShownBy); make the others views."
        )
    return result


def _same_url(current: list[Representation], item: dict[str, Any]) -> Representation | None:
    """The external representation this form row showed (its size and IIIF service stay)."""
    key = item["key"]
    if key.isdigit() and int(key) < len(current):
        earlier = current[int(key)]
        if earlier.url and earlier.url == item["url"]:
            return earlier
    return None


def record_from_form(
    values: dict[str, Any], current: Record | None
) -> tuple[Record | None, dict[str, str]]:
    """The record the form describes, or the errors by field (``entity-KEY`` and
    ``rep-KEY`` for an entity's or a representation's)."""
    errors: dict[str, str] = {}
    data: dict[str, Any] = {
        spec.name: _values(values["fields"][spec.name], errors, spec.name) for spec in FIELDS
    }
    if not values["identifier"]:
        errors["identifier"] = _("Give the record an identifier, unique in this workspace.")
    choice = values["rights_choice"]
    if choice == OTHER_RIGHTS:
        rights = values["rights_other"] or None
        if rights is None:
            errors["rights"] = _("Type the rights URI, or choose one from the list.")
    else:
        rights = choice or None
    data.update(
        identifier=values["identifier"],
        edm_type=values["edm_type"] or None,
        rights=rights,
        is_shown_at=values["is_shown_at"] or None,
        preview=values["preview"] or None,
        other=current.other if current else {},
    )
    existing = current.representations if current else []
    if values["entities_on_form"]:
        data["entities"] = _entities(values["entities"], errors)
    else:
        data["entities"] = current.entities if current else []
    if values["representations_on_form"]:
        data["representations"] = _representations(values["representations"], existing, errors)
    else:
        data["representations"] = existing
    try:
        record = Record.model_validate(data)
    except ValidationError as error:
        for item in error.errors():
            name = str(item["loc"][0]) if item["loc"] else "form"
            errors.setdefault(name, _reason(item))
        return None, errors
    return (None, errors) if errors else (record, errors)
