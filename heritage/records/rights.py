"""The licences and rights statements Europeana accepts for ``edm:rights``, as data.

Europeana accepts exactly these URIs, always written with ``http://`` and a
trailing slash (see ``docs/validation.md``):

* Creative Commons licences BY, BY-SA, BY-ND, BY-NC, BY-NC-SA and BY-NC-ND in
  versions 1.0, 2.0, 2.1, 2.5, 3.0 (generic and the ported versions of some
  jurisdictions) and 4.0; version 1.0 also had BY-ND-NC;
* the CC0 1.0 dedication and the Public Domain Mark 1.0;
* six of the twelve rightsstatements.org statements.

Each accepted URI falls into a reuse category that caps the record's content
tier: OPEN (tier 4), RESTRICTED (tier 3) or CLOSED (tier 2).

:func:`check_rights` also recognises near misses (https, no trailing slash,
``/deed.en``, rightsstatements.org ``/page/`` links, wrong case, bare text such
as "CC BY 4.0") and names the exact URI to use instead.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple


class ReuseCategory(enum.StrEnum):
    OPEN = "open"  # reuse allowed, also commercially: content tier up to 4
    RESTRICTED = "restricted"  # reuse with limits (non-commercial, no derivatives): up to 3
    CLOSED = "closed"  # no free reuse: up to tier 2

    @property
    def tier_cap(self) -> int:
        return _TIER_CAPS[self]


_TIER_CAPS = {ReuseCategory.OPEN: 4, ReuseCategory.RESTRICTED: 3, ReuseCategory.CLOSED: 2}

CC_LICENCES = "http://creativecommons.org/licenses/"
CC_PUBLIC_DOMAIN = "http://creativecommons.org/publicdomain/"
RIGHTS_STATEMENTS = "http://rightsstatements.org/vocab/"

CC0 = CC_PUBLIC_DOMAIN + "zero/1.0/"
PDM = CC_PUBLIC_DOMAIN + "mark/1.0/"

# Licence elements in the order Creative Commons writes them, with their category.
_CC_PERMISSIONS: dict[str, ReuseCategory] = {
    "by": ReuseCategory.OPEN,
    "by-sa": ReuseCategory.OPEN,
    "by-nd": ReuseCategory.RESTRICTED,
    "by-nc": ReuseCategory.RESTRICTED,
    "by-nc-sa": ReuseCategory.RESTRICTED,
    "by-nc-nd": ReuseCategory.RESTRICTED,
    "by-nd-nc": ReuseCategory.RESTRICTED,  # version 1.0 only
}

# Jurisdictions with a ported licence that Europeana accepts, per version; None is
# the generic (unported) licence. Version 2.1 only exists as ports.
_CC_VERSIONS: dict[str, tuple[str | None, ...]] = {
    "1.0": (None, "fi", "il", "nl"),
    "2.0": (
        *(None, "au", "at", "be", "br", "ca", "cl", "hr", "uk", "fr", "de", "it", "jp"),
        *("nl", "pl", "kr", "es", "tw"),
    ),
    "2.1": ("au", "es", "jp"),
    "2.5": (
        *(None, "ar", "au", "br", "bg", "ca", "cn", "co", "hr", "dk", "hu", "in", "il"),
        *("it", "mk", "my", "mt", "mx", "nl", "pe", "pl", "pt", "scotland", "si", "za"),
        *("es", "se", "ch", "tw"),
    ),
    "3.0": (
        *(None, "au", "at", "br", "cl", "cn", "cr", "hr", "cz", "ec", "eg", "ee", "fr"),
        *("de", "gr", "gt", "hk", "igo", "ie", "it", "lu", "nl", "nz", "no", "ph", "pl"),
        *("pt", "pr", "ro", "rs", "sg", "za", "es", "ch", "tw", "th", "ug", "us", "ve"),
        "vn",
    ),
    "4.0": (None,),
}

# rightsstatements.org: all twelve statements (so that near misses keep their case),
# with the category of the six Europeana accepts, None for the others.
_STATEMENTS: dict[str, tuple[str, ReuseCategory | None]] = {
    "InC": ("In Copyright", ReuseCategory.CLOSED),
    "InC-OW-EU": ("In Copyright - EU Orphan Work", ReuseCategory.CLOSED),
    "InC-EDU": ("In Copyright - Educational Use Permitted", ReuseCategory.RESTRICTED),
    "InC-NC": ("In Copyright - Non-Commercial Use Permitted", None),
    "InC-RUU": ("In Copyright - Rights-holder(s) Unlocatable or Unidentifiable", None),
    "NoC-CR": ("No Copyright - Contractual Restrictions", None),
    "NoC-NC": ("No Copyright - Non-Commercial Use Only", ReuseCategory.RESTRICTED),
    "NoC-OKLR": ("No Copyright - Other Known Legal Restrictions", ReuseCategory.RESTRICTED),
    "NoC-US": ("No Copyright - United States", None),
    "CNE": ("Copyright Not Evaluated", ReuseCategory.CLOSED),
    "UND": ("Copyright Undetermined", None),
    "NKC": ("No Known Copyright", None),
}


@dataclass(frozen=True)
class _Known:
    label: str
    category: ReuseCategory


def _cc_label(permission: str, version: str, port: str | None) -> str:
    label = f"CC {permission.upper()} {version}"
    if port:
        label += " " + ("Scotland" if port == "scotland" else port.upper())
    return label


def _accepted() -> dict[str, _Known]:
    accepted: dict[str, _Known] = {}
    for version, ports in _CC_VERSIONS.items():
        for permission, category in _CC_PERMISSIONS.items():
            if permission == "by-nd-nc" and version != "1.0":
                continue
            for port in ports:
                uri = f"{CC_LICENCES}{permission}/{version}/" + (f"{port}/" if port else "")
                accepted[uri] = _Known(_cc_label(permission, version, port), category)
    accepted[CC0] = _Known("CC0 1.0 (public domain dedication)", ReuseCategory.OPEN)
    accepted[PDM] = _Known("Public Domain Mark 1.0", ReuseCategory.OPEN)
    for code, (label, statement_category) in _STATEMENTS.items():
        if statement_category is not None:
            accepted[f"{RIGHTS_STATEMENTS}{code}/1.0/"] = _Known(label, statement_category)
    return accepted


ACCEPTED: dict[str, _Known] = _accepted()


class RightsChoice(NamedTuple):
    label: str
    uri: str


def _choice(uri: str, label: str | None = None) -> RightsChoice:
    return RightsChoice(label or ACCEPTED[uri].label, uri)


# What a form offers: the current versions and every accepted statement. Older and
# ported licences are still accepted when typed or imported.
RIGHTS_CHOICES: tuple[RightsChoice, ...] = (
    _choice(CC0, "CC0 1.0 – no rights reserved"),
    _choice(PDM, "Public Domain Mark 1.0 – the work is in the public domain"),
    _choice(CC_LICENCES + "by/4.0/", "CC BY 4.0 – Attribution"),
    _choice(CC_LICENCES + "by-sa/4.0/", "CC BY-SA 4.0 – Attribution-ShareAlike"),
    _choice(CC_LICENCES + "by-nd/4.0/", "CC BY-ND 4.0 – Attribution-NoDerivatives"),
    _choice(CC_LICENCES + "by-nc/4.0/", "CC BY-NC 4.0 – Attribution-NonCommercial"),
    _choice(
        CC_LICENCES + "by-nc-sa/4.0/", "CC BY-NC-SA 4.0 – Attribution-NonCommercial-ShareAlike"
    ),
    _choice(
        CC_LICENCES + "by-nc-nd/4.0/",
        "CC BY-NC-ND 4.0 – Attribution-NonCommercial-NoDerivatives",
    ),
    *(
        _choice(f"{RIGHTS_STATEMENTS}{code}/1.0/")
        for code in ("NoC-NC", "NoC-OKLR", "InC", "InC-EDU", "InC-OW-EU", "CNE")
    ),
)


@dataclass(frozen=True)
class RightsCheck:
    """The verdict on one ``edm:rights`` value.

    ``canonical`` is the accepted URI the value stands for: the value itself when
    it is accepted, the exact URI to use instead for a near miss, and None when
    the value is not recognised. ``label`` and ``category`` describe that URI.
    """

    uri: str
    accepted: bool
    canonical: str | None = None
    label: str | None = None
    category: ReuseCategory | None = None

    @property
    def near_miss(self) -> bool:
        return not self.accepted and self.canonical is not None


@lru_cache(maxsize=4096)  # an import repeats the same few rights values many times
def check_rights(uri: str | None) -> RightsCheck:
    """Whether ``uri`` is a rights URI Europeana accepts, and if not, what was meant."""
    raw = uri or ""
    known = ACCEPTED.get(raw)
    if known is not None:
        return RightsCheck(raw, True, raw, known.label, known.category)
    canonical = _suggest(raw)
    if canonical is None:
        return RightsCheck(raw, False)
    known = ACCEPTED[canonical]
    return RightsCheck(raw, False, canonical, known.label, known.category)


def reuse_category(uri: str | None) -> ReuseCategory | None:
    """The reuse category of an accepted rights URI, None for any other value."""
    known = ACCEPTED.get(uri or "")
    return known.category if known else None


# -- near misses ---------------------------------------------------------------------------------

_URL_START = re.compile(r"^(?:https?:)?/*(?:www\.)?(creativecommons\.org|rightsstatements\.org)/")
_QUERY = re.compile(r"[?#].*$")
_PAGE_SUFFIX = re.compile(r"^(?:deed|legalcode|rdf)(?:\.[a-z-]+)?$")
_VERSION = re.compile(r"^v?(\d)(?:\.(\d))?$")
_TOKENS = re.compile(r"[a-z0-9.]+")
_STATEMENT_BY_LOWER = {code.lower(): code for code in _STATEMENTS}
_STATEMENT_BY_NAME = {
    " ".join(_TOKENS.findall(label.lower())): code for code, (label, _) in _STATEMENTS.items()
}
# words of the long licence names, mapped to the short elements
_CC_WORDS = {
    "by": "by",
    "attribution": "by",
    "sa": "sa",
    "sharealike": "sa",
    "nc": "nc",
    "noncommercial": "nc",
    "nd": "nd",
    "noderivatives": "nd",
    "noderivs": "nd",
}
_CC_NOISE = frozenset(
    {"cc", "creative", "commons", "licence", "license", "international", "unported", "generic"}
)
# "no derivatives" must become one word before "no" (Norway) is read as a port
_LONG_WORDS = re.compile(r"\b(non commercial|share alike|no derivatives|no derivs)\b")
_PORTS = frozenset(port for ports in _CC_VERSIONS.values() for port in ports if port)


def _join_words(match: re.Match[str]) -> str:
    return match.group(1).replace(" ", "")


def _accepted_or_none(uri: str) -> str | None:
    return uri if uri in ACCEPTED else None


def _suggest(raw: str) -> str | None:
    text = raw.strip().lower()
    if not text:
        return None
    match = _URL_START.match(text)
    if match:
        parts = [part for part in _QUERY.sub("", text[match.end() :]).split("/") if part]
        if parts and _PAGE_SUFFIX.match(parts[-1]):
            parts.pop()
        if match.group(1) == "rightsstatements.org":
            return _statement_uri(parts)
        return _cc_uri(parts)
    return _from_text(text)


def _cc_uri(parts: list[str]) -> str | None:
    if len(parts) == 3 and parts[0] == "publicdomain" and parts[2] == "1.0":
        return _accepted_or_none(f"{CC_PUBLIC_DOMAIN}{parts[1]}/1.0/")
    if parts[:1] == ["licenses"] and len(parts) in (3, 4):
        return _accepted_or_none(CC_LICENCES + "/".join(parts[1:]) + "/")
    return None


def _statement_uri(parts: list[str]) -> str | None:
    # /vocab/ is the URI; /page/ and /data/ are its human and machine views
    if len(parts) == 3 and parts[0] in ("vocab", "page", "data") and parts[2] == "1.0":
        code = _STATEMENT_BY_LOWER.get(parts[1])
        if code:
            return _accepted_or_none(f"{RIGHTS_STATEMENTS}{code}/1.0/")
    return None


def _from_text(text: str) -> str | None:
    """A bare licence name: "CC BY-SA 4.0", "cc0", "Public Domain Mark", "InC-EDU"."""
    code = _STATEMENT_BY_LOWER.get(text)
    tokens = _TOKENS.findall(_LONG_WORDS.sub(_join_words, text.replace("-", " ").replace("_", " ")))
    code = code or _STATEMENT_BY_NAME.get(" ".join(tokens))
    if code:
        return _accepted_or_none(f"{RIGHTS_STATEMENTS}{code}/1.0/")
    words = [token for token in tokens if token not in _CC_NOISE]
    if not words:
        return None
    if words[0] in ("cc0", "zero") or tokens[:2] == ["cc", "0"]:
        return (
            CC0 if all(w in ("cc0", "zero", "0", "1", "1.0", "universal") for w in words) else None
        )
    if words[0] in ("pdm", "public") and all(
        w in ("pdm", "public", "domain", "mark", "1", "1.0") for w in words
    ):
        return PDM
    if tokens[0] not in ("cc", "creative"):
        return None
    elements: set[str] = set()
    version = "4.0"  # the current version when none is named
    port: str | None = None
    for word in words:
        if word in _CC_WORDS:
            elements.add(_CC_WORDS[word])
        elif match := _VERSION.match(word):
            version = f"{match.group(1)}.{match.group(2) or 0}"
        elif word in _PORTS:
            port = word
        else:
            return None
    if "by" not in elements or {"sa", "nd"} <= elements:
        return None
    permission = "by" + "".join(f"-{e}" for e in ("nc", "sa", "nd") if e in elements)
    return _accepted_or_none(f"{CC_LICENCES}{permission}/{version}/" + (f"{port}/" if port else ""))
