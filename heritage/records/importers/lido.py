"""LIDO 1.0 and 1.1 (namespace http://www.lido-schema.org) to the EDM-aligned record.

The mapping follows Europeana's LIDO-to-EDM practice; ``docs/lido-mapping.md``
has the table. :func:`map_record` maps one ``lido:lido`` element (the OAI-PMH
harvester calls it for ``metadataPrefix=lido``); :func:`read_lido` streams a
``lido:lidoWrap`` file (or a single ``lido:lido`` root) with flat memory.

A file that is not well-formed: records before the error are yielded, then the
file is split at ``lido:lido`` element boundaries at the byte level and each
remaining record is parsed on its own (:mod:`.lido_recovery`), so one broken
record costs only itself
(it is yielded with ``record=None`` and the error's line). A
:class:`SourceError` with the first error's line still ends the stream, so the
file is reported as damaged.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from lxml import etree

from heritage.records.fields import EDM_TYPES
from heritage.records.importers import xmlsafe
from heritage.records.importers.base import SourceError, SourceRecord, register
from heritage.records.importers.lido_recovery import recover_records
from heritage.records.importers.lido_values import (
    _NS,
    _PREF,
    _TYPE,
    NS,
    ValueMapper,
)
from heritage.records.importers.vocabularies import (
    rights_uri,
)
from heritage.records.model import Record, Representation, Value
from heritage.records.problems import Problem

LIDO = f"{{{NS}}}lido"
WRAP = f"{{{NS}}}lidoWrap"

# eventType (conceptID or term, lower case) -> what the event means for the record.
# LIDO terminology: lido00007 production, lido00012 creation, lido00224 designing,
# lido01089/lido01096 making the printing form / the copy, lido00228 publication,
# lido00001 acquisition, lido00003/lido00010 finding.
_EVENT_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("publication", ("publication", "veröffentlich", "lido00228", "publish")),
    (
        "creation",
        ("production", "creation", "herstell", "erschaff", "entwurf", "design", "lido00007",
         "lido00012", "lido00224", "lido01089", "lido01096", "fabrica", "produzione", "making"),
    ),
    ("find", ("finding", "fund", "excavation", "ausgrabung", "lido00003", "lido00010")),
    (
        "provenance",
        ("acquisition", "erwerb", "provenance", "provenienz", "collecting", "sammeln",
         "lido00001", "owner", "besitz"),
    ),
)  # fmt: skip
_THUMB = ("thumb", "lido00451", "preview")
_MASTER = ("master", "provided", "lido00464", "display", "image_large")
_PART_OF = ("part of", "teil von", "lido00255", "lido00575", "ispartof", "gehört zu")
_FORMATS = {
    "jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png", "tif": "image/tiff",
    "tiff": "image/tiff", "gif": "image/gif", "pdf": "application/pdf", "html": "text/html",
    "htm": "text/html", "xml": "text/xml", "mp3": "audio/mpeg", "mp4": "video/mp4",
    "glb": "model/gltf-binary", "gltf": "model/gltf+json", "obj": "model/obj",
    "stl": "model/stl", "ply": "model/ply", "jp2": "image/jp2", "webp": "image/webp",
}  # fmt: skip
_IIIF_IMAGE = re.compile(
    r"^(https?://.+?)/(?:full|square|\d+,\d+,\d+,\d+|pct:[\d.,]+)/[^/]+/!?\d+(?:\.\d+)?/"
    r"(?:default|color|gray|bitonal)\.(\w+)$"
)
_RESOURCE_TYPES = (
    ("3D", ("3d", "model", "mesh", "point cloud")),
    ("VIDEO", ("video", "film", "moving")),
    ("SOUND", ("audio", "sound", "ton")),
    ("IMAGE", ("image", "bild", "foto", "photo", "picture", "abbildung", "digitalisat")),
    ("TEXT", ("text", "pdf", "document", "dokument")),
)
_MEDIA_TYPES = (("image/", "IMAGE"), ("video/", "VIDEO"), ("audio/", "SOUND"), ("model/", "3D"),
                ("application/pdf", "TEXT"), ("text/plain", "TEXT"))  # fmt: skip


def _words(element: etree._Element | None) -> str:
    """The type-ish words of an element: its lido:type and its terms and concept ids."""
    if element is None:
        return ""
    parts = [element.get(_TYPE, "")]
    parts += [xmlsafe.text_of(item) for item in element.iterfind("lido:conceptID", _NS)]
    parts += [xmlsafe.text_of(item) for item in element.iterfind("lido:term", _NS)]
    return " ".join(parts).lower()


def _kind_of(words: str, table: tuple[tuple[str, tuple[str, ...]], ...]) -> str | None:
    for kind, hints in table:
        if any(hint in words for hint in hints):
            return kind
    return None


class Mapper(ValueMapper):
    """Maps one ``lido:lido`` element: which LIDO section goes to which record field."""

    def run(self) -> SourceRecord:
        identifier = self.identifier()
        if identifier and identifier not in self.location:
            self.location += f", lidoRecID {identifier}"
        if not identifier:
            self.problems.append(Problem.error(
                "lido.no-identifier", "the record has no lido:lidoRecID or lido:objectPublishedID",
                "Give every record a lidoRecID (the provider's persistent record identifier);"
                " re-imports find the record again by it.",
                field="identifier", location=self.where(self.root)))  # fmt: skip
            return SourceRecord(None, self.location, self.problems)
        descriptive = self.root.find("lido:descriptiveMetadata", _NS)
        administrative = self.root.find("lido:administrativeMetadata", _NS)
        if descriptive is None:
            self.warn(
                "lido.no-descriptive",
                "the record has no lido:descriptiveMetadata",
                "Add titles and descriptions (lido:descriptiveMetadata).",
                self.root,
            )
        else:
            self.classification(descriptive)
            self.identification(descriptive)
            self.events(descriptive)
            self.relations(descriptive)
        if administrative is not None:
            self.administrative(administrative)
        self.finish_type()
        if self.rights is None:
            self.warn(
                "lido.no-rights",
                "no Creative Commons or rightsstatements.org URI in "
                "rightsWorkSet or rightsResource, so the record has no licence",
                "Add lido:rightsType/lido:conceptID with the licence URI (for example "
                "http://creativecommons.org/publicdomain/zero/1.0/).",
                self.root,
                "rights",
            )
        try:
            record = Record(
                identifier=identifier, **{k: v for k, v in self.fields.items() if v},
                edm_type=self.edm_type, rights=self.rights, is_shown_at=self.is_shown_at,
                preview=self.preview, representations=self.representations,
                entities=list(self.entities.values()), other=self.other,
            )  # fmt: skip
        except ValueError as error:
            self.problems.append(
                Problem.error(
                    "lido.invalid-record",
                    f"the mapped record is not valid: {error}",
                    "Correct the values named above at the source.",
                    location=self.where(self.root),
                )
            )
            return SourceRecord(None, self.location, self.problems, self.media, identifier)
        problems = [problem.at(self.location) for problem in self.problems]
        return SourceRecord(record, self.location, problems, self.media, identifier)

    def identifier(self) -> str | None:
        ids = [xmlsafe.text_of(item) for item in self.root.iterfind("lido:lidoRecID", _NS)]
        ids = [item for item in ids if item]
        published = [
            xmlsafe.text_of(item) for item in self.root.iterfind("lido:objectPublishedID", _NS)
        ]
        published = [item for item in published if item]
        if len(ids) > 1:
            self.warn(
                "lido.several-ids",
                f"{len(ids)} lidoRecIDs; the first identifies the "
                "record, the others are kept as identifiers",
                "Give each record one lidoRecID.",
                self.root,
                "identifier",
            )
        chosen = (ids or published or [None])[0]
        self.add(
            "identifiers", *(Value.text(item) for item in [*ids, *published] if item != chosen)
        )
        if chosen and len(chosen) > 500:
            self.warn(
                "lido.long-id",
                "the identifier is longer than 500 characters",
                "Use a shorter lidoRecID.",
                self.root,
                "identifier",
            )
            return None
        return chosen

    def classification(self, descriptive: etree._Element) -> None:
        wrap = descriptive.find("lido:objectClassificationWrap", _NS)
        if wrap is None:
            return
        for work_type in wrap.iterfind("lido:objectWorkTypeWrap/lido:objectWorkType", _NS):
            self.add("type", *self.concept(work_type))
        for item in wrap.iterfind("lido:classificationWrap/lido:classification", _NS):
            if item.get(_TYPE, "").lower() in ("europeana:type", "europeana type", "edm:type"):
                value = xmlsafe.text_of(item.find("lido:term", _NS)).upper()
                if value in EDM_TYPES:
                    self.edm_type = value
                else:
                    self.warn(
                        "lido.edm-type-invalid",
                        f"europeana:type '{value}' is not an EDM type ({', '.join(EDM_TYPES)})",
                        "Use one of the EDM types.",
                        item,
                        "edm_type",
                    )
                continue
            self.add("type", *self.concept(item))

    def identification(self, descriptive: etree._Element) -> None:
        ident = descriptive.find("lido:objectIdentificationWrap", _NS)
        if ident is None:
            return
        for title_set in ident.iterfind("lido:titleWrap/lido:titleSet", _NS):
            alternative = any(
                word in title_set.get(_TYPE, "").lower()
                for word in ("alternat", "kurz", "short", "former", "früher")
            )
            for item in title_set.iterfind("lido:appellationValue", _NS):
                value = self.text(item)
                if value is None:
                    continue
                if alternative or item.get(_PREF, "") in ("alternate", "alternative"):
                    if value not in self.fields.get("title", []):
                        self.add("alternative", value)
                else:
                    self.add("title", value)
        for item in ident.iterfind("lido:inscriptionsWrap/lido:inscriptions", _NS):
            label = item.get(_TYPE) or "Inscription"
            label = label if "://" not in label else "Inscription"
            for text in item.iterfind("lido:inscriptionTranscription", _NS):
                value = self.text(text)
                if value:
                    self.add("description", Value.text(f"{label}: {value.value}", value.lang))
            for note in item.iterfind("lido:inscriptionDescription/lido:descriptiveNoteValue", _NS):
                value = self.text(note)
                if value:
                    self.add("description", Value.text(f"{label}: {value.value}", value.lang))
        for repository in ident.iterfind("lido:repositoryWrap/lido:repositorySet", _NS):
            kind = repository.get(_TYPE, "").lower()
            former = "former" in kind or "lido00476" in kind or "früher" in kind
            name = self.legal_body(repository.find("lido:repositoryName", _NS))
            for work_id in repository.iterfind("lido:workID", _NS):
                self.add("identifiers", self.text(work_id, inherit=False))
            if former:
                if name:
                    self.add("provenance", Value.text(f"former repository: {name.display()}"))
                continue
            self.add("current_location", name)
            self.add(
                "current_location", self.place(repository.find("lido:repositoryLocation", _NS))
            )
        for item in ident.iterfind(
            "lido:objectDescriptionWrap/lido:objectDescriptionSet/lido:descriptiveNoteValue", _NS
        ):
            self.add("description", self.text(item))
        for item in ident.iterfind("lido:objectMeasurementsWrap/lido:objectMeasurementsSet", _NS):
            self.add("extent", self.measurements(item))
        for item in descriptive.iter(f"{{{NS}}}collection"):  # LIDO 1.1
            self.add("is_part_of", *self.concept(item))
        for item in descriptive.iterfind(
            "lido:objectClassificationWrap/"
            "lido:objectMaterialsTechWrap/"
            "lido:objectMaterialsTechSet",
            _NS,
        ):  # LIDO 1.1
            self.materials(item)

    def measurements(self, measurement_set: etree._Element) -> Value | None:
        shown = self.text(measurement_set.find("lido:displayObjectMeasurements", _NS))
        if shown:
            return shown
        parts = []
        for item in measurement_set.iterfind("lido:objectMeasurements/lido:measurementsSet", _NS):
            kind = xmlsafe.text_of(item.find("lido:measurementType", _NS))
            value = xmlsafe.text_of(item.find("lido:measurementValue", _NS))
            unit = xmlsafe.text_of(item.find("lido:measurementUnit", _NS))
            if value:
                parts.append(f"{kind}: {value} {unit}".strip() if kind else f"{value} {unit}")
        if not parts:
            return None
        extent = xmlsafe.text_of(
            measurement_set.find("lido:objectMeasurements/lido:extentMeasurements", _NS)
        )
        text = "; ".join(parts)
        return Value.text(f"{extent}: {text}" if extent else text, self.lang(measurement_set))

    def legal_body(self, body: etree._Element | None) -> Value | None:
        if body is None:
            return None
        name = self.text(body.find("lido:legalBodyName/lido:appellationValue", _NS), inherit=False)
        found = [
            uri
            for uri in self.uris(list(body.iterfind("lido:legalBodyID", _NS)))
            if uri.startswith("http")
        ]
        if found:
            self.entity(found[0], "agent", [name] if name else [], same_as=found[1:])
            return Value.link(found[0], name.value if name else "")
        return name

    def events(self, descriptive: etree._Element) -> None:
        for event in descriptive.iterfind("lido:eventWrap/lido:eventSet/lido:event", _NS):
            kind = _kind_of(_words(event.find("lido:eventType", _NS)), _EVENT_WORDS)
            actors = [self.actor(item) for item in event.iterfind(
                "lido:eventActor/lido:actorInRole/lido:actor", _NS)]  # fmt: skip
            for role_set in event.iterfind("lido:eventActor/lido:actorInRole", _NS):
                self.role(role_set)
            shown, iso = self.date(event.find("lido:eventDate", _NS))
            places = [
                self.place(item) for item in event.iterfind("lido:eventPlace/lido:place", _NS)
            ]
            periods = [
                v
                for item in event.iterfind("lido:periodName", _NS)
                for v in self.concept(item, "timespan")
            ]
            for item in event.iterfind("lido:eventMaterialsTech", _NS):
                self.materials(item)
            if kind == "creation":
                self.add("creator", *actors)
                self.add("created", *shown)
                self.add("date", Value.text(iso) if iso else None)
                self.add("spatial", *places)
                self.add("temporal", *periods)
                for item in event.iterfind("lido:culture", _NS):
                    self.add("subject", *self.concept(item))
            elif kind == "publication":
                self.add("publisher", *actors)
                self.add("issued", *shown)
            else:
                if kind == "find":
                    self.add("spatial", *places)
                else:
                    self.add_other("edm:hasMet", *places)
                self.add_other("edm:hasMet", *actors)
                if kind == "provenance":
                    self.provenance(event, actors, shown)

    def role(self, actor_in_role: etree._Element) -> None:
        """The model's values have no role: keep 'name: role' beside the actor (hc:actorRole)."""
        actor = actor_in_role.find("lido:actor", _NS)
        name = xmlsafe.text_of(
            actor.find("lido:nameActorSet/lido:appellationValue", _NS)
            if actor is not None
            else None
        )
        for role in actor_in_role.iterfind("lido:roleActor", _NS):
            terms = [v for v in map(self.text, role.iterfind("lido:term", _NS)) if v]
            if name and terms:
                self.add_other(
                    "hc:actorRole", Value.text(f"{name}: {terms[0].value}", terms[0].lang)
                )

    def provenance(
        self, event: etree._Element, actors: list[Value | None], shown: list[Value]
    ) -> None:
        kind = self.text(event.find("lido:eventType/lido:term", _NS))
        parts = [kind.value if kind else "provenance"]
        parts += [item.value for item in shown[:1]]
        parts += [item.display() for item in actors if item is not None]
        parts += [xmlsafe.text_of(item) for item in event.iterfind(
            "lido:eventDescriptionSet/lido:descriptiveNoteValue", _NS)]  # fmt: skip
        self.add(
            "provenance",
            Value.text(", ".join(part for part in parts if part), kind.lang if kind else None),
        )

    def relations(self, descriptive: etree._Element) -> None:
        wrap = descriptive.find("lido:objectRelationWrap", _NS)
        if wrap is None:
            return
        for subject_set in wrap.iterfind("lido:subjectWrap/lido:subjectSet", _NS):
            mapped = False
            for subject in subject_set.iterfind("lido:subject", _NS):
                for item in subject.iterfind("lido:subjectConcept", _NS):
                    mapped |= self.put("subject", *self.concept(item))
                for item in subject.iterfind("lido:subjectActor/lido:actor", _NS):
                    mapped |= self.put("subject", self.actor(item))
                for item in subject.iterfind("lido:subjectPlace/lido:place", _NS):
                    mapped |= self.put("spatial", self.place(item))
                for item in subject.iterfind("lido:subjectDate", _NS):
                    shown, _iso = self.date(item)
                    mapped |= self.put("temporal", *shown)
                for item in subject.iterfind(
                    "lido:subjectEvent/lido:event/lido:eventName/lido:appellationValue", _NS
                ):
                    mapped |= self.put("subject", self.text(item))
                for item in subject.iterfind("lido:subjectObject/lido:displayObject", _NS):
                    mapped |= self.put("subject", self.text(item))
            if not mapped:
                self.add("subject", self.text(subject_set.find("lido:displaySubject", _NS)))
        for work_set in wrap.iterfind("lido:relatedWorksWrap/lido:relatedWorkSet", _NS):
            words = _words(work_set.find("lido:relatedWorkRelType", _NS))
            name = "is_part_of" if any(hint in words for hint in _PART_OF) else "relation"
            self.add(name, self.related(work_set.find("lido:relatedWork", _NS)))

    def put(self, name: str, *values: Value | None) -> bool:
        self.add(name, *values)
        return any(value is not None for value in values)

    def related(self, work: etree._Element | None) -> Value | None:
        if work is None:
            return None
        label = self.text(work.find("lido:displayObject", _NS)) or self.text(
            work.find("lido:object/lido:objectNote", _NS)
        )
        links = [
            xmlsafe.text_of(item)
            for item in work.iterfind("lido:object/lido:objectWebResource", _NS)
        ]
        links += self.uris(list(work.iterfind("lido:object/lido:objectID", _NS)))
        links = [link for link in links if link.startswith(("http://", "https://"))]
        if links and len(links[0]) <= 2000:
            return Value.link(links[0], label.value if label else "", label.lang if label else None)
        if label is None:
            ids = [
                xmlsafe.text_of(item) for item in work.iterfind("lido:object/lido:objectID", _NS)
            ]
            return Value.text(ids[0]) if ids and ids[0] else None
        return label

    # -- administrative metadata -----------------------------------------------------------------

    def administrative(self, admin: etree._Element) -> None:
        work_rights: list[str] = []
        for rights_set in admin.iterfind("lido:rightsWorkWrap/lido:rightsWorkSet", _NS):
            work_rights += self.rights_of(rights_set, keep_text=True)
        record = admin.find("lido:recordWrap", _NS)
        if record is not None:
            for source in record.iterfind("lido:recordSource", _NS):
                self.add("data_provider", self.legal_body(source))
            for link in record.iterfind("lido:recordInfoSet/lido:recordInfoLink", _NS):
                url = xmlsafe.text_of(link)
                if self.is_shown_at is None and url.startswith(("http://", "https://")):
                    self.is_shown_at = url if len(url) <= 2000 else None
        if not self.fields.get("data_provider"):
            fallback = self.fields.get("current_location", [])[:1]
            if fallback:
                self.add("data_provider", fallback[0])
                self.warn(
                    "lido.data-provider",
                    "no lido:recordSource; the repository is taken as the data provider",
                    "Add lido:recordWrap/lido:recordSource.",
                    admin,
                    "data_provider",
                )
        resource_sets = list(admin.iterfind("lido:resourceWrap/lido:resourceSet", _NS))
        for resource in resource_sets:
            self.resource(resource)
        if self.representations and not any(r.role == "primary" for r in self.representations):
            first = next(
                (r for r in self.representations if (r.media_type or "").startswith("image/")),
                self.representations[0],
            )
            first.role = "primary"
        primary = next((r for r in self.representations if r.role == "primary"), None)
        resource_rights = [r.rights for r in self.representations if r.rights]
        self.rights = ((primary.rights if primary else None)
                       or (resource_rights[0] if resource_rights else None)
                       or (work_rights[0] if work_rights else None))  # fmt: skip

    def rights_of(self, rights_set: etree._Element, keep_text: bool) -> list[str]:
        """Licence URIs of a rightsWorkSet or rightsResource; (keep_text) its other
        statements, credit line and rights holder go to the rights note."""
        found: list[str] = []
        for rights_type in rights_set.iterfind("lido:rightsType", _NS):
            terms = [v for v in map(self.text, rights_type.iterfind("lido:term", _NS)) if v]
            candidates = [
                xmlsafe.text_of(item) for item in rights_type.iterfind("lido:conceptID", _NS)
            ]
            candidates += [term.value for term in terms]
            uris = [uri for uri in map(rights_uri, candidates) if uri]
            if uris:
                found += uris
                continue
            others = [c for c in candidates if c.startswith(("http://", "https://"))]
            if others:
                self.warn(
                    "lido.rights-not-uri",
                    f"'{others[0]}' is not a Creative Commons or "
                    "rightsstatements.org URI; kept as a rights note",
                    "Europeana accepts only CC and rightsstatements.org URIs as edm:rights.",
                    rights_type,
                    "rights",
                )
            if keep_text:
                label = terms[0] if terms else None
                if others and len(others[0]) <= 2000:
                    self.add(
                        "rights_statement",
                        Value.link(
                            others[0], label.value if label else "", label.lang if label else None
                        ),
                    )
                else:
                    self.add("rights_statement", label)
        if keep_text:
            for item in rights_set.iterfind("lido:creditLine", _NS):
                self.add("rights_statement", self.text(item))
            for item in rights_set.iterfind(
                "lido:rightsHolder/lido:legalBodyName/lido:appellationValue", _NS
            ):
                self.add("rights_statement", self.text(item, inherit=False))
        return found

    def resource(self, resource: etree._Element) -> None:
        """One resourceSet: its best rendition becomes a representation, its smallest the
        preview; the renditions of one set are one resource, not several views."""
        renditions: list[tuple[int, str, str | None, etree._Element]] = []
        for rep in resource.iterfind("lido:resourceRepresentation", _NS):
            kind = rep.get(_TYPE, "").lower()
            rank = 0 if any(w in kind for w in _THUMB) else 3 if any(
                w in kind for w in _MASTER) else 2  # fmt: skip
            for link in rep.iterfind("lido:linkResource", _NS):
                url = xmlsafe.text_of(link)
                if url:
                    renditions.append((rank, url, self.media_type(link, url), rep))
        if not renditions:
            return
        words = " ".join(
            [_words(resource.find("lido:resourceType", _NS))] + [r[2] or "" for r in renditions]
        )
        self._resource_words += " " + words
        thumbs = [r for r in renditions if r[0] == 0 and r[1].startswith("http")]
        if thumbs and self.preview is None and len(thumbs[0][1]) <= 2000:
            self.preview = thumbs[0][1]
        rank, url, media_type, rep = max(renditions, key=lambda item: item[0])
        if media_type == "text/html" and url.startswith("http"):
            self.is_shown_at = self.is_shown_at or url
            return
        rights = [
            uri
            for item in resource.iterfind("lido:rightsResource", _NS)
            for uri in self.rights_of(item, keep_text=False)
        ]
        label = [v for v in map(self.text, resource.iterfind("lido:resourceDescription", _NS)) if v]
        size = self.pixels(rep)
        common = {
            "media_type": media_type,
            "label": label,
            "rights": rights[0] if rights else None,
            "width": size.get("width"),
            "height": size.get("height"),
        }
        kind = rep.get(_TYPE, "").lower()
        role = "primary" if (any(w in kind for w in _MASTER) and not any(
            r.role == "primary" for r in self.representations)) else "view"  # fmt: skip
        if url.startswith(("http://", "https://")):
            if len(url) > 2000:
                self.warn(
                    "lido.url-too-long",
                    "a resource URL is longer than 2,000 characters",
                    "Shorten the URL.",
                    rep,
                )
                return
            service = _IIIF_IMAGE.match(url)
            self.representations.append(Representation(
                url=url, role=role, iiif_service=service.group(1) if service else None,
                **common))  # type: ignore[arg-type]  # fmt: skip
            return
        name = url.replace("\\", "/").removeprefix("./")
        if "://" in name or name.startswith("/") or ".." in name.split("/") or len(name) > 1000:
            self.warn(
                "lido.media-path",
                f"'{url}' is neither a web address nor a file name relative to the LIDO file",
                "Give an http(s) URL or a relative path.",
                rep,
            )
            return
        self.media.append(name)
        self.representations.append(Representation(file=name, role=role, **common))  # type: ignore[arg-type]

    def media_type(self, link: etree._Element, url: str) -> str | None:
        declared = (link.get(f"{{{NS}}}formatResource") or "").strip().lower()
        extension = url.rsplit("?", 1)[0].rsplit(".", 1)[-1].lower() if "." in url else ""
        if declared == "image/iiif":
            return _FORMATS.get(extension, "image/jpeg")
        if "/" in declared and " " not in declared:
            return declared[:200]
        return _FORMATS.get(declared) or _FORMATS.get(extension)

    def pixels(self, rep: etree._Element) -> dict[str, int]:
        size: dict[str, int] = {}
        for item in rep.iterfind("lido:resourceMeasurementsSet", _NS):
            kind = xmlsafe.text_of(item.find("lido:measurementType", _NS)).lower()
            unit = xmlsafe.text_of(item.find("lido:measurementUnit", _NS)).lower()
            value = xmlsafe.text_of(item.find("lido:measurementValue", _NS))
            if (
                kind in ("width", "height")
                and unit in ("pixel", "pixels", "px")
                and value.isdigit()
            ):
                size[kind] = int(value)
        return size

    def finish_type(self) -> None:
        if self.edm_type:
            return
        guess = None
        for representation in self.representations:
            for prefix, kind in _MEDIA_TYPES:
                if (representation.media_type or "").startswith(prefix):
                    guess = guess or kind
        if guess is None:
            guess = _kind_of(self._resource_words.lower(), _RESOURCE_TYPES)
        if guess:
            self.edm_type = guess
            self.warn(
                "lido.edm-type-inferred",
                f"no europeana:type classification; the EDM "
                f"type {guess} was inferred from the resources",
                'Add <lido:classification lido:type="europeana:type">.',
                self.root,
                "edm_type",
            )
        else:
            self.warn(
                "lido.edm-type-unknown",
                "no europeana:type classification and no "
                "resource to infer it from, so the record has no EDM type",
                'Add <lido:classification lido:type="europeana:type"> (IMAGE, TEXT, '
                "SOUND, VIDEO or 3D).",
                self.root,
                "edm_type",
            )


