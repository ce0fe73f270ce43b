"""The two clusters the end-to-end suite runs on, behind one small interface.

Both run the real app in cluster mode (``create_app`` with ``job_store="kubernetes"``: the
KubernetesJobStore over its watch cache) served by uvicorn on a free 127.0.0.1 port, the
real operator (kopf, in a thread) and the real ``bkjobs task run --job <ns>/<name>`` in each
task pod; API and task pods share one data directory (uploads and the SQLite ledger), as
they share a volume in a cluster.

- :func:`emulated_cluster`: the API-server emulator (``tests/k8s/emulator``) with the
  project's CRD and the test kubelet (``tests/k8s/kubelet.py``), which plays the Job
  controller too; nobody is authenticated.
- :func:`~tests.e2e.real_server.real_server_cluster` (``real_server.py``): the session's
  real control plane (kube-apiserver with RBAC, the real Job controller, kube-scheduler,
  etcd) and its node agent, in a namespace set up by the contract suite's
  ``kubernetes-real`` backend with the chart's rendered RBAC: the API talks to the API
  server with a TokenRequest token of the chart's **api** account, the operator with one of
  the **operator** account, the task pods run under the **task** account.

What a test reads besides HTTP (the BookkeepingJob as stored, the Jobs the operator created,
the pods' processes and logs, the requests that reached the API server) goes through
:class:`Cluster`: the emulator answers from its store, subscriptions and request log; the
real server from the admin's reads, a watch, the node agent and the API server's audit log.
"""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from bookkeeper_jobs.api.app import create_app
from bookkeeper_jobs.ledger import Ledger
from bookkeeper_jobs.operator.manifests import job_name
from bookkeeper_jobs.resource import PLURAL
from bookkeeper_jobs.settings import Settings
from tests.api.harness import KEY_A, LiveServer, serve_app
from tests.k8s.kubelet_process import PodRun
from tests.support.jobs_http import Followed, follow_job
from tests.support.polling import wait_until

if TYPE_CHECKING:
    from tests.contract.cluster_backend import KubernetesBackend
    from tests.k8s.emulator import Change
    from tests.k8s.kubelet import Kubelet

JsonObject = dict[str, Any]
JOBS = "batch/v1/jobs"
Seed = Callable[[Settings], None]


class Cluster(ABC):
    """The API over HTTP and what a test may read of the cluster behind it."""

    patience = 1.0
    """How much longer waits are here (bounds, never assertions: a passing test takes as
    long as it takes)."""

    def __init__(self, settings: Settings, server: LiveServer, namespace: str) -> None:
        self.settings = settings
        self.server = server
        self.namespace = namespace

    def client(self, token: str | None = KEY_A) -> httpx.Client:
        return self.server.client(token)

    @contextmanager
    def ledger(self) -> Iterator[Ledger]:
        with self.server.ledger() as ledger:
            yield ledger

    def follow(self, http: httpx.Client, job_id: str, *, timeout: float = 60.0) -> Followed:
        """Poll the job over HTTP to its end; a timeout shows the task pods' logs."""
        try:
            return follow_job(http, job_id, timeout=timeout * self.patience)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.pod_logs(job_id)}") from exc

    def jobs_created_for(self, job_id: str) -> list[JsonObject]:
        """The batch/v1 Jobs created for the BookkeepingJob, as they were created (deleted
        ones included), oldest first."""
        return [
            job
            for job in self.created_jobs()
            if any(o.get("name") == job_id for o in job["metadata"].get("ownerReferences") or [])
        ]

    def job_exists(self, job_id: str) -> bool:
        """Whether the BookkeepingJob's batch/v1 Job is still on the API server."""
        return self.job(job_id) is not None

    def wait_for_job(self, job_id: str, condition: str, timeout: float = 30.0) -> JsonObject:
        """The BookkeepingJob's batch/v1 Job once its ``condition`` (``Complete``,
        ``Failed``) is ``True``."""

        def met() -> JsonObject | None:
            job = self.job(job_id)
            conditions = ((job or {}).get("status") or {}).get("conditions") or []
            found = any(c["type"] == condition and c["status"] == "True" for c in conditions)
            return job if found else None

        try:
            return wait_until(
                met, timeout=timeout * self.patience, interval=0.05, what=f"Job {condition}"
            )
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.pod_logs(job_id)}") from exc

    @abstractmethod
    def resource(self, job_id: str) -> JsonObject:
        """The BookkeepingJob as the API server holds it."""

    @abstractmethod
    def job(self, job_id: str) -> JsonObject | None:
        """The BookkeepingJob's batch/v1 Job as the API server holds it (None: none)."""

    @abstractmethod
    def created_jobs(self) -> list[JsonObject]:
        """Every batch/v1 Job of the namespace as it was created, oldest first."""

    @abstractmethod
    def pod_runs(self, job_id: str) -> list[PodRun]:
        """The containers run for the job's pods (their processes), oldest first."""

    @abstractmethod
    def pod_logs(self, job_id: str) -> str:
        """The job's pods' logs, for assertion messages."""

    @abstractmethod
    def requests_naming(self, job_id: str) -> AbstractContextManager[list[str]]:
        """The list it gives is filled, when the block ends, with the requests naming the
        BookkeepingJob that reached the API server inside the block."""


