"""Europeana's tier rules, each at the edges of its thresholds."""

from __future__ import annotations

import pytest

from heritage.quality.content import EMBEDDABLE, image_level
from heritage.quality.media import ImageFacts, MediaFacts, ModelFacts
from heritage.quality.metadata import RELEVANT_PROPERTIES, is_complete
from heritage.quality.tiers import Tiers, assess, rules_lines
from heritage.records.model import Entity, Record, Representation, Value

CC_BY = "http://creativecommons.org/licenses/by/4.0/"
LICENCES = {
    CC_BY: 4,
    "http://creativecommons.org/licenses/by-sa/4.0/": 4,
    "http://creativecommons.org/publicdomain/zero/1.0/": 4,
    "http://creativecommons.org/publicdomain/mark/1.0/": 4,
    "http://creativecommons.org/licenses/by-nc/4.0/": 3,
    "http://creativecommons.org/licenses/by-nd/4.0/": 3,
    "http://creativecommons.org/licenses/by-nc-sa/4.0/": 3,
    "http://creativecommons.org/licenses/by-nc-nd/4.0/": 3,
    "http://rightsstatements.org/vocab/NoC-NC/1.0/": 3,
    "http://rightsstatements.org/vocab/NoC-OKLR/1.0/": 3,
    "http://rightsstatements.org/vocab/InC-EDU/1.0/": 3,
    "http://rightsstatements.org/vocab/InC/1.0/": 2,
    "http://rightsstatements.org/vocab/InC-OW-EU/1.0/": 2,
    "http://rightsstatements.org/vocab/CNE/1.0/": 2,
    "https://creativecommons.org/licenses/by/4.0": 2,  # a near miss is not accepted
}


def record(**fields: object) -> Record:
    values: dict[str, object] = {"identifier": "t-1", "edm_type": "IMAGE", "rights": CC_BY}
    return Record.model_validate(values | fields)


def image(width: int, height: int, **fields: object) -> Record:
    return record(
        representations=[
            Representation(url="https://img.example/a.jpg", width=width, height=height)
        ],
        **fields,
    )


def stored_image(facts: ImageFacts) -> tuple[Record, MediaFacts]:
    item = Representation(file="media/a.tif", media_type="image/tiff", role="primary")
    return record(representations=[item]), MediaFacts(images={"media/a.tif": facts})


def content_code(tiers: Tiers, code: str) -> str:
    return next(
        item.level
        for item in (*tiers.content_findings, *tiers.metadata_findings)
        if item.code == code
    )


@pytest.mark.parametrize(
    ("pixels", "level"),
    [
        (None, 0),
        (0, 0),
        (99_999, 0),
        (100_000, 1),
        (419_999, 1),
        (420_000, 2),
        (949_999, 2),
        (950_000, 4),
        (40_000_000, 4),
    ],
)
def test_image_resolution_steps(pixels: int | None, level: int) -> None:
    assert image_level(pixels) == level
    if pixels:
        assert assess(image(pixels, 1)).content == level


def test_image_from_derivatives_and_why_not() -> None:
    tiers = assess(*stored_image(ImageFacts("ready", 1200, 800)))
    assert tiers.content == 4 and "1200 × 800" in tiers.content_findings[0].text
    assert tiers.content_findings[0].hint == ""
    pending = assess(*stored_image(ImageFacts("pending")))
    assert pending.content == 0 and "still being processed" in pending.content_findings[0].text
    failed = assess(*stored_image(ImageFacts("failed")))
    assert failed.content == 0 and "No derivatives" in failed.content_findings[0].text
    # a linked image without a width and height: its size is not known
    unknown = assess(record(representations=[Representation(url="https://i.example/x.jpg")]))
    assert unknown.content == 0 and "not known" in unknown.content_findings[0].text
    small = assess(image(399, 250))
    assert small.content == 0 and "100,000 pixels" in small.content_findings[0].hint_text


def test_best_web_resource_wins() -> None:
    items = [
        Representation(url="https://i.example/small.jpg", width=400, height=250),
        Representation(url="https://i.example/large.jpg", width=1200, height=800),
        Representation(url="https://i.example/medium.jpg", width=800, height=533),
    ]
    tiers = assess(record(representations=items))
    assert tiers.content == 4 and "large.jpg" in tiers.content_findings[0].text


@pytest.mark.parametrize(("rights", "cap"), sorted(LICENCES.items()))
def test_licence_caps(rights: str, cap: int) -> None:
    tiers = assess(image(1200, 800, rights=rights))
    assert tiers.content == cap
    assert tiers.content_findings[1].level == str(cap)
    assert (tiers.content_findings[1].hint == "") == (cap == 4)


def test_missing_rights_cap_at_two() -> None:
    assert assess(image(1200, 800, rights=None)).content == 2