def map_record(element: etree._Element, location: str) -> SourceRecord:
    """Map one ``lido:lido`` element. Never raises for odd content: what cannot be
    mapped becomes a problem; a record without any identifier has ``record=None``."""
    return Mapper(element, location).run()


def _location(index: int, line: int | None) -> str:
    return f"record {index}" + (f" (line {line})" if line else "")


def _sniff_root(path: Path) -> etree._Element:
    """The root element (start tag only, with its namespaces) without reading further."""
    with path.open("rb") as handle:
        events = etree.iterparse(
            handle,
            events=("start",),
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            huge_tree=False,
        )
        try:
            for _event, element in events:
                return element
        except etree.XMLSyntaxError as error:
            raise SourceError(
                f"not well-formed XML before the first element: {error.msg}",
                source=str(path),
                line=error.lineno,
            ) from None
    raise SourceError("no XML element found", source=str(path))


@register("lido")
def read_lido(path: Path) -> Iterator[SourceRecord]:
    """Yield one :class:`SourceRecord` per ``lido:lido`` element in the file."""
    name = str(path)
    with path.open("rb") as handle:
        head = handle.read(4096)
    if not head.strip():
        raise SourceError(
            "the file is empty; expected a lido:lidoWrap or lido:lido document", source=name
        )
    with path.open("rb") as handle:
        xmlsafe.check_prologue(handle.read(256 * 1024), name)
    root = _sniff_root(path)
    if root.tag not in (WRAP, LIDO):
        qname = etree.QName(root.tag)
        found = f"{{{qname.namespace}}}{qname.localname}" if qname.namespace else qname.localname
        raise SourceError(
            f"not a LIDO document: the root element is {found}; expected lido:lidoWrap or "
            f"lido:lido in the namespace {NS} (LIDO 1.0 and 1.1 share it)",
            source=name,
            line=root.sourceline,
        )
    prefix = root.prefix
    nsmap = {key: value for key, value in root.nsmap.items()}
    count = 0
    try:
        for element in xmlsafe.iterate(path, LIDO, source=name):
            count += 1
            yield map_record(element, _location(count, element.sourceline))
    except SourceError as error:
        yield from _recover(path, prefix, nsmap, count)
        raise error
    if count == 0:
        raise SourceError(
            "the lido:lidoWrap holds no lido:lido record", source=name, line=root.sourceline
        )


def _recover(
    path: Path, prefix: str | None, nsmap: dict[str | None, str], done: int
) -> Iterator[SourceRecord]:
    """Map each record after the first ``done`` on its own (:mod:`.lido_recovery`)."""
    for piece in recover_records(path, LIDO, prefix, nsmap, done):
        location = _location(piece.index, piece.line)
        if piece.element is not None:
            yield map_record(piece.element, location)
            continue
        assert piece.error is not None
        identifier = piece.identifier
        yield SourceRecord(
            record=None,
            location=location + (f", lidoRecID {identifier}" if identifier else ""),
            problems=[_broken(piece.error, piece.error_line)],
            identifier=identifier,
        )


def _broken(message: str, line: int) -> Problem:
    return Problem.error(
        "lido.malformed",
        f"this record is not well-formed XML: {message}",
        "Fix the XML at this line (an unclosed or misspelt tag, a stray '&' or '<') and "
        "import the file again; the other records were imported.",
        location=f"line {line}",
    )
