"""The TTL sweep leaves no orphaned upload, even when killed halfway.

A process sweeping expired jobs is SIGKILLed right after it deleted some uploads: the jobs
whose files are gone are still there (finished) and the next sweep deletes them; no file
is left that no job refers to. Uploads that never became a job are swept once old enough.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bookkeeper_jobs.api.store.local import LocalJobStore
from bookkeeper_jobs.api.sweep import ORPHAN_GRACE_SECONDS, sweep_finished
from bookkeeper_jobs.artifacts import DirectoryArtifactStore as ArtifactStore
from bookkeeper_jobs.jobs import UploadAndCategorizeSpec

JOBS = 300
KILL_AFTER = 100

SWEEP_AND_DIE = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from bookkeeper_jobs.api.store.local import LocalJobStore
    from bookkeeper_jobs.api.sweep import sweep_finished
    from bookkeeper_jobs.artifacts import DirectoryArtifactStore as ArtifactStore

    artifacts = ArtifactStore(Path(sys.argv[2]))
    deleted = 0

    def delete_then_maybe_die(artifact_id: str) -> None:
        global deleted
        artifacts.delete(artifact_id)
        deleted += 1
        if deleted == int(sys.argv[3]):
            os.kill(os.getpid(), signal.SIGKILL)  # as an OOM kill or a node loss would

    store = LocalJobStore(Path(sys.argv[1]), delete_artifact=delete_then_maybe_die)
    sweep_finished(store, artifacts, ttl=-5)
    """
)


async def one_chunk(data: bytes) -> AsyncIterator[bytes]:
    yield data


def stored_upload(artifacts: ArtifactStore) -> str:
    return asyncio.run(artifacts.save_stream(one_chunk(b"date,amount\n"), max_bytes=1024))


def files(artifacts: ArtifactStore) -> set[str]:
    return {path.name for path in artifacts.root.glob("??/*")}


def test_a_sweep_killed_halfway_leaves_no_orphaned_upload(tmp_path: Path) -> None:
    artifacts = ArtifactStore(tmp_path / "artifacts")
    store = LocalJobStore(tmp_path / "jobs.db", delete_artifact=artifacts.delete)
    for _ in range(JOBS):
        spec = UploadAndCategorizeSpec(
            company_id="c1", tenant_id="t1", artifact_id=stored_upload(artifacts), filename="a.csv"
        )
        store.cancel(store.submit(spec).job.id)  # finished at once
    assert len(files(artifacts)) == JOBS

    killed = subprocess.run(
        [sys.executable, "-c", SWEEP_AND_DIE, str(store.db.path), str(artifacts.root),
         str(KILL_AFTER)],
        check=False, timeout=60,
    )  # fmt: skip
    assert killed.returncode == -9
    assert len(files(artifacts)) == JOBS - KILL_AFTER
    assert files(artifacts) <= store.referenced_artifacts(), "no orphaned upload"

    swept = sweep_finished(store, artifacts, ttl=-5)
    assert swept.jobs == JOBS
    assert files(artifacts) == set() and store.referenced_artifacts() == set()


def test_uploads_that_never_became_a_job_are_swept_once_old(tmp_path: Path) -> None:
    artifacts = ArtifactStore(tmp_path / "artifacts")
    store = LocalJobStore(tmp_path / "jobs.db", delete_artifact=artifacts.delete)
    old_orphan, young_orphan, in_use = (stored_upload(artifacts) for _ in range(3))
    store.submit(
        UploadAndCategorizeSpec(
            company_id="c1", tenant_id="t1", artifact_id=in_use, filename="a.csv"
        )
    )
    long_ago = (datetime.now(UTC) - timedelta(seconds=2 * ORPHAN_GRACE_SECONDS)).timestamp()
    for artifact_id in (old_orphan, in_use):
        os.utime(artifacts.path(artifact_id), (long_ago, long_ago))

    swept = sweep_finished(store, artifacts, ttl=60)
    assert swept.orphaned_uploads == 1
    assert files(artifacts) == {young_orphan, in_use}
