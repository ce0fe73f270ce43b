"""Two operators peering on the real control plane: only the higher-priority one acts and
sweeps until it stops, then the other takes over (the emulator's
``tests/k8s/test_operator_peering.py``, on kube-apiserver with RBAC).

Each test runs in a namespace of the contract suite's ``kubernetes-real`` backend
(``tests/contract/real_cluster_backend.py``: the chart's accounts and Roles, task pods on the
node agent). Its in-thread operator is stopped; instead two ``bkjobs operator run``
processes run as the chart runs its replicas: the same namespace and peering object (the
chart's KopfPeering ``bookkeeper-jobs``, kopf's CRDs from ``charts/bookkeeper-jobs/crds``),
the operator ServiceAccount, each with its own ``POD_ID`` and, here, a fixed
``BKJOBS_OPERATOR_PRIORITY`` (the chart draws a random one per replica).

Which process made a request is read from the API server's audit log (every request naming
a BookkeepingJob, ``control_plane.AUDIT_POLICY``): each process has its own TokenRequest
token of the operator account, and the server records the token's id (its ``jti``) with
each request (``authentication.kubernetes.io/credential-id``). The helm-release test proves
the takeover after a ``SIGKILL`` (kopf's 60 s keep-alive); these stop the acting one with
``SIGTERM``, on which kopf withdraws its keep-alive and the peer resumes at once.

kopf pauses an operator that sees a live peer with a higher priority,
https://docs.kopf.dev/en/latest/peering/.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from bookkeeper_jobs.jobs import CategorizeSpec
from bookkeeper_jobs.operator.manifests import job_name
from bookkeeper_jobs.resource import GROUP, LABEL_NAME, PLURAL, VERSION
from tests.cluster.control_plane import ROOT
from tests.contract.real_cluster_backend import (
    FULLNAME,
    TOKEN_SECONDS,
    RealCluster,
    RealClusterBackend,
    make_real_cluster_backend,
)
from tests.support.polling import wait_until

pytestmark = pytest.mark.slow

PEERING_CRDS = ROOT / "charts" / "bookkeeper-jobs" / "crds" / "kopf-peering.yaml"
PEERING = "bookkeeper-jobs"  # the chart's operator.peering.name
HIGH, LOW = 200, 100
CREDENTIAL_ID = "authentication.kubernetes.io/credential-id"
WRITES = ("create", "update", "patch", "delete")
FINISHED_LONG_AGO = {"phase": "complete", "finishedAt": "2000-01-01T00:00:00Z"}
RESUMED = "Resuming operations after the pause"


@pytest.fixture
def backend(cluster: RealCluster, tmp_path: Path) -> Iterator[RealClusterBackend]:
    """A namespace with the chart's accounts and its KopfPeering, and no operator yet."""
    (tmp_path / "script").mkdir()
    made = make_real_cluster_backend(tmp_path, cluster=cluster)
    try:
        made.stop_operator()  # the peers of each test are the namespace's operators
        for crd in yaml.safe_load_all(PEERING_CRDS.read_text()):
            status, answer = cluster.request(
                "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd
            )
            assert status in (201, 409), answer  # 409: made by a helm release or a test before
        peerings = f"/apis/kopf.dev/v1/namespaces/{made.namespace}/kopfpeerings"
        wait_until(
            lambda: cluster.request("GET", peerings)[0] == 200,
            timeout=60,
            what="the API server to serve KopfPeerings",
        )
        body = {"apiVersion": "kopf.dev/v1", "kind": "KopfPeering", "metadata": {"name": PEERING}}
        cluster.must("POST", peerings, body)
        yield made
    finally:
        made.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Operator:
    """``bkjobs operator run`` as a process, configured as the chart's operator Deployment
    configures a replica, under its own token of the operator ServiceAccount."""

    def __init__(
        self, backend: RealClusterBackend, name: str, priority: int, sweep_interval: float
    ) -> None:
        self.name, self.priority = name, priority
        cluster, namespace = backend.cluster, backend.namespace
        answer = cluster.must(
            "POST",
            f"/api/v1/namespaces/{namespace}/serviceaccounts/{FULLNAME}-operator/token",
            {"spec": {"audiences": [], "expirationSeconds": TOKEN_SECONDS}},
        )
        token = answer["status"]["token"]
        claims = token.split(".")[1]
        self.jti = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))["jti"]
        kubeconfig = cluster.plane.write_kubeconfig(backend.tmp_path / f"{name}.kubeconfig", token)
        settings = backend.settings
        env = {
            **os.environ,
            "BKJOBS_ENVIRONMENT": "test",
            "BKJOBS_DATA_DIR": str(settings.data_dir),
            "BKJOBS_KUBERNETES_NAMESPACE": namespace,
            "BKJOBS_TASKS": json.dumps(settings.tasks),
            "BKJOBS_TASK_TEMPLATE": json.dumps(settings.task_template),
            "BKJOBS_OPERATOR_CLUSTER_WIDE": "false",
            "BKJOBS_OPERATOR_PEERING": PEERING,
            "POD_ID": name,  # kopf's id of this peer (the chart: the pod's name)
            "BKJOBS_OPERATOR_PRIORITY": str(priority),
            "BKJOBS_OPERATOR_HEALTH_PORT": str(_free_port()),
            "BKJOBS_OPERATOR_METRICS_PORT": str(_free_port()),
            "BKJOBS_SWEEP_INTERVAL": str(sweep_interval),
        }
        self.log_path = backend.tmp_path / f"{name}.log"
        command = [sys.executable, "-m", "bookkeeper_jobs.cli", "operator", "run"]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [*command, "--kubeconfig", str(kubeconfig)],
                env=env,
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
            raise AssertionError(f"{self.name} did not stop on {sig.name}") from None


