"""Every action of the application and who may perform it.

Instance administrators may perform every action; the grants below say who
else may. An action that is not listed here is denied to everybody.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Grant(enum.StrEnum):
    ANYONE = "anyone"
    SIGNED_IN = "signed-in"
    PUBLIC_WORKSPACE = "public-workspace"  # anyone, when the workspace is public
    VIEWER = "viewer"  # this workspace role or a higher one
    CONTRIBUTOR = "contributor"
    EDITOR = "editor"
    MANAGER = "manager"
    OWNER = "owner"
    INSTITUTION_MEMBER = "institution-member"
    INSTITUTION_ADMIN = "institution-admin"
    CREATOR = "creator"  # the user who created the target (a job, a token)


class Scope(enum.StrEnum):
    INSTANCE = "instance"
    INSTITUTION = "institution"
    WORKSPACE = "workspace"
    JOB = "job"


@dataclass(frozen=True)
class Rule:
    action: str
    scope: Scope
    grants: frozenset[Grant]
    summary: str


def _rule(action: str, scope: Scope, summary: str, *grants: Grant) -> Rule:
    return Rule(action, scope, frozenset(grants), summary)


_I, _N, _W, _J = Scope.INSTANCE, Scope.INSTITUTION, Scope.WORKSPACE, Scope.JOB
G = Grant

RULES: dict[str, Rule] = {
    rule.action: rule
    for rule in [
        # Open to everybody: health checks, sign-in, documentation, static files.
        _rule("public", _I, "Health checks, sign-in page, API documentation", G.ANYONE),
        _rule(
            "instance.signing_keys",
            _I,
            "Read the public keys that sign the instance's stored versions",
            G.ANYONE,
        ),
        _rule(
            "search",
            _I,
            "Search; results, counts and suggestions only ever show viewable records",
            G.ANYONE,
        ),
        _rule(
            "search.save",
            _I,
            "Keep searches with alerts for new matches; see and delete one's own",
            G.SIGNED_IN,
        ),
        _rule("session.create", _I, "Sign in", G.ANYONE),
        _rule("session.delete", _I, "Sign out", G.SIGNED_IN),
        # Own account.
        _rule("dashboard.view", _I, "See one's dashboard", G.SIGNED_IN),
        _rule("account.view", _I, "See one's settings and API tokens", G.SIGNED_IN),
        _rule("account.update", _I, "Change one's name, language, password", G.SIGNED_IN),
        _rule("tokens.create", _I, "Create a personal API token", G.SIGNED_IN),
        _rule("tokens.revoke", _I, "Revoke one's own API token", G.SIGNED_IN),
        # Instance administration.
        _rule("users.view", _I, "List user accounts"),
        _rule("users.create", _I, "Create user accounts"),
        _rule("audit.view", _I, "Read and verify the instance-wide audit log"),
        _rule("fixity.view", _I, "See fixity audits: failing objects and recent runs"),
        _rule("fixity.run", _I, "Start a fixity audit or a replication to the replica now"),
        # Institutions.
        _rule("institution.list", _I, "List institutions", G.ANYONE),
        # oEmbed answers for anyone; the record it names is checked with records.view.
        _rule("oembed.view", _I, "Ask for the oEmbed of an embeddable viewer", G.ANYONE),
        _rule("institution.create", _I, "Create an institution"),
        _rule("institution.view", _N, "See an institution's page", G.ANYONE),
        _rule("institution.update", _N, "Edit an institution", G.INSTITUTION_ADMIN),
        _rule(
            "institution.members.view",
            _N,
            "See an institution's members",
            G.INSTITUTION_MEMBER,
            G.INSTITUTION_ADMIN,
        ),
        _rule(
            "institution.members.manage",
            _N,
            "Add, change and remove institution members",
            G.INSTITUTION_ADMIN,
        ),
        # Workspaces.
        _rule("workspace.list", _I, "List the workspaces one may see", G.ANYONE),
        _rule("workspace.create", _I, "Create a workspace for one's institution", G.SIGNED_IN),
        _rule("workspace.view", _W, "See a workspace", G.PUBLIC_WORKSPACE, G.VIEWER),
        _rule("workspace.update", _W, "Rename, describe, change visibility", G.MANAGER),
        _rule("workspace.delete", _W, "Delete a workspace", G.OWNER),
        _rule("workspace.members.view", _W, "See who is in a workspace", G.VIEWER),
        _rule(
            "workspace.members.manage",
            _W,
            "Add members, change roles, remove members",
            G.MANAGER,
        ),
        _rule("workspace.invitations.manage", _W, "Create and revoke invitations", G.MANAGER),
        _rule("workspace.audit.view", _W, "Read a workspace's audit log", G.MANAGER),
        _rule("workspace.jobs.view", _W, "See a workspace's background jobs", G.CONTRIBUTOR),
        # Stored objects (the preservation store).
        _rule(
            "objects.view",
            _W,
            "See stored objects, their versions and events; download files",
            G.PUBLIC_WORKSPACE,
            G.VIEWER,
        ),
        _rule("objects.create", _W, "Create stored objects and upload files", G.CONTRIBUTOR),
        _rule("objects.update", _W, "Add or replace files (a new version)", G.CONTRIBUTOR),
        _rule("objects.delete", _W, "Delete files or objects (a new version)", G.EDITOR),
        _rule("objects.purge", _W, "Purge an object and its whole history, with a reason"),
        _rule(
            "uploads.create",
            _W,
            "Upload files in resumable pieces (tus); continue only one's own uploads",
            G.CONTRIBUTOR,
        ),
        # Collection records.
        _rule(
            "records.view",
            _W,
            "See records, their versions, diffs and import reports; export them",
            G.PUBLIC_WORKSPACE,
            G.VIEWER,
        ),
        _rule("records.create", _W, "Create records", G.CONTRIBUTOR),
        _rule(
            "records.update",
            _W,
            "Edit records, attach files, revert (a new version)",
            G.CONTRIBUTOR,
        ),
        _rule("records.delete", _W, "Delete records or their files (a new version)", G.EDITOR),
        _rule(
            "records.import",
            _W,
            "Import records from files, harvest OAI-PMH endpoints, save column mappings",
            G.CONTRIBUTOR,
        ),
        _rule("records.batch", _W, "Edit many records at once and revert a batch", G.EDITOR),
        # Images (IIIF).
        _rule(
            "images.view",
            _W,
            "See a record's images through IIIF: image information, tiles, thumbnails, "
            "manifests and collections",
            G.PUBLIC_WORKSPACE,
            G.VIEWER,
        ),
        # Invitations are opened with the secret link itself.
        _rule("invitation.view", _I, "Open an invitation link", G.ANYONE),
        _rule("invitation.accept", _I, "Accept an invitation", G.SIGNED_IN),
        # Background jobs.
        _rule("jobs.list", _I, "List one's own jobs", G.SIGNED_IN),
        _rule("job.view", _J, "See a job's progress and errors", G.CREATOR, G.CONTRIBUTOR),
        _rule("job.retry", _J, "Retry a failed job", G.CREATOR, G.MANAGER),
    ]
}
