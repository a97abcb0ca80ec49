"""EDM written in other RDF/XML abbreviations imports as EDM's own form does.

The real EDM files are rewritten by rdflib, an RDF library of its own, into the two
forms generic RDF tools write (flat ``rdf:Description`` elements with ``rdf:type``,
and nested typed nodes); each must import to the record the original gives. The
abbreviations rdflib does not write are checked on hand-written records.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import rdflib

from heritage.records.importers.edm import read_edm
from heritage.records.model import Record, Value
from tests.records.test_import_edm import NOT_WELL_FORMED, one, write

CC0 = "http://creativecommons.org/publicdomain/zero/1.0/"


def comparable(record: Record, source: Path) -> Any:
    """The record as JSON with value order and repeats left out (an RDF graph has
    neither) and relative URIs as the original wrote them: rdflib resolves them
    against the file's URL, as RDF says it must."""
    text = json.dumps(record.model_dump(mode="json"))
    for prefix in (source.resolve().as_uri(), source.resolve().parent.as_uri() + "/", "file://"):
        text = text.replace(prefix, "")

    def canonical(item: Any) -> Any:
        if isinstance(item, dict):
            return {key: canonical(value) for key, value in item.items()}
        if isinstance(item, list):
            unique = {json.dumps(canonical(value), sort_keys=True) for value in item}
            return sorted(unique)
        return item

    return canonical(json.loads(text))


@pytest.mark.parametrize("form", ["xml", "pretty-xml"])
def test_real_records_rewritten_by_rdflib_import_to_the_same_records(
    shared_data: Path, tmp_path: Path, form: str
) -> None:
    compared = 0
    for path in sorted((shared_data / "edm").rglob("*.xml")):
        if path.relative_to(shared_data / "edm").as_posix() in NOT_WELL_FORMED:
            continue
        original = list(read_edm(path))
        if len(original) != 1 or original[0].record is None:
            continue  # several records or none: the other tests cover those files
        graph = rdflib.Graph()
        graph.parse(path, format="xml")
        rewritten = tmp_path / f"{path.stem}.{form}.xml"
        rewritten.write_bytes(graph.serialize(format=form, encoding="utf-8"))
        if form == "xml":  # the flat form: no typed node element at all
            assert b"<edm:ProvidedCHO" not in rewritten.read_bytes()
            assert b"<rdf:Description" in rewritten.read_bytes()
        result = one(rewritten)
        assert result.record is not None, (path.name, result.problems)
        assert comparable(result.record, path) == comparable(original[0].record, path), path.name
        compared += 1
    assert compared >= 35


def test_nested_descriptions_attributes_blank_nodes_and_xml_base(tmp_path: Path) -> None:
    body = """
<rdf:Description rdf:ID="cho" xml:base="https://museum.example/objects/" xml:lang="en"
    dc:title="A windmill" dc:description="Oil on panel.">
  <rdf:type rdf:resource="http://www.europeana.eu/schemas/edm/ProvidedCHO"/>
  <rdf:type rdf:resource="http://example.org/ns#Painting"/>
  <dc:creator>
    <edm:Agent rdf:about="http://www.wikidata.org/entity/Q5598">
      <skos:prefLabel xml:lang="en">Rembrandt</skos:prefLabel>
    </edm:Agent>
  </dc:creator>
  <dcterms:spatial>
    <edm:Place><skos:prefLabel xml:lang="nl">Leiden</skos:prefLabel></edm:Place>
  </dcterms:spatial>
  <dc:subject rdf:parseType="Resource">
    <skos:prefLabel xml:lang="en">mills</skos:prefLabel>
  </dc:subject>
  <edm:type>IMAGE</edm:type>
</rdf:Description>
<ore:Aggregation rdf:about="https://museum.example/objects/cho#aggregation">
  <edm:aggregatedCHO rdf:resource="https://museum.example/objects/#cho"/>
  <edm:dataProvider>Museum Alpha</edm:dataProvider>
  <edm:provider>Heritage Cloud</edm:provider>
  <edm:isShownBy>
    <edm:WebResource rdf:about="https://museum.example/images/1.jpg">
      <dc:format>image/jpeg</dc:format>
    </edm:WebResource>
  </edm:isShownBy>
  <edm:rights rdf:resource="http://creativecommons.org/publicdomain/zero/1.0/"/>
</ore:Aggregation>
"""
    result = one(write(tmp_path, body))
    record = result.record
    assert record is not None, result.problems
    assert record.identifier == "https://museum.example/objects/#cho"
    assert record.title == [Value.text("A windmill", "en")]
    assert record.description == [Value.text("Oil on panel.", "en")]
    assert [value.ref for value in record.creator] == ["http://www.wikidata.org/entity/Q5598"]
    agent = next(entity for entity in record.entities if entity.type == "agent")
    assert agent.pref_label == [Value.text("Rembrandt", "en")]
    assert record.spatial == [Value.text("Leiden", "nl")]  # a blank node: its label
    assert record.subject == [Value.text("mills", "en")]
    assert record.edm_type == "IMAGE" and record.rights == CC0
    assert [item.url for item in record.representations] == ["https://museum.example/images/1.jpg"]
    # the type the model has no class for is reported, not silently dropped
    assert any("rdf:type" in problem.message for problem in result.problems), result.problems


