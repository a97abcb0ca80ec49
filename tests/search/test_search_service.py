"""Search over records through the service, on every backend: what people may find,
full text with language analysis, field queries, facets, sorting and paging."""

from __future__ import annotations

import time

import pytest

from heritage.accounts.identity import SYSTEM
from heritage.errors import InvalidInput
from heritage.records.model import Entity, Record, Representation, Value
from heritage.records.services import RecordService
from heritage.runtime import Runtime
from heritage.search.indexing import SearchIndexer
from heritage.search.services import SearchParams, SearchService
from heritage.testing.world import World
from tests.search.conftest import identity

CC0 = "http://creativecommons.org/publicdomain/zero/1.0/"
IN_COPYRIGHT = "http://rightsstatements.org/vocab/InC/1.0/"


def record(identifier: str, **fields: object) -> Record:
    values = {"rights": CC0, "edm_type": "IMAGE", **fields}
    return Record(identifier=identifier, **values)  # type: ignore[arg-type]


@pytest.fixture
def records(search_runtime: Runtime, search_world: World) -> dict[str, str]:
    """Records in private ``alpha``, private ``beta`` and public ``gamma``."""
    service = RecordService(search_runtime)
    made = {}
    made["watch"] = service.create(
        SYSTEM,
        "alpha",
        record(
            "s-one",
            title=[Value.text("The Night Watch", "en"), Value.text("Die Nachtwache", "de")],
            description=[Value.text("A militia company painted in 1642 by Rembrandt.", "en")],
            creator=[Value.link("#rembrandt")],
            date=[Value.text("1642")],
            medium=[Value.text("oil on canvas")],
            spatial=[Value.link("#amsterdam")],
            entities=[
                Entity(
                    id="#rembrandt", type="agent", pref_label=[Value.text("Rembrandt van Rijn")]
                ),
                Entity(
                    id="#amsterdam",
                    type="place",
                    pref_label=[Value.text("Amsterdam")],
                    lat=52.37,
                    long=4.89,
                ),
            ],
        ),
    ).uuid
    made["gemaelde"] = service.create(
        SYSTEM,
        "alpha",
        record(
            "s-two",
            title=[Value.text("Gemälde einer Windmühle", "de")],
            description=[Value.text("Ölgemälde, um 1650, mit Windmühlen am Fluss.", "de")],
            creator=[Value.text("Jacob van Ruisdael")],
            date=[Value.text("17. Jahrhundert")],
            subject=[Value.text("windmills")],
            rights=IN_COPYRIGHT,
        ),
    ).uuid
    made["secret"] = service.create(
        SYSTEM,
        "beta",
        record(
            "s-three",
            title=[Value.text("Secret painting of a windmill", "en")],
            description=[Value.text("Rembrandt never painted this windmill.", "en")],
            creator=[Value.text("Unknown secretive painter")],
            subject=[Value.text("windmills")],
            date=[Value.text("1700")],
        ),
    ).uuid
    made["public"] = service.create(
        SYSTEM,
        "gamma",
        record(
            "s-four",
            title=[Value.text("Obrazy polskich malarzy", "pl")],
            description=[Value.text("Zbiór obrazów olejnych z Krakowa.", "pl")],
            creator=[Value.text("Jan Matejko")],
            date=[Value.text("1880s")],
            edm_type="3D",
            representations=[Representation(url="https://example.org/model.glb", role="primary")],
        ),
    ).uuid
    return made


def find(runtime: Runtime, who: object, q: str = "", **params: object) -> list[str]:
    """The uuids found, leaving out the standard world's own records ("alpha map", ...)."""
    result = SearchService(runtime).search(who, SearchParams(q=q, **params))  # type: ignore[arg-type]
    return [hit.uuid for hit in result.hits if not hit.identifier.endswith("-1")]


def test_people_find_only_what_they_may_see(
    search_runtime: Runtime, search_world: World, records: dict[str, str]
) -> None:
    service = SearchService(search_runtime)
    viewer = identity(search_runtime, search_world, "viewer")  # alpha + public gamma
    outsider = identity(search_runtime, search_world, "outsider")  # beta + public gamma
    anonymous = identity(search_runtime, search_world, None)  # public gamma only
    assert set(find(search_runtime, viewer)) == {
        records["watch"],
        records["gemaelde"],
        records["public"],
    }
    assert set(find(search_runtime, outsider)) == {records["secret"], records["public"]}
    assert find(search_runtime, anonymous) == [records["public"]]
    # The secret record's words find nothing for those who may not see it: no hit,
    # no count, no facet value, no suggestion.
    for who in (viewer, anonymous):
        result = service.search(who, SearchParams(q="secretive"))
        assert result.total == 0 and result.hits == []
        everything = service.search(who, SearchParams())
        creators = {value.label for value in everything.facets.get("creator", ())}
        assert "Unknown secretive painter" not in creators
        workspaces = {value.label for value in everything.facets.get("workspace", ())}
        assert "Beta" not in workspaces
        assert service.suggest(who, "secr") == []
    assert set(service.suggest(outsider, "secr")) == {
        "Secret painting of a windmill",
        "Unknown secretive painter",
    }
    assert service.suggest(outsider, "secret pain") == ["Secret painting of a windmill"]
    windmills = service.search(viewer, SearchParams(q="windmill"))
    assert [hit.uuid for hit in windmills.hits] == [records["gemaelde"]]
    assert windmills.total == 1


