"""Our validation errors agree with Europeana's own validator on the same records.

Each record is written as minimal EDM RDF/XML (the few properties the rules are
about) and run through Europeana's official schematron (XSLT 2, so with Saxon)
and, for ``edm:type``, the EDM XML schema. The errors we report and the rules
Europeana's tools break must name the same things. The rights check is compared
URI by URI on every licence, version and port combination.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from heritage.records.model import Record, Representation, Value
from heritage.records.rights import ACCEPTED, check_rights
from heritage.records.validation import validate

saxonche = pytest.importorskip(
    "saxonche", reason="saxonche (Saxon XSLT 2) is not installed: pip install -e '.[test]'"
)

RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
NS = {
    "rdf": RDF,
    "dc": "http://purl.org/dc/elements/1.1/",
    "dcterms": "http://purl.org/dc/terms/",
    "edm": "http://www.europeana.eu/schemas/edm/",
    "ore": "http://www.openarchives.org/ore/terms/",
}
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
SVRL = "{http://purl.oclc.org/dsdl/svrl}"

# What each of our error codes is about, in words shared with Europeana's messages.
OUR_ASPECTS = {
    "edm.title-or-description": "title",
    "edm.subject-type-time-or-place": "subject",
    "edm.type-missing": "type",
    "edm.type-invalid": "type",
    "edm.language-for-text": "language",
    "edm.data-provider": "data provider",
    "edm.provider": "provider",
    "edm.rights-missing": "rights",
    "edm.rights-near-miss": "rights",
    "edm.rights-not-accepted": "rights",
    "edm.representation-rights-near-miss": "rights",
    "edm.representation-rights-not-accepted": "rights",
    "edm.shown-at-or-by": "shown at or by",
}
# Europeana's schematron messages, by a phrase each one contains.
SCHEMATRON_ASPECTS = (
    ("dc:title", "title"),
    ("dc:subject or dc:type", "subject"),
    ("dc:language", "language"),
    ("edm:dataProvider", "data provider"),
    ("edm:provider", "provider"),
    ("edm:rights", "rights"),
    ("Rights Statements", "rights"),
    ("edm:isShownAt or edm:isShownBy", "shown at or by"),
)


def _q(name: str) -> str:
    prefix, local = name.split(":")
    return f"{{{NS[prefix]}}}{local}"


def _value(parent: etree._Element, tag: str, value: Value) -> None:
    element = etree.SubElement(parent, _q(tag))
    if value.ref:
        element.set(_q("rdf:resource"), value.ref)
    else:
        element.text = value.value
        if value.lang:
            element.set(XML_LANG, value.lang)


def _location(item: Representation) -> str:
    return item.url or "https://files.example/" + (item.file or "")


def edm_xml(record: Record) -> bytes:
    """The record as EDM RDF/XML: just the properties the compared rules read."""
    root = etree.Element(_q("rdf:RDF"), nsmap=NS)
    cho_uri = "https://data.example/item/" + record.identifier
    for item in record.representations:
        resource = etree.SubElement(root, _q("edm:WebResource"), {_q("rdf:about"): _location(item)})
        if item.rights:
            etree.SubElement(resource, _q("edm:rights"), {_q("rdf:resource"): item.rights})
    cho = etree.SubElement(root, _q("edm:ProvidedCHO"), {_q("rdf:about"): cho_uri})
    for name, tag in (
        ("title", "dc:title"),
        ("description", "dc:description"),
        ("subject", "dc:subject"),
        ("type", "dc:type"),
        ("temporal", "dcterms:temporal"),
        ("spatial", "dcterms:spatial"),
        ("language", "dc:language"),
    ):
        for value in getattr(record, name):
            _value(cho, tag, value)
    if record.edm_type:
        etree.SubElement(cho, _q("edm:type")).text = record.edm_type
    aggregation = etree.SubElement(
        root, _q("ore:Aggregation"), {_q("rdf:about"): cho_uri + "#aggregation"}
    )
    etree.SubElement(aggregation, _q("edm:aggregatedCHO"), {_q("rdf:resource"): cho_uri})
    # the schema allows one data provider and one provider
    for value in record.data_provider[:1]:
        _value(aggregation, "edm:dataProvider", value)
    if record.is_shown_at:
        etree.SubElement(aggregation, _q("edm:isShownAt"), {_q("rdf:resource"): record.is_shown_at})
    primary = record.primary_representation()
    if primary:
        etree.SubElement(aggregation, _q("edm:isShownBy"), {_q("rdf:resource"): _location(primary)})
    for value in record.provider[:1]:
        _value(aggregation, "edm:provider", value)
    if record.rights is not None:
        etree.SubElement(aggregation, _q("edm:rights"), {_q("rdf:resource"): record.rights})
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


class Europeana:
    """Europeana's schematron and EDM schema, compiled once."""

    def __init__(self, schemas: Path) -> None:
        self.processor = saxonche.PySaxonProcessor(license=False)
        self.schematron = self.processor.new_xslt30_processor().compile_stylesheet(
            stylesheet_file=str(schemas / "schematron" / "schematron.xsl")
        )
        self.schema = etree.XMLSchema(etree.parse(str(schemas / "EDM.xsd")))

    def failed_asserts(self, xml: bytes) -> list[tuple[str, str]]:
        """(location, message) of every failed schematron assertion."""
        node = self.processor.parse_xml(xml_text=xml.decode())
        svrl = etree.fromstring(self.schematron.transform_to_string(xdm_node=node).encode())
        return [
            (failure.get("location", ""), " ".join(failure.findtext(f"{SVRL}text", "").split()))
            for failure in svrl.iter(f"{SVRL}failed-assert")
        ]

    def aspects(self, xml: bytes) -> set[str]:
        """What Europeana's tools reject in the record, in OUR_ASPECTS' words."""
        found: set[str] = set()
        for _, message in self.failed_asserts(xml):
            aspect = next((a for phrase, a in SCHEMATRON_ASPECTS if phrase in message), None)
            found.add(aspect or "unexpected: " + message)
        self.schema.validate(etree.fromstring(xml))
        for error in self.schema.error_log:
            # the schema is only asked about edm:type, the schematron covers the rest: a
            # wrong value names the element; a missing one is the only required child
            # of edm:ProvidedCHO, so the schema reports it as a missing child there
            if f"{{{NS['edm']}}}type'" in error.message or (
                "ProvidedCHO'" in error.message and "Missing child" in error.message
            ):
                found.add("type")
        return found


