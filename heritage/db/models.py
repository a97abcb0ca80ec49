"""Imports every package's models so metadata is complete (migrations, tests)."""

from heritage.accounts.models import ApiToken, ExternalIdentity, LoginAttempt, User, WebSession
from heritage.audit.models import AuditEntry
from heritage.db.base import Base
from heritage.iiif.models import ImageDerivative
from heritage.institutions.models import Institution, InstitutionMembership
from heritage.jobs.models import Job
from heritage.records.batch_models import RecordBatch, RecordBatchItem
from heritage.records.models import RecordImport, RecordImportItem, RecordRow, SavedMapping
from heritage.search.models import SavedSearch, SearchPending, SearchState
from heritage.store.models import PreservationEvent, StoredFile, StoredObject, WorkspaceKey
from heritage.threed.models import ThreeDModel
from heritage.uploads.models import Upload
from heritage.workspaces.models import Invitation, Workspace, WorkspaceMembership

__all__ = [
    "ApiToken",
    "AuditEntry",
    "Base",
    "ExternalIdentity",
    "ImageDerivative",
    "Institution",
    "InstitutionMembership",
    "Invitation",
    "Job",
    "LoginAttempt",
    "PreservationEvent",
    "RecordBatch",
    "RecordBatchItem",
    "RecordImport",
    "RecordImportItem",
    "RecordRow",
    "SavedMapping",
    "SavedSearch",
    "SearchPending",
    "SearchState",
    "StoredFile",
    "StoredObject",
    "ThreeDModel",
    "Upload",
    "User",
    "WebSession",
    "Workspace",
    "WorkspaceKey",
    "WorkspaceMembership",
]