@pytest.fixture
def operators(backend: RealClusterBackend) -> Iterator[Callable[[str, int, float], Operator]]:
    """Starts operator processes; any still running at the end is stopped (SIGKILL after
    SIGTERM's 30 s)."""
    started: list[Operator] = []

    def start(name: str, priority: int, sweep_interval: float = 60.0) -> Operator:
        operator = Operator(backend, name, priority, sweep_interval)
        started.append(operator)
        return operator

    yield start
    for operator in started:
        operator.stop()


class Namespace:
    """The namespace as the admin reads it: the peering object, resources, Jobs, Events,
    and the audit log's writes to its BookkeepingJobs."""

    def __init__(self, backend: RealClusterBackend) -> None:
        self.backend, self.cluster, self.name = backend, backend.cluster, backend.namespace
        self.resources = f"/apis/{GROUP}/{VERSION}/namespaces/{self.name}/{PLURAL}"
        self.jobs = f"/apis/batch/v1/namespaces/{self.name}/jobs"
        self.peering = f"/apis/kopf.dev/v1/namespaces/{self.name}/kopfpeerings/{PEERING}"

    def peers(self) -> dict[str, int]:
        """The peering object's live peers: id -> priority."""
        status = self.cluster.must("GET", self.peering).get("status") or {}
        return {
            peer: int(entry.get("priority", 0))
            for peer, entry in status.items()
            if isinstance(entry, dict)
        }

    def submit(self) -> str:
        """A categorize job through the store (the api account); its resource's name."""
        spec = CategorizeSpec(company_id="ok", tenant_id="t1")
        return self.backend.store.submit(spec).job.id

    def resource(self, name: str) -> dict[str, Any] | None:
        status, answer = self.cluster.request("GET", f"{self.resources}/{name}")
        assert status in (200, 404), answer
        return answer if status == 200 else None

    def phase(self, name: str) -> str | None:
        resource = self.resource(name)
        return ((resource or {}).get("status") or {}).get("phase")

    def child_jobs(self, name: str) -> list[str]:
        found = self.cluster.must("GET", f"{self.jobs}?labelSelector={LABEL_NAME}%3D{name}")
        return [job["metadata"]["name"] for job in found["items"]]

    def reasons(self, name: str) -> list[str]:
        events = self.cluster.must("GET", f"/api/v1/namespaces/{self.name}/events")["items"]
        return [e["reason"] for e in events if e["involvedObject"].get("name") == name]

    def requests(self) -> list[tuple[str, str, str]]:
        """Every request naming this namespace's BookkeepingJobs so far (a list or watch of
        them, or one of them or its status), oldest first: (the id of the token that made
        it, the verb, the resource's name or "" for a list or watch)."""
        return [
            (_credential(event), event["verb"], event["objectRef"].get("name", ""))
            for event in self.cluster.plane.audit_events()
            if event["objectRef"].get("namespace") == self.name
            and event["objectRef"].get("resource") == PLURAL
        ]

    def by(self, operator: Operator) -> list[tuple[str, str]]:
        """What ``operator`` asked of the BookkeepingJobs: (verb, name) pairs."""
        return [(verb, name) for token, verb, name in self.requests() if token == operator.jti]

    def writes(self, name: str) -> list[tuple[str, str]]:
        """The writes to resource ``name`` (or its status): (token id, verb)."""
        return [
            (token, verb)
            for token, verb, named in self.requests()
            if named == name and verb in WRITES
        ]

    def wait_handled(self, name: str, by: Operator) -> None:
        """Until the resource is ``pending`` with its one Job and one ``JobCreated``
        Event, and ``by`` has written to it."""
        wait_until(
            lambda: (
                self.phase(name) == "pending"
                and self.child_jobs(name) == [job_name(name)]
                and "JobCreated" in self.reasons(name)
                and any(token == by.jti for token, _ in self.writes(name))
            ),
            timeout=60,
            interval=0.2,
            what=f"{by.name} to create the Job of {name}",
        )


