"""A record's publishing tiers: :func:`assess` runs every criterion.

The content tier is the lower of the media tier (the best web resource) and the
licence cap; the metadata tier is the lowest of the language, enabling-element
and contextual-class criteria. Each criterion's :class:`Finding` says why it got
its level and how to reach the next one. ``docs/tiers.md`` shows the rules,
written from the tables here by :func:`rules_lines`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from heritage.quality.content import (
    CONTENT_RULES,
    EMBEDDABLE,
    IMAGE_STEPS,
    VIDEO_LARGE_HEIGHT,
    licence_finding,
    media_finding,
)
from heritage.quality.findings import Finding
from heritage.quality.media import NO_FACTS, MediaFacts
from heritage.quality.metadata import (
    CONTEXTUAL_MINIMUMS,
    ENABLING_ELEMENTS,
    ENABLING_MINIMUMS,
    LANGUAGE_SHARES,
    METADATA_CRITERIA,
    RELEVANT_PROPERTIES,
    metadata_level,
)
from heritage.records.model import Record
from heritage.records.rights import ReuseCategory

CONTENT_TIERS = ("0", "1", "2", "3", "4")
METADATA_TIERS = ("0", "A", "B", "C")


def _rules_fingerprint() -> str:
    """A digest of the code that decides the tiers (these rules and the record model
    they read). Tiers kept with a record under another fingerprint were decided by
    other rules and are decided again; nobody has to remember to bump a number."""
    import heritage.quality as quality
    import heritage.records.model as record_model
    import heritage.records.rights as rights

    digest = hashlib.sha256()
    package = Path(quality.__file__).parent
    sources = [*sorted(package.glob("*.py")), Path(record_model.__file__), Path(rights.__file__)]
    for source in sources:
        digest.update(source.name.encode() + b"\0" + source.read_bytes())
    return digest.hexdigest()[:16]


RULES_FINGERPRINT = _rules_fingerprint()


@dataclass(frozen=True)
class Tiers:
    content: int
    metadata: str
    content_findings: tuple[Finding, ...]  # media, licence
    metadata_findings: tuple[Finding, ...]  # language, enabling elements, contextual classes

    def to_json(self) -> dict[str, Any]:
        return {
            "content": self.content,
            "metadata": self.metadata,
            "content_criteria": [item.to_json() for item in self.content_findings],
            "metadata_criteria": [item.to_json() for item in self.metadata_findings],
        }


def assess(record: Record, media: MediaFacts = NO_FACTS) -> Tiers:
    """The record's content and metadata tier, with every criterion's finding."""
    media_result = media_finding(record, media)
    licence = licence_finding(record)
    content = min(int(media_result.level), int(licence.level))
    metadata_findings = tuple(criterion(record) for criterion in METADATA_CRITERIA)
    return Tiers(
        content,
        metadata_level(list(metadata_findings)),
        (media_result, licence),
        metadata_findings,
    )


# -- the rules for the docs ------------------------------------------------------------------------


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def rules_lines() -> list[str]:
    """The Markdown tables of the rules that ``docs/tiers.md`` shows."""
    steps = ", ".join(f"≥ {pixels:,} px → {level}" for pixels, level in IMAGE_STEPS)
    lines = [
        f"Images (width × height): {steps}, else 0. Video: ≥ {VIDEO_LARGE_HEIGHT} px high → 4.",
        "",
        "| edm:type | Landing page alone | How to reach the next tier |",
        "|---|---|---|",
    ]
    for rule in CONTENT_RULES:
        hints = " ".join(f"{level}: {_cell(hint)}" for level, hint in sorted(rule.hints.items()))
        lines.append(f"| `{rule.edm_type}` | {rule.landing_page} | {hints} |")
    lines += ["", "| Reuse category | Content tier at most |", "|---|---|"]
    lines += [f"| {category.value} | {category.tier_cap} |" for category in ReuseCategory]
    lines += ["", "Embeddable players (URL patterns):", ""]
    lines += [f"* `{pattern.pattern}`" for pattern in EMBEDDABLE]
    lines += ["", "| Metadata criterion | A | B | C |", "|---|---|---|---|"]
    shares = [f"≥ {int(LANGUAGE_SHARES[level] * 100)}%" for level in ("A", "B", "C")]
    lines.append(f"| Properties with a language | {' | '.join(shares)} |")
    enabling = [
        f"≥ {ENABLING_MINIMUMS[level][0]} elements in ≥ {ENABLING_MINIMUMS[level][1]} groups"
        for level in ("A", "B", "C")
    ]
    lines.append(f"| Enabling elements | {' | '.join(enabling)} |")
    classes = [f"≥ {CONTEXTUAL_MINIMUMS[level]} classes" for level in ("A", "B", "C")]
    lines.append(f"| Complete contextual classes | {' | '.join(classes)} |")
    lines += [
        "",
        "Properties whose language counts: "
        + ", ".join(f"`{prop}`" for prop in RELEVANT_PROPERTIES)
        + ".",
    ]
    lines += [
        "",
        "| Enabling element | Discovery group | Counts when it links to |",
        "|---|---|---|",
    ]
    for element in ENABLING_ELEMENTS:
        lines.append(f"| `{element.property}` | {element.group} | {element.via or 'any value'} |")
    return lines


if __name__ == "__main__":  # python -m heritage.quality.tiers: the tables for the docs
    print("\n".join(rules_lines()))
