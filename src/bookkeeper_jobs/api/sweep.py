"""The embedded mode's TTL sweep: finished jobs past ``BKJOBS_JOB_TTL`` and their uploads,
then uploads no job refers to (a crash between saving a file and recording its job, a
refused submission). The cluster's sweep is the operator's (``operator/ttl.py``)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from bookkeeper_jobs.api.store.local import LocalJobStore
from bookkeeper_jobs.artifacts import ArtifactStore
from bookkeeper_jobs.jobs import utcnow

log = logging.getLogger(__name__)

ORPHAN_GRACE_SECONDS = 3600.0
"""An unreferenced upload younger than this may belong to a submission still under way."""


@dataclass(frozen=True)
class Swept:
    jobs: int
    orphaned_uploads: int


def sweep_finished(store: LocalJobStore, artifacts: ArtifactStore, ttl: float) -> Swept:
    now = utcnow()
    jobs = store.sweep(older_than=now - timedelta(seconds=ttl))
    grace = timedelta(seconds=max(ttl, ORPHAN_GRACE_SECONDS))
    orphans = artifacts.delete_unreferenced(store.referenced_artifacts(), older_than=now - grace)
    if jobs or orphans:
        log.info("swept %d finished job(s) and %d orphaned upload(s)", jobs, orphans)
    return Swept(jobs, orphans)