def test_text_landing_page_pdf_and_page_images() -> None:
    text = {"edm_type": "TEXT", "language": [Value.text("en")]}
    assert assess(record(**text)).content == 0
    assert assess(record(is_shown_at="https://m.example/1", **text)).content == 1
    assert assess(image(800, 525, **text)).content == 2
    assert assess(image(800, 524, **text)).content == 1
    pdf = Representation(url="https://m.example/book.pdf", media_type="application/pdf")
    assert assess(record(representations=[pdf], **text)).content == 4
    plain = Representation(url="https://m.example/book.txt", media_type="text/plain")
    assert assess(record(representations=[plain], **text)).content == 0


def test_video_height_and_embeddable_players() -> None:
    video = {"edm_type": "VIDEO", "is_shown_at": "https://m.example/v"}
    assert assess(record(**video)).content == 1
    for height, level in ((479, 1), (480, 4), (None, 1)):
        item = Representation(url="https://m.example/v.mp4", media_type="video/mp4", height=height)
        assert assess(record(representations=[item], **video)).content == level
    player = Representation(url="https://vimeo.com/123")
    assert assess(record(representations=[player], edm_type="VIDEO")).content == 4


def test_sound() -> None:
    assert assess(record(edm_type="SOUND")).content == 0
    assert assess(record(edm_type="SOUND", is_shown_at="https://m.example/s")).content == 1
    audio = Representation(url="https://m.example/s.mp3")
    assert assess(record(edm_type="SOUND", representations=[audio])).content == 4


def test_3d_needs_a_model_with_technical_metadata() -> None:
    model = Representation(file="media/mask.glb", media_type="model/gltf-binary")
    base = {"edm_type": "3D", "representations": [model]}
    for status, level in (("ready", 4), ("queued", 0), ("rejected", 0), ("failed", 0)):
        facts = MediaFacts(models={"media/mask.glb": ModelFacts(status)})
        assert assess(record(**base), facts).content == level
    only_images = record(
        edm_type="3D",
        representations=[Representation(url="https://m.example/a.jpg", width=2000, height=2000)],
    )
    assert assess(only_images).content == 0
    landing = only_images.model_copy(update={"is_shown_at": "https://m.example/m"})
    assert assess(landing).content == 1
    counted = Representation(url="https://m.example/m.glb", vertex_count=12)
    assert assess(record(edm_type="3D", representations=[counted])).content == 4
    sketchfab = Representation(url="https://sketchfab.com/3d-models/mask-0123")
    assert assess(record(edm_type="3D", representations=[sketchfab])).content == 4
    assert any(pattern.match("https://sketchfab.com/models/x") for pattern in EMBEDDABLE)


def test_no_type_no_content_tier() -> None:
    tiers = assess(image(2000, 2000, edm_type=None))
    assert tiers.content == 0 and tiers.content_findings[0].hint


# -- metadata ------------------------------------------------------------------------------------


def test_language_share_thresholds() -> None:
    # four relevant properties; n of them with a language
    def share(tagged: int) -> str:
        names = ("title", "description", "provenance", "source")
        values = {
            name: [Value.text("x", "en" if index < tagged else None)]
            for index, name in enumerate(names)
        }
        return assess(record(**values)).metadata_findings[0].level

    assert [share(n) for n in range(5)] == ["0", "A", "B", "C", "C"]
    assert assess(record()).metadata_findings[0].level == "0"
    assert len(RELEVANT_PROPERTIES) == 22


def test_language_through_linked_entities_and_other_properties() -> None:
    place = Entity(id="#p", type="place", pref_label=[Value.text("Wien", "de")])
    agent_like = Entity(id="#c", type="agent", pref_label=[Value.text("Anna", "de")])
    tagged = record(spatial=[Value.link("#p")], entities=[place])
    assert tagged.entities and assess(tagged).metadata_findings[0].level == "C"
    # an agent's label does not count; dcterms:hasPart is among the 22 properties
    untagged = record(
        relation=[Value.link("#c")],
        other={"dcterms:hasPart": [Value.text("lid")]},
        entities=[agent_like],
    )
    assert assess(untagged).metadata_findings[0].level == "0"


