"""The permission tables of ``docs/permissions.md``, computed from :data:`RULES`.

``python -m heritage.policy.table`` prints them. A test checks that the page
shows exactly these tables, and another checks the running application
against the page.
"""

from __future__ import annotations

from dataclasses import dataclass

from heritage.accounts.identity import ANONYMOUS, Identity
from heritage.institutions.models import InstitutionRole
from heritage.policy.decide import Target, decide
from heritage.policy.rules import RULES, Scope
from heritage.workspaces.models import Role

_SIGNED_IN = Identity(user_id=1, label="someone@example.org", via="session")
_ADMIN = Identity(user_id=2, label="admin@example.org", is_admin=True, via="session")
# The job in the tables was started by the editor.
_EDITOR_ID = 3
_EDITOR = Identity(user_id=_EDITOR_ID, label="editor@example.org", via="session")


@dataclass(frozen=True)
class Column:
    heading: str
    identity: Identity
    target: Target


WORKSPACE_COLUMNS = [
    Column("Anonymous", ANONYMOUS, Target(creator_id=_EDITOR_ID)),
    Column("Outsider", _SIGNED_IN, Target(creator_id=_EDITOR_ID)),
    *[
        Column(
            role.value.capitalize(),
            _EDITOR if role is Role.EDITOR else _SIGNED_IN,
            Target(workspace_role=role, creator_id=_EDITOR_ID),
        )
        for role in Role
    ],
    Column("Administrator", _ADMIN, Target(creator_id=_EDITOR_ID)),
    Column(
        "Anonymous, public workspace",
        ANONYMOUS,
        Target(workspace_public=True, creator_id=_EDITOR_ID),
    ),
]

INSTITUTION_COLUMNS = [
    Column("Anonymous", ANONYMOUS, Target()),
    Column("Outsider", _SIGNED_IN, Target()),
    Column("Institution member", _SIGNED_IN, Target(institution_role=InstitutionRole.MEMBER)),
    Column("Institution admin", _SIGNED_IN, Target(institution_role=InstitutionRole.ADMIN)),
    Column("Administrator", _ADMIN, Target()),
]


def _table(columns: list[Column], scopes: set[Scope]) -> list[str]:
    lines = [
        "| Action | What it allows | " + " | ".join(c.heading for c in columns) + " |",
        "|---|---|" + "---|" * len(columns),
    ]
    for rule in RULES.values():
        if rule.scope not in scopes:
            continue
        cells = [
            "yes" if decide(c.identity, rule.action, c.target).allowed else "no" for c in columns
        ]
        lines.append(f"| `{rule.action}` | {rule.summary} | " + " | ".join(cells) + " |")
    return lines


def workspace_table() -> list[str]:
    return _table(WORKSPACE_COLUMNS, {Scope.INSTANCE, Scope.WORKSPACE, Scope.JOB})


def institution_table() -> list[str]:
    return _table(INSTITUTION_COLUMNS, {Scope.INSTITUTION})


if __name__ == "__main__":
    print("\n".join(workspace_table()))
    print()
    print("\n".join(institution_table()))
