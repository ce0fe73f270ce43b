"""A burst of submissions on the real control plane (issue 13's concurrency finding).

Every submission used to become a Pod at once, each with its own database connection. The
operator now creates the Jobs past ``BKJOBS_MAX_RUNNING_JOBS`` suspended and resumes them
oldest first as others end (``operator/admission.py``). The emulator shows the suspending;
this shows the rest on the real server: the Job controller starts no Pod for a suspended Job,
the operator may resume one under the chart's Role (``patch`` on Jobs), and the task pods'
PostgreSQL connections stay within what the database allows them.

Two tenants: one tenant's burst does not hold back another's job. A tenant runs at most
``BKJOBS_MAX_RUNNING_JOBS_PER_TENANT`` task pods, so another tenant's job gets a free place
and finishes while the first tenant's backlog is still queued; and when a place frees up, a
tenant that has not started a job goes before another tenant's older backlog
(``start_order.py``). These use the contract suite's scripted tasks (``tests/contract/
scripted.py``: ``slow`` takes about 10 s, ``ok`` a moment) and the real Job controller.
"""

from __future__ import annotations

import itertools
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bookkeeper_jobs.jobs import BulkApproveSpec, CategorizeSpec, Job, JobPhase
from bookkeeper_jobs.ledger import Ledger
from bookkeeper_jobs.operator.manifests import job_name
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


# Two tenants -----------------------------------------------------------------------------

TENANT_A, TENANT_B = "tenant-a", "tenant-b"
PER_TENANT = 2  # BKJOBS_MAX_RUNNING_JOBS_PER_TENANT in the first two-tenant test


@pytest.fixture
def scripted_backend(
    cluster: RealCluster, tmp_path: Path
) -> Iterator[Callable[..., RealClusterBackend]]:
    """Makes a namespace whose task pods run the scripted tasks, with the given settings
    (the limits); closed after the test."""
    made: list[RealClusterBackend] = []

    def make(**settings: Any) -> RealClusterBackend:
        (tmp_path / "script").mkdir(exist_ok=True)
        backend = make_real_cluster_backend(tmp_path, cluster=cluster, **settings)
        made.append(backend)
        return backend

    yield make
    for backend in made:
        backend.close()


class Tenants:
    """One namespace's jobs by tenant, and its task Jobs as the admin reads them."""

    def __init__(self, backend: RealClusterBackend) -> None:
        self.backend = backend
        self.jobs_path = f"/apis/batch/v1/namespaces/{backend.namespace}/jobs"
        self.tenant_of: dict[str, str] = {}  # task Job name -> tenant
        self.ids: list[str] = []

    def submit(self, scenario: str, tenant: str) -> str:
        spec = CategorizeSpec(company_id=scenario, tenant_id=tenant, limit=1 + len(self.ids))
        job_id = self.backend.store.submit(spec).job.id
        self.tenant_of[job_name(job_id)] = tenant
        self.ids.append(job_id)
        return job_id

    def task_jobs(self) -> list[dict[str, Any]]:
        return list(self.backend.cluster.must("GET", self.jobs_path)["items"])

    def wait_task_jobs(self, count: int) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = wait_until(
            lambda: jobs if len(jobs := self.task_jobs()) == count else None,
            timeout=60,
            what=f"the operator to create {count} Jobs",
        )
        return found

    def suspended(self, tenant: str) -> list[str]:
        return [
            job["metadata"]["name"]
            for job in self.task_jobs()
            if job["spec"].get("suspend") and self.tenant_of[job["metadata"]["name"]] == tenant
        ]

    def get(self, job_id: str) -> Job:
        job = self.backend.store.get(job_id)
        assert job is not None, job_id
        return job

    def wait_finished(self, ids: list[str], timeout: float) -> list[Job]:
        def finished() -> list[Job] | None:
            jobs = [self.get(job_id) for job_id in ids]
            return jobs if all(job.status.phase.is_terminal for job in jobs) else None

        found: list[Job] = wait_until(
            finished, timeout=timeout, interval=0.2, what=f"{len(ids)} job(s) to finish"
        )
        return found


