"""The contract suite's ``kubernetes-real`` backend: cluster mode on a real control plane.

Everything is real but the container runtime: kube-apiserver, etcd, the kube-scheduler and
the kube-controller-manager (Job, garbage-collector, PV binder, namespace controllers) of
``tests/cluster/control_plane.py``, shared by the whole session; the BookkeepingJob CRD; the
real operator (``run_operator`` under kopf, in a thread); and the session's node agent
(``tests/cluster/node_agent.py``), which runs each task pod's command
(``bkjobs task run --job <ns>/<name>``) as a local process with the pod's env, volumes and
ServiceAccount token.

Each backend gets a namespace of its own with the chart's ServiceAccounts, Roles and
RoleBindings as ``helm template -f values-dev.yaml`` renders them (the operator's
ClusterRole and its binding renamed per namespace), and RBAC applies to every component:

- the store under test (``KubernetesJobStore`` and its watch cache) talks to the API server
  with a TokenRequest token of the chart's **api** ServiceAccount;
- the operator (and the TTL sweep) with a token of the **operator** ServiceAccount;
- the task pods run under the **task** ServiceAccount (the node agent requests their
  bound tokens as a kubelet does).

What the task pods get, they get the way the product gives it: the operator renders each
Job from ``BKJOBS_TASK_TEMPLATE`` (``task_template``): the environment the emulator backend
forces onto its pods (``cluster_backend.task_environment``) is the template's ``env``
(plus ``PYTHONPATH``, which the image would make unnecessary, and the scripted tasks'
counter directory); the data directory is the chart's artifacts claim mounted at ``/data``,
a PersistentVolumeClaim bound to a ``hostPath`` PersistentVolume at the test's ``tmp_path``
(the node agent maps ``/data`` to it); the secrets key is a Secret the pods read through
``secretKeyRef``. The real Job controller applies ``backoffLimit`` (its own pod back-off of
10 s, doubling: it cannot be shortened), ``activeDeadlineSeconds``, the pod failure policy
and the owner references.

"Workers" are the node's kubelet for this namespace: until ``start_workers`` the node agent
holds the namespace's pods (``Pending``, as on a node that has not started them);
``crash_workers`` holds it again and SIGKILLs the running task processes, as a crashed node
would.
"""

from __future__ import annotations

import copy
import gc
import itertools
import os
import signal
import subprocess
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client

from bookkeeper_jobs.api.store.kubernetes import KubernetesJobStore
from bookkeeper_jobs.api.store.watch_cache import WatchCache
from bookkeeper_jobs.crd import render_crd_yaml
from bookkeeper_jobs.jobs import utcnow
from bookkeeper_jobs.kube import load_kube_configuration
from bookkeeper_jobs.operator.context import build_context, close_context
from bookkeeper_jobs.operator.run import run_operator
from bookkeeper_jobs.operator.ttl import sweep
from bookkeeper_jobs.resource import GROUP, PLURAL, VERSION
from bookkeeper_jobs.settings import Settings
from tests.cluster.control_plane import ROOT, ControlPlane
from tests.cluster.node_agent import NodeAgent
from tests.cluster.session import HELM, unavailable
from tests.contract.cluster_backend import task_environment
from tests.contract.scripted import SCRIPTED_TASKS
from tests.support.polling import wait_until

CHART = ROOT / "charts" / "bookkeeper-jobs"
DEV_VALUES = CHART / "values-dev.yaml"
RELEASE = "bkjobs"
FULLNAME = f"{RELEASE}-bookkeeper-jobs"
PLACEHOLDER_NAMESPACE = "bkjobs-placeholder"
CRD_NAME = f"{PLURAL}.{GROUP}"
CRD_API = f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{CRD_NAME}"
CLAIM = "bookkeeper-jobs-artifacts"
SECRETS_KEY_SECRET = "bookkeeper-jobs-secrets-key"
DATA_MOUNT = "/data"
TOKEN_SECONDS = 3600
PASSED_THROUGH = ("OAUTHLIB_INSECURE_TRANSPORT",)  # test_export_qbo: plain http on loopback
_serial = itertools.count(1)
JsonObject = dict[str, Any]


def render_chart_rbac() -> list[JsonObject]:
    """The chart's ServiceAccounts, Roles, ClusterRoles and their bindings, as ``helm
    template -f values-dev.yaml`` renders them (for a placeholder namespace)."""
    if not HELM.exists():
        unavailable(f"{HELM} is missing (make tools)")
    values = str(DEV_VALUES)
    done = subprocess.run(
        [str(HELM), "template", RELEASE, str(CHART), "-n", PLACEHOLDER_NAMESPACE, "-f", values],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    kinds = {"ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"}
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc and doc["kind"] in kinds]


