"""What changed between two versions of a record, field by field."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from heritage.records.fields import FIELDS_BY_NAME
from heritage.records.model import Record

# Fields that are not value lists, with the labels the pages show.
_OTHER_LABELS = {
    "identifier": "Record identifier",
    "edm_type": "EDM type",
    "rights": "Rights",
    "is_shown_at": "Landing page",
    "preview": "Preview image",
    "representations": "Representations",
    "entities": "Linked entities",
    "other": "Other properties",
}


@dataclass(frozen=True)
class FieldChange:
    field: str
    label: str
    removed: list[str]  # values (as displayed) in the old version only
    added: list[str]  # values in the new version only


def _display(item: Any) -> str:
    if isinstance(item, dict):
        if "value" in item or "ref" in item:
            text = item.get("value") or ""
            ref = item.get("ref")
            lang = item.get("lang")
            shown = text if not ref else (f"{text} <{ref}>" if text else f"<{ref}>")
            return f"{shown} @{lang}" if lang else shown
        return orjson.dumps(item, option=orjson.OPT_SORT_KEYS).decode()
    return str(item)


def _items(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [_display(item) for item in value]
    if isinstance(value, dict):
        return [f"{key}: {_display(item)}" for key, items in value.items() for item in items]
    return [_display(value)]


def diff_records(old: Record, new: Record) -> list[FieldChange]:
    before, after = old.canonical(), new.canonical()
    changes: list[FieldChange] = []
    for name in Record.model_fields:
        if before.get(name) == after.get(name):
            continue
        old_items, new_items = _items(before.get(name)), _items(after.get(name))
        spec = FIELDS_BY_NAME.get(name)
        label = spec.label if spec else _OTHER_LABELS.get(name, name)
        changes.append(
            FieldChange(
                field=name,
                label=label,
                removed=[item for item in old_items if item not in new_items],
                added=[item for item in new_items if item not in old_items],
            )
        )
    return changes