def _credential(event: dict[str, Any]) -> str:
    extra = event["user"].get("extra") or {}
    [credential] = extra.get(CREDENTIAL_ID) or ["?"]
    return str(credential).removeprefix("JTI=")


def _with_logs(*operators: Operator) -> str:
    return "\n".join(f"--- {o.name} ---\n{o.log()[-4000:]}" for o in operators)


def test_only_the_higher_priority_operator_acts_until_it_stops(
    backend: RealClusterBackend, operators: Callable[[str, int, float], Operator]
) -> None:
    """Two live peers: the high-priority one creates the first job's Job and writes its
    status; the low one, paused from its start, makes no request of the BookkeepingJobs at
    all (kopf starts no watch while paused; the audit log has none from its token). The
    high one stopped with SIGTERM leaves the peering object; the low one resumes, watches,
    and creates the next job's Job, while the first job keeps its one Job and one
    JobCreated."""
    ns = Namespace(backend)
    high = operators("operator-high", HIGH, 60.0)
    wait_until(lambda: ns.peers() == {high.name: HIGH}, timeout=60, what="the high one's peer")
    wait_until(lambda: RESUMED in high.log(), timeout=60, what="the high one to act")
    low = operators("operator-low", LOW, 60.0)
    wait_until(
        lambda: ns.peers() == {high.name: HIGH, low.name: LOW},
        timeout=60,
        what="both peers in the peering object",
    )

    first = ns.submit()
    ns.wait_handled(first, by=high)
    time.sleep(2.0)  # room for the low one to (wrongly) handle it as well
    try:
        assert ns.child_jobs(first) == [job_name(first)]
        assert ns.reasons(first).count("JobCreated") == 1
        assert ("watch", "") in ns.by(high) and ("patch", first) in ns.by(high)
        assert ns.by(low) == []
        assert RESUMED not in low.log()  # it never left its initial pause
    except AssertionError as error:
        raise AssertionError(f"{error}\n{_with_logs(high, low)}") from None

    assert high.stop(signal.SIGTERM) == 0, _with_logs(high)
    wait_until(lambda: ns.peers() == {low.name: LOW}, timeout=30, what="the high one to leave")
    wait_until(lambda: RESUMED in low.log(), timeout=30, what="the low one to resume")

    second = ns.submit()
    ns.wait_handled(second, by=low)
    assert ("watch", "") in ns.by(low)
    assert high.jti not in {token for token, _ in ns.writes(second)}, ns.writes(second)
    assert ns.child_jobs(first) == [job_name(first)]  # not handled again after the takeover
    assert ns.reasons(first).count("JobCreated") == 1
    assert len(ns.cluster.must("GET", ns.jobs)["items"]) == 2
    assert low.stop(signal.SIGTERM) == 0, _with_logs(low)
    wait_until(lambda: ns.peers() == {}, timeout=30, what="the peering object to empty")


def test_only_the_higher_priority_operator_sweeps_until_it_stops(
    backend: RealClusterBackend, operators: Callable[[str, int, float], Operator]
) -> None:
    """The high one sweeps at its start and then every 60 s, the low one would every
    0.5 s: a job that finished long ago (past any TTL) while both run stays, nobody
    deletes it, and the low one does not even list the jobs; once the high one has stopped
    (SIGTERM) the low one deletes it, with one DELETE."""
    ns = Namespace(backend)
    high = operators("operator-high", HIGH, 60.0)
    wait_until(lambda: ns.peers() == {high.name: HIGH}, timeout=60, what="the high one's peer")
    wait_until(lambda: RESUMED in high.log(), timeout=60, what="the high one to act")
    low = operators("operator-low", LOW, 0.5)
    wait_until(
        lambda: ns.peers() == {high.name: HIGH, low.name: LOW},
        timeout=60,
        what="both peers in the peering object",
    )

    name = ns.submit()
    ns.wait_handled(name, by=high)
    ns.cluster.must("PATCH", f"{ns.resources}/{name}/status", {"status": FINISHED_LONG_AGO})
    assert ns.phase(name) == "complete"
    time.sleep(3.0)  # six sweeps of the low one, were it acting
    try:
        assert ns.resource(name) is not None
        assert [verb for _, verb in ns.writes(name) if verb == "delete"] == []
        assert ns.by(low) == []
    except AssertionError as error:
        raise AssertionError(f"{error}\n{_with_logs(high, low)}") from None

    assert high.stop(signal.SIGTERM) == 0, _with_logs(high)
    wait_until(lambda: ns.peers() == {low.name: LOW}, timeout=30, what="the high one to leave")
    wait_until(lambda: ns.resource(name) is None, timeout=30, what="the low one to sweep the job")
    time.sleep(1.0)  # two more sweeps: none deletes it again
    deletes = [token for token, verb in ns.writes(name) if verb == "delete"]
    assert deletes == [low.jti], (deletes, low.jti, high.jti)