class EmulatedCluster(Cluster):
    def __init__(
        self,
        settings: Settings,
        server: LiveServer,
        backend: KubernetesBackend,
        kubelet: Kubelet,
        created: list[JsonObject],
    ) -> None:
        super().__init__(settings, server, settings.kubernetes_namespace)
        self.backend, self.kubelet, self._created = backend, kubelet, created

    def resource(self, job_id: str) -> JsonObject:
        return self.backend.emulator.get(PLURAL, self.namespace, job_id)

    def job(self, job_id: str) -> JsonObject | None:
        from tests.k8s.emulator import ApiError

        try:
            return self.backend.emulator.get(JOBS, self.namespace, job_name(job_id))
        except ApiError as error:
            if error.code == 404:
                return None
            raise

    def created_jobs(self) -> list[JsonObject]:
        return list(self._created)

    def pod_runs(self, job_id: str) -> list[PodRun]:
        return self.kubelet.runs(job_name(job_id))

    def pod_logs(self, job_id: str) -> str:
        return self.kubelet.dump_logs(job_name(job_id))

    @contextmanager
    def requests_naming(self, job_id: str) -> Iterator[list[str]]:
        """From the emulator's request log (its last 1000 requests), after a marker."""
        emulator = self.backend.emulator
        marker = f"/api/v1/namespaces/{self.namespace}/configmaps/e2e-marker-{uuid.uuid4().hex}"
        with httpx.Client(base_url=emulator.url) as raw:
            assert raw.get(marker).status_code == 404
        found: list[str] = []
        yield found
        log = emulator.requests
        since = log[log.index(("GET", marker)) + 1 :]
        path = f"/{PLURAL}/{job_id}"
        found.extend(f"{method} {target}" for method, target in since if path in target)


@contextmanager
def emulated_cluster(root: Path, *, seed: Seed, **overrides: Any) -> Iterator[EmulatedCluster]:
    from tests.contract.cluster_backend import NAMESPACE, KubernetesBackend, task_environment
    from tests.k8s.kubelet import Kubelet

    settings = Settings(
        environment="test",
        data_dir=root / "data",
        job_store="kubernetes",
        kubernetes_namespace=NAMESPACE,
        task_template={
            "image": "bookkeeper-jobs:test",
            "artifacts_claim": None,
            "database_secret": None,
        },
        **overrides,
    )
    settings.data_dir.mkdir()
    seed(settings)
    backend = KubernetesBackend(settings, root)
    created: list[JsonObject] = []

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
            yield EmulatedCluster(settings, server, backend, kubelet, created)
        assert not kubelet.errors, f"the test kubelet failed: {kubelet.errors!r}"
    finally:
        unsubscribe()
        api_client.close()
        backend.close()
