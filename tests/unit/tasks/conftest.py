"""The one way task tests build what a worker hands a task: a :class:`TaskContext`.

Take the ``make_context`` fixture and call it with the job's spec and a ledger; the context
gets this test's artifact store (the ``artifacts`` fixture, where upload tests store their
files), a job id, attempt 1 and, unless one is given, a reporter that records its writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TypeVar

import pytest
from pydantic import BaseModel

from bookkeeper_jobs.artifacts import DirectoryArtifactStore as ArtifactStore
from bookkeeper_jobs.jobs import utcnow
from bookkeeper_jobs.ledger import Ledger
from bookkeeper_jobs.settings import Settings
from bookkeeper_jobs.tasks.context import TaskContext
from bookkeeper_jobs.tasks.reporter import ProgressReporter
from tests.unit.ledger.factories import recording_reporter

JOB_ID = "job-0123456789abcdef0123"
"""The job id contexts get unless a test names another (shaped like ``new_job_id()``'s)."""

SpecT = TypeVar("SpecT", bound=BaseModel)


@dataclass(frozen=True)
class ContextFactory:
    """Builds task contexts that share one artifact store and test settings."""

    artifacts: ArtifactStore
    settings: Settings

    def __call__(
        self,
        spec: SpecT,
        ledger: Ledger,
        *,
        reporter: ProgressReporter | None = None,
        job_id: str = JOB_ID,
        attempt: int = 1,
        started_at: datetime | None = None,
    ) -> TaskContext[SpecT]:
        return TaskContext(
            job_id=job_id,
            attempt=attempt,
            started_at=started_at or utcnow(),
            spec=spec,
            ledger=ledger,
            artifacts=self.artifacts,
            reporter=reporter if reporter is not None else recording_reporter()[0],
            settings=self.settings,
        )


@pytest.fixture
def artifacts(tmp_path: Path) -> ArtifactStore:
    return ArtifactStore(tmp_path / "artifacts")


@pytest.fixture
def make_context(artifacts: ArtifactStore, tmp_path: Path) -> ContextFactory:
    return ContextFactory(artifacts, Settings(environment="test", data_dir=tmp_path))
