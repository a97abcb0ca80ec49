"""Turning vocabulary identifiers into canonical URIs, offline.

Sources name their terms in many ways: a full URI in one of several spellings
(``https://www.wikidata.org/wiki/Q42``), or a bare number with the vocabulary
named beside it (``lido:source="TGN"`` and ``7000874``). Links only work, and
entities only merge, when every spelling becomes the one URI the vocabulary
publishes. Only unambiguous patterns are converted; anything else is ``None``
so the caller keeps it as text.
"""

from __future__ import annotations

import re

_HTTP = re.compile(r"^https?://[^\s<>\"]+$", re.IGNORECASE)

# (pattern on a URI, canonical form): the forms each vocabulary publishes
_URI_FORMS: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"^https?://(?:www\.)?wikidata\.org/(?:wiki|entity)/(Q\d+)/?$", re.I),
        "http://www.wikidata.org/entity/{0}",
    ),
    (
        re.compile(r"^https?://(?:sws\.|www\.)?geonames\.org/(\d+)(?:/.*)?$", re.I),
        "https://sws.geonames.org/{0}/",
    ),
    (
        re.compile(r"^https?://vocab\.getty\.edu/(?:page/)?(aat|tgn|ulan)/(\d+)/?$", re.I),
        "http://vocab.getty.edu/{0}/{1}",
    ),
    (re.compile(r"^https?://d-nb\.info/gnd/([0-9X-]+)/?$", re.I), "https://d-nb.info/gnd/{0}"),
    (re.compile(r"^https?://(?:www\.)?viaf\.org/viaf/(\d+)/?$", re.I), "http://viaf.org/viaf/{0}"),
)


def is_known(uri: str) -> bool:
    """Whether ``uri`` is in a vocabulary this module knows (Getty, GND, Wikidata, ...)."""
    return any(pattern.match(uri) for pattern, _template in _URI_FORMS)


# (words in lido:source, pattern of a bare identifier, URI template)
_SOURCES: tuple[tuple[tuple[str, ...], re.Pattern[str], str], ...] = (
    (("ulan",), re.compile(r"^5\d{8}$"), "http://vocab.getty.edu/ulan/{0}"),
    (("aat",), re.compile(r"^3\d{8}$"), "http://vocab.getty.edu/aat/{0}"),
    (("tgn",), re.compile(r"^[17]\d{6}$"), "http://vocab.getty.edu/tgn/{0}"),
    (("gnd", "d-nb"), re.compile(r"^\d[0-9X-]{4,12}$"), "https://d-nb.info/gnd/{0}"),
    (("wikidata",), re.compile(r"^Q\d+$"), "http://www.wikidata.org/entity/{0}"),
    (("geonames",), re.compile(r"^\d{1,10}$"), "https://sws.geonames.org/{0}/"),
    (("viaf",), re.compile(r"^\d{2,22}$"), "http://viaf.org/viaf/{0}"),
)


def canonical_uri(identifier: str, source: str | None = None) -> str | None:
    """The URI for ``identifier`` (a URI, or a bare id from the vocabulary ``source``),
    or None when it cannot be made into an http(s) URI without guessing."""
    text = "".join(identifier.split()) if identifier else ""
    if not text:
        return None
    if _HTTP.match(text):
        for pattern, template in _URI_FORMS:
            match = pattern.match(text)
            if match:
                groups = [g.lower() if g in ("AAT", "TGN", "ULAN") else g for g in match.groups()]
                return template.format(*groups)
        return text
    if source:
        words = source.lower()
        # a bare id with a source that is itself a URI prefix, e.g. ".../tgn/" and "7003712"
        for keys, pattern, template in _SOURCES:
            if any(re.search(rf"(?<![a-z]){re.escape(key)}(?![a-z])", words) for key in keys):
                value = text.upper() if keys == ("wikidata",) else text
                if pattern.match(value):
                    return template.format(value)
                return None
    return None


_CC = re.compile(
    r"^https?://(?:www\.)?creativecommons\.org/"
    r"(licenses/(?:by|by-sa|by-nd|by-nc|by-nc-sa|by-nc-nd)/\d\.\d(?:/[a-z]{2})?"
    r"|publicdomain/(?:zero|mark)/1\.0)(?:/.*)?$",
    re.IGNORECASE,
)
_RS = re.compile(
    r"^https?://(?:www\.)?rightsstatements\.org/(?:vocab|page)/"
    r"(InC|InC-OW-EU|InC-EDU|InC-NC|InC-RUU|NoC-CR|NoC-NC|NoC-OKLR|NoC-US|CNE|UND|NKC)"
    r"/(\d\.\d)(?:/.*)?(?:\?.*)?$",
    re.IGNORECASE,
)
_RS_CODES = {
    code.lower(): code
    for code in (
        [
            "InC",
            "InC-OW-EU",
            "InC-EDU",
            "InC-NC",
            "InC-RUU",
            "NoC-CR",
            "NoC-NC",
            "NoC-OKLR",
            "NoC-US",
            "CNE",
            "UND",
            "NKC",
        ]
    )
}


def rights_uri(text: str) -> str | None:
    """A Creative Commons or rightsstatements.org URI in the canonical http form
    Europeana accepts (no ``deed`` page, trailing slash), or None."""
    value = text.strip() if text else ""
    match = _CC.match(value)
    if match:
        return f"http://creativecommons.org/{match.group(1).lower()}/"
    match = _RS.match(value)
    if match:
        return f"http://rightsstatements.org/vocab/{_RS_CODES[match.group(1).lower()]}/{match.group(2)}/"
    return None


# ISO 639-2 (bibliographic and terminology) codes seen in LIDO, to their BCP 47 form
_ISO639_2 = {
    "ara": "ar", "ces": "cs", "cze": "cs", "chi": "zh", "zho": "zh", "dan": "da", "deu": "de",
    "ger": "de", "dut": "nl", "nld": "nl", "ell": "el", "gre": "el", "eng": "en", "spa": "es",
    "fas": "fa", "per": "fa", "fin": "fi", "fra": "fr", "fre": "fr", "hun": "hu", "ita": "it",
    "jpn": "ja", "lat": "la", "nor": "no", "pol": "pl", "por": "pt", "ron": "ro", "rum": "ro",
    "rus": "ru", "slk": "sk", "slo": "sk", "slv": "sl", "swe": "sv", "tur": "tr", "ukr": "uk",
    "heb": "he", "hrv": "hr", "bul": "bg", "est": "et", "lav": "lv", "lit": "lt", "cat": "ca",
    "eus": "eu", "baq": "eu", "gle": "ga", "isl": "is", "ice": "is", "srp": "sr",
}  # fmt: skip

_TAG = re.compile(r"^[A-Za-z]{2,8}(?:[-_][A-Za-z0-9]{1,8})*$")


def language_tag(value: str | None) -> tuple[str | None, bool]:
    """``(tag, ok)``: the BCP 47 form of a language code (``deu`` -> ``de``, ``EN`` -> ``en``,
    ``de_at`` -> ``de-AT``); ok is False when a non-empty value could not be understood."""
    text = (value or "").strip()
    if not text:
        return None, True
    if not _TAG.match(text):
        return None, False
    parts = text.replace("_", "-").split("-")
    primary = parts[0].lower()
    primary = _ISO639_2.get(primary, primary)
    rest = [part.upper() if len(part) == 2 and part.isalpha() else part for part in parts[1:]]
    return "-".join([primary, *rest]), True
