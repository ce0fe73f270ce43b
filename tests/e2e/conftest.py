"""Cluster mode on one machine, for the end-to-end tests: the emulated API server with the
project's CRD and the real operator under kopf (both from the contract suite's
:class:`~tests.contract.cluster_backend.KubernetesBackend`), the test kubelet running the
real ``bkjobs task run --job <ns>/<name>`` for every Job, and the real FastAPI app in
cluster mode (``job_store="kubernetes"``: KubernetesJobStore over its watch cache) served by
uvicorn on a free 127.0.0.1 port. API and task pods share one data directory (uploads and
the SQLite ledger), as they share a volume in a cluster.

The ledger is migrated once up front, as the chart's Helm hook does (the API never migrates
in cluster mode), and company ``c1`` gets rules and approved history to learn from.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from bookkeeper_jobs.api.app import create_app
from bookkeeper_jobs.ledger import Ledger, NewTransaction
from bookkeeper_jobs.operator.manifests import job_name
from bookkeeper_jobs.settings import Grant, Settings
from tests.api.harness import KEY_A, LiveServer, serve_app
from tests.contract.cluster_backend import NAMESPACE, KubernetesBackend, task_environment
from tests.k8s.emulator import Change
from tests.k8s.kubelet import Kubelet
from tests.support.jobs_http import Followed, follow_job

JOBS = "batch/v1/jobs"
TENANT = "t1"
COMPANY = "c1"
OTHER_COMPANY = "c2"
UNCATEGORIZED_SEED = 25
RULES: tuple[tuple[str, str], ...] = (
    ("GUSTO PAYROLL", "6100"),
    ("OAKRIDGE PROPERTIES RENT", "6120"),
    ("COMCAST", "6160"),
    ("STRIPE TRANSFER", "4000"),
    ("ACH DEPOSIT", "4100"),
)
HISTORY: tuple[tuple[str, str, str], ...] = (
    ("STARBUCKS STORE {n}", "-6.40", "6080"),
    ("DOORDASH*LUNCH ORDER {n}", "-31.20", "6080"),
    ("UBER *TRIP HELP.UBER.COM CA {n}", "-24.75", "6170"),
    ("LYFT *RIDE {n}", "-18.10", "6170"),
    ("OFFICE DEPOT #{n}", "-84.99", "6090"),
    ("STAPLES {n}", "-42.00", "6090"),
    ("SHELL OIL {n}", "-55.30", "6190"),
    ("CHEVRON {n} SAN JOSE CA", "-61.05", "6190"),
)
"""Approved history (description, amount, account): four of each, so the model trains."""


@dataclass
class Cluster:
    settings: Settings
    backend: KubernetesBackend
    kubelet: Kubelet
    server: LiveServer
    created_jobs: list[dict[str, Any]] = field(default_factory=list)
    """Every batch/v1 Job as it was created, oldest first (deleted ones included)."""

    def client(self, token: str | None = KEY_A) -> httpx.Client:
        return self.server.client(token)

    @contextmanager
    def ledger(self) -> Iterator[Ledger]:
        with self.server.ledger() as ledger:
            yield ledger

    def resource(self, job_id: str) -> dict[str, Any]:
        """The BookkeepingJob as the API server holds it."""
        return self.backend.emulator.get("bookkeepingjobs", NAMESPACE, job_id)

    def jobs_created_for(self, job_id: str) -> list[dict[str, Any]]:
        return [
            job
            for job in self.created_jobs
            if any(o.get("name") == job_id for o in job["metadata"].get("ownerReferences") or [])
        ]

    def pod_logs(self, job_id: str) -> str:
        return self.kubelet.dump_logs(job_name(job_id))

    def follow(self, http: httpx.Client, job_id: str, *, timeout: float = 60.0) -> Followed:
        """Poll the job over HTTP to its end; a timeout shows the task pods' logs."""
        try:
            return follow_job(http, job_id, timeout=timeout)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.pod_logs(job_id)}") from exc


def cluster_settings(data_dir: Path) -> Settings:
    return Settings(
        environment="test",
        data_dir=data_dir,
        job_store="kubernetes",
        kubernetes_namespace=NAMESPACE,
        task_template={
            "image": "bookkeeper-jobs:test",
            "artifacts_claim": None,
            "database_secret": None,
        },
        api_keys={KEY_A: Grant(tenant_id=TENANT, company_ids=[COMPANY, OTHER_COMPANY])},
    )


def seed_ledger(settings: Settings) -> None:
    """Migrate (the Helm hook's job), then give ``c1`` rules, approved history and rows
    still to categorize, and ``c2`` one row (an id of another company, for bulk-approve)."""
    ledger = Ledger.from_settings(settings)
    try:
        ledger.migrate()
        ledger.ensure_company(COMPANY, TENANT, "Company One")
        for priority, (pattern, account) in enumerate(RULES):
            ledger.add_rule(
                COMPANY, kind="contains", pattern=pattern, account_code=account, priority=priority
            )
        history = [
            seed_row(template.format(n=1000 + copy), amount, day=1 + copy)
            for template, amount, _ in HISTORY
            for copy in range(4)
        ]
        ledger.add_transactions(COMPANY, history)
        rows = ledger.list_transactions(COMPANY, limit=len(history))
        accounts = {template.format(n=1000 + c): a for template, _, a in HISTORY for c in range(4)}
        for row in rows:
            ledger.set_category(COMPANY, row.id, accounts[row.description])
        ledger.approve(COMPANY, [row.id for row in rows])
        pending = [
            seed_row(f"HARDWARE STORE {n}", f"-{10 + n}.00", day=1 + n % 28)
            for n in range(UNCATEGORIZED_SEED)
        ]
        ledger.add_transactions(COMPANY, pending)
        ledger.ensure_company(OTHER_COMPANY, TENANT, "Company Two")
        ledger.add_transactions(OTHER_COMPANY, [seed_row("OTHER COMPANY ROW", "-1.00", day=2)])
    finally:
        ledger.dispose()


def seed_row(description: str, amount: str, *, day: int) -> NewTransaction:
    """A row of December 2023: before the sample statement, so nothing collides with it."""
    return NewTransaction(
        date=datetime.date(2023, 12, day),
        description=description,
        amount=Decimal(amount),
        currency="USD",
    )


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("cluster")
    settings = cluster_settings(root / "data")
    settings.data_dir.mkdir()
    seed_ledger(settings)
    backend = KubernetesBackend(settings, root)
    created: list[dict[str, Any]] = []

    def record(change: Change) -> None:  # runs with the emulator's store locked
        if change.type == "ADDED":
            created.append(change.object)

    unsubscribe = backend.emulator.subscribe(record, JOBS)
    kubelet = Kubelet(
        backend.emulator,
        env_overrides={"KUBECONFIG": str(backend.kubeconfig)},
        env_force=task_environment(settings),
        backoff_base=0.1,
        cwd=str(root),
    )
    backend.kubelets.append(kubelet)  # backend.close() stops it
    api_client = backend.emulator.api_client()
    try:
        kubelet.start()
        app = create_app(settings, api_client=api_client)
        with serve_app(app) as base_url:
            server = LiveServer(settings=settings, base_url=base_url)
            yield Cluster(settings, backend, kubelet, server, created)
        assert not kubelet.errors, f"the test kubelet failed: {kubelet.errors!r}"
    finally:
        unsubscribe()
        api_client.close()
        backend.close()
