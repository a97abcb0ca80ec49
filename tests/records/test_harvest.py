"""The OAI-PMH harvester against a real endpoint on loopback serving the shared test data."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from heritage.records.harvest import Harvester, HarvestError
from heritage.records.importers.base import SourceRecord
from tests.records.oai_server import DAY, SECONDS, Repository, dc_items, edm_items, serve

SPEC = Path("oai-pmh") / "spec-examples"


@pytest.fixture
def repository(shared_data: Path) -> Repository:
    return Repository(items=dc_items(shared_data) + edm_items(shared_data), page_size=4)


@pytest.fixture
def endpoint(repository: Repository) -> Iterator[str]:
    with serve(repository) as url:
        yield url


def harvest(url: str, prefix: str = "oai_dc", **options: object) -> list[SourceRecord]:
    with Harvester(url, prefix, **options) as harvester:  # type: ignore[arg-type]
        return list(harvester.records())


def by_location(results: list[SourceRecord]) -> dict[str, SourceRecord]:
    return {result.location: result for result in results}


def dc_identifiers(repository: Repository) -> set[str]:
    return {item.identifier for item in repository.items if item.prefix == "oai_dc"}


# -- paging, mapping -----------------------------------------------------------------------------


def test_harvest_follows_resumption_tokens_to_the_empty_final_one(
    repository: Repository, endpoint: str
) -> None:
    with Harvester(endpoint, "oai_dc") as harvester:
        results = list(harvester.records())
        assert harvester.done
        assert harvester.resume_token is None
        assert harvester.complete_list_size == len(dc_identifiers(repository))
        assert harvester.pages == -(-len(results) // repository.page_size)
    assert {result.location for result in results} == dc_identifiers(repository)
    tokens = [args["resumptionToken"] for args in repository.requests if "resumptionToken" in args]
    assert len(tokens) >= 3  # 15 records, pages of 4
    # a token request carries nothing else (it is an exclusive argument)
    assert all(set(args) == {"verb", "resumptionToken"} for args in repository.requests[1:])


def test_gallica_records_field_by_field(endpoint: str) -> None:
    results = by_location(harvest(endpoint))
    letter = results["oai:bnf.fr:gallica/ark:/12148/btv1b10582360t"]
    record = letter.record
    assert record is not None and letter.problems == []
    assert letter.datestamp == "2020-11-11"
    assert record.identifier == "oai:bnf.fr:gallica/ark:/12148/btv1b10582360t"
    assert record.title[0].value.startswith("Fragment d'une lettre de Madeleine-Jeanne-Philippe")
    assert [v.value for v in record.contributor] == [
        "Bordeu, Madeleine-Jeanne-Philippe de. Fonction indéterminée"
    ]
    assert [v.value for v in record.date] == ["17??"]
    assert [(v.value, v.lang) for v in record.type] == [("manuscript", "eng"), ("manuscrit", "fre")]
    assert [(v.value, v.lang) for v in record.rights_statement] == [
        ("domaine public", "fre"),
        ("public domain", "eng"),
    ]
    assert record.rights is None  # free text, no licence URI
    # the identifier URL is the landing page; the relation with text around its URL is not
    assert record.is_shown_at == "http://gallica.bnf.fr/ark:/12148/btv1b10582360t"
    assert record.relation[0].value.startswith("Notice du catalogue : http://catalogue.bnf.fr")
    assert [v.value for v in record.technique] == ["1 ff.", "Nombre total de vues : 2"]

    arabic = results["oai:bnf.fr:gallica/ark:/12148/btv1b110012843"].record
    assert arabic is not None
    assert len(arabic.title) == 2 and arabic.title[1].value.startswith("أحمد بن يوسف")
    assert [v.value for v in arabic.language] == ["ara", "ota"]
    assert [v.value for v in arabic.date] == ["1601-1700"]
    assert len(arabic.creator) == 2 and len(arabic.contributor) == 2
    assert arabic.subject[0].value == "Histoire universelle et antéislamique"


def test_spec_and_europeana_records(endpoint: str) -> None:
    results = by_location(harvest(endpoint))
    tacitus = results["oai:perseus:Perseus:text:1999.02.0084"].record
    assert tacitus is not None
    assert tacitus.edm_type == "TEXT"  # dc:type 'text' is the DCMI type Text
    # a URL wrapped over two lines in the source is still one landing page
    assert (
        tacitus.is_shown_at
        == "http://www.perseus.tufts.edu/cgi-bin/ptext?doc=Perseus:text:1999.02.0084"
    )
    photo = results["oai:mediateka.centrumzamenhofa.pl:19"]
    assert photo.record is not None
    assert photo.datestamp == "1981-07-01T00:00:00Z"
    assert (
        photo.record.is_shown_at == "http://www.mediateka.centrumzamenhofa.pl/photos/?show_image=19"
    )
    # an image URL in dc:relation is the preview, not the landing page
    assert photo.record.preview is not None and photo.record.preview.endswith("-large.jpg")


def test_deleted_records_carry_identifier_and_datestamp(endpoint: str) -> None:
    deleted = [result for result in harvest(endpoint) if result.deleted]
    assert len(deleted) == 1
    assert deleted[0].record is None
    assert deleted[0].identifier == "oai:mediateka.centrumzamenhofa.pl:20"
    assert deleted[0].location == "oai:mediateka.centrumzamenhofa.pl:20"
    assert deleted[0].datestamp == "2020-02-02T12:21:00Z"


def test_edm_harvest_maps_rdf(repository: Repository, endpoint: str) -> None:
    results = harvest(endpoint, "edm", set_spec="sandbox")
    assert len(results) == sum(item.prefix == "edm" for item in repository.items) > 20
    assert all(result.record for result in results)
    nls = by_location(results)["oai:sandbox:227351442"]
    assert nls.record is not None
    assert nls.record.identifier == "#Resource:227351442"
    assert nls.record.rights == "http://rightsstatements.org/vocab/CNE/1.0/"
    assert nls.datestamp is not None


# -- sets, incremental harvests ------------------------------------------------------------------


def test_set_harvest_and_list_sets(repository: Repository, endpoint: str) -> None:
    results = harvest(endpoint, set_spec="gallica:corpus:PrnS001")
    assert results and all(result.location.startswith("oai:bnf.fr:gallica") for result in results)
    expected = {i.identifier for i in repository.items if "gallica:corpus:PrnS001" in i.sets}
    assert {result.location for result in results} == expected
    assert repository.requests[0]["set"] == "gallica:corpus:PrnS001"
    with Harvester(endpoint, "oai_dc") as harvester:
        specs = {item.spec for item in harvester.list_sets()}
    assert {"gallica:typedoc:manuscrits", "sandbox", "mediateka:PL_2004_1"} <= specs


def test_list_sets_of_the_specification_example(
    shared_data: Path, repository: Repository, endpoint: str
) -> None:
    repository.canned["ListSets"] = (shared_data / SPEC / "ex-sec4.6a.xml").read_bytes()
    with Harvester(endpoint, "oai_dc") as harvester:
        sets = harvester.list_sets()
    assert [item.spec for item in sets] == ["music", "music:(muzak)", "music:(elec)", "video"]
    assert sets[2].name == "Electronic Music Collection"
    assert "electronic music recordings" in sets[2].description


def test_no_set_hierarchy_is_a_clear_error(shared_data: Path, repository: Repository) -> None:
    repository.sets = False
    with serve(repository) as url:
        with pytest.raises(HarvestError) as caught:
            harvest(url, set_spec="music")
        assert caught.value.code == "noSetHierarchy" and url in str(caught.value)
        repository.canned["ListSets"] = (shared_data / SPEC / "ex-sec4.6b.xml").read_bytes()
        with pytest.raises(HarvestError, match="noSetHierarchy"), Harvester(url, "oai_dc") as h:
            h.list_sets()


def test_incremental_harvest_from_the_newest_datestamp(
    repository: Repository, endpoint: str
) -> None:
    with Harvester(endpoint, "edm") as first:
        everything = list(first.records())
        newest = first.newest_datestamp
    assert newest == max(item.datestamp for item in repository.items if item.prefix == "edm")
    later = harvest(endpoint, "edm", from_=newest)
    assert 0 < len(later) < len(everything)
    assert all(result.datestamp and result.datestamp >= newest for result in later)


def test_from_follows_the_identify_granularity(repository: Repository) -> None:
    moment = datetime(2020, 6, 1, 12, 30, tzinfo=UTC)
    repository.granularity = DAY
    with serve(repository) as url:
        day = harvest(url, from_=moment)
    sent = next(args for args in repository.requests if args.get("verb") == "ListRecords")
    assert sent["from"] == "2020-06-01"  # a seconds datestamp would be a badArgument here
    assert {r.location for r in day} >= {"oai:bnf.fr:gallica/ark:/12148/btv1b10582360t"}
    repository.granularity, repository.requests = SECONDS, []
    with serve(repository) as url:
        harvest(url, from_=moment)
    sent = next(args for args in repository.requests if args.get("verb") == "ListRecords")
    assert sent["from"] == "2020-06-01T12:30:00Z"


def test_no_records_match_is_an_empty_harvest(endpoint: str) -> None:
    with Harvester(endpoint, "oai_dc", from_="2099-01-01") as harvester:
        assert list(harvester.records()) == []
        assert harvester.done and harvester.newest_datestamp is None


# -- errors --------------------------------------------------------------------------------------


def test_bad_resumption_token(endpoint: str) -> None:
    with pytest.raises(HarvestError) as caught:
        harvest(endpoint, resume_token="expired-long-ago")
    assert caught.value.code == "badResumptionToken"
    assert endpoint in str(caught.value) and "expired" in str(caught.value)


def test_cannot_disseminate_format(endpoint: str) -> None:
    with pytest.raises(HarvestError, match="cannotDisseminateFormat") as caught:
        harvest(endpoint, "marc21")
    assert caught.value.endpoint == endpoint


def test_bad_argument_of_the_specification_example(
    shared_data: Path, repository: Repository, endpoint: str
) -> None:
    repository.canned["ListRecords"] = (shared_data / SPEC / "ex-sec4.5c.xml").read_bytes()
    with pytest.raises(HarvestError) as caught:
        harvest(endpoint)
    assert caught.value.code == "badArgument"


def test_malformed_from_is_refused_before_asking() -> None:
    with pytest.raises(ValueError, match="from"):
        Harvester("http://127.0.0.1:9/oai", "oai_dc", from_="01.06.2020")


def test_503_with_retry_after_is_retried(repository: Repository, endpoint: str) -> None:
    repository.fail_503, repository.retry_after = 2, "3"
    waits: list[float] = []
    results = harvest(endpoint, sleep=waits.append)
    assert waits == [3.0, 3.0]
    assert len(results) == len(dc_identifiers(repository))


def test_503_for_too_long_gives_up(repository: Repository, endpoint: str) -> None:
    repository.fail_503 = 10
    waits: list[float] = []
    with pytest.raises(HarvestError, match="503") as caught:
        harvest(endpoint, sleep=waits.append, retries=2)
    assert caught.value.code == "http-503" and len(waits) == 2


def test_timeouts_are_used(repository: Repository, endpoint: str) -> None:
    repository.delay = 1.0
    with pytest.raises(HarvestError, match="timeout"):
        harvest(endpoint, timeout=0.2, retries=1, sleep=lambda _seconds: None)


def test_not_an_oai_response(shared_data: Path, repository: Repository, endpoint: str) -> None:
    repository.canned["ListRecords"] = b"<html><body>Maintenance</body></html>"
    with pytest.raises(HarvestError, match="not an OAI-PMH response"):
        harvest(endpoint)


# -- interruptions -------------------------------------------------------------------------------


def test_malformed_page_stops_and_the_harvest_resumes_there(
    repository: Repository, endpoint: str
) -> None:
    repository.malformed_offsets = {8}  # the third page arrives cut off, once
    seen: list[str] = []
    harvester = Harvester(endpoint, "oai_dc")
    with pytest.raises(HarvestError, match=r"not well-formed XML.*line \d+"):
        for result in harvester.records():
            seen.append(result.location)
    assert len(seen) == 8  # the two whole pages before it
    saved = harvester.state()
    assert saved["resume_token"] and not saved["done"]
    harvester.close()
    rest = harvest(endpoint, resume_token=saved["resume_token"])
    assert set(seen) | {result.location for result in rest} == dc_identifiers(repository)
    assert not set(seen) & {result.location for result in rest}


def test_resume_from_a_saved_token_after_stopping(repository: Repository, endpoint: str) -> None:
    seen: list[str] = []
    with Harvester(endpoint, "oai_dc") as harvester:
        for result in harvester.records():
            seen.append(result.location)
            if len(seen) == 6:  # stop in the middle of the second page
                break
        token = harvester.resume_token
    assert token  # the token of the second page: nothing of it is lost on resuming
    with Harvester(endpoint, "oai_dc", resume_token=token) as resumed:
        rest = [result.location for result in resumed.records()]
        assert resumed.done
    assert set(seen) | set(rest) == dc_identifiers(repository)
    assert set(seen) & set(rest) == set(seen[4:6])  # at least once: the page is yielded again


def test_identify_of_the_specification_example(
    shared_data: Path, repository: Repository, endpoint: str
) -> None:
    repository.canned["Identify"] = (shared_data / SPEC / "ex-sec4.2.xml").read_bytes()
    with Harvester(endpoint, "oai_dc") as harvester:
        info = harvester.identify()
    assert info.repository_name.startswith("Library of Congress Open Archive Initiative")
    assert info.granularity == SECONDS and info.deleted_record == "transient"
    assert info.admin_emails == ["somebody@loc.gov", "anybody@loc.gov"]


@pytest.mark.skipif(
    importlib.util.find_spec("heritage.records.importers.lido") is None,
    reason="the LIDO importer is not there yet",
)
def test_lido_records_go_to_the_lido_mapping(shared_data: Path) -> None:
    from lxml import etree

    from tests.records.oai_server import Item, build_record

    items = []
    for number, path in enumerate(sorted((shared_data / "lido" / "ddb-real-data").glob("*.xml"))):
        root = etree.parse(str(path)).getroot()
        lido = (
            root
            if etree.QName(root).localname == "lido"
            else next(root.iter("{http://www.lido-schema.org}lido"))
        )
        identifier = f"oai:ddb:{number}"
        items.append(
            Item(identifier, "2022-01-01", "lido", [], build_record(identifier, "2022-01-01", lido))
        )
    with serve(Repository(items=items)) as url:
        results = harvest(url, "lido")
    # routed to the LIDO mapping (whose own tests judge the mapping): each record mapped
    # or explained, none lost
    assert [result.location for result in results] == [item.identifier for item in items]
    assert all(result.record is not None or result.problems for result in results)


# -- oai_dc files --------------------------------------------------------------------------------


def test_read_dc_takes_the_oai_header(shared_data: Path) -> None:
    from heritage.records.importers.base import READERS

    path = shared_data / "oai-pmh/gallica-oai_dc-records/Item_d2e946.xml"
    [result] = list(READERS["dc"](path))
    assert result.record is not None
    assert result.record.identifier == "oai:bnf.fr:gallica/ark:/12148/btv1b110012843"
    assert result.datestamp == "2020-01-07"
    assert result.record.source[0].value.endswith("Arabe 1556")


def test_dc_rights_uri_and_types(tmp_path: Path) -> None:
    from heritage.records.importers.dublincore import read_dc

    path = tmp_path / "dc.xml"
    path.write_text(
        '<oai_dc:dc xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:x="urn:x">'
        "<dc:identifier>INV-1</dc:identifier>"
        "<dc:relation>https://museum.example/objects/1</dc:relation>"
        "<dc:rights>https://creativecommons.org/licenses/by/4.0</dc:rights>"
        "<dc:rights>Photo: A. Person</dc:rights>"
        "<dc:type>http://purl.org/dc/dcmitype/StillImage</dc:type>"
        "<dc:coverage>Antwerp</dc:coverage><x:extra>?</x:extra>"
        "</oai_dc:dc>"
    )
    [result] = list(read_dc(path))
    record = result.record
    assert record is not None and record.identifier == "INV-1"
    assert record.rights == "http://creativecommons.org/licenses/by/4.0/"
    assert [v.value for v in record.rights_statement] == ["Photo: A. Person"]
    assert record.edm_type == "IMAGE"
    assert record.is_shown_at == "https://museum.example/objects/1"  # no identifier URL
    assert record.other["dc:coverage"][0].value == "Antwerp"
    assert [p.code for p in result.problems] == ["dc.not-simple-dc"]
