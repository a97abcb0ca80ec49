"""The demo instance: an institution, a workspace and people, made by the project itself.

Loading is idempotent: running ``heritage demo`` again reuses what exists. As
capabilities arrive, the demo workspace fills with a sample collection.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from heritage.accounts.identity import SYSTEM
from heritage.accounts.models import User
from heritage.accounts.services import AccountService
from heritage.demo.harbour import load_harbour_collection
from heritage.institutions.models import Institution
from heritage.institutions.services import InstitutionService
from heritage.runtime import Runtime
from heritage.workspaces.models import Workspace
from heritage.workspaces.services import WorkspaceService

ADMIN_EMAIL = "admin@demo-museum.example"
CURATOR_EMAIL = "curator@demo-museum.example"
RESEARCHER_EMAIL = "researcher@partner-university.example"
INSTITUTION = "demo-museum"
PARTNER = "partner-university"
WORKSPACE = "demo"


@dataclass(frozen=True)
class DemoInfo:
    admin_email: str
    admin_password: str
    workspace: str


def _password_file(runtime: Runtime) -> Path:
    return runtime.settings.ensure_data_dir() / "demo-admin-password"


def _demo_password(runtime: Runtime) -> str:
    """A random password, made once and kept (readable by the operator only)."""
    path = _password_file(runtime)
    if path.exists():
        return path.read_text().strip()
    password = "demo-" + secrets.token_urlsafe(12)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(password)
    return password


def _exists(runtime: Runtime, model: type, **where: str) -> bool:
    with runtime.database.session() as session:
        query = select(model).filter_by(**where)
        return session.scalar(query) is not None


def _password_matches(runtime: Runtime, email: str, password: str) -> bool:
    with runtime.database.session() as session:
        user = session.scalar(select(User).where(User.email == email))
        return user is not None and runtime.passwords.verify(user.password_hash, password)


def load_demo(runtime: Runtime) -> DemoInfo:
    accounts = AccountService(runtime)
    institutions = InstitutionService(runtime)
    workspaces = WorkspaceService(runtime)
    password = _demo_password(runtime)

    if not _exists(runtime, User, email=ADMIN_EMAIL):
        accounts.create_user(
            SYSTEM, ADMIN_EMAIL, password, display_name="Demo Administrator", is_admin=True
        )
    elif not _password_matches(runtime, ADMIN_EMAIL, password):
        accounts.set_admin_password(SYSTEM, ADMIN_EMAIL, password)
    for email, name in [(CURATOR_EMAIL, "Clara Curator"), (RESEARCHER_EMAIL, "Rui Researcher")]:
        if not _exists(runtime, User, email=email):
            accounts.create_user(SYSTEM, email, password, display_name=name)

    if not _exists(runtime, Institution, slug=INSTITUTION):
        institutions.create(
            SYSTEM,
            INSTITUTION,
            "Demo Museum",
            kind="museum",
            country="DE",
            description="A small museum that shows what Heritage Cloud does.",
        )
        institutions.set_member(SYSTEM, INSTITUTION, ADMIN_EMAIL, "admin")
        institutions.set_member(SYSTEM, INSTITUTION, CURATOR_EMAIL, "member")
    if not _exists(runtime, Institution, slug=PARTNER):
        institutions.create(SYSTEM, PARTNER, "Partner University", kind="university", country="FR")
        institutions.set_member(SYSTEM, PARTNER, RESEARCHER_EMAIL, "member")

    if not _exists(runtime, Workspace, slug=WORKSPACE):
        workspaces.create(
            SYSTEM,
            WORKSPACE,
            "Demo collection",
            institution=INSTITUTION,
            description="A shared workspace of the Demo Museum and the Partner University.",
        )
        workspaces.add_member(SYSTEM, WORKSPACE, ADMIN_EMAIL, "owner")
        workspaces.add_member(SYSTEM, WORKSPACE, CURATOR_EMAIL, "editor")
        workspaces.add_member(SYSTEM, WORKSPACE, RESEARCHER_EMAIL, "contributor")
    _load_stored_objects(runtime)
    _load_records(runtime)
    load_harbour_collection(runtime, WORKSPACE)
    return DemoInfo(ADMIN_EMAIL, password, WORKSPACE)


# Written for the demo by the project; a fictional letter, not a real document.
_LETTER = """Harbour Office, 14 March 1887

