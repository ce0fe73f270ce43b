"""What a task gets: one typed object per attempt, the same in both modes.

A task is a plain function ``(TaskContext[SpecT]) -> ResultModel``: it reads and writes
business data through ``ledger``, opens stored uploads through ``artifacts`` (by id, never a
server path), reports progress through ``reporter``, reads its configuration from
``settings`` and may tag what it writes with ``job_id``. It knows nothing of Kubernetes or
SQLite; the attempt runner (:mod:`bookkeeper_jobs.tasks.runner`) builds the context and
records how the task ended.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, TypeAlias, TypeVar

from pydantic import BaseModel

from bookkeeper_jobs.artifacts import ArtifactStore
from bookkeeper_jobs.settings import Settings
from bookkeeper_jobs.tasks.reporter import ProgressReporter

if TYPE_CHECKING:  # the ledger imports SQLAlchemy; a context is only built in workers
    from bookkeeper_jobs.ledger import Ledger

SpecT = TypeVar("SpecT", bound=BaseModel)


@dataclass(frozen=True)
class TaskContext(Generic[SpecT]):
    """One attempt of one job, as its task sees it."""

    job_id: str
    attempt: int
    started_at: datetime
    """When the job's first attempt started (what it wrote since then is its own)."""
    spec: SpecT
    ledger: Ledger
    artifacts: ArtifactStore
    reporter: ProgressReporter
    settings: Settings
    """The process's settings (a task reads what it needs: the secrets key, endpoints)."""


TaskFunction: TypeAlias = Callable[[TaskContext[Any]], BaseModel]
"""``(context) -> result``; the result model is stored (as JSON) in the job's ``result``."""