@dataclass
class RealCluster:
    """What every ``kubernetes-real`` backend of a session shares."""

    plane: ControlPlane
    agent: NodeAgent
    rbac: list[JsonObject]

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        return self.plane.request(method, path, body)

    def must(self, method: str, path: str, body: Any = None, *ok: int) -> Any:
        status, answer = self.request(method, path, body)
        assert status in (ok or (200, 201)), f"{method} {path}: {status} {answer}"
        return answer


def _for_namespace(doc: JsonObject, namespace: str) -> tuple[str, JsonObject]:
    """A rendered RBAC object placed in ``namespace``: its API path and body. Cluster-scoped
    ones get the namespace in their name, so each backend has its own."""
    body = copy.deepcopy(doc)
    kind = body["kind"]
    for subject in body.get("subjects") or []:
        if subject.get("namespace") == PLACEHOLDER_NAMESPACE:
            subject["namespace"] = namespace
    if kind in ("ClusterRole", "ClusterRoleBinding"):
        body["metadata"]["name"] += f"-{namespace}"
        if body.get("roleRef", {}).get("kind") == "ClusterRole":
            body["roleRef"]["name"] += f"-{namespace}"
        plural = "clusterroles" if kind == "ClusterRole" else "clusterrolebindings"
        return f"/apis/rbac.authorization.k8s.io/v1/{plural}", body
    body["metadata"]["namespace"] = namespace
    if kind == "ServiceAccount":
        return f"/api/v1/namespaces/{namespace}/serviceaccounts", body
    plural = "roles" if kind == "Role" else "rolebindings"
    return f"/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/{plural}", body


