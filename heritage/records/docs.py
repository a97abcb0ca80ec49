"""Tables of ``docs/records.md`` made from the code, so a test can hold the page to it."""

from __future__ import annotations

from heritage.records.fields import FIELDS, Group

# The record's fields that are not value lists, with their EDM mapping.
SINGLE_FIELDS = (
    (
        "identifier",
        "hc:recordIdentifier",
        "ProvidedCHO",
        "The provider's identifier of the record; imports find the record again by it.",
    ),
    ("edm_type", "edm:type", "ProvidedCHO", "TEXT, IMAGE, SOUND, VIDEO or 3D."),
    ("rights", "edm:rights", "Aggregation", "A rightsstatements.org or Creative Commons URI."),
    ("is_shown_at", "edm:isShownAt", "Aggregation", "The object's page on the provider's website."),
    ("preview", "edm:object", "Aggregation", "A thumbnail image URL."),
    (
        "representations",
        "edm:isShownBy / edm:hasView",
        "Aggregation → WebResource",
        "Files stored with the record (`media/...`) or external URLs; "
        "the primary one is `edm:isShownBy`.",
    ),
    (
        "entities",
        "edm:Agent, edm:Place, edm:TimeSpan, skos:Concept",
        "contextual classes",
        "What values link to: labels per language, dates, coordinates, `owl:sameAs`.",
    ),
    (
        "other",
        "any prefixed EDM property",
        "ProvidedCHO",
        "Values of properties without a field of their own, so imports lose nothing.",
    ),
)


def fields_table() -> list[str]:
    lines = [
        "| Field | EDM property | Class | Values | Meaning |",
        "|---|---|---|---|---|",
    ]
    for spec in FIELDS:
        group = "ProvidedCHO" if spec.group is Group.OBJECT else "Aggregation"
        lines.append(
            f"| `{spec.name}` | `{spec.property}` | {group} | {spec.kind.value} | "
            f"{spec.help or spec.label} |"
        )
    for name, prop, group, meaning in SINGLE_FIELDS:
        lines.append(f"| `{name}` | `{prop}` | {group} | — | {meaning} |")
    return lines
