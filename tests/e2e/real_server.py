"""The end-to-end suite's cluster on the real control plane (see ``clusters.py``): what a
test reads of it comes from the admin's reads, a watch of the namespace's Jobs, the node
agent (the pods' processes and logs) and the API server's audit log."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, watch

from bookkeeper_jobs.api.app import create_app
from bookkeeper_jobs.kube import load_kube_configuration
from bookkeeper_jobs.operator.manifests import job_name
from bookkeeper_jobs.resource import GROUP, PLURAL, VERSION
from bookkeeper_jobs.settings import Settings
from tests.api.harness import LiveServer, serve_app
from tests.cluster.control_plane import ControlPlane
from tests.cluster.node_agent import NodeAgent, PodWorker
from tests.k8s.kubelet_process import PodRun
from tests.support.polling import wait_until

from .clusters import Cluster, JsonObject, Seed

JOB_NAME_LABEL = "batch.kubernetes.io/job-name"  # set on a Job's pods by the Job controller


class CreatedJobs:
    """Every batch/v1 Job of a namespace as it was created (the first time a watch, run as
    the admin, saw it), oldest first."""

    def __init__(self, api_client: client.ApiClient, namespace: str) -> None:
        self._batch = client.BatchV1Api(api_client)
        self._namespace = namespace
        self._lock = threading.Lock()
        self._jobs: list[JsonObject] = []
        self._uids: set[str] = set()
        self._stop = threading.Event()
        self._version = self._list()  # what exists before the watch starts
        self._thread = threading.Thread(target=self._watch, name="e2e-created-jobs", daemon=True)
        self._thread.start()

    def all(self) -> list[JsonObject]:
        with self._lock:
            return list(self._jobs)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)

    def _seen(self, job: JsonObject) -> None:
        with self._lock:
            if job["metadata"]["uid"] not in self._uids:
                self._uids.add(job["metadata"]["uid"])
                self._jobs.append(job)

    def _list(self) -> str:
        listed = self._batch.api_client.sanitize_for_serialization(
            self._batch.list_namespaced_job(self._namespace)
        )
        for job in listed["items"]:
            self._seen(job)
        version: str = listed["metadata"]["resourceVersion"]
        return version

    def _watch(self) -> None:
        version = self._version
        while not self._stop.is_set():
            try:
                version = version or self._list()
                for event in watch.Watch().stream(
                    self._batch.list_namespaced_job,
                    self._namespace,
                    resource_version=version,
                    allow_watch_bookmarks=True,
                    timeout_seconds=2,  # so that stop() returns soon
                ):
                    raw = event["raw_object"]
                    version = raw["metadata"]["resourceVersion"]
                    if event["type"] == "ADDED":
                        self._seen(raw)
            except Exception:  # 410 Gone, a cut connection: list again (uids: no duplicate)
                version = ""
                self._stop.wait(0.2)


class RealServerCluster(Cluster):
    patience = 3.0  # pods go through the kube-scheduler, the node agent and a Python start

    def __init__(
        self,
        settings: Settings,
        server: LiveServer,
        plane: ControlPlane,
        agent: NodeAgent,
        created: CreatedJobs,
    ) -> None:
        super().__init__(settings, server, settings.kubernetes_namespace)
        self.plane, self.agent, self._created = plane, agent, created

    def _get(self, path: str) -> JsonObject | None:
        status, answer = self.plane.request("GET", path)
        if status == 404:
            return None
        assert status == 200, f"GET {path}: {status} {answer}"
        found: JsonObject = answer
        return found

    def resource(self, job_id: str) -> JsonObject:
        path = f"/apis/{GROUP}/{VERSION}/namespaces/{self.namespace}/{PLURAL}/{job_id}"
        found = self._get(path)
        assert found is not None, f"no BookkeepingJob {job_id}"
        return found

    def job(self, job_id: str) -> JsonObject | None:
        return self._get(f"/apis/batch/v1/namespaces/{self.namespace}/jobs/{job_name(job_id)}")

    def created_jobs(self) -> list[JsonObject]:
        return self._created.all()

    def _pods(self, job_id: str) -> list[PodWorker]:
        name = job_name(job_id)
        return [
            worker
            for worker in self.agent.pods(self.namespace)
            if (worker.pod["metadata"].get("labels") or {}).get(JOB_NAME_LABEL) == name
        ]

    def pod_runs(self, job_id: str) -> list[PodRun]:
        return [run for worker in self._pods(job_id) for run in worker.runs]

    def pod_logs(self, job_id: str) -> str:
        return "\n".join(
            f"--- pod {w.name} ({w.phase}, {w.state}) ---\n{w.logs()}" for w in self._pods(job_id)
        )

    def _mark(self) -> str:
        """A request the audit log records: the admin reads a BookkeepingJob that is not."""
        name = f"e2e-marker-{uuid.uuid4().hex}"
        path = f"/apis/{GROUP}/{VERSION}/namespaces/{self.namespace}/{PLURAL}/{name}"
        assert self._get(path) is None
        return name

    @contextmanager
    def requests_naming(self, job_id: str) -> Iterator[list[str]]:
        """From the API server's audit log, between two marker requests (whoever made them:
        the API under its account, the operator, a task pod)."""
        start = self._mark()
        found: list[str] = []
        yield found
        end = self._mark()

        def logged() -> list[JsonObject] | None:
            events = self.plane.audit_events()
            return events if any(e["objectRef"].get("name") == end for e in events) else None

        events = wait_until(logged, timeout=30, what="the audit log to show the marker")
        names = [event["objectRef"].get("name") for event in events]
        between = events[names.index(start) + 1 : names.index(end)]
        found.extend(
            f"{e['verb']} {e['requestURI']} by {e['user']['username']}"
            for e in between
            if e["objectRef"].get("name") == job_id
        )


@contextmanager
def real_server_cluster(
    config: pytest.Config, root: Path, *, seed: Seed, **overrides: Any
) -> Iterator[RealServerCluster]:
    """Skips, or fails under ``CI=true``, when the control plane cannot be had."""
    from tests.cluster.session import shared_control_plane, shared_node_agent
    from tests.contract.real_cluster_backend import make_real_cluster_backend, real_cluster

    plane = shared_control_plane(config)
    agent = shared_node_agent(config)
    data = root / "data"
    data.mkdir()
    with real_cluster(plane, agent) as shared:
        backend = make_real_cluster_backend(
            data,
            cluster=shared,
            tasks={},  # the product's own task functions
            job_store="kubernetes",
            job_timeout=600.0,  # the defaults, as in the emulated cluster
            retry_backoff=2.0,
            **overrides,
        )
        created: CreatedJobs | None = None
        admin = client.ApiClient(load_kube_configuration(plane.kubeconfig))
        # the api account's token: every request of the app is checked against its Role
        api_client = client.ApiClient(load_kube_configuration(backend.api_kubeconfig))
        try:
            seed(backend.settings)
            created = CreatedJobs(admin, backend.namespace)
            backend.start_workers()
            app = create_app(backend.settings, api_client=api_client)
            with serve_app(app) as base_url:
                server = LiveServer(settings=backend.settings, base_url=base_url)
                yield RealServerCluster(backend.settings, server, plane, agent, created)
            assert not agent.errors, f"the node agent failed: {agent.errors!r}"
        finally:
            if created is not None:
                created.stop()
            api_client.close()
            admin.close()
            backend.close()
