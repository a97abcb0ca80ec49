"""The durable queue under the jobs, behind a registry of backends.

``sqlite`` (embedded default) keeps pending jobs in DATA_DIR/queue.sqlite3, so
they survive a restart; ``redis`` lets workers on other machines take jobs;
``immediate`` runs a job inside the enqueuing process.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict

from huey import Huey, MemoryHuey, RedisHuey, SqliteHuey, crontab

from heritage.config import Settings
from heritage.jobs.registry import Schedule

QueueFactory = Callable[[Settings], Huey]
QUEUE_BACKENDS: dict[str, QueueFactory] = {}


def queue_backend(name: str) -> Callable[[QueueFactory], QueueFactory]:
    def register(factory: QueueFactory) -> QueueFactory:
        QUEUE_BACKENDS[name] = factory
        return factory

    return register


@queue_backend("sqlite")
def _sqlite(settings: Settings) -> Huey:
    path = settings.ensure_data_dir() / "queue.sqlite3"
    return SqliteHuey("heritage", filename=str(path), results=False, utc=True)


@queue_backend("redis")
def _redis(settings: Settings) -> Huey:
    return RedisHuey("heritage", url=settings.redis_url, results=False, utc=True)


@queue_backend("immediate")
def _immediate(settings: Settings) -> Huey:
    return MemoryHuey("heritage", immediate=True, results=False, utc=True)


class JobQueue:
    """Puts job ids on the queue; workers call ``run`` with each id they take."""

    def __init__(self, settings: Settings, run: Callable[[str], None]) -> None:
        self.backend = settings.queue_backend
        factory = QUEUE_BACKENDS.get(self.backend)
        if factory is None:
            raise ValueError(f"unknown queue backend {self.backend!r}")
        self.huey = factory(settings)
        self._task = self.huey.task(name="heritage.run_job")(run)

    def enqueue(self, job_id: str) -> None:
        self._task(job_id)

    def schedule(self, name: str, when: Schedule, action: Callable[[], None]) -> None:
        """Have workers started with periodic tasks run ``action`` at the times ``when`` names.

        Every such worker runs it: ``action`` must tolerate running twice at once.
        """
        self.huey.periodic_task(crontab(**asdict(when)), name=f"heritage.schedule.{name}")(action)

    def pending_count(self) -> int:
        return self.huey.pending_count()

    def ping(self) -> None:
        self.huey.pending_count()
