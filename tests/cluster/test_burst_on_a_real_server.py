"""A burst of submissions on the real control plane (issue 13's concurrency finding).

Every submission used to become a Pod at once, each with its own database connection. The
operator now creates the Jobs past ``BKJOBS_MAX_RUNNING_JOBS`` suspended and resumes them
oldest first as others end (``operator/admission.py``). The emulator shows the suspending;
this shows the rest on the real server: the Job controller starts no Pod for a suspended Job,
the operator may resume one under the chart's Role (``patch`` on Jobs), and the task pods'
PostgreSQL connections stay within what the database allows them.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bookkeeper_jobs.jobs import BulkApproveSpec, JobPhase
from bookkeeper_jobs.ledger import Ledger
from bookkeeper_jobs.settings import Settings
from tests.contract.real_cluster_backend import (
    RealCluster,
    RealClusterBackend,
    make_real_cluster_backend,
)
from tests.support.polling import wait_until

pytestmark = pytest.mark.slow

LIMIT = 3  # task Jobs running at once in the namespace
BURST = 24
ROLE = "burst_tasks"
CONNECTIONS_PER_TASK = 2  # the task's ledger pool may open a second connection briefly


@pytest.fixture
def tasks_database(postgres_url: str) -> Iterator[str]:
    """The ledger, migrated, reachable by tasks only as a role PostgreSQL allows
    ``LIMIT * CONNECTIONS_PER_TASK`` connections (a superuser would not be held to it)."""
    ledger = Ledger.from_settings(Settings(environment="test", database_url=postgres_url))
    try:
        ledger.migrate()
        ledger.ensure_company("burst-co", "t1")
    finally:
        ledger.dispose()
    database = make_url(postgres_url).database
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f"DROP ROLE IF EXISTS {ROLE}"))
            conn.execute(
                text(
                    f"CREATE ROLE {ROLE} LOGIN PASSWORD 'burst' "
                    f"CONNECTION LIMIT {LIMIT * CONNECTIONS_PER_TASK}"
                )
            )
            conn.execute(text(f'GRANT CONNECT ON DATABASE "{database}" TO {ROLE}'))
            conn.execute(text(f"GRANT USAGE ON SCHEMA public TO {ROLE}"))
            conn.execute(text(f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {ROLE}"))
            conn.execute(text(f"GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {ROLE}"))
        yield (
            make_url(postgres_url)
            .set(username=ROLE, password="burst")
            .render_as_string(hide_password=False)
        )
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP OWNED BY {ROLE}"))
            conn.execute(text(f"DROP ROLE IF EXISTS {ROLE}"))
        admin.dispose()


@pytest.fixture
def backend(
    cluster: RealCluster, tmp_path: Path, tasks_database: str
) -> Iterator[RealClusterBackend]:
    (tmp_path / "script").mkdir()
    made = make_real_cluster_backend(
        tmp_path,
        cluster=cluster,
        tasks={},  # the product's own bulk-approve task
        max_running_jobs=LIMIT,
        task_template={"database_secret": "ledger-database"},
    )
    cluster.must(
        "POST",
        f"/api/v1/namespaces/{made.namespace}/secrets",
        {"metadata": {"name": "ledger-database"}, "stringData": {"database-url": tasks_database}},
    )
    try:
        yield made
    finally:
        made.close()


class Peaks:
    """Samples, until stopped, the namespace's running task processes and the tasks' role's
    connections, keeping the highest of each."""

    def __init__(self, backend: RealClusterBackend, admin_url: str) -> None:
        self.running = self.connections = 0
        self._backend = backend
        self._engine = create_engine(admin_url)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="burst-peaks", daemon=True)

    def __enter__(self) -> Peaks:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)
        self._engine.dispose()

    def _sample(self) -> None:
        query = text("SELECT count(*) FROM pg_stat_activity WHERE usename = :role")
        with self._engine.connect() as conn:
            while not self._stop.wait(0.05):
                running = sum(
                    1
                    for worker in self._backend.cluster.agent.pods(self._backend.namespace)
                    for run in worker.runs
                    if run.pid is not None and not run.finished.is_set()
                )
                self.running = max(self.running, running)
                found = conn.execute(query, {"role": ROLE}).scalar_one()
                conn.rollback()
                self.connections = max(self.connections, int(found))


def test_a_burst_runs_at_most_the_limit_and_stays_within_the_databases_connections(
    backend: RealClusterBackend, postgres_url: str
) -> None:
    """24 bulk-approves submitted at once with a limit of 3: the operator creates the Jobs
    past the limit suspended, so the real Job controller starts at most 3 task pods at a
    time; each pod reaches the ledger as a role PostgreSQL allows 6 connections; every job
    completes on its first attempt (a refused connection would have failed it and cost a
    retry)."""
    jobs = [
        backend.store.submit(
            BulkApproveSpec(company_id="burst-co", tenant_id="t1", transaction_ids=[f"tx-{n}"])
        ).job
        for n in range(BURST)
    ]
    path = f"/apis/batch/v1/namespaces/{backend.namespace}/jobs"
    wait_until(
        lambda: len(backend.cluster.must("GET", path)["items"]) == BURST,
        timeout=120,
        what="the operator to create every Job",
    )
    suspended = [
        job["metadata"]["name"]
        for job in backend.cluster.must("GET", path)["items"]
        if job["spec"].get("suspend")
    ]
    assert len(suspended) == BURST - LIMIT

    with Peaks(backend, postgres_url) as peaks:
        backend.start_workers()
        finished = wait_until(
            lambda: (
                all(j is not None and j.status.phase.is_terminal for j in found) and found
                if (found := [backend.store.get(job.id) for job in jobs])
                else None
            ),
            timeout=900,
            interval=0.5,
            what="every job of the burst to finish",
        )

    outcomes = {(j.status.phase, j.status.attempts, j.status.error) for j in finished if j}
    assert outcomes == {(JobPhase.COMPLETE, 1, None)}, outcomes
    assert 1 <= peaks.running <= LIMIT, peaks.running
    assert peaks.connections <= LIMIT * CONNECTIONS_PER_TASK, peaks.connections
    print(f"peak task pods running {peaks.running}, peak task connections {peaks.connections}")