def test_language_analysis_folding_and_stemming(
    search_runtime: Runtime, search_world: World, records: dict[str, str]
) -> None:
    admin = SYSTEM
    assert find(search_runtime, admin, "gemalde") == [records["gemaelde"]]
    assert find(search_runtime, admin, "GEMÄLDE") == [records["gemaelde"]]
    assert find(search_runtime, admin, "Windmühlen") == [records["gemaelde"]]  # German plural
    assert records["watch"] in find(search_runtime, admin, "paintings")  # painted -> paint
    assert find(search_runtime, admin, "obraz") == [records["public"]]  # Polish stem
    assert find(search_runtime, admin, "Krakow") == [records["public"]]


def test_query_syntax(
    search_runtime: Runtime, search_world: World, records: dict[str, str]
) -> None:
    admin = SYSTEM
    assert find(search_runtime, admin, '"night watch"') == [records["watch"]]
    assert find(search_runtime, admin, '"watch night"') == []
    assert set(find(search_runtime, admin, "nachtwache OR matejko")) == {
        records["watch"],
        records["public"],
    }
    assert set(find(search_runtime, admin, "windmill -secret")) == {records["gemaelde"]}
    assert set(find(search_runtime, admin, "windmill NOT secret")) == {records["gemaelde"]}
    assert find(search_runtime, admin, "nachtw*") == [records["watch"]]
    assert find(search_runtime, admin, "rembrnadt~") != []
    # field queries: Rembrandt is the creator of one record and named in another's text
    assert find(search_runtime, admin, "creator:rembrandt") == [records["watch"]]
    assert set(find(search_runtime, admin, "rembrandt")) == {records["watch"], records["secret"]}
    assert find(search_runtime, admin, "place:amsterdam") == [records["watch"]]
    assert find(search_runtime, admin, "title:windmill") != []
    assert find(search_runtime, admin, "material:canvas") == [records["watch"]]
    # nonsense and half-finished queries answer, they do not fail
    for text in ('"unclosed', "((", "NOT", "-", "creator:", "*", "a~~~"):
        SearchService(search_runtime).search(admin, SearchParams(q=text))


def test_title_ranks_above_description(
    search_runtime: Runtime, search_world: World, records: dict[str, str]
) -> None:
    # "windmill" is in the secret record's title, in the other's subject and text
    assert find(search_runtime, SYSTEM, "windmill")[0] == records["secret"]


def test_facets_filters_and_dates(
    search_runtime: Runtime, search_world: World, records: dict[str, str]
) -> None:
    service = SearchService(search_runtime)
    result = service.search(SYSTEM, SearchParams())
    world = service.search(SYSTEM, SearchParams(q="map")).total  # the world's own records
    assert result.total == 4 + world
    facets = {
        name: {value.value: value.count for value in values}
        for name, values in result.facets.items()
    }
    assert facets["type"] == {"IMAGE": 3, "3D": 1}
    assert facets["rights"]["open"] == 3 and facets["rights"]["closed"] == 1
    assert facets["century"]["1600"] == 2
    assert facets["media"]["3d"] == 1
    assert facets["creator"]["Rembrandt van Rijn"] == 1
    assert facets["place"] == {"Amsterdam": 1}
    labels = {value.value: value.label for value in result.facets["workspace"]}
    assert set(labels.values()) == {"Alpha", "Beta", "Gamma"}
    only_3d = find(search_runtime, SYSTEM, filters={"type": ("3D",)})
    assert only_3d == [records["public"]]
    both = find(search_runtime, SYSTEM, filters={"type": ("3D", "IMAGE"), "century": ("1600",)})
    assert set(both) == {records["watch"], records["gemaelde"]}
    # a chosen facet value keeps the other values of its facet on offer
    chosen = service.search(SYSTEM, SearchParams(filters={"type": ("3D",)}))
    type_counts = {value.value: (value.count, value.selected) for value in chosen.facets["type"]}
    assert type_counts == {"IMAGE": (3, False), "3D": (1, True)}
    # date ranges overlap the records' spans; the histogram counts decades
    assert set(find(search_runtime, SYSTEM, year_from=1640, year_to=1645)) == {
        records["watch"],
        records["gemaelde"],  # 17th century: 1600-1699
    }
    assert find(search_runtime, SYSTEM, year_from=1800) == [records["public"]]
    assert dict(result.histogram)[1640] == 1
    # the map's box
    assert find(search_runtime, SYSTEM, bbox=(50.0, 3.0, 54.0, 6.0)) == [records["watch"]]
    locations = service.locations(SYSTEM, SearchParams())
    assert [(item.uuid, round(item.lat, 2)) for item in locations] == [(records["watch"], 52.37)]