@pytest.fixture(scope="module")
def europeana(shared_data: Path) -> Europeana:
    return Europeana(shared_data / "schemas" / "edm")


def ours(record: Record) -> set[str]:
    return {OUR_ASPECTS[p.code] for p in validate(record) if p.code in OUR_ASPECTS}


def minimal_record(**changes: Any) -> Record:
    record = Record(
        identifier="rec-1",
        title=[Value.text("The mill", "en")],
        description=[Value.text("A water mill.", "en")],
        type=[Value.link("http://vocab.getty.edu/aat/300033618", "painting", "en")],
        subject=[Value.text("mill", "en")],
        language=[Value.text("en")],
        edm_type="IMAGE",
        data_provider=[Value.text("Museum X")],
        provider=[Value.text("Aggregator Y")],
        rights="http://creativecommons.org/licenses/by/4.0/",
        is_shown_at="https://museum.example/objects/1",
        representations=[
            Representation(url="https://images.example/1.jpg", role="primary"),
        ],
    )
    for name, value in changes.items():
        setattr(record, name, value)
    return record


def _representation_rights(rights: str) -> Callable[[Record], None]:
    def change(record: Record) -> None:
        record.representations[0] = record.representations[0].model_copy(update={"rights": rights})

    return change


CASES: dict[str, Record] = {
    "valid": minimal_record(),
    "valid text record": minimal_record(edm_type="TEXT"),
    "valid with only a description": minimal_record(title=[]),
    "valid with only a landing page": minimal_record(representations=[]),
    "valid with only a file": minimal_record(is_shown_at=None),
    "valid with only a period": minimal_record(subject=[], type=[], temporal=[Value.text("1890")]),
    "no title or description": minimal_record(title=[], description=[]),
    "no subject, type, period or place": minimal_record(subject=[], type=[]),
    "no edm:type": minimal_record(edm_type=None),
    "edm:type not in the list": minimal_record(edm_type="PHOTO"),
    "TEXT without language": minimal_record(edm_type="TEXT", language=[]),
    "no data provider": minimal_record(data_provider=[]),
    "no provider": minimal_record(provider=[]),
    "no rights": minimal_record(rights=None),
    "rights with https": minimal_record(rights="https://creativecommons.org/licenses/by/4.0/"),
    "rights without slash": minimal_record(rights="http://creativecommons.org/licenses/by/4.0"),
    "rights as text": minimal_record(rights="CC BY 4.0"),
    "rights page link": minimal_record(rights="http://rightsstatements.org/page/InC/1.0/"),
    "rights not accepted": minimal_record(rights="http://rightsstatements.org/vocab/NKC/1.0/"),
    "neither landing page nor file": minimal_record(is_shown_at=None, representations=[]),
    "everything missing": minimal_record(
        title=[], description=[], subject=[], type=[], data_provider=[], rights="CC0"
    ),
}
_broken = minimal_record()
_representation_rights("https://creativecommons.org/publicdomain/zero/1.0/")(_broken)
CASES["file rights near miss"] = _broken
_fine = minimal_record()
_representation_rights("http://rightsstatements.org/vocab/InC-EDU/1.0/")(_fine)
CASES["valid file rights"] = _fine


