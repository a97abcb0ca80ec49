"""The import wizard and reports: upload, the mapping step of spreadsheets, saved
mappings, dry runs run for real, reports with problems and hints, bad input."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from fastapi import FastAPI
from httpx import Response

from heritage.accounts.identity import SYSTEM
from heritage.records.imports import ImportService
from heritage.records.services import RecordService
from heritage.runtime import Runtime
from heritage.testing.forms import FormClient
from heritage.testing.world import PASSWORD, World, build_world, email_of

HEADER = "identifier,title,title@de,creator,date,type,rights,media\n"
ROWS = (
    "obj-1,Harbour at dusk,Hafen in der Dämmerung,Anna Maler,1890,IMAGE,"
    "http://creativecommons.org/publicdomain/zero/1.0/,harbour.jpg\n"
    "obj-2,Portrait,Bildnis,Bert Zeichner,1901,IMAGE,,portrait.jpg\n"
    "obj-2,Duplicate,,,,IMAGE,,\n"
)


@pytest.fixture
def world(heritage_runtime: Runtime) -> World:
    return build_world(heritage_runtime)


@pytest.fixture
def sheet(tmp_path: Path) -> Path:
    path = tmp_path / "objects.csv"
    path.write_text(HEADER + ROWS, encoding="utf-8")
    # an image beside the sheet: the wizard does not upload it (the command line does)
    (tmp_path / "harbour.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    return path


def signed_in(app: FastAPI, name: str) -> FormClient:
    client = FormClient(app)
    client.sign_in(email_of(name), PASSWORD)
    return client


def upload(client: FormClient, name: str, content: bytes, **fields: str) -> Response:
    client.get("/workspaces/alpha/imports/new")
    return client.client.post(
        "/workspaces/alpha/imports/new",
        data={"csrf_token": client.csrf, **fields},
        files={"file": (name, content, "text/csv")},
        follow_redirects=False,
    )


def mapping_fields(page: str) -> dict[str, object]:
    """The mapping form as the page offers it: hidden fields and the selected targets."""
    form = page[page.index('action="/workspaces/alpha/imports/start"') :]
    data: dict[str, object] = {}
    for name, value in re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', form):
        if name != "column":
            data[name] = html.unescape(value)
    data["column"] = [
        html.unescape(value)
        for value in re.findall(r'<input type="hidden" name="column" value="([^"]*)"', form)
    ]
    for index, options in re.findall(
        r'<select name="target-(\d+)"[^>]*>(.*?)</select>', form, re.S
    ):
        chosen = re.search(r'<option value="([^"]+)" selected>', options)
        data[f"target-{index}"] = chosen.group(1) if chosen else "ignore"
    for kind in ("lang", "separator"):
        for index, value in re.findall(rf'name="{kind}-(\d+)" type="text" value="([^"]*)"', form):
            data[f"{kind}-{index}"] = html.unescape(value)
    return data


def through_mapping(client: FormClient, sheet: Path, *, dry_run: bool, **extra: str) -> Response:
    fields = {"format": "auto"} | ({"dry_run": "on"} if dry_run else {})
    answer = upload(client, sheet.name, sheet.read_bytes(), **fields)
    assert answer.status_code == 303, answer.text
    assert "/imports/mapping?" in answer.headers["location"]
    step = client.get(answer.headers["location"])
    assert step.status_code == 200
    return step


def test_csv_dry_run_then_for_real(
    heritage_app: FastAPI, heritage_runtime: Runtime, world: World, sheet: Path
) -> None:
    contributor = signed_in(heritage_app, "contributor")
    step = through_mapping(contributor, sheet, dry_run=True)
    # the first rows and the suggested mapping
    assert "Harbour at dusk" in step.text and "Hafen in der Dämmerung" in step.text
    assert "command line (heritage import)" in step.text
    data = mapping_fields(step.text)
    assert data["column"] == [
        "identifier",
        "title",
        "title@de",
        "creator",
        "date",
        "type",
        "rights",
        "media",
    ]
    assert data["target-0"] == "identifier" and data["target-1"] == "title"
    assert data["target-2"] == "title" and data["lang-2"] == "de"
    assert 'id="f-dry_run" name="dry_run" type="checkbox" value="on" checked' in step.text
    started = contributor.post(
        "/workspaces/alpha/imports/start",
        data | {"dry_run": "on", "save_as": "Museum sheet"},
        follow_redirects=False,
    )
    assert started.status_code == 303, started.text
    report = contributor.get(started.headers["location"])
    assert report.status_code == 200
    assert "The import was started." in report.text
    assert "dry run" in report.text and "finished" in report.text
    assert "<strong>2</strong> create" in report.text
    assert "Run it for real" in report.text
    # the report lists records with problems, and how to fix them
    assert "obj-2" in report.text
    assert "identifier 'obj-2' was already used at line 3" in html.unescape(report.text)
    assert "Give each row its own identifier, or merge the rows." in report.text
    assert "was not found beside the source file" in report.text  # media: not uploaded
    # htmx polling gets the changing part alone
    fragment = contributor.client.get(
        started.headers["location"].split("?")[0], headers={"HX-Request": "true"}
    )
    assert fragment.text.lstrip().startswith('<div id="import-report"')
    # nothing was saved
    records = RecordService(heritage_runtime)
    assert records.find(SYSTEM, "alpha", "obj-1") is None

    import_id = started.headers["location"].split("/")[-1].split("?")[0]
    real = contributor.post(f"/imports/{import_id}/run", {}, follow_redirects=False)
    assert real.status_code == 303, real.text
    assert real.headers["location"] != started.headers["location"]
    page = contributor.get(real.headers["location"])
    assert "Run it for real" not in page.text and "<strong>2</strong> create" in page.text
    found = records.find(SYSTEM, "alpha", "obj-1")
    assert found is not None
    assert {(v.value, v.lang) for v in found.record.title} == {
        ("Harbour at dusk", None),
        ("Hafen in der Dämmerung", "de"),
    }
    # a real import cannot be "run for real" again
    new_id = real.headers["location"].split("/")[-1].split("?")[0]
    again = contributor.post(f"/imports/{new_id}/run", {})
    assert again.status_code == 409 and "Only a finished dry run" in again.text
    # the list of imports
    listing = contributor.get("/workspaces/alpha/imports")
    assert listing.text.count("objects.csv") >= 2
    # viewers read reports but start nothing
    viewer = signed_in(heritage_app, "viewer")
    assert viewer.get(f"/imports/{import_id}").status_code == 200
    assert "Run it for real" not in viewer.get(f"/imports/{import_id}").text
    assert viewer.get("/workspaces/alpha/imports/new").status_code == 403
    assert signed_in(heritage_app, "outsider").get(f"/imports/{import_id}").status_code == 404


def test_saved_mapping_is_offered_again(
    heritage_app: FastAPI, heritage_runtime: Runtime, world: World, sheet: Path
) -> None:
    editor = signed_in(heritage_app, "editor")
    step = through_mapping(editor, sheet, dry_run=True)
    data = mapping_fields(step.text)
    data["target-3"] = "ignore"  # the creator column left out in the saved one
    started = editor.post(
        "/workspaces/alpha/imports/start",
        data | {"dry_run": "on", "save_as": "Without creators"},
        follow_redirects=False,
    )
    assert started.status_code == 303, started.text
    form = editor.get("/workspaces/alpha/imports/new")
    assert '<option value="Without creators">Without creators</option>' in form.text
    answer = upload(editor, sheet.name, sheet.read_bytes(), saved="Without creators")
    assert answer.status_code == 303 and "saved=Without+creators" in answer.headers["location"]
    step = editor.get(answer.headers["location"])
    assert step.status_code == 200
    assert mapping_fields(step.text)["target-3"] == "ignore"
    assert 'value="Without creators" selected' in step.text
    unknown = editor.get(answer.headers["location"].replace("Without+creators", "Nope"))
    assert unknown.status_code == 404 and "No saved mapping" in unknown.text


def test_bad_input_gives_clear_messages(heritage_app: FastAPI, world: World, sheet: Path) -> None:
    editor = signed_in(heritage_app, "editor")
    editor.get("/workspaces/alpha/imports/new")
    none = editor.client.post(
        "/workspaces/alpha/imports/new", data={"csrf_token": editor.csrf, "format": "auto"}
    )
    assert none.status_code == 422 and "Choose a file to import." in none.text
    wrong = upload(editor, "objects.csv", sheet.read_bytes(), format="pdf")
    assert wrong.status_code == 422 and "Choose one of the formats" in wrong.text
    unknown = upload(editor, "notes.bin", b"\x00\x01", format="auto")
    assert unknown.status_code == 422 and "cannot tell the format" in unknown.text
    broken = upload(editor, "broken.xml", b"<lido:lido xmlns:lido='x'", format="auto")
    assert broken.status_code == 422 and 'role="alert"' in broken.text
    empty = upload(editor, "empty.csv", b"", format="auto")
    assert empty.status_code in (303, 422)
    if empty.status_code == 303:
        page = editor.get(empty.headers["location"])
        assert page.status_code == 422 and "the file is empty" in page.text
    step = through_mapping(editor, sheet, dry_run=True)
    data = mapping_fields(step.text)
    data["column"] = [*data["column"][:-1], "no such column"]  # type: ignore[index]
    missing = editor.post("/workspaces/alpha/imports/start", data)
    assert missing.status_code == 422
    # the importer's own message, with the column quoted (escaped in the page)
    assert "names columns the file does not have: &#39;no such column&#39;" in missing.text
    data = mapping_fields(step.text) | {"target-0": "title"}
    no_id = editor.post("/workspaces/alpha/imports/start", data)
    assert no_id.status_code == 422 and "needs exactly one identifier column" in no_id.text
    gone = editor.post("/workspaces/alpha/imports/start", data | {"staged": "0" * 32})
    assert gone.status_code == 422 and "Upload it again" in gone.text
    bad_target = editor.post("/workspaces/alpha/imports/start", data | {"target-1": "nonsense"})
    assert bad_target.status_code == 422 and "is not a field or target" in bad_target.text
    assert editor.get("/workspaces/alpha/imports/mapping?staged=../../x").status_code == 422


def test_non_tabular_import_goes_straight_to_the_report(
    heritage_app: FastAPI, heritage_runtime: Runtime, world: World
) -> None:
    dc = (
        b'<?xml version="1.0"?><oai_dc:dc xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/"'
        b' xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:identifier>dc-1</dc:identifier>'
        b"<dc:title>A letter</dc:title></oai_dc:dc>"
    )
    editor = signed_in(heritage_app, "editor")
    answer = upload(editor, "letter.xml", dc, format="auto")
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"].startswith("/imports/")
    report = editor.get(answer.headers["location"])
    assert report.status_code == 200 and "finished" in report.text
    import_id = answer.headers["location"].split("/")[-1].split("?")[0]
    row, _slug = ImportService(heritage_runtime).get(SYSTEM, import_id)
    assert row.format == "dc"