@dataclass
class RealClusterBackend:
    settings: Settings
    tmp_path: Path
    cluster: RealCluster
    namespace: str
    store: KubernetesJobStore = field(init=False)
    _cleanup: list[tuple[str, str]] = field(default_factory=list)  # (method, path)
    _crd_before: JsonObject | None = None
    health_host: str | None = None  # where the operator serves /healthz and /metrics

    def __post_init__(self) -> None:
        self._closed = False
        self._api_client: client.ApiClient | None = None
        self._operator: threading.Thread | None = None
        self._stop_operator = threading.Event()
        self.cache: WatchCache | None = None
        try:
            self._set_up()
        except BaseException:
            self.close()
            raise

    # Setting up ------------------------------------------------------------------------

    def _set_up(self) -> None:
        cluster, namespace = self.cluster, self.namespace
        cluster.agent.hold(namespace)  # no worker runs until the test starts them
        cluster.must("POST", "/api/v1/namespaces", {"metadata": {"name": namespace}})
        self._cleanup.append(("DELETE", f"/api/v1/namespaces/{namespace}"))
        for doc in cluster.rbac:
            path, body = _for_namespace(doc, namespace)
            cluster.must("POST", path, body)
            if body["kind"].startswith("Cluster"):
                self._cleanup.append(("DELETE", f"{path}/{body['metadata']['name']}"))
        self._data_volume()
        if self.settings.secrets_key is not None:
            key = self.settings.secrets_key.get_secret_value()
            cluster.must(
                "POST",
                f"/api/v1/namespaces/{namespace}/secrets",
                {"metadata": {"name": SECRETS_KEY_SECRET}, "stringData": {"secrets-key": key}},
            )
        self._extend_crd_for_registered_types()

        self.api_kubeconfig = self.token_kubeconfig("api")
        self.operator_kubeconfig = self.token_kubeconfig("operator")
        self._api_client = client.ApiClient(load_kube_configuration(self.api_kubeconfig))
        custom = client.CustomObjectsApi(self._api_client)
        # A real server sends a bookmark about once a minute, so a watch blocks that long and
        # stopping the cache (which joins its thread) would too: 2 s watches resumed by
        # resourceVersion keep ``close`` short.
        self.cache = WatchCache(custom, namespace, watch_timeout=2, retry_delay=0.1)
        self.cache.start()
        assert self.cache.wait_synced(60), "the watch cache did not sync"
        self.store = KubernetesJobStore(custom, self.cache)
        self.start_operator(self.health_host)

    def start_operator(self, health_host: str | None = None) -> None:
        """The real operator in a thread under the operator account's token; with a
        ``health_host`` it serves its liveness endpoint and ``/metrics`` there (on the
        settings' ports)."""
        assert self._operator is None, "the operator is running"
        ready, self._stop_operator = threading.Event(), threading.Event()
        self._operator = threading.Thread(
            target=run_operator,
            kwargs={
                "settings": self.settings,
                "stop_flag": self._stop_operator,
                "ready_flag": ready,
                "kubeconfig": self.operator_kubeconfig,
                "health_host": health_host,
            },
            name=f"bkjobs-operator-{self.namespace}",
            daemon=True,
        )
        self._operator.start()
        assert ready.wait(120), "the operator did not start"

    def stop_operator(self) -> None:
        """Stop the operator thread (as a stopped or crashed operator pod: nothing watches
        the namespace's resources and Jobs until :meth:`start_operator`)."""
        operator, self._operator = self._operator, None
        self._stop_operator.set()
        if operator is None:
            return
        operator.join(30)
        assert not operator.is_alive(), "the operator did not stop"
        # kopf leaves its aiohttp connections to be closed by the garbage collector when
        # it stops in a thread; collected later, inside another test, their
        # ResourceWarning fails that test (filterwarnings = error). Collect them here.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            gc.collect()

    def _data_volume(self) -> None:
        """The chart's artifacts claim, bound to a hostPath PV at ``tmp_path``."""
        namespace, volume = self.namespace, f"{self.namespace}-data"
        self.cluster.must(
            "POST",
            "/api/v1/persistentvolumes",
            {
                "metadata": {"name": volume},
                "spec": {
                    "capacity": {"storage": "1Gi"},
                    "accessModes": ["ReadWriteMany"],
                    "persistentVolumeReclaimPolicy": "Retain",
                    "storageClassName": "",
                    "hostPath": {"path": str(self.tmp_path), "type": "Directory"},
                    "claimRef": {"namespace": namespace, "name": CLAIM},
                },
            },
        )
        self._cleanup.append(("DELETE", f"/api/v1/persistentvolumes/{volume}"))
        claims = f"/api/v1/namespaces/{namespace}/persistentvolumeclaims"
        self.cluster.must(
            "POST",
            claims,
            {
                "metadata": {"name": CLAIM},
                "spec": {
                    "accessModes": ["ReadWriteMany"],
                    "storageClassName": "",
                    "volumeName": volume,
                    "resources": {"requests": {"storage": "1Gi"}},
                },
            },
        )
        wait_until(
            lambda: self.cluster.must("GET", f"{claims}/{CLAIM}")["status"].get("phase") == "Bound",
            timeout=60,
            what="the data claim to be bound",
        )

    def token_kubeconfig(self, component: str) -> Path:
        """A kubeconfig with a TokenRequest token of the chart's ``component`` account
        (``api``, ``operator``, ``task``)."""
        account = f"{FULLNAME}-{component}"
        answer = self.cluster.must(
            "POST",
            f"/api/v1/namespaces/{self.namespace}/serviceaccounts/{account}/token",
            {"spec": {"audiences": [], "expirationSeconds": TOKEN_SECONDS}},
        )
        path = self.tmp_path / f"{component}.kubeconfig"
        return self.cluster.plane.write_kubeconfig(path, answer["status"]["token"])

    def _extend_crd_for_registered_types(self) -> None:
        """A job type registered for one test (``test_job_types``) is in the CRD the
        product renders (``render_crd_yaml``); the cluster's CRD gets that spec schema until
        :meth:`close` puts the previous one back."""
        rendered = yaml.safe_load(render_crd_yaml())
        stored = self.cluster.must("GET", CRD_API)
        spec_schema = rendered["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"][
            "spec"
        ]
        versions = stored["spec"]["versions"]
        if all(
            v["schema"]["openAPIV3Schema"]["properties"]["spec"] == spec_schema for v in versions
        ):
            return
        self._crd_before = copy.deepcopy(stored)
        for version in versions:
            version["schema"]["openAPIV3Schema"]["properties"]["spec"] = spec_schema
        self.cluster.must("PUT", CRD_API, stored)
        wanted = set(spec_schema["properties"]["type"]["enum"])
        probe = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "BookkeepingJob",
            "metadata": {"name": "crd-probe"},
            "spec": {"companyId": "probe", "tenantId": "probe", "parameters": {}},
        }
        path = f"/apis/{GROUP}/{VERSION}/namespaces/{self.namespace}/{PLURAL}"

        def served() -> bool:
            for kind in wanted:
                probe["spec"]["type"] = kind
                status, answer = self.cluster.request("POST", f"{path}?dryRun=All", probe)
                if status == 422 and "spec.type: Unsupported value" in str(answer):
                    return False
                assert status in (201, 422), answer  # 422: the probe's parameters, not its type
            return True

        wait_until(served, timeout=60, what="the API server to serve the extended CRD")

    def _restore_crd(self) -> None:
        if self._crd_before is None:
            return
        stored = self.cluster.must("GET", CRD_API)
        for version, before in zip(
            stored["spec"]["versions"], self._crd_before["spec"]["versions"], strict=False
        ):
            properties = version["schema"]["openAPIV3Schema"]["properties"]
            properties["spec"] = before["schema"]["openAPIV3Schema"]["properties"]["spec"]
        self.cluster.must("PUT", CRD_API, stored)
        self._crd_before = None

    # The harness -----------------------------------------------------------------------

    def start_workers(self) -> None:
        self.cluster.agent.release(self.namespace)

    def _running(self) -> Iterator[Any]:
        for worker in self.cluster.agent.pods(self.namespace):
            for run in worker.runs:
                if not run.finished.is_set() and run.pid is not None:
                    yield run

    def crash_workers(self) -> None:
        """SIGKILL every running task process of this namespace, as an OOM kill or a lost
        node would; the node starts no new pod until ``start_workers``."""
        self.cluster.agent.hold(self.namespace)
        for run in list(self._running()):
            with suppress(ProcessLookupError):
                os.killpg(run.pid, signal.SIGKILL)

    def stop_workers(self) -> None:
        self.cluster.agent.hold(self.namespace)
        for run in list(self._running()):
            run.stop("the node is stopping")

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.stop_workers()
        self.stop_operator()
        if self.cache is not None:
            self.cache.stop()
        if self._api_client is not None:
            self._api_client.close()
        try:
            self._restore_crd()
        finally:
            for method, path in reversed(self._cleanup):
                self.cluster.request(method, path)  # the namespace controller empties it

    def sweep(self, older_than: datetime) -> int:
        """The operator's TTL sweep under the operator's account, with the TTL that puts its
        cutoff at ``older_than``; returns once the store's cache saw it."""
        assert self.cache is not None
        cache = self.cache
        before = len(cache.all())
        ttl = max(0.0, (utcnow() - older_than).total_seconds())
        settings = self.settings.model_copy(update={"job_ttl": ttl})
        context = build_context(settings, load_kube_configuration(self.operator_kubeconfig))
        try:
            deleted = sweep(context)
        finally:
            close_context(context)
        wait_until(
            lambda: len(cache.all()) == before - deleted, timeout=60, what="the cache to see it"
        )
        return deleted


