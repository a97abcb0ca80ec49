"""docs/permissions.md shows exactly the tables the policy computes."""

from __future__ import annotations

import re
from pathlib import Path

from heritage.policy.rules import RULES
from heritage.policy.table import institution_table, workspace_table

DOC = Path(__file__).resolve().parents[2] / "docs" / "permissions.md"


def doc_table(name: str) -> list[str]:
    text = DOC.read_text()
    match = re.search(
        rf"<!-- permissions:{name} -->\n(.*?)<!-- /permissions:{name} -->", text, re.S
    )
    assert match, f"docs/permissions.md lacks the {name} table markers"
    return [line for line in match.group(1).splitlines() if line.strip()]


def test_workspace_table_matches_policy() -> None:
    assert doc_table("workspace") == workspace_table()


def test_institution_table_matches_policy() -> None:
    assert doc_table("institution") == institution_table()


def test_every_rule_is_in_a_table() -> None:
    documented = "\n".join(doc_table("workspace") + doc_table("institution"))
    missing = [action for action in RULES if f"`{action}`" not in documented]
    assert not missing
