"""The chart installed the way users install it, on a real control plane (issue 12).

One ``helm install`` per module (the project's helm, ``.tools/helm``) of
``charts/bookkeeper-jobs`` with ``values-dev.yaml``, except that the database is external,
as in the prod values: ``postgresql.enabled=false`` and ``database.existingSecret`` naming a
Secret whose URL points at the test PostgreSQL (``tests/postgres.py``). Two operator
replicas (kopf peering) instead of one. The artifacts claim the chart creates is bound by
the real PV binder to a ``hostPath`` PersistentVolume made here.

Everything then happens as in a cluster: helm creates the CRDs, ServiceAccounts, RBAC,
Secrets and Deployments; the ReplicaSet controller makes Pods; kube-scheduler binds them
to the node agent (``node_agent.py``), which runs the containers' ``command`` with the env
and ServiceAccount token the rendered chart gives them (``bkjobs`` is the venv's; no
image exists); the post-install migrations hook is a Job that the real Job controller runs
through the node agent; and the operator and the API each talk to the API server with
their own ServiceAccount's token, so the chart's RBAC is what lets them work.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from kubernetes import client
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from bookkeeper_jobs.jobs import CategorizeSpec, new_job_id
from bookkeeper_jobs.kube import load_kube_configuration
from bookkeeper_jobs.resource import GROUP, PLURAL, VERSION, spec_to_resource
from tests.cluster.conftest import HELM, ROOT, unavailable
from tests.cluster.control_plane import ControlPlane
from tests.cluster.node_agent import NodeAgent, PodWorker
from tests.e2e import kind_scenario
from tests.support.jobs_http import follow_job
from tests.support.polling import wait_until

pytestmark = pytest.mark.slow

CHART = ROOT / "charts" / "bookkeeper-jobs"
DEV_VALUES = CHART / "values-dev.yaml"
KUBECTL = ROOT / ".tools" / "kubectl"
RELEASE = "bkjobs"
NAMESPACE = "bkjobs-release"
FULLNAME = f"{RELEASE}-bookkeeper-jobs"
DEV_KEY = "dev-key-0123456789abcdefghij"  # values-dev.yaml's demo API key
API_PORT = 8000
HELM_TIMEOUT = "10m"
JsonObject = dict[str, Any]


class OperatorCrashed(AssertionError):
    """An operator pod's container exited on its own (the node agent restarted it)."""