Dear Sir,
The new crane on the east quay was tried yesterday and lifted the full load
of twelve tons without trouble. The pilots ask that the lamp on the mole be
lit half an hour earlier while the evenings are dark.

Your obedient servant,
The Harbour Master
"""
_LETTER_CORRECTED = _LETTER.replace("twelve tons", "twelve tons (English measure)")
_MEASUREMENTS = "part,height_mm,width_mm\nsheet,228,181\nenvelope,95,146\n"


def _load_stored_objects(runtime: Runtime) -> None:
    """A stored object with two versions, so the Files tab shows history from the start."""
    from heritage.store.services import PreservationService

    service = PreservationService(runtime)
    if service.list_objects(SYSTEM, WORKSPACE):
        return
    view = service.create_object(
        SYSTEM,
        WORKSPACE,
        title="Letter from the harbour master, 1887",
        files={
            "transcription.txt": _LETTER.encode(),
            "measurements.csv": _MEASUREMENTS.encode(),
        },
        message="Transcription and measurements",
    )
    service.add_files(
        SYSTEM,
        WORKSPACE,
        view.uuid,
        {"transcription.txt": _LETTER_CORRECTED.encode()},
        "Transcription: unit of the load noted",
    )


_CC0 = "http://creativecommons.org/publicdomain/zero/1.0/"


def _load_records(runtime: Runtime) -> None:
    """A few records of the project's own making: one ready for Europeana, in two
    languages with linked entities and a stored file, one saved twice (a history to
    compare), and one draft whose problems show their fixes."""
    from heritage.records.model import Entity, Record, Representation, Value
    from heritage.records.services import RecordService

    service = RecordService(runtime)
    if service.list(SYSTEM, WORKSPACE, limit=1).total:
        return
    common = {
        "data_provider": [Value.text("Demo Museum", "en")],
        "provider": [Value.text("Demo Museum", "en")],
        "rights": _CC0,
    }
    letter = Record(
        identifier="DM-1887-014",
        title=[
            Value.text("Letter from the harbour master", "en"),
            Value.text("Brief des Hafenmeisters", "de"),
        ],
        description=[Value.text("On the trial of the new crane on the east quay.", "en")],
        creator=[Value.link("#agent-1", "The Harbour Master", "en")],
        date=[Value.text("1887-03-14")],
        type=[Value.link("http://vocab.getty.edu/aat/300026879", "letter", "en")],
        spatial=[Value.link("#place-1", "East quay", "en")],
        language=[Value.text("en")],
        edm_type="TEXT",
        representations=[
            Representation(file="media/transcription.txt", role="primary", media_type="text/plain")
        ],
        entities=[
            Entity(
                id="#agent-1",
                type="agent",
                pref_label=[Value.text("The Harbour Master", "en")],
                profession=[Value.text("harbour master", "en")],
            ),
            Entity(
                id="#place-1",
                type="place",
                pref_label=[Value.text("East quay", "en")],
                lat=53.5413,
                long=8.5809,
            ),
        ],
        **common,
    )
    service.create(
        SYSTEM,
        WORKSPACE,
        letter,
        files={"transcription.txt": _LETTER_CORRECTED.encode()},
        message="Catalogued",
    )
    chart = Record(
        identifier="DM-1890-002",
        title=[Value.text("Chart of the harbour entrance", "en")],
        type=[Value.link("http://vocab.getty.edu/aat/300028052", "nautical chart", "en")],
        date=[Value.text("1890")],
        edm_type="IMAGE",
        is_shown_at="https://demo-museum.example/objects/DM-1890-002",
        **common,
    )
    first = service.create(SYSTEM, WORKSPACE, chart, message="Catalogued")
    service.update(
        SYSTEM,
        first.uuid,
        chart.model_copy(update={"extent": [Value.text("height 61 cm, width 84 cm", "en")]}),
        base_version=first.version,
        message="Measured",
    )
    service.create(
        SYSTEM,
        WORKSPACE,
        Record(identifier="DM-unsorted-7", title=[Value.text("Box of photographs", "en")]),
        message="Started, to be completed",
    )