@pytest.mark.parametrize("name", list(CASES))
def test_our_errors_agree_with_europeana(europeana: Europeana, name: str) -> None:
    record = CASES[name]
    expected = europeana.aspects(edm_xml(record))
    assert ours(record) == expected
    assert bool(expected) != name.startswith("valid")


def test_valid_record_passes_the_whole_schema(europeana: Europeana) -> None:
    # the XML we write is real EDM: valid against the full schema, not only the rules compared
    assert europeana.schema.validate(etree.fromstring(edm_xml(minimal_record()))), str(
        europeana.schema.error_log
    )


def _candidate_rights() -> Iterator[str]:
    """Licence × version × port combinations we or Europeana might accept, and near misses."""
    yield from ACCEPTED  # every URI we accept, Europeana must accept
    ports = sorted({uri.split("/")[6] for uri in ACCEPTED if uri.count("/") == 7})
    versions = ("1.0", "2.0", "2.1", "2.5", "3.0", "4.0", "5.0")
    # ports are handled alike for every licence: two licences try them all ...
    for permission, version, port in itertools.product(
        ("by", "by-nd-nc"), versions, [None, "xx", *ports]
    ):
        yield f"http://creativecommons.org/licenses/{permission}/{version}/" + (
            f"{port}/" if port else ""
        )
    # ... and every licence tries a few
    permissions = ("by-sa", "by-nd", "by-nc", "by-nc-sa", "by-nc-nd", "by-sa-nc", "nc")
    for permission, version, port in itertools.product(permissions, versions, (None, "de", "au")):
        yield f"http://creativecommons.org/licenses/{permission}/{version}/" + (
            f"{port}/" if port else ""
        )
    for tool, version in itertools.product(("zero", "mark", "other"), ("1.0", "2.0")):
        yield f"http://creativecommons.org/publicdomain/{tool}/{version}/"
    for code in ("InC", "InC-OW-EU", "InC-EDU", "InC-NC", "InC-RUU", "NoC-CR", "NoC-NC"):
        yield f"http://rightsstatements.org/vocab/{code}/1.0/"
    for code in ("NoC-OKLR", "NoC-US", "CNE", "UND", "NKC", "inc", "cne"):
        yield f"http://rightsstatements.org/vocab/{code}/1.0/"
    for uri in list(ACCEPTED)[::25]:
        yield uri.replace("http://", "https://")
        yield uri.rstrip("/")
        yield uri.upper()
        yield uri + "deed.en"
    yield from ("CC BY 4.0", "CC0", "", "http://rightsstatements.org/page/InC/1.0/")


def test_rights_agree_with_europeana_uri_by_uri(europeana: Europeana) -> None:
    disagreements: list[tuple[str, bool]] = []
    suggestions: set[str] = set()
    candidates = list(dict.fromkeys(_candidate_rights()))
    accepted = [uri for uri in candidates if check_rights(uri).accepted]
    assert (
        len(accepted) == len(ACCEPTED) and len(candidates) - len(accepted) > 900
    )  # both sides tried
    for uri in candidates:
        # the rule on a web resource's rights alone: the record-level rules do not apply
        root = etree.Element(_q("rdf:RDF"), nsmap=NS)
        resource = etree.SubElement(root, _q("edm:WebResource"), {_q("rdf:about"): "https://x/1"})
        etree.SubElement(resource, _q("edm:rights"), {_q("rdf:resource"): uri})
        failures = europeana.failed_asserts(etree.tostring(root))
        rejected = any("WebResource" in where and "Rights" in what for where, what in failures)
        result = check_rights(uri)
        if result.accepted == rejected:
            disagreements.append((uri, result.accepted))
        if result.canonical:
            suggestions.add(result.canonical)
    assert not disagreements
    # every URI we suggest for a near miss is one Europeana accepts
    assert suggestions <= set(ACCEPTED)
