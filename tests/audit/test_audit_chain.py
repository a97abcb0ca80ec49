"""The audit log is a hash chain: appends keep it valid, every kind of tampering is found.

The database refuses UPDATE and DELETE on ``audit_entries``; to tamper, a test
first removes those guards the way an attacker with database access would.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import DBAPIError

from heritage.accounts.identity import SYSTEM
from heritage.accounts.services import AccountService, identity_of
from heritage.audit.chain import GENESIS, entry_digest
from heritage.audit.models import AuditEntry
from heritage.audit.services import AuditItem, ChainReport, record, record_many, verify_chain
from heritage.errors import Conflict
from heritage.institutions.services import InstitutionService
from heritage.runtime import Runtime
from heritage.workspaces.services import WorkspaceService

PASSWORD = "a long enough password"


# -- helpers ------------------------------------------------------------------------
def append(runtime: Runtime, count: int) -> None:
    with runtime.database.session(write=True) as session:
        for n in range(count):
            record(session, SYSTEM, "test.step", "thing", n, details={"n": n, "note": f"step {n}"})
        session.commit()


def verify(runtime: Runtime) -> ChainReport:
    with runtime.database.session() as session:
        return verify_chain(session)


def entries(runtime: Runtime) -> list[AuditEntry]:
    with runtime.database.session() as session:
        return list(session.scalars(select(AuditEntry).order_by(AuditEntry.seq)))


def remove_guards(runtime: Runtime) -> None:
    """What someone with direct database access would do before editing the log."""
    with runtime.database.engine.begin() as connection:
        if connection.dialect.name == "sqlite":
            connection.exec_driver_sql("DROP TRIGGER audit_entries_no_update")
            connection.exec_driver_sql("DROP TRIGGER audit_entries_no_delete")
        else:
            connection.exec_driver_sql(
                "ALTER TABLE audit_entries DISABLE TRIGGER audit_entries_append_only"
            )


def tamper(runtime: Runtime, *statements: Any) -> None:
    remove_guards(runtime)
    with runtime.database.engine.begin() as connection:
        for statement in statements:
            connection.execute(statement)


# -- a valid chain ------------------------------------------------------------------
def test_empty_log_is_intact(heritage_runtime: Runtime) -> None:
    report = verify(heritage_runtime)
    assert report.ok
    assert (report.checked, report.head_hash, report.first_bad_seq) == (0, GENESIS, None)


def test_appending_builds_a_valid_chain(heritage_runtime: Runtime) -> None:
    append(heritage_runtime, 5)
    rows = entries(heritage_runtime)
    assert [row.seq for row in rows] == [1, 2, 3, 4, 5]
    assert rows[0].prev_hash == GENESIS
    for before, after in itertools.pairwise(rows):
        assert after.prev_hash == before.entry_hash
    # Each hash covers the entry's own fields.
    first = rows[0]
    assert first.entry_hash == entry_digest(
        seq=first.seq,
        at=first.at,
        actor_id=first.actor_id,
        actor=first.actor,
        action=first.action,
        target_type=first.target_type,
        target_id=first.target_id,
        workspace_id=first.workspace_id,
        details=first.details,
        prev_hash=first.prev_hash,
    )
    report = verify(heritage_runtime)
    assert report.ok, report.problem
    assert report.checked == 5
    assert report.head_hash == rows[-1].entry_hash


def test_chain_continues_across_transactions_and_batches(heritage_runtime: Runtime) -> None:
    append(heritage_runtime, 3)
    append(heritage_runtime, 2)
    with heritage_runtime.database.session() as session:
        # A tiny batch size makes the verifier page through the log.
        from heritage.audit import services

        rows = list(services._entries(session, batch=2))
        assert [row.seq for row in rows] == [1, 2, 3, 4, 5]
    assert verify(heritage_runtime).checked == 5


def test_many_entries_at_once_continue_the_chain(heritage_runtime: Runtime) -> None:
    append(heritage_runtime, 2)
    items = [AuditItem("test.bulk", "thing", n, details={"n": n}) for n in range(4)]
    with heritage_runtime.database.session(write=True) as session:
        record(session, SYSTEM, "test.step", "thing", "before")
        made = record_many(session, SYSTEM, items)
        record(session, SYSTEM, "test.step", "thing", "after")
        session.commit()
    assert [entry.seq for entry in made] == [4, 5, 6, 7]
    assert [(row.seq, row.target_id) for row in entries(heritage_runtime)][2:] == [
        (3, "before"),
        (4, "0"),
        (5, "1"),
        (6, "2"),
        (7, "3"),
        (8, "after"),
    ]
    assert verify(heritage_runtime).ok
    with heritage_runtime.database.session(write=True) as session:
        assert record_many(session, SYSTEM, []) == []
        with pytest.raises(ValueError, match="secrets"):
            record_many(session, SYSTEM, [AuditItem("x", "y", 1, details={"api_token": "t"})])


# -- the database refuses changes -----------------------------------------------------
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_entries SET actor = 'mallory' WHERE seq = 1",
        "DELETE FROM audit_entries WHERE seq = 1",
    ],
    ids=["update", "delete"],
)
def test_database_refuses_update_and_delete(heritage_runtime: Runtime, statement: str) -> None:
    append(heritage_runtime, 2)
    engine = heritage_runtime.database.engine
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
        connection.execute(text(statement))
    assert [row.actor for row in entries(heritage_runtime)] == ["system", "system"]
    assert verify(heritage_runtime).ok


def test_orm_cannot_edit_an_entry(heritage_runtime: Runtime) -> None:
    append(heritage_runtime, 1)
    with heritage_runtime.database.session(write=True) as session:
        entry = session.get(AuditEntry, 1)
        assert entry is not None
        entry.details = {"n": 99}
        with pytest.raises(DBAPIError, match="append-only"):
            session.commit()
    assert entries(heritage_runtime)[0].details == {"n": 0, "note": "step 0"}


# -- tampering is found -------------------------------------------------------------
def test_edited_details_are_found(heritage_runtime: Runtime) -> None:
    append(heritage_runtime, 5)
    tamper(
        heritage_runtime,
        update(AuditEntry).where(AuditEntry.seq == 3).values(details={"n": 2, "note": "forged"}),
    )
    report = verify(heritage_runtime)
    assert not report.ok
    assert report.first_bad_seq == 3
    assert report.checked == 2
    assert "edited" in (report.problem or "")


def test_edited_actor_is_found(heritage_runtime: Runtime) -> None:
    append(heritage_runtime, 4)
    tamper(heritage_runtime, update(AuditEntry).where(AuditEntry.seq == 1).values(actor="bob"))
    report = verify(heritage_runtime)
    assert (report.ok, report.first_bad_seq, report.checked) == (False, 1, 0)


def test_deleted_entry_in_the_middle_is_found(heritage_runtime: Runtime) -> None:
    append(heritage_runtime, 5)
    tamper(heritage_runtime, delete(AuditEntry).where(AuditEntry.seq == 3))
    report = verify(heritage_runtime)
    assert not report.ok
    assert report.first_bad_seq == 3
    assert report.checked == 2
    assert "missing" in (report.problem or "")


def test_deleted_and_renumbered_entries_are_found(heritage_runtime: Runtime) -> None:
    """Closing the gap after a deletion (renumbering) still breaks the chain."""
    append(heritage_runtime, 5)
    tamper(
        heritage_runtime,
        delete(AuditEntry).where(AuditEntry.seq == 3),
        update(AuditEntry).where(AuditEntry.seq == 4).values(seq=3),
        update(AuditEntry).where(AuditEntry.seq == 5).values(seq=4),
    )
    report = verify(heritage_runtime)
    assert (report.ok, report.first_bad_seq) == (False, 3)
    assert "does not follow" in (report.problem or "")


def test_swapped_entries_are_found(heritage_runtime: Runtime) -> None:
    append(heritage_runtime, 5)
    tamper(
        heritage_runtime,
        update(AuditEntry).where(AuditEntry.seq == 2).values(seq=-2),
        update(AuditEntry).where(AuditEntry.seq == 3).values(seq=2),
        update(AuditEntry).where(AuditEntry.seq == -2).values(seq=3),
    )
    assert [row.details["n"] for row in entries(heritage_runtime)] == [0, 2, 1, 3, 4]
    report = verify(heritage_runtime)
    assert not report.ok
    assert report.first_bad_seq == 2
    assert report.checked == 1
    assert "does not follow" in (report.problem or "")


def test_replaced_prev_hash_is_found(heritage_runtime: Runtime) -> None:
    append(heritage_runtime, 5)
    tamper(
        heritage_runtime,
        update(AuditEntry).where(AuditEntry.seq == 4).values(prev_hash="f" * 64),
    )
    report = verify(heritage_runtime)
    assert (report.ok, report.first_bad_seq, report.checked) == (False, 4, 3)


def test_edit_with_recomputed_hash_is_found_at_the_next_entry(heritage_runtime: Runtime) -> None:
    """An attacker who also rewrites the edited entry's hash breaks the link after it."""
    append(heritage_runtime, 5)
    third = entries(heritage_runtime)[2]
    forged: dict[str, Any] = {
        "seq": third.seq,
        "at": third.at,
        "actor_id": third.actor_id,
        "actor": third.actor,
        "action": third.action,
        "target_type": third.target_type,
        "target_id": third.target_id,
        "workspace_id": third.workspace_id,
        "details": {"n": 2, "note": "forged"},
        "prev_hash": third.prev_hash,
    }
    tamper(
        heritage_runtime,
        update(AuditEntry)
        .where(AuditEntry.seq == 3)
        .values(details=forged["details"], entry_hash=entry_digest(**forged)),
    )
    report = verify(heritage_runtime)
    assert (report.ok, report.first_bad_seq, report.checked) == (False, 4, 3)


