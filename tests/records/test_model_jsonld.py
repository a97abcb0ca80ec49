"""The record model and its JSON-LD: round trip, EDM IRIs, rejection of bad values."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from pyld import jsonld as pyld

from heritage.records import jsonld
from heritage.records.fields import FIELDS, PREFIXES
from heritage.records.model import Entity, Record, Representation, Value

RECORD_UUID = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
EDM = PREFIXES["edm"]
DC = PREFIXES["dc"]
RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"


def full_record() -> Record:
    return Record(
        identifier="inv-1",
        title=[Value.text("Mühle", "de"), Value.text("Mill", "en")],
        description=[Value.text("A mill on a pyramid.")],
        creator=[
            Value.link("#agent-1", "Anon"),
            Value.link("http://vocab.getty.edu/ulan/500115588"),
        ],
        type=[Value.link("http://vocab.getty.edu/aat/300033618", "painting", "en")],
        language=[Value.text("de")],
        edm_type="image",
        rights="http://creativecommons.org/publicdomain/zero/1.0/",
        data_provider=[Value.text("Museum X")],
        provider=[Value.text("Aggregator Y")],
        is_shown_at="https://museum.example/objects/1",
        representations=[
            Representation(file="media/a b.jpg", role="primary", media_type="image/jpeg"),
            Representation(url="https://images.example/1.jpg", width=4000, height=3000),
        ],
        entities=[
            Entity(
                id="#agent-1", type="agent", pref_label=[Value.text("Anon", "en")], begin="1800"
            ),
            Entity(id="http://sws.geonames.org/2950159/", type="place", lat=52.52, long=13.4),
        ],
        other={"dcterms:isReferencedBy": [Value.text("Cat. 12")]},
    )


def test_round_trip_keeps_every_value() -> None:
    record = full_record()
    assert jsonld.loads(jsonld.dumps(record, RECORD_UUID)) == record


def test_document_expands_to_edm_without_network() -> None:
    document = jsonld.to_jsonld(full_record(), RECORD_UUID)
    quads = pyld.to_rdf(document, {"format": "application/n-quads"})
    cho = f"<urn:uuid:{RECORD_UUID}>"
    assert f'{cho} <{DC}title> "Mühle"@de .' in quads
    assert f"{cho} <{DC}creator> <http://vocab.getty.edu/ulan/500115588> ." in quads
    assert f"<urn:uuid:{RECORD_UUID}#aggregation> <{EDM}aggregatedCHO> {cho} ." in quads
    assert f"<{EDM}rights> <http://creativecommons.org/publicdomain/zero/1.0/>" in quads
    assert f"<urn:uuid:{RECORD_UUID}#agent-1> <{RDF_TYPE}> <{EDM}Agent>" in quads


def test_every_field_is_written_under_its_edm_property() -> None:
    values = {spec.name: [Value.text(f"v-{spec.name}")] for spec in FIELDS}
    document = jsonld.to_jsonld(Record(identifier="x", **values), RECORD_UUID)
    aggregation = document["@reverse"]["edm:aggregatedCHO"][0]
    for spec in FIELDS:
        target = document if spec.group == "object" else aggregation
        assert target[spec.property] == [{"@value": f"v-{spec.name}"}]


@pytest.mark.parametrize(
    "bad",
    [
        {"identifier": ""},
        {"identifier": "x", "edm_type": "PICTURE"},
        {"identifier": "x", "title": [{"value": "", "lang": "en"}]},
        {"identifier": "x", "title": [{"value": "t", "lang": "not a tag"}]},
        {"identifier": "x", "representations": [{"role": "primary"}]},
        {"identifier": "x", "other": {"nope:thing": [{"value": "v"}]}},
    ],
)
def test_bad_values_are_refused(bad: dict) -> None:
    with pytest.raises(ValidationError):
        Record.model_validate(bad)


def test_equal_content_has_equal_hash() -> None:
    assert full_record().content_hash() == full_record().content_hash()
    changed = full_record().model_copy(update={"rights": None})
    assert changed.content_hash() != full_record().content_hash()


def test_unreadable_documents_are_named() -> None:
    with pytest.raises(jsonld.RecordFormatError):
        jsonld.loads(b"[]")
    with pytest.raises(jsonld.RecordFormatError):
        jsonld.loads(b'{"hc:format": "other"}')