@pytest.mark.parametrize(
    ("fields", "level"),
    [
        ({}, "0"),
        ({"created": [Value.text("1890")]}, "A"),  # time
        ({"date": [Value.text("1890")]}, "0"),  # dc:date is no enabling element
        ({"type": [Value.text("jug")], "medium": [Value.text("clay")]}, "A"),  # 2 in 1 group
        (
            {
                "type": [Value.text("j")],
                "medium": [Value.text("c")],
                "technique": [Value.text("t")],
            },
            "A",
        ),  # three elements but one group
        (
            {"type": [Value.text("j")], "medium": [Value.text("c")], "creator": [Value.text("a")]},
            "B",
        ),  # subject/type + agents
        (
            {
                "issued": [Value.text("1")],
                "spatial": [Value.text("p")],
                "current_location": [Value.text("m")],
            },
            "B",
        ),  # time + places
        (
            {
                "temporal": [Value.text("1")],
                "spatial": [Value.text("p")],
                "contributor": [Value.text("a")],
                "publisher": [Value.text("b")],
            },
            "C",
        ),
    ],
)
def test_enabling_elements_and_discovery_groups(fields: dict[str, object], level: str) -> None:
    assert assess(record(**fields)).metadata_findings[1].level == level


def test_subject_and_has_met_count_by_the_linked_class() -> None:
    agent = Entity(id="#a", type="agent", pref_label=[Value.text("A")])
    place = Entity(id="#p", type="place", pref_label=[Value.text("P")])
    span = Entity(id="#t", type="timespan", begin="1900", end="1910")
    subjects = record(
        subject=[Value.link("#a"), Value.link("#p"), Value.text("ships")],
        other={"edm:hasMet": [Value.link("#t")]},
        entities=[agent, place, span],
    )
    finding = assess(subjects).metadata_findings[1]
    # dc:subject and edm:hasMet are two elements, in four groups
    assert finding.level == "A" and finding.params["groups"] == "4"
    assert finding.params["elements"] == "2"


def test_complete_entities() -> None:
    label = [Value.text("x")]
    assert not is_complete(Entity(id="#a", type="agent", pref_label=label))
    assert is_complete(Entity(id="#a", type="agent", pref_label=label, end="1900"))
    assert is_complete(Entity(id="#a", type="agent", pref_label=label, profession=label))
    assert not is_complete(Entity(id="#a", type="agent", begin="1900"))
    assert not is_complete(Entity(id="#c", type="concept", pref_label=label))
    assert is_complete(Entity(id="#c", type="concept", pref_label=label, note=label))
    assert is_complete(Entity(id="#c", type="concept", pref_label=label, broader=["#d"]))
    assert is_complete(Entity(id="#c", type="concept", pref_label=label, same_as=["http://x"]))
    assert not is_complete(Entity(id="#p", type="place", pref_label=label, lat=1.0))
    assert is_complete(Entity(id="#p", type="place", pref_label=label, lat=1.0, long=0.0))
    assert not is_complete(Entity(id="#t", type="timespan", begin="1900"))
    assert is_complete(Entity(id="#t", type="timespan", begin="1900", end="1910"))


def test_contextual_classes_count_linked_complete_entities() -> None:
    agent = Entity(id="#a", type="agent", pref_label=[Value.text("A")], begin="1800")
    place = Entity(id="#p", type="place", pref_label=[Value.text("P")], lat=1, long=2)
    other_agent = Entity(id="#b", type="agent", pref_label=[Value.text("B")], end="1900")
    unlinked = Entity(id="#q", type="place", pref_label=[Value.text("Q")], lat=1, long=2)

    def level(*fields: tuple[str, str], entities: list[Entity]) -> str:
        values = {name: [Value.link(ref)] for name, ref in fields}
        return assess(record(entities=entities, **values)).metadata_findings[2].level

    assert level(entities=[unlinked]) == "A"
    assert level(("creator", "#a"), entities=[agent]) == "B"
    assert level(("creator", "#a"), ("contributor", "#b"), entities=[agent, other_agent]) == "B"
    assert level(("creator", "#a"), ("spatial", "#p"), entities=[agent, place]) == "C"


def test_metadata_tier_is_the_lowest_criterion() -> None:
    rich = record(
        title=[Value.text("Jug", "en")],
        type=[Value.text("jug", "en")],
        medium=[Value.text("clay", "en")],
        creator=[Value.link("#a")],
        spatial=[Value.link("#p")],
        entities=[
            Entity(id="#a", type="agent", pref_label=[Value.text("A")], begin="1800"),
            Entity(id="#p", type="place", pref_label=[Value.text("P", "en")], lat=1, long=2),
        ],
    )
    tiers = assess(rich)
    assert [item.level for item in tiers.metadata_findings] == ["C", "C", "C"]
    assert tiers.metadata == "C"
    fewer = rich.model_copy(update={"entities": rich.entities[:1], "spatial": []})
    tiers = assess(fewer)
    assert tiers.metadata == "B" and tiers.metadata_findings[2].hint
    json = tiers.to_json()
    assert json["metadata"] == "B" and json["metadata_criteria"][2]["hint"]


def test_rules_are_documented() -> None:
    from pathlib import Path

    text = (Path(__file__).parents[2] / "docs" / "tiers.md").read_text(encoding="utf-8")
    for line in rules_lines():
        assert line in text, f"docs/tiers.md lacks: {line}"
