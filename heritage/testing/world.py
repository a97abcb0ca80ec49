"""A standard world of people, institutions and workspaces for permission tests.

``docs/permissions.md`` describes the same world; the route × role test checks
the application against that page.

* Institution ``inst-a``: ``inst_admin`` is its administrator, ``inst_member``
  and every workspace member below are its members.
* Workspace ``alpha`` (private, of ``inst-a``): ``viewer``, ``contributor``,
  ``editor``, ``manager`` and ``owner`` hold the role of the same name.
* Workspace ``gamma`` (public, of ``inst-a``): only ``owner`` is a member.
* Institution ``inst-b`` and its private workspace ``beta``: ``outsider`` is
  their owner, and has no role in ``inst-a`` or ``alpha``.
* ``admin`` is an instance administrator with no memberships.
* A failed job in ``alpha`` started by ``editor``; a pending invitation to
  ``alpha``. Every person has a web session and an API token.
* A stored object in ``alpha`` (encrypted) and one in ``gamma``, each holding
  the file ``notes/page.txt``.
* In ``alpha`` and ``gamma``: a record with that file, a finished import and a
  finished record batch.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from heritage.accounts.identity import SYSTEM
from heritage.accounts.models import User
from heritage.accounts.services import AccountService, identity_of
from heritage.db.base import utcnow
from heritage.institutions.services import InstitutionService
from heritage.jobs.models import Job, JobStatus
from heritage.runtime import Runtime
from heritage.workspaces.services import WorkspaceService

WORKSPACE_ROLES = ("viewer", "contributor", "editor", "manager", "owner")
PEOPLE = ("outsider", *WORKSPACE_ROLES, "admin", "inst_member", "inst_admin")
WORLD_FILE = "notes/page.txt"
PASSWORD = "correct horse battery staple"  # noqa: S105 - test fixture


@dataclass
class Person:
    name: str
    email: str
    user_id: int
    session: str  # cookie value of a signed-in browser
    token: str  # API token
    token_id: int
    saved_search_id: int = 0  # one saved search of their own


@dataclass
class World:
    people: dict[str, Person] = field(default_factory=dict)
    job_id: str = ""
    invitation_secret: str = ""
    invitation_id: int = 0
    # workspace slug -> uuid of its stored object
    objects: dict[str, str] = field(default_factory=dict)
    # workspace slug -> uuid of its record (with WORLD_FILE as a file), id of an import
    records: dict[str, str] = field(default_factory=dict)
    imports: dict[str, str] = field(default_factory=dict)
    # workspace slug -> id of a finished record batch (that changed nothing)
    batches: dict[str, str] = field(default_factory=dict)

    # workspace slug -> IIIF identifier of an image of its record (add_world_images)
    images: dict[str, str] = field(default_factory=dict)

    def email(self, name: str) -> str:
        return self.people[name].email


def email_of(name: str) -> str:
    return f"{name.replace('_', '-')}@world.example"


def build_world(runtime: Runtime) -> World:
    accounts = AccountService(runtime)
    institutions = InstitutionService(runtime)
    workspaces = WorkspaceService(runtime)
    world = World()
    for name in PEOPLE:
        user = accounts.create_user(
            SYSTEM,
            email_of(name),
            PASSWORD,
            display_name=name.replace("_", " ").title(),
            is_admin=name == "admin",
        )
        session = accounts.start_session(user)
        new_token = accounts.create_token(identity_of(user, "token"), f"{name} token")
        world.people[name] = Person(
            name, user.email, user.id, session, new_token.secret, new_token.token.id
        )

    institutions.create(SYSTEM, "inst-a", "Institution A")
    institutions.create(SYSTEM, "inst-b", "Institution B", kind="archive")
    institutions.set_member(SYSTEM, "inst-a", email_of("inst_admin"), "admin")
    for name in ("inst_member", *WORKSPACE_ROLES):
        institutions.set_member(SYSTEM, "inst-a", email_of(name), "member")
    institutions.set_member(SYSTEM, "inst-b", email_of("outsider"), "admin")

    workspaces.create(SYSTEM, "alpha", "Alpha", institution="inst-a")
    for role in WORKSPACE_ROLES:
        workspaces.add_member(SYSTEM, "alpha", email_of(role), role)
    workspaces.create(SYSTEM, "gamma", "Gamma", institution="inst-a", visibility="public")
    workspaces.add_member(SYSTEM, "gamma", email_of("owner"), "owner")
    workspaces.create(SYSTEM, "beta", "Beta", institution="inst-b")
    workspaces.add_member(SYSTEM, "beta", email_of("outsider"), "owner")

    invitation = workspaces.invite(SYSTEM, "alpha", "viewer")
    world.invitation_secret = invitation.secret
    world.invitation_id = invitation.invitation.id

    alpha = workspaces.get(SYSTEM, "alpha")
    with runtime.database.session(write=True) as session:
        job = Job(
            id="00000000-0000-4000-8000-00000000a1fa",
            kind="audit.verify",
            title="Verify the audit log's hash chain",
            status=JobStatus.FAILED,
            error="RuntimeError: example failure",
            workspace_id=alpha.id,
            created_by=world.people["editor"].user_id,
            finished_at=utcnow(),
        )
        session.add(job)
        session.commit()
        world.job_id = job.id

    from heritage.store.services import PreservationService

    preservation = PreservationService(runtime)
    for slug in ("alpha", "gamma"):
        view = preservation.create_object(
            SYSTEM, slug, title=f"{slug.title()} letter", files={WORLD_FILE: b"Dear colleague,"}
        )
        world.objects[slug] = view.uuid

    from heritage.records.model import Record, Value
    from heritage.records.models import ImportStatus, RecordImport
    from heritage.records.services import RecordService

    records = RecordService(runtime)
    for slug in ("alpha", "gamma"):
        record = records.create(
            SYSTEM, slug, Record(identifier=f"{slug}-1", title=[Value.text(f"{slug} map")])
        )
        records.attach_file(SYSTEM, record.uuid, WORLD_FILE, b"a scan")
        world.records[slug] = record.uuid
        workspace = workspaces.get(SYSTEM, slug)
        with runtime.database.session(write=True) as session:
            done = RecordImport(
                id=str(uuid.uuid4()),
                workspace_id=workspace.id,
                format="csv",
                source="objects.csv",
                status=ImportStatus.FINISHED,
                counts={"create": 1},
            )
            session.add(done)
            session.commit()
            world.imports[slug] = done.id

    from heritage.records.batch_models import BatchStatus, RecordBatch

    for slug in ("alpha", "gamma"):
        workspace = workspaces.get(SYSTEM, slug)
        with runtime.database.session(write=True) as session:
            batch = RecordBatch(
                id=str(uuid.uuid4()),
                workspace_id=workspace.id,
                description="a batch that changed nothing",
                operation={"selection": {}, "operations": []},
                status=BatchStatus.FINISHED,
                counts={"selected": 1, "changed": 0, "unchanged": 1, "conflict": 0, "failed": 0},
                finished_at=utcnow(),
            )
            session.add(batch)
            session.commit()
            world.batches[slug] = batch.id

    from heritage.search.saved import SavedSearchService

    saved_searches = SavedSearchService(runtime)
    for person in world.people.values():
        with runtime.database.session() as session:
            user = session.get(User, person.user_id)
            assert user is not None
        saved = saved_searches.create(identity_of(user, "world"), "maps", "q=map")
        person.saved_search_id = saved.id
    return world


WORLD_IMAGE = "scans/page.png"


def add_world_images(runtime: Runtime, world: World) -> None:
    """Attach a small image to each workspace's record, with its derivatives made (the
    route matrix calls the IIIF routes on it). Separate from :func:`build_world` so that
    tests counting a record's files, versions or jobs keep the world they know."""
    import pyvips

    from heritage.iiif.services import image_identifier
    from heritage.records.services import RecordService

    picture = pyvips.Image.black(64, 48).new_from_image([120, 90, 60]).cast("uchar")
    records = RecordService(runtime)
    for slug in ("alpha", "gamma"):
        records.attach_file(SYSTEM, world.records[slug], WORLD_IMAGE, picture.pngsave_buffer())
        world.images[slug] = image_identifier(world.records[slug], f"media/{WORLD_IMAGE}")