def test_sorting_and_cursor_paging(
    search_runtime: Runtime, search_world: World, records: dict[str, str]
) -> None:
    by_date = find(search_runtime, SYSTEM, sort="date")
    assert by_date[:2] == [records["gemaelde"], records["watch"]]  # 1600 (century), 1642
    assert find(search_runtime, SYSTEM, sort="-date")[0] == records["public"]
    by_title = find(search_runtime, SYSTEM, sort="title")
    assert by_title[0] == records["gemaelde"]  # "Gemälde ..." < "Obrazy" < "Secret" < "The"
    service = SearchService(search_runtime)
    seen: list[str] = []
    cursor = None
    while True:
        page = service.search(SYSTEM, SearchParams(sort="title", limit=1, cursor=cursor))
        seen += [hit.uuid for hit in page.hits if not hit.identifier.endswith("-1")]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == by_title
    with pytest.raises(InvalidInput):
        service.search(SYSTEM, SearchParams(sort="date", cursor="not-a-cursor"))
    with pytest.raises(InvalidInput):
        service.search(SYSTEM, SearchParams(filters={"colour": ("red",)}))


def test_snippets_mark_the_words_found(
    search_runtime: Runtime, search_world: World, records: dict[str, str]
) -> None:
    result = SearchService(search_runtime).search(SYSTEM, SearchParams(q="militia"))
    [hit] = result.hits
    assert [segment.text for segment in hit.snippet if segment.marked] == ["militia"]
    assert "".join(segment.text for segment in hit.snippet).startswith("A militia company")


def test_changes_are_searchable_at_once_and_deletions_vanish(
    search_runtime: Runtime, search_world: World, records: dict[str, str]
) -> None:
    service = RecordService(search_runtime)
    current = service.get(SYSTEM, records["watch"])
    changed = current.record.model_copy(update={"title": [Value.text("Schutterij", "nl")]})
    started = time.monotonic()
    service.update(SYSTEM, records["watch"], changed, base_version=current.version)
    assert find(search_runtime, SYSTEM, "schutterij") == [records["watch"]]
    assert time.monotonic() - started < 1.0
    assert find(search_runtime, SYSTEM, '"night watch"') == []
    service.delete(SYSTEM, records["watch"], base_version=None)
    assert find(search_runtime, SYSTEM, "schutterij") == []
    assert SearchIndexer(search_runtime).pending() == 0


def test_publishing_tier_facets(
    search_runtime: Runtime, search_world: World, records: dict[str, str]
) -> None:
    service = SearchService(search_runtime)
    result = service.search(SYSTEM, SearchParams(q="windmill OR nachtwache OR matejko"))
    facets = {
        name: {value.value: value.count for value in values}
        for name, values in result.facets.items()
    }
    # no record has a landing page or an image of known size; the 3D one links a model
    # without technical metadata: content tier 0 for all
    assert facets["content_tier"] == {"0": 4}
    assert sum(facets["metadata_tier"].values()) == 4
    # the Night Watch: languages on 2 of 4 properties, creator + medium + spatial in
    # 3 groups, one complete class (the place): B on every criterion
    assert find(search_runtime, SYSTEM, filters={"metadata_tier": ("B",)}) == [records["watch"]]
    # a larger linked image lifts the record to content tier 4 once it is indexed again
    view = RecordService(search_runtime).get(SYSTEM, records["watch"])
    image = Representation(url="https://img.example/watch.jpg", width=1200, height=800)
    RecordService(search_runtime).update(
        SYSTEM,
        records["watch"],
        view.record.model_copy(update={"representations": [image]}),
        base_version=view.version,
    )
    SearchIndexer(search_runtime).sync()
    assert find(search_runtime, SYSTEM, filters={"content_tier": ("4",)}) == [records["watch"]]
