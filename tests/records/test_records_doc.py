"""docs/records.md shows exactly the fields the model has."""

from __future__ import annotations

import re
from pathlib import Path

from heritage.records.docs import SINGLE_FIELDS, fields_table
from heritage.records.model import Record

DOC = Path(__file__).resolve().parents[2] / "docs" / "records.md"


def test_fields_table_matches_the_model() -> None:
    match = re.search(
        r"<!-- records:fields -->\n(.*?)<!-- /records:fields -->", DOC.read_text(), re.S
    )
    assert match, "docs/records.md lacks the records:fields markers"
    lines = [line for line in match.group(1).splitlines() if line.strip()]
    assert lines == fields_table()


def test_every_model_field_is_documented() -> None:
    documented = {line.split("`")[1] for line in fields_table()[2:]}
    assert documented == set(Record.model_fields)
    assert all(name in Record.model_fields for name, *_ in SINGLE_FIELDS)
