"""Job kinds: each capability registers the long-running work it offers.

A handler receives a :class:`JobContext` and returns a small JSON-able result.
It must be idempotent: a job interrupted by a crash runs again from the start.
A kind with a :class:`Schedule` is also enqueued by the workers on that schedule.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from heritage.runtime import Runtime


class ProgressReporter(Protocol):
    def __call__(self, fraction: float, message: str = "") -> None: ...


@dataclass
class JobContext:
    runtime: Runtime
    job_id: str
    params: dict[str, Any]
    progress: ProgressReporter


JobHandler = Callable[[JobContext], dict[str, Any] | None]


@dataclass(frozen=True)
class Schedule:
    """When workers enqueue a job of a kind by themselves: crontab fields, in UTC."""

    minute: str = "0"
    hour: str = "*"
    day: str = "*"
    month: str = "*"
    day_of_week: str = "*"


DAILY = Schedule(minute="17", hour="3")


@dataclass(frozen=True)
class JobKind:
    name: str
    handler: JobHandler
    description: str
    schedule: Schedule | None = None


JOB_KINDS: dict[str, JobKind] = {}


def job_kind(
    name: str, description: str, *, schedule: Schedule | None = None
) -> Callable[[JobHandler], JobHandler]:
    def register(handler: JobHandler) -> JobHandler:
        if name in JOB_KINDS and JOB_KINDS[name].handler is not handler:
            raise ValueError(f"job kind {name!r} is registered twice")
        JOB_KINDS[name] = JobKind(name, handler, description, schedule)
        return handler

    return register


@dataclass(frozen=True)
class Tick:
    """Small upkeep the workers run on a schedule without a job record (a job row
    every minute would bury the real jobs): catching up an index, say. It must be
    cheap when there is nothing to do, and safe to run in several workers at once."""

    name: str
    action: Callable[[Runtime], object]
    schedule: Schedule


TICKS: dict[str, Tick] = {}
EVERY_MINUTE = Schedule(minute="*")


def maintenance_tick(
    name: str, schedule: Schedule = EVERY_MINUTE
) -> Callable[[Callable[[Runtime], object]], Callable[[Runtime], object]]:
    def register(action: Callable[[Runtime], object]) -> Callable[[Runtime], object]:
        TICKS[name] = Tick(name, action, schedule)
        return action

    return register
