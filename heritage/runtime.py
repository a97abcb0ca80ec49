"""What a process needs to run services: settings, database, passwords, job queue, store."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

# Every table must be known before the first flush, whatever a script imported.
import heritage.db.models  # noqa: F401
from heritage.accounts.passwords import Passwords
from heritage.config import Settings
from heritage.db.engine import Database
from heritage.jobs.queue import JobQueue

if TYPE_CHECKING:
    from heritage.search.backends import SearchBackend
    from heritage.store.keyring import WorkspaceKeyring
    from heritage.store.ocfl.hooks import VersionSigner


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        settings.ensure_data_dir()
        self.database = Database(settings.resolved_database_url)
        from heritage.search import outbox
        from heritage.search.indexing import AFTER_COMMIT_WAIT, SearchIndexer

        # Records changed by any service in this process reach search after commit.
        outbox.install(self.database, lambda: SearchIndexer(self).sync(wait=AFTER_COMMIT_WAIT))

    @cached_property
    def passwords(self) -> Passwords:
        return Passwords(memory_kib=self.settings.password_memory_kib)

    @cached_property
    def queue(self) -> JobQueue:
        from heritage.jobs.services import JobService

        return JobQueue(self.settings, lambda job_id: JobService(self).execute(job_id))

    @cached_property
    def keyring(self) -> WorkspaceKeyring:
        from heritage.store.keyring import WorkspaceKeyring

        return WorkspaceKeyring(self.settings, self.database)

    @cached_property
    def signer(self) -> VersionSigner | None:
        """The instance's signer of OCFL versions (its Ed25519 key)."""
        from heritage.store.signing import instance_signer

        return instance_signer(self.settings)

    @cached_property
    def storage(self) -> Any:
        """The instance's OCFL storage root (local or S3), opened on first use."""
        from heritage.store.backends import open_storage_root

        return open_storage_root(self.settings, signer=self.signer)

    @cached_property
    def search(self) -> SearchBackend:
        """The instance's search backend (tantivy or PostgreSQL), opened on first use."""
        from heritage.search.backends import open_backend

        return open_backend(self)

    def close(self) -> None:
        if "search" in self.__dict__:
            self.search.close()
        self.database.dispose()