def make_real_cluster_backend(
    tmp_path: Path, *, cluster: RealCluster, health_host: str | None = None, **overrides: Any
) -> RealClusterBackend:
    namespace = f"contract-{os.getpid() % 10000}-{next(_serial)}"
    options: dict[str, Any] = {
        "data_dir": tmp_path,
        "job_timeout": 20.0,
        "job_max_attempts": 3,
        "retry_backoff": 0.1,  # what the task says; the Job controller waits 10 s regardless
        "environment": "test",
        "kubernetes_namespace": namespace,
        "tasks": SCRIPTED_TASKS,
    }
    options.update(overrides)
    settings = Settings(**options)
    env = {
        name: value
        for name, value in task_environment(settings).items()
        if name not in ("BKJOBS_DATA_DIR", "BKJOBS_SECRETS_KEY")
    }
    env["BKJOBS_TEST_SCRIPT_DIR"] = f"{DATA_MOUNT}/script"  # tmp_path/script, as the test's
    env["PYTHONPATH"] = str(ROOT)  # the scripted tasks and toy job type live in tests/
    for name in PASSED_THROUGH:  # what a test sets for the processes it starts
        if name in os.environ:
            env[name] = os.environ[name]
    template: dict[str, Any] = {
        "image": "bookkeeper-jobs:test",
        "service_account": f"{FULLNAME}-task",
        "artifacts_claim": CLAIM,
        "data_dir": DATA_MOUNT,
        "database_secret": None,
        "env": env,
        **settings.task_template,
    }
    if settings.secrets_key is not None:
        template["secrets_key_secret"] = SECRETS_KEY_SECRET
    settings = settings.model_copy(update={"task_template": template})
    return RealClusterBackend(settings, tmp_path, cluster, namespace, health_host=health_host)


@contextmanager
def real_cluster(plane: ControlPlane, agent: NodeAgent) -> Iterator[RealCluster]:
    from tests.cluster.session import apply_bookkeepingjobs_crd

    with client.ApiClient(load_kube_configuration(plane.kubeconfig)) as admin:
        apply_bookkeepingjobs_crd(admin)
    yield RealCluster(plane, agent, render_chart_rbac())
