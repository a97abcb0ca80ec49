"""Record validation: every rule fires on a record built to break it and stays
silent on a complete record; the accepted rights, their near misses and reuse
categories; the rules' texts; docs/validation.md shows exactly RULES."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from heritage.records.model import Entity, Record, Representation, Value
from heritage.records.problems import Severity
from heritage.records.rights import (
    ACCEPTED,
    CC0,
    PDM,
    RIGHTS_CHOICES,
    ReuseCategory,
    check_rights,
    reuse_category,
)
from heritage.records.validation import (
    HTTP_URL,
    ISO_DATE,
    RULES,
    media_kind,
    rules_table,
    summary,
    validate,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "validation.md"
AAT_PAINTING = "http://vocab.getty.edu/aat/300033618"


def complete_record() -> Record:
    """A record that satisfies every rule, errors and advice alike."""
    return Record(
        identifier="inv-1",
        title=[Value.text("Die Mühle", "de"), Value.text("The mill", "en")],
        description=[Value.text("A water mill by a river.", "en")],
        creator=[Value.link("http://vocab.getty.edu/ulan/500115588", "Anon", "en")],
        date=[Value.text("1890-05")],
        created=[Value.text("1889/1890")],
        temporal=[Value.link("#period", "Belle Époque", "fr"), Value.text("1890")],
        type=[Value.link(AAT_PAINTING, "painting", "en")],
        subject=[Value.link("http://www.wikidata.org/entity/Q185187", "water mill", "en")],
        spatial=[Value.link("#place", "Arles", "fr")],
        language=[Value.text("de")],
        edm_type="IMAGE",
        data_provider=[Value.text("Museum X", "en")],
        provider=[Value.link("http://www.wikidata.org/entity/Q1", "Aggregator Y")],
        rights="http://creativecommons.org/licenses/by/4.0/",
        is_shown_at="https://museum.example/objects/1",
        preview="https://images.example/thumbs/1.jpg",
        representations=[
            Representation(
                url="https://images.example/1.jpg",
                role="primary",
                media_type="image/jpeg",
                rights="http://creativecommons.org/publicdomain/mark/1.0/",
                iiif_service="https://iiif.example/iiif/3/1",
            ),
            Representation(file="media/back side.tif", media_type="image/tiff"),
        ],
        entities=[
            Entity(
                id="#place",
                type="place",
                pref_label=[Value.text("Arles", "fr")],
                lat=43.6766,
                long=4.6278,
            ),
            Entity(id="#period", type="timespan", begin="1871", end="1914-08-03"),
            Entity(id="#agent", type="agent", begin="1853-03-30", end="1890-07-29"),
        ],
        other={"dc:coverage": [Value.link("#place")]},
    )


def test_complete_record_has_no_problems() -> None:
    assert validate(complete_record()) == []


def _set(**changes: object) -> Callable[[Record], None]:
    def change(record: Record) -> None:
        for name, value in changes.items():
            setattr(record, name, value)

    return change


def _append(name: str, *values: object) -> Callable[[Record], None]:
    def change(record: Record) -> None:
        getattr(record, name).extend(values)

    return change


def _representation(**fields: object) -> Callable[[Record], None]:
    def change(record: Record) -> None:
        record.representations[0] = record.representations[0].model_copy(update=fields)

    return change


def _entity(index: int, **fields: object) -> Callable[[Record], None]:
    def change(record: Record) -> None:
        record.entities[index] = record.entities[index].model_copy(update=fields)

    return change


# (code, field the problem names, how to break the complete record)
BREAKERS: list[tuple[str, str, Callable[[Record], None]]] = [
    ("edm.title-or-description", "title", _set(title=[], description=[])),
    (
        "edm.subject-type-time-or-place",
        "subject",
        _set(subject=[], type=[], temporal=[], spatial=[]),
    ),
    ("edm.type-missing", "edm_type", _set(edm_type=None)),
    ("edm.type-invalid", "edm_type", _set(edm_type="PHOTO")),
    ("edm.language-for-text", "language", _set(edm_type="TEXT", language=[])),
    ("edm.data-provider", "data_provider", _set(data_provider=[])),
    ("edm.provider", "provider", _set(provider=[])),
    ("edm.rights-missing", "rights", _set(rights=None)),
    ("edm.rights-missing", "rights", _set(rights="  ")),
    ("edm.rights-near-miss", "rights", _set(rights="https://creativecommons.org/licenses/by/4.0")),
    ("edm.rights-not-accepted", "rights", _set(rights="All rights reserved")),
    ("edm.shown-at-or-by", "is_shown_at", _set(is_shown_at=None, representations=[])),
    ("edm.url-invalid", "is_shown_at", _set(is_shown_at="www.museum.example/objects/1")),
    ("edm.url-invalid", "preview", _set(preview="https://images.example/thumb 1.jpg")),
    ("edm.url-invalid", "representations", _representation(url="ftp://images.example/1.jpg")),
    ("edm.url-invalid", "representations", _representation(iiif_service="iiif/3/1")),
    (
        "edm.representation-rights-near-miss",
        "representations",
        _representation(rights="http://rightsstatements.org/page/InC/1.0/?language=en"),
    ),
    (
        "edm.representation-rights-not-accepted",
        "representations",
        _representation(rights="http://rightsstatements.org/vocab/NoC-US/1.0/"),
    ),
    ("edm.entity-missing", "creator", _append("creator", Value.link("#nobody"))),
    ("edm.entity-missing", "other", _set(other={"dc:coverage": [Value.link("#nowhere")]})),
    ("edm.entity-missing", "entities", _entity(0, broader=["#missing"])),
    ("quality.language-tag", "title", _append("title", Value.text("Le moulin"))),
    ("quality.language-tag", "temporal", _append("temporal", Value.text("Belle Époque"))),
    ("quality.vocabulary-link", "creator", _set(creator=[Value.text("Vincent van Gogh")])),
    ("quality.vocabulary-link", "type", _set(type=[Value.text("painting", "en")])),
    ("quality.vocabulary-link", "subject", _set(subject=[Value.text("mill", "en")])),
    ("quality.vocabulary-link", "spatial", _set(spatial=[Value.text("Arles", "fr")])),
    ("quality.date-format", "date", _set(date=[Value.text("c. 1890")])),
    ("quality.date-format", "created", _set(created=[Value.text("1890-1900")])),
    ("quality.date-format", "entities", _entity(1, begin="19th century")),
    ("quality.place-coordinates", "entities", _entity(0, lat=None)),
    ("quality.time-span-order", "entities", _entity(1, begin="1914", end="1871")),
    ("quality.time-span-order", "entities", _entity(2, begin="1890-07-29", end="1890-07-01")),
    (
        "quality.image-media-type",
        "representations",
        _representation(media_type="application/pdf"),
    ),
    (
        "quality.image-media-type",
        "representations",
        _representation(url="https://x.example/a.mp4", media_type=None),
    ),
    ("quality.duplicate-value", "title", _append("title", Value.text("the MILL", "EN"))),
    (
        "quality.duplicate-value",
        "type",
        _append("type", Value.link(AAT_PAINTING, "painting", "en")),
    ),
    (
        "quality.duplicate-value",
        "representations",
        _append("representations", Representation(url="https://images.example/1.jpg")),
    ),
    ("quality.type-suggestion", "edm_type", _set(edm_type=None)),
]


@pytest.mark.parametrize(
    ("code", "field", "breaker"),
    BREAKERS,
    ids=[f"{code}-{field}-{index}" for index, (code, field, _) in enumerate(BREAKERS)],
)
def test_rule_fires_on_broken_record(
    code: str, field: str, breaker: Callable[[Record], None]
) -> None:
    record = complete_record()
    breaker(record)
    problems = [problem for problem in validate(record) if problem.code == code]
    assert problems, f"{code} did not fire"
    assert {problem.field for problem in problems} == {field}
    for problem in problems:
        # templates are filled: nothing in braces is left for the curator
        assert not re.search(r"\{\w+\}", problem.message + problem.hint)
        assert problem.message and problem.hint


def test_every_rule_has_a_breaking_record() -> None:
    assert {code for code, _, _ in BREAKERS} == {rule.code for rule in RULES}


def test_each_breaker_breaks_only_what_it_means() -> None:
    # besides the rule meant, only its natural companions may fire
    companions = {
        "edm.type-missing": {"quality.type-suggestion"},
        "quality.type-suggestion": {"edm.type-missing"},
    }
    for code, _, breaker in BREAKERS:
        record = complete_record()
        breaker(record)
        fired = {problem.code for problem in validate(record)}
        allowed = {code, "quality.language-tag"} | companions.get(code, set())
        assert fired <= allowed, (code, fired)


def test_near_miss_hint_names_the_exact_uri() -> None:
    record = complete_record()
    record.rights = "CC BY-SA 4.0"
    (problem,) = validate(record)
    assert problem.code == "edm.rights-near-miss"
    assert problem.severity is Severity.ERROR
    assert problem.hint == "Use exactly http://creativecommons.org/licenses/by-sa/4.0/"
    assert "CC BY-SA 4.0" in problem.message


def test_problems_are_errors_first_and_summarised() -> None:
    record = complete_record()
    record.title = [Value.text("Mill")]
    record.provider = []
    record.rights = "CC0"
    problems = validate(record)
    severities = [problem.severity for problem in problems]
    assert severities == sorted(severities, key=lambda s: s is not Severity.ERROR)
    counts = summary(problems)
    assert (counts.errors, counts.warnings) == (2, 1)
    assert counts.by_code == {
        "edm.provider": 1,
        "edm.rights-near-miss": 1,
        "quality.language-tag": 1,
    }
    assert not counts.publishable
    assert summary([]).publishable
    assert counts.to_json()["errors"] == 2


# -- rights ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        (
            "https://creativecommons.org/licenses/by/4.0/",
            "http://creativecommons.org/licenses/by/4.0/",
        ),
        (
            "http://creativecommons.org/licenses/by/4.0",
            "http://creativecommons.org/licenses/by/4.0/",
        ),
        (
            "https://creativecommons.org/licenses/by-nc-sa/4.0/deed.en",
            "http://creativecommons.org/licenses/by-nc-sa/4.0/",
        ),
        (
            "http://creativecommons.org/licenses/by-nd/3.0/de/legalcode",
            "http://creativecommons.org/licenses/by-nd/3.0/de/",
        ),
        ("https://creativecommons.org/publicdomain/zero/1.0/legalcode", CC0),
        ("creativecommons.org/publicdomain/mark/1.0/deed.de", PDM),
        (
            "HTTP://CreativeCommons.org/Licenses/BY-SA/4.0/",
            "http://creativecommons.org/licenses/by-sa/4.0/",
        ),
        (
            "https://www.creativecommons.org/licenses/by/2.5/",
            "http://creativecommons.org/licenses/by/2.5/",
        ),
        (
            "https://rightsstatements.org/page/InC/1.0/?language=en",
            "http://rightsstatements.org/vocab/InC/1.0/",
        ),
        (
            "http://rightsstatements.org/vocab/inc-edu/1.0",
            "http://rightsstatements.org/vocab/InC-EDU/1.0/",
        ),
        (
            "https://rightsstatements.org/data/NoC-OKLR/1.0/",
            "http://rightsstatements.org/vocab/NoC-OKLR/1.0/",
        ),
        (
            " http://rightsstatements.org/vocab/CNE/1.0/ ",
            "http://rightsstatements.org/vocab/CNE/1.0/",
        ),
        ("CC BY 4.0", "http://creativecommons.org/licenses/by/4.0/"),
        ("cc-by-sa", "http://creativecommons.org/licenses/by-sa/4.0/"),
        ("CC BY-NC-ND 3.0 DE", "http://creativecommons.org/licenses/by-nc-nd/3.0/de/"),
        (
            "Creative Commons Attribution-NonCommercial-ShareAlike 4.0 International",
            "http://creativecommons.org/licenses/by-nc-sa/4.0/",
        ),
        ("CC BY no derivatives 4.0", "http://creativecommons.org/licenses/by-nd/4.0/"),
        ("CC0", CC0),
        ("cc0 1.0 universal", CC0),
        ("Public Domain Mark 1.0", PDM),
        ("PDM", PDM),
        (
            "In Copyright - Educational Use Permitted",
            "http://rightsstatements.org/vocab/InC-EDU/1.0/",
        ),
        ("InC-OW-EU", "http://rightsstatements.org/vocab/InC-OW-EU/1.0/"),
        ("copyright not evaluated", "http://rightsstatements.org/vocab/CNE/1.0/"),
    ],
)
def test_near_misses_suggest_the_canonical_uri(given: str, canonical: str) -> None:
    result = check_rights(given)
    assert not result.accepted
    assert result.near_miss
    assert result.canonical == canonical
    assert canonical in ACCEPTED
    assert check_rights(canonical).accepted


@pytest.mark.parametrize(
    "given",
    [
        "",
        "All rights reserved",
        "http://rightsstatements.org/vocab/NoC-US/1.0/",  # a statement Europeana does not take
        "http://rightsstatements.org/vocab/UND/1.0/",
        "No Known Copyright",
        "http://creativecommons.org/licenses/by/2.1/",  # 2.1 exists only as ports
        "http://creativecommons.org/licenses/by/4.0/de/",  # 4.0 has no ports
        "http://creativecommons.org/licenses/by-nd-nc/2.0/",  # BY-ND-NC was 1.0 only
        "http://creativecommons.org/licenses/by-sa-nd/4.0/",
        "http://creativecommons.org/licenses/publicdomain/",
        "http://creativecommons.org/publicdomain/zero/2.0/",
        "CC BY-SA-ND 4.0",
        "CC BY 5.0",
        "https://example.org/licenses/by/4.0/",
    ],
)
def test_unknown_rights_are_rejected_without_a_suggestion(given: str) -> None:
    result = check_rights(given)
    assert not result.accepted
    assert result.canonical is None and result.category is None


@pytest.mark.parametrize(
    ("uri", "category"),
    [
        ("http://creativecommons.org/licenses/by/4.0/", ReuseCategory.OPEN),
        ("http://creativecommons.org/licenses/by-sa/3.0/de/", ReuseCategory.OPEN),
        (CC0, ReuseCategory.OPEN),
        (PDM, ReuseCategory.OPEN),
        ("http://creativecommons.org/licenses/by-nc/4.0/", ReuseCategory.RESTRICTED),
        ("http://creativecommons.org/licenses/by-nd/2.0/uk/", ReuseCategory.RESTRICTED),
        ("http://creativecommons.org/licenses/by-nc-sa/2.5/scotland/", ReuseCategory.RESTRICTED),
        ("http://creativecommons.org/licenses/by-nc-nd/4.0/", ReuseCategory.RESTRICTED),
        ("http://creativecommons.org/licenses/by-nd-nc/1.0/", ReuseCategory.RESTRICTED),
        ("http://rightsstatements.org/vocab/NoC-NC/1.0/", ReuseCategory.RESTRICTED),
        ("http://rightsstatements.org/vocab/NoC-OKLR/1.0/", ReuseCategory.RESTRICTED),
        ("http://rightsstatements.org/vocab/InC-EDU/1.0/", ReuseCategory.RESTRICTED),
        ("http://rightsstatements.org/vocab/InC/1.0/", ReuseCategory.CLOSED),
        ("http://rightsstatements.org/vocab/InC-OW-EU/1.0/", ReuseCategory.CLOSED),
        ("http://rightsstatements.org/vocab/CNE/1.0/", ReuseCategory.CLOSED),
    ],
)
def test_reuse_categories(uri: str, category: ReuseCategory) -> None:
    result = check_rights(uri)
    assert result.accepted and result.canonical == uri
    assert result.category is category
    assert reuse_category(uri) is category


def test_tier_caps_and_unaccepted_rights_have_no_category() -> None:
    assert [c.tier_cap for c in ReuseCategory] == [4, 3, 2]
    assert reuse_category("CC BY 4.0") is None
    assert reuse_category(None) is None
    # a near miss tells what the suggested URI would give, but is not accepted
    assert check_rights("CC BY 4.0").category is ReuseCategory.OPEN


def test_accepted_uris_are_canonical() -> None:
    permissions = ("by", "by-sa", "by-nd", "by-nc", "by-nc-sa", "by-nc-nd")
    versions = ("1.0", "2.0", "2.5", "3.0", "4.0")
    generics = {
        f"http://creativecommons.org/licenses/{p}/{v}/" for p in permissions for v in versions
    }
    assert generics <= set(ACCEPTED)
    for uri, known in ACCEPTED.items():
        assert uri.startswith("http://") and uri.endswith("/")
        assert known.label
    statements = [uri for uri in ACCEPTED if "rightsstatements.org" in uri]
    assert len(statements) == 6


def test_rights_choices_are_accepted_and_unique() -> None:
    uris = [choice.uri for choice in RIGHTS_CHOICES]
    assert len(uris) == len(set(uris)) == 14
    for label, uri in RIGHTS_CHOICES:
        assert label and check_rights(uri).accepted


# -- helpers -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://museum.example/objects/1",
        "http://museum.example",
        "https://museum.example:8443/a/b?c=d&e=f#g",
        "https://müller.example/Bild_ö.jpg",
        "https://[2001:db8::1]/x",
        "http://192.0.2.1/x.jpg",
    ],
)
def test_valid_urls(url: str) -> None:
    assert HTTP_URL.match(url)


@pytest.mark.parametrize(
    "url",
    [
        "museum.example/objects/1",
        "www.museum.example",
        "ftp://museum.example/x",
        "https://",
        "https://museum example/x",
        "https://museum.example/a b.jpg",
        "https:/museum.example/x",
        "https://-bad-.example/",
        "javascript:alert(1)",
    ],
)
def test_invalid_urls(url: str) -> None:
    assert not HTTP_URL.match(url)


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("1890", True),
        ("1890-05", True),
        ("1890-05-17", True),
        ("1890-05-17T12:30:00Z", True),
        ("-0044-03-15", True),
        ("1890/1895", True),
        ("1890-05/1890-06", True),
        ("../1900", True),
        ("1890?", True),
        ("1890-13", False),
        ("1890-1900", False),
        ("c. 1890", False),
        ("19th century", False),
        ("17.05.1890", False),
        ("", False),
        ("/", False),
    ],
)
def test_iso_dates(text: str, iso: bool) -> None:
    assert bool(ISO_DATE.match(text)) is iso


@pytest.mark.parametrize(
    ("representation", "kind"),
    [
        (Representation(url="https://x.example/a", media_type="image/jpeg"), "IMAGE"),
        (Representation(url="https://x.example/a.glb"), "3D"),
        (Representation(file="scan.LAZ"), "3D"),
        (Representation(file="plan.dxf", media_type="image/vnd.dxf"), "3D"),
        (Representation(file="a.bin", media_type="model/gltf-binary"), "3D"),
        (Representation(url="https://x.example/a.pdf?download=1"), "TEXT"),
        (Representation(file="a.mp3", media_type="audio/mpeg; rate=44100"), "SOUND"),
        (Representation(file="a.webm"), "VIDEO"),
        (Representation(url="https://x.example/viewer"), None),
    ],
)
def test_media_kind(representation: Representation, kind: str | None) -> None:
    assert media_kind(representation) == kind


def test_type_suggestion_names_the_common_kind() -> None:
    record = complete_record()
    record.edm_type = None
    record.representations = [Representation(file="a.glb"), Representation(file="b.ply")]
    (problem,) = [p for p in validate(record) if p.code == "quality.type-suggestion"]
    assert "3D" in problem.hint
    # mixed kinds: no guess
    record.representations.append(Representation(file="c.jpg"))
    assert "quality.type-suggestion" not in {p.code for p in validate(record)}


# -- the rules as data ---------------------------------------------------------------------------


def test_codes_are_unique_and_stable_in_form() -> None:
    codes = [rule.code for rule in RULES]
    assert len(codes) == len(set(codes))
    for rule in RULES:
        assert re.fullmatch(r"(edm|quality)\.[a-z]+(-[a-z]+)*", rule.code)
        prefix = "edm." if rule.severity is Severity.ERROR else "quality."
        assert rule.code.startswith(prefix)


def test_texts_are_non_empty_and_short() -> None:
    for rule in RULES:
        assert rule.message.strip() and rule.hint.strip()
        assert len(rule.message) <= 200 and len(rule.hint) <= 200, rule.code
        assert rule.message.endswith("."), rule.code


def test_doc_shows_exactly_the_rules() -> None:
    text = DOC.read_text()
    match = re.search(r"<!-- validation:rules -->\n(.*?)<!-- /validation:rules -->", text, re.S)
    assert match, "docs/validation.md lacks the validation:rules markers"
    lines = [line for line in match.group(1).splitlines() if line.strip()]
    assert lines == rules_table()
