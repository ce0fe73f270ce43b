"""A burst of jobs on the real control plane with the ledger on PostgreSQL (issue 13: "a
1,000-job burst must not exhaust PostgreSQL connections"). Prints figures; not a test.

    .venv/bin/python bench/cluster_burst.py [--jobs 1000] [--room 8]

Starts what ``tests/cluster`` runs (kube-apiserver with RBAC, the controller manager's Job
controller, kube-scheduler, etcd, and the node agent as the kubelet; binaries from
``scripts/build-control-plane.sh``), a throwaway PostgreSQL (``tests/postgres.py``) whose
ledger database is migrated, and one ``kubernetes-real`` namespace: the chart's accounts and
Roles, the real operator with ``BKJOBS_MAX_RUNNING_JOBS`` = ``--room``, and task pods that run
the product's own ``categorize`` task with ``BKJOBS_DATABASE_URL`` from a Secret. ``--jobs``
categorize jobs are submitted through the API's store (8 threads), then sampled every second
until every one has ended: task processes running on the node, task Jobs not suspended, and
connections to the ledger database (``pg_stat_activity``). Each task is a new Python process
(~2-3 s of CPU here), so 1,000 of them take ~20 minutes on two cores: ``--cancel-after``
cancels, through the store as users do, whatever has not ended after that many seconds, and
the run ends once every job has reached a final state.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bookkeeper_jobs.errors import JobStateError  # noqa: E402
from bookkeeper_jobs.jobs import CategorizeSpec  # noqa: E402
from bookkeeper_jobs.ledger.engine import create_ledger_engine  # noqa: E402
from bookkeeper_jobs.ledger.ledger import Ledger  # noqa: E402
from tests.cluster.control_plane import ControlPlane, build_binaries  # noqa: E402
from tests.cluster.node_agent import NodeAgent  # noqa: E402
from tests.contract.real_cluster_backend import (  # noqa: E402
    RealClusterBackend,
    make_real_cluster_backend,
    real_cluster,
)
from tests.postgres import ThrowawayServer, _find_bindir  # noqa: E402

DATABASE = "bkjobs_burst"
SECRET = "bkjobs-database"


class Sampler(threading.Thread):
    """Once a second: running task processes, task Jobs not suspended and not finished, and
    connections to the ledger database; keeps the maxima."""

    def __init__(self, backend: RealClusterBackend, agent: NodeAgent, server_url: str) -> None:
        super().__init__(daemon=True)
        self.backend, self.agent = backend, agent
        self.engine = create_engine(server_url, pool_size=1, max_overflow=0)
        self.stop = threading.Event()
        self.max_processes = self.max_unsuspended = self.max_connections = 0
        self.samples = 0

    def run(self) -> None:
        jobs = f"/apis/batch/v1/namespaces/{self.backend.namespace}/jobs"
        while not self.stop.wait(1.0):
            processes = sum(
                1
                for worker in self.agent.pods(self.backend.namespace)
                for run in worker.runs
                if not run.finished.is_set()
            )
            listed = self.backend.cluster.must("GET", jobs)["items"]
            unsuspended = sum(
                1 for job in listed if not job["spec"].get("suspend") and not _finished(job)
            )
            with self.engine.connect() as conn:
                connections = int(
                    conn.execute(
                        text(
                            "SELECT count(*) FROM pg_stat_activity"
                            " WHERE datname = :db AND pid <> pg_backend_pid()"
                        ),
                        {"db": DATABASE},
                    ).scalar_one()
                )
            self.max_processes = max(self.max_processes, processes)
            self.max_unsuspended = max(self.max_unsuspended, unsuspended)
            self.max_connections = max(self.max_connections, connections)
            self.samples += 1


def cancel(backend: RealClusterBackend, job_id: str) -> None:
    with contextlib.suppress(JobStateError):  # it ended meanwhile
        backend.store.cancel(job_id)


def _finished(job: dict[str, Any]) -> bool:
    conditions = (job.get("status") or {}).get("conditions") or []
    return any(c["type"] in ("Complete", "Failed") and c["status"] == "True" for c in conditions)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--room", type=int, default=8, help="BKJOBS_MAX_RUNNING_JOBS")
    parser.add_argument("--timeout", type=float, default=3600)
    parser.add_argument("--cancel-after", type=float, default=None)
    args = parser.parse_args()
    os.environ.setdefault("BKJOBS_ENVIRONMENT", "test")

    bindir = _find_bindir()
    if bindir is None:
        raise SystemExit("no PostgreSQL server binaries (initdb)")
    postgres = ThrowawayServer(bindir)
    server_url = postgres.start()
    plane = ControlPlane(build_binaries())
    try:
        admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{DATABASE}"'))
        admin.dispose()
        url = make_url(server_url).set(database=DATABASE).render_as_string(hide_password=False)
        ledger = Ledger(create_ledger_engine(url))
        ledger.migrate()
        ledger.dispose()

        plane.start()
        agent = NodeAgent(plane, restart_backoff=1.0, max_grace_period=5.0)
        agent.start()
        with tempfile.TemporaryDirectory() as scratch, real_cluster(plane, agent) as shared:
            (Path(scratch) / "script").mkdir()
            backend = make_real_cluster_backend(
                Path(scratch),
                cluster=shared,
                tasks={},  # the product's own categorize task
                max_running_jobs=args.room,
                max_running_jobs_per_tenant=args.room,
                task_template={"database_secret": SECRET},
            )
            try:
                run(backend, agent, server_url, url, args)
            finally:
                backend.close()
                agent.stop()
    finally:
        plane.stop()
        postgres.stop()


def run(
    backend: RealClusterBackend,
    agent: NodeAgent,
    server_url: str,
    url: str,
    args: argparse.Namespace,
) -> None:
    backend.cluster.must(
        "POST",
        f"/api/v1/namespaces/{backend.namespace}/secrets",
        {"metadata": {"name": SECRET}, "stringData": {"database-url": url}},
    )
    backend.start_workers()
    sampler = Sampler(backend, agent, server_url)
    sampler.start()
    print(
        f"{args.jobs:,} categorize jobs, room for {args.room} task Jobs, ledger on PostgreSQL "
        f"(load average {os.getloadavg()[0]:.1f})",
        flush=True,
    )
    began = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        ids = list(
            pool.map(
                lambda n: (
                    backend.store.submit(
                        CategorizeSpec(company_id=f"co-{n % 10}", tenant_id="t1")
                    ).job.id
                ),
                range(args.jobs),
            )
        )
    submitted = time.monotonic() - began
    print(f"  submitted (202s) in {submitted:.1f} s ({args.jobs / submitted:.0f}/s)", flush=True)
    deadline = began + args.timeout
    phases: dict[str, int] = {}
    cancelled_at: float | None = None
    while time.monotonic() < deadline:
        phases = {}
        open_ids = []
        for job_id in ids:
            job = backend.store.get(job_id)
            phase = job.status.phase.value if job is not None else "missing"
            phases[phase] = phases.get(phase, 0) + 1
            if job is not None and not job.status.phase.is_terminal:
                open_ids.append(job_id)
        if not open_ids:
            break
        elapsed = time.monotonic() - began
        if args.cancel_after is not None and cancelled_at is None and elapsed > args.cancel_after:
            print(f"  after {elapsed:.0f} s: {phases}; cancelling the {len(open_ids):,} open")
            with ThreadPoolExecutor(8) as pool:
                list(pool.map(lambda job_id: cancel(backend, job_id), open_ids))
            cancelled_at = time.monotonic()
        time.sleep(5)
    took = time.monotonic() - began
    if cancelled_at is not None:
        print(
            f"  every cancelled job final {time.monotonic() - cancelled_at:.0f} s after the cancels"
        )
    sampler.stop.set()
    sampler.join()
    print(
        f"  every job ended: {phases} in {took:.0f} s ({len(ids) / took:.1f} jobs/s)\n"
        f"  at most {sampler.max_processes} task processes running, "
        f"{sampler.max_unsuspended} task Jobs not suspended, "
        f"{sampler.max_connections} connections to the ledger database "
        f"({sampler.samples} samples, one a second)\n"
        f"  load average at the end {os.getloadavg()[0]:.1f}",
        flush=True,
    )


if __name__ == "__main__":
    main()