# -- what is written --------------------------------------------------------------------
def test_secrets_in_details_are_refused(heritage_runtime: Runtime) -> None:
    for key in ("password", "new_password", "api_token", "Secret", "secret_key"):
        with heritage_runtime.database.session(write=True) as session:
            with pytest.raises(ValueError, match="secret"):
                record(session, SYSTEM, "test.secret", "thing", 1, details={key: "hunter2"})
            session.rollback()
    assert entries(heritage_runtime) == []


def _actions_after(runtime: Runtime, seq: int) -> list[tuple[str, str, dict[str, Any]]]:
    return [(row.action, row.actor, row.details) for row in entries(runtime) if row.seq > seq]


def _head(runtime: Runtime) -> int:
    rows = entries(runtime)
    return rows[-1].seq if rows else 0


def test_state_changing_calls_write_entries(heritage_runtime: Runtime) -> None:
    runtime = heritage_runtime
    accounts = AccountService(runtime)
    workspaces = WorkspaceService(runtime)
    institutions = InstitutionService(runtime)

    head = _head(runtime)
    ada = accounts.create_user(SYSTEM, "ada@example.org", PASSWORD)
    assert _actions_after(runtime, head) == [
        ("user.create", "system", {"email": "ada@example.org", "admin": False})
    ]
    bob = accounts.create_user(SYSTEM, "bob@example.org", PASSWORD)
    institutions.create(SYSTEM, "museum", "The Museum")
    institutions.set_member(SYSTEM, "museum", "ada@example.org", "member")

    head = _head(runtime)
    workspaces.create(identity_of(ada, "session"), "letters", "Letters", institution="museum")
    [(action, actor, details)] = _actions_after(runtime, head)
    assert (action, actor) == ("workspace.create", "ada@example.org")
    assert details == {"institution": "museum", "visibility": "private"}

    head = _head(runtime)
    workspaces.add_member(identity_of(ada, "session"), "letters", "bob@example.org", "editor")
    [(action, actor, details)] = _actions_after(runtime, head)
    assert (action, actor) == ("workspace.member_set", "ada@example.org")
    assert details == {"user": "bob@example.org", "role": "editor", "previous": None}

    head = _head(runtime)
    new = accounts.create_token(identity_of(bob, "session"), "scripts", days=7)
    accounts.revoke_token(identity_of(bob, "session"), new.token.id)
    assert [(a, actor) for a, actor, _ in _actions_after(runtime, head)] == [
        ("token.create", "bob@example.org"),
        ("token.revoke", "bob@example.org"),
    ]

    head = _head(runtime)
    invitation = workspaces.invite(identity_of(ada, "session"), "letters", "viewer")
    carol = accounts.create_user(SYSTEM, "carol@example.org", PASSWORD)
    workspaces.accept_invitation(identity_of(carol, "session"), invitation.secret)
    assert [(a, actor) for a, actor, _ in _actions_after(runtime, head)] == [
        ("invitation.create", "ada@example.org"),
        ("user.create", "system"),
        ("invitation.accept", "carol@example.org"),
    ]

    # No secret ever reaches the log, and the chain over all of it is intact.
    everything = json.dumps([row.details for row in entries(runtime)])
    assert new.secret not in everything
    assert invitation.secret not in everything
    assert PASSWORD not in everything
    report = verify(runtime)
    assert report.ok, report.problem
    assert report.checked == len(entries(runtime))


def test_refused_call_writes_no_entry(heritage_runtime: Runtime) -> None:
    accounts = AccountService(heritage_runtime)
    accounts.create_user(SYSTEM, "ada@example.org", PASSWORD)
    head = _head(heritage_runtime)
    with pytest.raises(Conflict):
        accounts.create_user(SYSTEM, "ada@example.org", PASSWORD)
    assert _head(heritage_runtime) == head
