"""What a process needs to run services: settings, database, passwords, job queue."""

from __future__ import annotations

from functools import cached_property

# Every table must be known before the first flush, whatever a script imported.
import heritage.db.models  # noqa: F401
from heritage.accounts.passwords import Passwords
from heritage.config import Settings
from heritage.db.engine import Database
from heritage.jobs.queue import JobQueue


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        settings.ensure_data_dir()
        self.database = Database(settings.resolved_database_url)

    @cached_property
    def passwords(self) -> Passwords:
        return Passwords(memory_kib=self.settings.password_memory_kib)

    @cached_property
    def queue(self) -> JobQueue:
        from heritage.jobs.services import JobService

        return JobQueue(self.settings, lambda job_id: JobService(self).execute(job_id))

    def close(self) -> None:
        self.database.dispose()
