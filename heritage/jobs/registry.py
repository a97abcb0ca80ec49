"""Job kinds: each capability registers the long-running work it offers.

A handler receives a :class:`JobContext` and returns a small JSON-able result.
It must be idempotent: a job interrupted by a crash runs again from the start.
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
class JobKind:
    name: str
    handler: JobHandler
    description: str


JOB_KINDS: dict[str, JobKind] = {}


def job_kind(name: str, description: str) -> Callable[[JobHandler], JobHandler]:
    def register(handler: JobHandler) -> JobHandler:
        if name in JOB_KINDS and JOB_KINDS[name].handler is not handler:
            raise ValueError(f"job kind {name!r} is registered twice")
        JOB_KINDS[name] = JobKind(name, handler, description)
        return handler

    return register
