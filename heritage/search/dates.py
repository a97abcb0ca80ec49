"""Years of the free-text dates records carry, for the timeline and date facets.

Records say "1642", "1642-03-01", "c. 1650", "1600-1650", "17th century",
"17. Jahrhundert", "XVIIe siècle", "1820s" or "350 BC". :func:`year_span` finds the
earliest and the latest year such texts name; it does not guess when a text names
no year at all.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_YEAR = re.compile(r"(?<![\d.])(\d{3,4})(?:s\b)?(?!\d)")
_BC_YEAR = re.compile(
    r"(?<!\d)(\d{1,4})\s*(?:BC|BCE|B\.C\.|v\.\s?Chr\.|av\.\s?J\.-?C\.|a\.\s?C\.)", re.I
)
_ISO_NEGATIVE = re.compile(r"^-(\d{1,6})(?:-\d\d(?:-\d\d)?)?$")
_DECADE = re.compile(r"(?<!\d)(\d{3})0s\b")
_ARABIC_CENTURY = re.compile(
    r"(?<!\d)(\d{1,2})\s*(?:st|nd|rd|th|e|er|ème|eme|\.)?\s*"
    r"(?:century|centuries|jahrhundert|jh\.?|jhdt\.?|siècle|siecle|secolo|siglo|eeuw|wiek)",
    re.I,
)
_ROMAN_CENTURY = re.compile(
    r"\b([IVXL]{1,6})\s*(?:e|er|ème|eme|\.)?\s*(?:century|siècle|siecle|secolo|siglo|eeuw|wiek)",
    re.I,
)
_ROMAN = {"I": 1, "V": 5, "X": 10, "L": 50}
MIN_YEAR, MAX_YEAR = -10_000, 2_200


def _roman(text: str) -> int | None:
    total, previous = 0, 0
    for char in reversed(text.upper()):
        value = _ROMAN.get(char)
        if value is None:
            return None
        total = total - value if value < previous else total + value
        previous = max(previous, value)
    return total or None


def _century(number: int, bc: bool = False) -> tuple[int, int]:
    if bc:
        return -number * 100, -(number - 1) * 100 - 1
    return (number - 1) * 100, (number - 1) * 100 + 99


def years_in(text: str) -> list[tuple[int, int]]:
    """Every (first, last) year span ``text`` names."""
    spans: list[tuple[int, int]] = []
    text = text.strip()
    iso_negative = _ISO_NEGATIVE.match(text)
    if iso_negative:
        year = -int(iso_negative.group(1))
        return [(year, year)]
    bc = re.search(r"\b(BC|BCE|B\.C\.|v\.\s?Chr\.|av\.\s?J\.-?C\.)", text, re.I) is not None
    for match in _ARABIC_CENTURY.finditer(text):
        number = int(match.group(1))
        if 1 <= number <= 21:
            spans.append(_century(number, bc))
    for match in _ROMAN_CENTURY.finditer(text):
        number = _roman(match.group(1))
        if number and 1 <= number <= 21:
            spans.append(_century(number, bc))
    if spans:
        return spans
    for match in _BC_YEAR.finditer(text):
        year = -int(match.group(1))
        spans.append((year, year))
    if spans:
        return spans
    for match in _DECADE.finditer(text):
        start = int(match.group(1)) * 10
        spans.append((start, start + 9))
    if spans:
        return spans
    for match in _YEAR.finditer(text):
        year = int(match.group(1))
        if year <= MAX_YEAR:
            spans.append((year, year))
    return spans


def year_span(texts: Iterable[str]) -> tuple[int, int] | None:
    """The earliest first year and the latest last year the texts name, or None."""
    first: int | None = None
    last: int | None = None
    for text in texts:
        for start, end in years_in(text):
            first = start if first is None else min(first, start)
            last = end if last is None else max(last, end)
    if first is None or last is None:
        return None
    return max(first, MIN_YEAR), min(last, MAX_YEAR)


def century_of(year: int) -> int:
    """The first year of the century ``year`` falls in, counted as 1600 for 1600-1699."""
    return (year // 100) * 100


def decade_of(year: int) -> int:
    return (year // 10) * 10