@dataclass
class Release:
    plane: ControlPlane
    agent: NodeAgent
    namespace: str
    kubeconfig: Path  # the admin's, with the release's namespace as the context's
    database_url: str
    install_seconds: float = 0.0
    adopted_crd: bool = False  # the BookkeepingJob CRD existed before the release

    def helm(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [
            str(HELM),
            *args,
            "--namespace",
            self.namespace,
            "--kubeconfig",
            str(self.kubeconfig),
        ]
        done = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
        assert done.returncode == 0, (
            f"{' '.join(args[:2])} exited {done.returncode}:\n{done.stdout}\n{done.stderr}\n"
            f"{self.agent.dump_logs(self.namespace)[-6000:]}"
        )
        return done

    def get(self, path: str) -> JsonObject | None:
        status, answer = self.plane.request("GET", path)
        if status == 404:
            return None
        assert status == 200, answer
        return answer  # type: ignore[no-any-return]

    def uninstall(self) -> None:
        """``helm uninstall --wait``: the Deployments are gone at once, their pods soon."""
        self.helm("uninstall", RELEASE, "--wait", "--timeout", HELM_TIMEOUT)
        for component in ("api", "operator"):
            deployment = (
                f"/apis/apps/v1/namespaces/{self.namespace}/deployments/{FULLNAME}-{component}"
            )
            assert self.get(deployment) is None
            wait_until(
                lambda c=component: not self.pods(c), timeout=120, what=f"the {component} pods gone"
            )

    def pods(self, component: str) -> list[JsonObject]:
        """The release's live (not terminating) pods of one component, oldest first."""
        selector = f"app.kubernetes.io/component%3D{component}"
        found = self.get(f"/api/v1/namespaces/{self.namespace}/pods?labelSelector={selector}")
        items = [
            p for p in (found or {}).get("items") or [] if "deletionTimestamp" not in p["metadata"]
        ]
        return sorted(items, key=lambda p: p["metadata"]["creationTimestamp"])

    def phase_on_node(self, pod: JsonObject) -> str | None:
        """The pod's phase as the node agent runs it; None until the agent has taken it up
        (the API server lists a pod as soon as it is bound, before the agent's watch sees it)."""
        worker = self.agent.worker(self.namespace, pod["metadata"]["name"])
        return None if worker is None else worker.phase

    def worker(self, pod: JsonObject) -> PodWorker:
        worker = self.agent.worker(self.namespace, pod["metadata"]["name"])
        assert worker is not None, pod["metadata"]["name"]
        return worker

    def require_a_running_operator(self, uptime: float = 15.0) -> None:
        """Every operator pod up for ``uptime`` seconds without a restart, else
        :class:`OperatorCrashed` with the end of the log of the one that exited."""

        def settled() -> bool:
            pods = self.pods("operator")
            if any(self.phase_on_node(pod) is None for pod in pods):
                return False  # bound, and not yet taken up by the node agent
            workers = [self.worker(pod) for pod in pods]
            for worker in workers:
                if worker.restart_count:
                    raise OperatorCrashed(
                        f"operator pod {worker.name} restarted {worker.restart_count} times, "
                        f"last exit {worker.last_state}; its log ends:\n{worker.logs()[-2500:]}"
                    )
            now = time.monotonic()
            return bool(workers) and all(
                w.runs and w.runs[-1].pid and now - w.runs[-1].created_monotonic >= uptime
                for w in workers
            )

        wait_until(settled, timeout=120, interval=0.5, what="the operator pods to stay up")

    def api_url(self) -> str:
        """The API pod's address (the node agent's port for its container port 8000)."""
        pod = wait_until(lambda: self.pods("api") or None, timeout=120, what="an API pod")[-1]
        port = self.agent.port(self.namespace, pod["metadata"]["name"], API_PORT)
        return f"http://127.0.0.1:{port}"

    def http(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.api_url(), headers={"Authorization": f"Bearer {DEV_KEY}"}, timeout=30
        )


def _persistent_volume(plane: ControlPlane, directory: Path) -> None:
    """A hostPath PV reserved (``claimRef``) for the chart's artifacts claim."""
    body = {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": f"{NAMESPACE}-artifacts"},
        "spec": {
            "capacity": {"storage": "10Gi"},
            "accessModes": ["ReadWriteOnce", "ReadWriteMany"],
            "persistentVolumeReclaimPolicy": "Retain",
            "hostPath": {"path": str(directory), "type": "Directory"},
            "claimRef": {"namespace": NAMESPACE, "name": f"{FULLNAME}-artifacts"},
        },
    }
    status, answer = plane.request("POST", "/api/v1/persistentvolumes", body)
    assert status == 201, answer


@contextlib.contextmanager
def release_namespace(
    plane: ControlPlane, postgres_server_url: str, namespace: str, database: str
) -> Iterator[tuple[Path, str]]:
    """What a release needs first: ``namespace`` on the API server with an admin kubeconfig
    whose context is it, and a fresh ``database`` on the test PostgreSQL (its URL). Both are
    removed afterwards (uninstall the release first)."""
    admin = create_engine(postgres_server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{database}"'))
    url = make_url(postgres_server_url).set(database=database).render_as_string(hide_password=False)
    try:
        status, answer = plane.request(
            "POST", "/api/v1/namespaces", {"metadata": {"name": namespace}}
        )
        assert status == 201, answer
        kubeconfig = plane.workdir / f"{namespace}.kubeconfig"
        document = yaml.safe_load(plane.kubeconfig.read_text())
        document["contexts"][0]["context"]["namespace"] = namespace
        kubeconfig.write_text(yaml.safe_dump(document))
        kubeconfig.chmod(0o600)
        try:
            yield kubeconfig, url
        finally:
            plane.request("DELETE", f"/api/v1/namespaces/{namespace}")
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="module")
def release(
    control_plane: ControlPlane, node_agent: NodeAgent, postgres_server_url: str
) -> Iterator[Release]:
    if not HELM.exists() or not KUBECTL.exists():
        unavailable(f"{HELM} or {KUBECTL} missing: run `make tools`")
    with release_namespace(
        control_plane, postgres_server_url, NAMESPACE, f"bkjobs_release_{os.getpid()}"
    ) as (kubeconfig, url):
        yield from _installed(control_plane, node_agent, kubeconfig, url)


def _installed(
    control_plane: ControlPlane, node_agent: NodeAgent, kubeconfig: Path, url: str
) -> Iterator[Release]:
    status, answer = control_plane.request(
        "POST",
        f"/api/v1/namespaces/{NAMESPACE}/secrets",
        {"metadata": {"name": "bkjobs-database"}, "stringData": {"database-url": url}},
    )
    assert status == 201, answer
    files = Path(tempfile.mkdtemp(prefix="bkjobs-artifacts-"))
    _persistent_volume(control_plane, files)
    # The session's other modules may have applied the BookkeepingJob CRD by hand; the chart
    # templates it, so it is adopted as a user adopts an existing object into a release.
    crd_path = (
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/bookkeepingjobs.jobs.bookkeeper.ai"
    )
    status, _ = control_plane.request("GET", crd_path)
    if status == 200:
        adopt = {
            "metadata": {
                "labels": {"app.kubernetes.io/managed-by": "Helm"},
                "annotations": {
                    "meta.helm.sh/release-name": RELEASE,
                    "meta.helm.sh/release-namespace": NAMESPACE,
                },
            }
        }
        req = urllib.request.Request(
            f"{control_plane.url}{crd_path}", data=json.dumps(adopt).encode(), method="PATCH"
        )
        req.add_header("Authorization", f"Bearer {control_plane.admin_token}")
        req.add_header("Content-Type", "application/merge-patch+json")
        context = ssl.create_default_context(cafile=str(control_plane.ca_path))
        with urllib.request.urlopen(req, timeout=30, context=context) as answer:
            assert answer.status == 200
    installed = Release(control_plane, node_agent, NAMESPACE, kubeconfig, url)
    installed.adopted_crd = status == 200
    began = time.monotonic()
    installed.helm(
        "install",
        RELEASE,
        str(CHART),
        "-f",
        str(DEV_VALUES),
        "--set",
        "postgresql.enabled=false",
        "--set",
        "database.existingSecret=bkjobs-database",
        "--set",
        "operator.replicas=2",
        "--wait=watcher",
        "--timeout",
        HELM_TIMEOUT,
    )
    installed.install_seconds = time.monotonic() - began
    try:
        yield installed
    finally:
        subprocess.run(
            [str(HELM), "uninstall", RELEASE, "-n", NAMESPACE, "--kubeconfig", str(kubeconfig)],
            capture_output=True,
            timeout=300,
            check=False,
        )


def test_install_migrated_the_ledger_and_runs_each_pod_under_its_account(release: Release) -> None:
    # the post-install hook: a Job the real Job controller ran on the node agent
    migrations = [
        w for w in release.agent.pods(NAMESPACE) if w.name.startswith(f"{FULLNAME}-migrate-")
    ]
    assert migrations and migrations[-1].phase == "Succeeded", release.agent.dump_logs(NAMESPACE)
    assert (
        release.get(f"/apis/batch/v1/namespaces/{NAMESPACE}/jobs/{FULLNAME}-migrate") is None
    )  # hook-succeeded
    engine = create_engine(release.database_url)
    try:
        assert "alembic_version" in inspect(engine).get_table_names()
    finally:
        engine.dispose()

    for component, replicas in (("api", 1), ("operator", 2)):
        deployment = release.get(
            f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/{FULLNAME}-{component}"
        )
        assert deployment is not None
        assert deployment["status"].get("availableReplicas") == replicas, deployment["status"]
        pods = release.pods(component)
        assert len(pods) == replicas
        for pod in pods:
            assert pod["spec"]["serviceAccountName"] == f"{FULLNAME}-{component}"
            assert pod["status"]["phase"] == "Running"
            # the ServiceAccount admission plugin mounted its token; the agent provided it
            assert release.worker(pod).mounts.get("/var/run/secrets/kubernetes.io/serviceaccount")

    # issue 13's start-up stall: a namespaced operator that lists namespaces cluster-wide gets
    # 403s from the real server (and retries them for ~54 s before it watches anything); under
    # the chart's namespaced Role no request of either operator pod is refused
    release.require_a_running_operator(uptime=5.0)
    for pod in release.pods("operator"):
        log = release.worker(pod).logs()
        assert "Initial authentication has finished" in log, log[-4000:]
        assert "Forbidden" not in log and "forbidden" not in log, log[-4000:]

    # the API answers /readyz only once its BookkeepingJob watch cache synced: it listed and
    # watched with its own account's token, under the chart's Role
    with release.http() as http:
        ready = wait_until(
            lambda: (r := http.get("/readyz")).status_code == 200 and r,
            timeout=120,
            what="the API's /readyz",
        )
        assert ready.status_code == 200


def test_the_end_to_end_scenario_over_http(
    release: Release, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``tests/e2e/kind_scenario.py`` (what ``make e2e-kind`` runs on kind): an upload
    imported and categorized by a task Job, ``kubectl wait --for=condition=Succeeded``,
    ``kubectl get bkj -l``, and a cancel."""
    release.require_a_running_operator()
    monkeypatch.setenv("BKJOBS_E2E_URL", release.api_url())
    monkeypatch.setenv("BKJOBS_E2E_KEY", DEV_KEY)
    monkeypatch.setenv("BKJOBS_E2E_KUBECTL", str(KUBECTL))
    monkeypatch.setenv("KUBECONFIG", str(release.kubeconfig))
    try:
        kind_scenario.test_upload_runs_as_a_kubernetes_job_to_complete()
        kind_scenario.test_cancel_stops_the_job()
    except (AssertionError, subprocess.CalledProcessError) as error:
        raise AssertionError(f"{error}\n{release.agent.dump_logs(NAMESPACE)[-8000:]}") from error


def test_an_operator_killed_with_sigkill_is_replaced_by_its_peer(release: Release) -> None:
    """Two operator replicas peer through kopf (the chart's KopfPeering; each replica's id is
    its pod name): the one acting, the highest priority in the peering object, is killed
    with ``SIGKILL`` (no goodbye) and kept down (a long CrashLoopBackOff); its peer takes
    over once the dead one's keep-alive runs out, and handles the next job."""
    release.require_a_running_operator()
    peering = release.get(f"/apis/kopf.dev/v1/namespaces/{NAMESPACE}/kopfpeerings/bookkeeper-jobs")
    assert peering is not None
    priorities = {
        name: entry.get("priority", 0)
        for name, entry in (peering.get("status") or {}).items()
        if isinstance(entry, dict)
    }
    workers = {w.name: w for w in (release.worker(p) for p in release.pods("operator"))}
    assert set(priorities) >= set(workers), (priorities, list(workers))
    acting = max(workers, key=lambda name: priorities[name])
    victim = workers[acting]
    (survivor,) = (w for name, w in workers.items() if name != acting)
    pid = victim.runs[-1].pid
    assert pid is not None
    saved = release.agent.restart_backoff
    release.agent.restart_backoff = 600.0  # the killed one stays down during this test
    survivor_log_before = len(survivor.logs())
    try:
        os.killpg(pid, signal.SIGKILL)
        wait_until(lambda: victim.restart_count >= 1, timeout=60, what="the kill to be seen")
        assert victim.last_state["terminated"]["exitCode"] == 128 + signal.SIGKILL
        with release.http() as http:
            started = http.post(
                "/api/jobs/categorize", json={"company_id": "demo-co", "tenant_id": "demo"}
            )
            assert started.status_code == 202, started.text
            job_id = started.json()["job_id"]
            try:
                # kopf's keep-alive lifetime is 60 s: the takeover comes within about that
                job = follow_job(http, job_id, timeout=240, interval=1.0).view
            except AssertionError as error:
                logs = release.agent.dump_logs(NAMESPACE)[-8000:]
                raise AssertionError(f"{error}\n{logs}") from None
    finally:
        release.agent.restart_backoff = saved
        # the ReplicaSet replaces the deleted pod, so the Deployment is whole again
        release.plane.request("DELETE", f"/api/v1/namespaces/{NAMESPACE}/pods/{acting}")
        wait_until(
            lambda: (
                len(release.pods("operator")) == 2
                and all(release.phase_on_node(p) == "Running" for p in release.pods("operator"))
            ),
            timeout=120,
            what="a replacement operator pod",
        )
    assert job["status"] == "complete", job
    assert len(victim.runs) == 1  # it stayed down: the peer did the work
    handled = survivor.logs()[survivor_log_before:]
    assert "Handler" in handled and "succeeded" in handled, handled[-3000:]


CRD_NAME = f"{PLURAL}.{GROUP}"
NEW_STATUS_FIELD = "reviewedBy"


def _status_fields(release: Release) -> list[set[str]]:
    crd = release.get(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{CRD_NAME}")
    assert crd is not None
    return [
        set(v["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"])
        for v in crd["spec"]["versions"]
    ]


def test_helm_upgrade_with_a_changed_crd_reaches_the_api_server(
    release: Release, tmp_path: Path
) -> None:
    """The chart templates the BookkeepingJob CRD (``templates/crd.yaml`` reads
    ``files/bookkeepingjobs.yaml``), so ``helm upgrade`` applies a changed schema: a copy of
    the chart whose CRD has one more status field is upgraded to; the stored CRD then has
    the field, and a status value in it is kept, where before the upgrade the API server
    pruned it (a field the structural schema does not name is dropped on write).

    https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#field-pruning
    https://helm.sh/docs/chart_best_practices/custom_resource_definitions/
    """
    chart = tmp_path / "bookkeeper-jobs"
    shutil.copytree(CHART, chart)  # symlinks followed: files/ gets the CRD's content
    crd_file = chart / "files" / "bookkeepingjobs.yaml"
    crd = yaml.safe_load(crd_file.read_text())
    for version in crd["spec"]["versions"]:
        status = version["schema"]["openAPIV3Schema"]["properties"]["status"]
        status["properties"][NEW_STATUS_FIELD] = {
            "type": "string",
            "nullable": True,
            "description": "Who reviewed the job (added by a test's upgrade).",
        }
    crd_file.write_text(yaml.safe_dump(crd, sort_keys=False))
    assert all(NEW_STATUS_FIELD not in fields for fields in _status_fields(release))

    plural = f"/apis/{GROUP}/{VERSION}/namespaces/{NAMESPACE}/{PLURAL}"
    body = spec_to_resource(
        CategorizeSpec(company_id="crd-upgrade-co", tenant_id="demo"),
        job_id=new_job_id(),
        namespace=NAMESPACE,
    )
    status, created = release.plane.request("POST", plural, body)
    assert status == 201, created
    name = created["metadata"]["name"]

    def write_status_field() -> JsonObject:
        """A merge patch of the status subresource setting the new field; the answer."""
        with client.ApiClient(load_kube_configuration(release.kubeconfig)) as admin:
            written: JsonObject = client.CustomObjectsApi(
                admin
            ).patch_namespaced_custom_object_status(
                GROUP,
                VERSION,
                NAMESPACE,
                PLURAL,
                name,
                {"status": {NEW_STATUS_FIELD: "auditor@example.com"}},
            )
        return written

    assert NEW_STATUS_FIELD not in write_status_field()["status"]  # pruned: not in the schema

    upgrade = ["upgrade", RELEASE, str(chart), "--reuse-values", "--wait=watcher"]
    if release.adopted_crd:
        # The CRD was created before the release (by this session's CRD tests, as by a
        # `kubectl create -f crds/...` or another tool) and adopted: its fields belong to
        # that creator's field manager ("before-first-apply" once helm applied), and helm 4
        # upgrades by server-side apply without forcing, so a changed schema is refused.
        refused = subprocess.run(
            [str(HELM), *upgrade, "-n", NAMESPACE, "--kubeconfig", str(release.kubeconfig)],
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        assert refused.returncode != 0, refused.stdout
        assert "Apply failed with 1 conflict" in refused.stderr, refused.stderr
        assert ".spec.versions" in refused.stderr, refused.stderr
        upgrade.append("--force-conflicts")
    release.helm(*upgrade, "--timeout", HELM_TIMEOUT)

    assert all(NEW_STATUS_FIELD in fields for fields in _status_fields(release))
    written = wait_until(  # the API server serves a changed CRD within moments
        lambda: (w := write_status_field())["status"].get(NEW_STATUS_FIELD) and w,
        timeout=60,
        what="the new status field to be kept",
    )
    assert written["status"][NEW_STATUS_FIELD] == "auditor@example.com"
    stored = release.get(f"{plural}/{name}")
    assert stored is not None
    assert stored["status"][NEW_STATUS_FIELD] == "auditor@example.com"
    crd_now = release.get(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{CRD_NAME}")
    assert crd_now is not None
    assert crd_now["metadata"]["annotations"]["meta.helm.sh/release-name"] == RELEASE


def test_helm_upgrade_rolls_the_api_then_uninstall_removes_the_release(release: Release) -> None:
    (old,) = release.pods("api")
    release.helm(
        "upgrade",
        RELEASE,
        str(CHART),
        "--reuse-values",
        "--set",
        "api.podAnnotations.bkjobs-test/upgraded=yes",
        "--wait=watcher",
        "--timeout",
        HELM_TIMEOUT,
    )
    (new,) = wait_until(
        lambda: (
            len(pods := release.pods("api")) == 1
            and pods[0]["metadata"]["uid"] != old["metadata"]["uid"]
            and pods
        ),
        timeout=120,
        what="the upgraded API pod alone",
    )
    assert new["metadata"]["annotations"]["bkjobs-test/upgraded"] == "yes"
    with release.http() as http:
        wait_until(
            lambda: http.get("/readyz").status_code == 200, timeout=120, what="the new API ready"
        )
    # the old pod was deleted gracefully: SIGTERM, then the agent's final delete
    old_worker = release.worker(old)
    wait_until(old_worker.terminal.is_set, timeout=60, what="the old API pod's process to stop")
    history = release.helm("history", RELEASE, "-o", "yaml")
    revisions = [entry["revision"] for entry in yaml.safe_load(history.stdout)]
    assert len(revisions) >= 2 and revisions == list(range(1, len(revisions) + 1)), revisions

    release.uninstall()
    # helm.sh/resource-policy: keep
    assert release.get(
        f"/api/v1/namespaces/{NAMESPACE}/persistentvolumeclaims/{FULLNAME}-artifacts"
    )
    assert release.get(f"/api/v1/namespaces/{NAMESPACE}/secrets/{FULLNAME}-secrets-key")
