"""Europeana's 3D properties of a web resource survive the record's JSON-LD round trip
and are read from imported EDM."""

from __future__ import annotations

from pathlib import Path

from heritage.records import jsonld
from heritage.records.model import Record, Representation, Value
from tests.records.test_import_edm import RECORD_UUID, one, write


def test_counts_round_trip_through_jsonld() -> None:
    record = Record(
        identifier="mask-1",
        title=[Value.text("Mask")],
        representations=[
            Representation(
                file="media/mask/mask.gltf",
                role="primary",
                parts=["media/mask/mask.bin", "media/mask/Image_0.jpg"],
                media_type="model/gltf+json",
                vertex_count=62383,
                polygon_count=100000,
            ),
            Representation(file="media/cloud.laz", point_count=1065),
        ],
    )
    document = jsonld.to_jsonld(record, RECORD_UUID)
    shown_by = document["@reverse"]["edm:aggregatedCHO"][0]["edm:isShownBy"]
    assert shown_by["edm:vertexCount"] == 62383 and shown_by["edm:polygonCount"] == 100000
    assert shown_by["hc:storedParts"] == ["media/mask/mask.bin", "media/mask/Image_0.jpg"]
    assert jsonld.from_jsonld(document).representations == record.representations
    again = jsonld.loads(jsonld.dumps(record, RECORD_UUID))
    assert again.representations == record.representations


def test_counts_read_from_imported_edm(tmp_path: Path) -> None:
    body = """
<edm:ProvidedCHO rdf:about="http://example.org/cho/1"><dc:title>Mask</dc:title>
  <dc:type>mask</dc:type><edm:type>3D</edm:type></edm:ProvidedCHO>
<edm:WebResource rdf:about="http://example.org/mask.glb">
  <edm:vertexCount>62383</edm:vertexCount><edm:polygonCount>100000</edm:polygonCount>
</edm:WebResource>
<ore:Aggregation rdf:about="http://example.org/agg/1">
  <edm:aggregatedCHO rdf:resource="http://example.org/cho/1"/>
  <edm:isShownBy rdf:resource="http://example.org/mask.glb"/>
  <edm:dataProvider>Museum</edm:dataProvider><edm:provider>Aggregator</edm:provider>
  <edm:rights rdf:resource="http://creativecommons.org/publicdomain/zero/1.0/"/>
</ore:Aggregation>"""
    result = one(write(tmp_path, body))
    assert result.record is not None
    [shown_by] = result.record.representations
    assert (shown_by.vertex_count, shown_by.polygon_count) == (62383, 100000)