class TenantPeaks:
    """Samples, until stopped, the namespace's running task processes per tenant (the node
    agent's view: a pod's process started and not ended), keeping the highest of each and
    of their sum."""

    def __init__(self, tenants: Tenants) -> None:
        self.by_tenant: Counter[str] = Counter()
        self.total = 0
        self._tenants = tenants
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="tenant-peaks", daemon=True)

    def __enter__(self) -> TenantPeaks:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _sample(self) -> None:
        backend = self._tenants.backend
        while not self._stop.wait(0.05):
            running: Counter[str] = Counter()
            for worker in backend.cluster.agent.pods(backend.namespace):
                labels = worker.pod["metadata"].get("labels") or {}
                tenant = self._tenants.tenant_of.get(labels.get("job-name", ""), "?")
                running[tenant] += sum(
                    1 for run in worker.runs if run.pid is not None and not run.finished.is_set()
                )
            for tenant, count in running.items():
                self.by_tenant[tenant] = max(self.by_tenant[tenant], count)
            self.total = max(self.total, sum(running.values()))


def test_one_tenants_burst_does_not_hold_back_another_tenants_job(
    scripted_backend: Callable[..., RealClusterBackend],
) -> None:
    """At most 3 task Jobs in the namespace and 2 per tenant. Tenant A submits 4 jobs of
    about 10 s, then tenant B one short job: A's first 2 Jobs start, A's other 2 are created
    suspended and B's is not (there is room in the namespace and B runs none). With the node
    running pods, B's job succeeds while A's backlog is still queued; never more than 2 of
    A's task processes run at once (nor 3 in all); A's backlog then runs and every job
    succeeds on its first attempt."""
    backend = scripted_backend(max_running_jobs=3, max_running_jobs_per_tenant=PER_TENANT)
    tenants = Tenants(backend)
    burst = [tenants.submit("slow", TENANT_A) for _ in range(4)]
    tenants.wait_task_jobs(4)
    other = tenants.submit("ok", TENANT_B)
    jobs = tenants.wait_task_jobs(5)

    suspended = {job["metadata"]["name"] for job in jobs if job["spec"].get("suspend")}
    assert job_name(other) not in suspended
    assert len(suspended) == 2 and suspended <= {job_name(job_id) for job_id in burst}

    with TenantPeaks(tenants) as peaks:
        backend.start_workers()
        (done,) = tenants.wait_finished([other], timeout=120)
        queued_when_b_finished = tenants.suspended(TENANT_A)
        unfinished_a = [j for j in burst if not tenants.get(j).status.phase.is_terminal]
        finished = tenants.wait_finished(burst, timeout=180)

    assert done.status.phase is JobPhase.COMPLETE, done.status
    assert queued_when_b_finished, "tenant A's backlog had all started before B's job ended"
    assert len(unfinished_a) >= 3, unfinished_a  # A's 2 running and its backlog
    outcomes = {(j.status.phase, j.status.attempts, j.status.error) for j in finished}
    assert outcomes == {(JobPhase.COMPLETE, 1, None)}, outcomes
    assert peaks.by_tenant[TENANT_A] == PER_TENANT, peaks.by_tenant
    assert peaks.by_tenant[TENANT_B] == 1, peaks.by_tenant
    assert peaks.total <= 3, peaks.total
    print(
        f"A's backlog queued when B's job ended: {len(queued_when_b_finished)}; peak task "
        f"processes {dict(peaks.by_tenant)}, {peaks.total} in all"
    )


def test_a_tenants_new_job_starts_before_another_tenants_older_backlog(
    scripted_backend: Callable[..., RealClusterBackend],
) -> None:
    """One task Job at a time in the namespace. Tenant A submits 4 jobs (1 Job started, 3
    suspended), then tenant B one (suspended). With the node running pods, the jobs run one
    after another, and when A's first ends B's goes next, before A's 3 older ones: A has
    just started one and B none (oldest first would have run B's last)."""
    backend = scripted_backend(max_running_jobs=1)
    tenants = Tenants(backend)
    backlog = [tenants.submit("ok", TENANT_A) for _ in range(4)]
    tenants.wait_task_jobs(4)
    newcomer = tenants.submit("ok", TENANT_B)
    jobs = tenants.wait_task_jobs(5)
    assert sum(1 for job in jobs if job["spec"].get("suspend")) == 4

    backend.start_workers()
    finished = tenants.wait_finished([*backlog, newcomer], timeout=180)

    outcomes = {(j.status.phase, j.status.attempts, j.status.error) for j in finished}
    assert outcomes == {(JobPhase.COMPLETE, 1, None)}, outcomes
    in_order = sorted(finished, key=lambda j: (j.status.started_at, j.status.finished_at))
    for before, after in itertools.pairwise(in_order):
        assert before.status.finished_at and after.status.started_at
        assert before.status.finished_at <= after.status.started_at  # one at a time
    assert [j.tenant_id for j in in_order] == [TENANT_A, TENANT_B, TENANT_A, TENANT_A, TENANT_A]