def test_a_description_of_no_known_class_is_reported_as_before(tmp_path: Path) -> None:
    body = """
<rdf:Description rdf:about="https://museum.example/objects/1">
  <rdf:type rdf:resource="http://example.org/ns#Thing"/>
  <dc:title>Untyped</dc:title>
</rdf:Description>
"""
    result = one(write(tmp_path, body))
    assert result.record is None
    assert result.problems[0].code == "edm.no-provided-cho"


def test_deep_nesting_is_bounded(tmp_path: Path) -> None:
    # each node nested in the one before: every one is moved up, none is lost
    depth = 100  # two elements a level: the parser itself refuses more than 256 deep
    inner = "".join(
        f'<skos:related><skos:Concept rdf:about="https://vocab.example/{n}">' for n in range(depth)
    ) + "".join("</skos:Concept></skos:related>" for _ in range(depth))
    body = f"""
<edm:ProvidedCHO rdf:about="https://museum.example/objects/1">
  <dc:title>Deep</dc:title>
  <dc:subject><skos:Concept rdf:about="https://vocab.example/top">
    <skos:prefLabel>top</skos:prefLabel>{inner}</skos:Concept></dc:subject>
  <edm:type>TEXT</edm:type>
</edm:ProvidedCHO>
"""
    result = one(write(tmp_path, body))
    assert result.record is not None, result.problems
    assert [value.ref for value in result.record.subject] == ["https://vocab.example/top"]


BLANK_NODES = """
<edm:ProvidedCHO rdf:about="https://museum.example/objects/2">
  <dc:title xml:lang="en">A harbour</dc:title>
  <dc:creator>
    <edm:Agent><skos:prefLabel xml:lang="nl">Jan van Goyen</skos:prefLabel></edm:Agent>
  </dc:creator>
  <dcterms:spatial>
    <edm:Place><skos:prefLabel xml:lang="nl">Dordrecht</skos:prefLabel></edm:Place>
  </dcterms:spatial>
  <dc:subject rdf:parseType="Resource">
    <skos:prefLabel xml:lang="en">ships</skos:prefLabel>
  </dc:subject>
  <dc:subject rdf:resource="http://vocab.getty.edu/aat/300008626"/>
  <edm:type>IMAGE</edm:type>
</edm:ProvidedCHO>
<ore:Aggregation rdf:about="https://museum.example/objects/2#aggregation">
  <edm:aggregatedCHO rdf:resource="https://museum.example/objects/2"/>
  <edm:dataProvider>Museum Alpha</edm:dataProvider>
  <edm:provider>Heritage Cloud</edm:provider>
  <edm:isShownAt rdf:resource="https://museum.example/objects/2.html"/>
  <edm:rights rdf:resource="http://creativecommons.org/publicdomain/zero/1.0/"/>
</ore:Aggregation>
"""


def test_blank_nodes_linked_by_node_id_import_as_nested_ones(tmp_path: Path) -> None:
    """rdflib's flat form writes each blank node on its own, linked by rdf:nodeID."""
    nested = write(tmp_path, BLANK_NODES)
    original = one(nested)
    assert original.record is not None, original.problems
    assert original.record.creator == [Value.text("Jan van Goyen", "nl")]
    graph = rdflib.Graph()
    graph.parse(nested, format="xml")
    flat = tmp_path / "flat.xml"
    flat.write_bytes(graph.serialize(format="xml", encoding="utf-8"))
    assert flat.read_bytes().count(b"rdf:nodeID=") >= 6  # three nodes, each used once
    result = one(flat)
    assert result.record is not None, result.problems
    assert comparable(result.record, flat) == comparable(original.record, nested)
    # the blank nodes became labels: no entity without a URI, nothing reported about them
    assert not result.record.entities
    assert [problem.message for problem in result.problems] == [
        problem.message for problem in original.problems
    ]


def test_a_node_id_link_to_a_node_without_a_label_is_left_for_the_mapper(
    tmp_path: Path,
) -> None:
    start = BLANK_NODES.index("  <dc:creator>")
    end = BLANK_NODES.index("</dc:creator>") + len("</dc:creator>")
    body = (
        BLANK_NODES[:start]
        + '  <dc:creator rdf:nodeID="nobody"/>'
        + BLANK_NODES[end:]
        + '<edm:Agent rdf:nodeID="nobody"><edm:begin>1596</edm:begin></edm:Agent>\n'
    )
    result = one(write(tmp_path, body))
    assert result.record is not None, result.problems
    assert result.record.creator == []  # nothing to show for it, and no crash
