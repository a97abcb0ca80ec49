"""How LIDO elements become values: texts with their languages, concepts, actors,
places, dates and materials, each with its vocabulary links and contextual entity.

:class:`ValueMapper` holds what a record's mapping collects (fields, entities,
problems) and the helpers that read one LIDO element into a :class:`Value`;
``lido.Mapper`` adds which LIDO section goes to which record field.
"""

from __future__ import annotations

from lxml import etree

from heritage.records.importers import xmlsafe
from heritage.records.importers.vocabularies import (
    canonical_uri,
    is_known,
    language_tag,
)
from heritage.records.model import MAX_TEXT, Entity, Representation, Value
from heritage.records.problems import Problem

NS = "http://www.lido-schema.org"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
LIDO_LANG = f"{{{NS}}}lang"
_NS = {
    "lido": NS,
    "gml": "http://www.opengis.net/gml",
    "skos": "http://www.w3.org/2004/02/skos/core#",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
}
_TYPE = f"{{{NS}}}type"
_PREF = f"{{{NS}}}pref"
_SOURCE = f"{{{NS}}}source"
_ADDED = f"{{{NS}}}addedSearchTerm"
_ABOUT = f"{{{_NS['rdf']}}}about"


class ValueMapper:
    """What the mapping of one ``lido:lido`` element collects, and how it reads values."""

    def __init__(self, root: etree._Element, location: str) -> None:
        self.root = root
        self.location = location
        self.fields: dict[str, list[Value]] = {}
        self.other: dict[str, list[Value]] = {}
        self.entities: dict[str, Entity] = {}
        self.problems: list[Problem] = []
        self.representations: list[Representation] = []
        self.media: list[str] = []
        self.preview: str | None = None
        self.rights: str | None = None
        self.is_shown_at: str | None = None
        self.edm_type: str | None = None
        self._local = 0
        self._resource_words = ""
        self._bad_langs: set[str] = set()

    # -- small helpers ---------------------------------------------------------------------------

    def where(self, element: etree._Element) -> str:
        steps = []
        node: etree._Element | None = element
        while node is not None and node is not self.root:
            steps.append(
                "lido:" + etree.QName(node).localname
                if node.tag.startswith("{" + NS)
                else etree.QName(node).localname
            )
            node = node.getparent()
        path = "/".join(reversed(steps)) or "lido:lido"
        return f"line {element.sourceline}: {path}" if element.sourceline else path

    def warn(
        self, code: str, message: str, hint: str, element: etree._Element, field: str | None = None
    ) -> None:
        # one warning per distinct message: a repeated cause is one thing to fix
        if any(p.code == code and p.message == message for p in self.problems):
            return
        self.problems.append(
            Problem.warning(code, message, hint, field=field, location=self.where(element))
        )

    def lang(self, element: etree._Element, inherit: bool = True) -> str | None:
        """xml:lang or lido:lang of the element, or (inherit) of its nearest ancestor."""
        node: etree._Element | None = element
        while node is not None:
            raw = node.get(XML_LANG) or node.get(LIDO_LANG)
            if raw is not None and raw.strip():
                tag, ok = language_tag(raw)
                if not ok and raw not in self._bad_langs:
                    self._bad_langs.add(raw)
                    self.warn(
                        "lido.bad-language",
                        f"'{raw}' is not a language code; the "
                        "values it applies to were kept without a language",
                        "Use an ISO 639 code such as de, en or deu.",
                        node,
                    )
                return tag
            if not inherit:
                return None
            node = node.getparent()
        return None

    def text(
        self, element: etree._Element | None, lang: str | None = None, inherit: bool = True
    ) -> Value | None:
        if element is None:
            return None
        text = xmlsafe.text_of(element)
        if not text:
            return None
        if len(text) > MAX_TEXT:
            self.warn(
                "lido.text-too-long",
                f"a text of {len(text)} characters was cut to {MAX_TEXT}",
                "Shorten the text at the source.",
                element,
            )
            text = text[:MAX_TEXT]
        return Value.text(text, lang if lang is not None else self.lang(element, inherit))

    def add(self, name: str, *values: Value | None) -> None:
        items = self.fields.setdefault(name, [])
        for value in values:
            if value is not None and value not in items:
                items.append(value)

    def add_other(self, name: str, *values: Value | None) -> None:
        items = self.other.setdefault(name, [])
        items.extend(value for value in values if value is not None and value not in items)

    def entity(
        self,
        uri: str,
        kind: str,
        labels: list[Value],
        alt: list[Value] | None = None,
        **extra: object,
    ) -> None:
        known = self.entities.get(uri)
        if known is None:
            try:
                self.entities[uri] = Entity(id=uri, type=kind, pref_label=[], alt_label=[], **extra)  # type: ignore[arg-type]
            except ValueError:
                return
            known = self.entities[uri]
        langs = {item.lang for item in known.pref_label}
        for label in labels:
            # skos:prefLabel: one per language; the others become alternatives
            if label.lang not in langs:
                known.pref_label.append(label)
                langs.add(label.lang)
            elif label not in known.pref_label and label not in known.alt_label:
                known.alt_label.append(label)
        for label in alt or []:
            if label not in known.alt_label and label not in known.pref_label:
                known.alt_label.append(label)

    def local_id(self, kind: str) -> str:
        self._local += 1
        return f"#{kind}-{self._local}"

    def uris(self, ids: list[etree._Element]) -> list[str]:
        """Canonical URIs of id elements, vocabularies the platform knows first."""
        found: list[str] = []
        for item in ids:
            uri = canonical_uri(xmlsafe.text_of(item), item.get(_SOURCE))
            if uri and uri not in found and len(uri) <= 2000:
                found.append(uri)
        return sorted(found, key=lambda uri: not is_known(uri))

    # -- LIDO structures -------------------------------------------------------------------------

    def concept(self, element: etree._Element | None, kind: str = "concept") -> list[Value]:
        """A LIDO concept (conceptID*, term*, or in 1.1 skos:Concept): one link when an id
        is a URI (plus an entity with its labels in every language), else its terms."""
        if element is None:
            return []
        terms: list[Value] = []
        alt: list[Value] = []
        for term in element.iterfind("lido:term", _NS):
            value = self.text(term)
            if value is None:
                continue
            added = term.get(_ADDED, "").lower() == "yes" or term.get(_PREF, "") in (
                "alternate", "alternative")  # fmt: skip
            (alt if added else terms).append(value)
        ids = list(element.iterfind("lido:conceptID", _NS))
        found = self.uris(ids)
        for skos in element.iterfind("skos:Concept", _NS):
            about = canonical_uri(skos.get(_ABOUT, ""))
            if about and about not in found:
                found.append(about)
            terms += [v for v in map(self.text, skos.iterfind("skos:prefLabel", _NS)) if v]
            alt += [v for v in map(self.text, skos.iterfind("skos:altLabel", _NS)) if v]
        if not terms and alt:
            terms, alt = alt[:1], alt[1:]
        if found:
            uri = found[0]
            self.entity(uri, kind, terms, alt, same_as=found[1:])
            first = terms[0] if terms else None
            return [Value.link(uri, first.value if first else "", first.lang if first else None)]
        return terms

    def actor(self, element: etree._Element | None) -> Value | None:
        if element is None:
            return None
        names: list[Value] = []
        alt: list[Value] = []
        for name in element.iterfind("lido:nameActorSet/lido:appellationValue", _NS):
            value = self.text(name, inherit=False)  # a name is not in the metadata's language
            if value is None:
                continue
            if name.get(_PREF, "preferred") == "preferred" and not names:
                names.append(value)
            else:
                alt.append(value)
        if not names and alt:
            names.append(alt.pop(0))
        found = self.uris(list(element.iterfind("lido:actorID", _NS)))
        label = names[0].value if names else ""
        if not found:
            return Value.text(label) if label else None
        dates = element.find("lido:vitalDatesActor", _NS)
        begin = xmlsafe.text_of(dates.find("lido:earliestDate", _NS)) if dates is not None else ""
        end = xmlsafe.text_of(dates.find("lido:latestDate", _NS)) if dates is not None else ""
        self.entity(
            found[0], "agent", names, alt, same_as=found[1:], begin=begin or None, end=end or None
        )
        return Value.link(found[0], label)

    def place(self, element: etree._Element | None) -> Value | None:
        if element is None:
            return None
        names = [
            v
            for v in map(
                self.text, element.iterfind("lido:namePlaceSet/lido:appellationValue", _NS)
            )
            if v
        ]
        found = self.uris(list(element.iterfind("lido:placeID", _NS)))
        lat_long = self.coordinates(element)
        if not found and lat_long is None:
            return Value.text(names[0].value, names[0].lang) if names else None
        uri = found[0] if found else self.local_id("place")
        extra: dict[str, object] = {"same_as": found[1:]}
        if lat_long:
            extra.update(lat=lat_long[0], long=lat_long[1])
        self.entity(uri, "place", names[:1], names[1:], **extra)
        known = self.entities.get(uri)
        if known is not None and lat_long and known.lat is None:
            known.lat, known.long = lat_long
        return Value.link(uri, names[0].value if names else "", names[0].lang if names else None)

    def coordinates(self, place: etree._Element) -> tuple[float, float] | None:
        """WGS84 latitude and longitude from lido:gml (a point, or a polygon's mean)."""
        pairs: list[tuple[float, float]] = []
        for gml in place.iterfind("lido:gml", _NS):
            for node in gml.iter("{*}pos", "{*}posList", "{*}coordinates"):
                raw = xmlsafe.text_of(node).replace(",", " ").split()
                try:
                    numbers = [float(item) for item in raw]
                except ValueError:
                    self.warn(
                        "lido.coordinates",
                        f"'{xmlsafe.text_of(node)}' are not numbers",
                        "Write gml:pos as 'latitude longitude' in decimal degrees.",
                        node,
                    )
                    return None
                pairs += list(zip(numbers[0::2], numbers[1::2], strict=False))
        if not pairs:
            return None
        lat = sum(pair[0] for pair in pairs) / len(pairs)
        long = sum(pair[1] for pair in pairs) / len(pairs)
        if abs(lat) > 90 and abs(long) <= 90:
            lat, long = long, lat  # written longitude first
        if abs(lat) > 90 or abs(long) > 180:
            self.warn(
                "lido.coordinates",
                f"{lat} {long} are not WGS84 coordinates",
                "Give latitude and longitude in decimal degrees.",
                place,
            )
            return None
        return round(lat, 7), round(long, 7)

    def date(self, wrap: etree._Element | None) -> tuple[list[Value], str | None]:
        """(displayDate values, an ISO 8601 date or interval from earliest/latestDate)."""
        if wrap is None:
            return [], None
        shown = [v for v in map(self.text, wrap.iterfind("lido:displayDate", _NS)) if v]
        earliest = xmlsafe.text_of(wrap.find("lido:date/lido:earliestDate", _NS))
        latest = xmlsafe.text_of(wrap.find("lido:date/lido:latestDate", _NS))
        iso = None
        if earliest or latest:
            iso = earliest if earliest == latest or not latest else f"{earliest}/{latest}"
            if not earliest:
                iso = f"../{latest}"
        if iso and not shown:
            shown = [Value.text(iso.replace("/", " – ") if "../" not in iso else iso)]
        return shown, iso

    def materials(self, container: etree._Element) -> None:
        terms = list(container.iterfind("lido:materialsTech/lido:termMaterialsTech", _NS))
        for term in terms:
            kind = term.get(_TYPE, "").lower()
            values = self.concept(term)
            if "technique" in kind or "lido00131" in kind or "technik" in kind:
                self.add("technique", *values)
            elif kind and not ("material" in kind or "lido00132" in kind):
                self.warn(
                    "lido.materials-type",
                    f"material/technique type '{term.get(_TYPE)}'"
                    " is neither material nor technique; mapped to Material",
                    "Use the LIDO types material or technique.",
                    term,
                    "medium",
                )
                self.add("medium", *values)
            else:
                self.add("medium", *values)
        if not terms:
            self.add("medium", self.text(container.find("lido:displayMaterialsTech", _NS)))

    # -- the record ------------------------------------------------------------------------------
